/**
 * Prometheus metrics, scraped from the real endpoints: a keepquorum pair (a1
 * priority 100, b1 priority 90) in strict mode with `--metrics`, two ha-arbiter
 * replicas serving /metrics on their HTTP API, a 3-server NATS JetStream
 * cluster. a1 is stopped (SIGTERM: VIP removed, priority 0, lease released),
 * b1 takes over; the counters and gauges must have moved accordingly on b1
 * and on the arbiters. Values are read before and after and compared; no
 * figure is asserted.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Lab, labUnavailableReason, type LabHost } from '../lab/lab.js';
import { NATS_SERVER } from '../lab/nats.js';
import { agentFlags, INSTANCE, settleWithA1, startArbiterPair, type ArbiterPair } from '../lab/arbiter-pair.js';
import { waitUntil } from '../lab/wait.js';
import { parseExposition, samplesOf, valueOf, type ParsedSample } from '../../libs/common/src/metrics-parse.js';

const skip = labUnavailableReason() ?? (existsSync(NATS_SERVER) ? undefined : `${NATS_SERVER} is not installed`);
const METRICS_PORT = 9650;

describe('metrics: present and moving after a failover', { skip }, () => {
  let lab: Lab;
  let p: ArbiterPair;
  const agentUrl = (h: LabHost): string => `http://${h.ipv4}:${METRICS_PORT}/metrics`;

  /** GET a /metrics endpoint from the client's namespace, as Prometheus would. */
  const scrape = async (url: string): Promise<ParsedSample[]> => {
    const out = await p.cl.exec('curl', ['-s', '-f', '--max-time', '5', url]);
    return parseExposition(out);
  };
  /** Both replicas' samples (requests go to either: a queue group). */
  const scrapeArbiters = async (): Promise<ParsedSample[]> => (await Promise.all(p.arbiters.map((a) => scrape(`${a.apiUrl!}/metrics`)))).flat();

  before(async () => {
    lab = await Lab.create();
    p = await startArbiterPair(lab, { mode: 'strict', fencing: 'off' });
    for (const node of ['a1', 'b1'] as const) {
      const host = node === 'a1' ? p.a : p.b;
      await p.startAgent(node, { extraArgs: [...agentFlags(p, node, 'strict', 'off'), '--metrics', `${host.ipv4}:${METRICS_PORT}`] });
      if (node === 'a1') await p.agents.a1.waitForState(INSTANCE, 'MASTER', 15_000);
    }
    await settleWithA1(p);
  });

  after(async () => {
    await lab?.destroy();
  });

  test("the master's endpoint shows it MASTER under a lease, renewing; the backup's shows it BACKUP hearing adverts", async () => {
    const a = await scrape(agentUrl(p.a));
    assert.equal(valueOf(a, 'keepquorum_vrrp_state', { instance: INSTANCE, state: 'MASTER' }), 1);
    assert.equal(valueOf(a, 'keepquorum_vrrp_effective_priority', { instance: INSTANCE }), 100);
    assert.equal(valueOf(a, 'keepquorum_lease_held', { instance: INSTANCE }), 1);
    assert.equal(valueOf(a, 'keepquorum_arbiter_connected'), 1);
    assert.equal(samplesOf(a, 'keepquorum_agent_info', { cluster: 'dc1', node: 'a1' }).length, 1);
    // Renewals and adverts keep going: the next scrape shows more of both.
    const renewals = valueOf(a, 'keepquorum_lease_requests_total', { instance: INSTANCE, kind: 'renew' });
    const sent = valueOf(a, 'keepquorum_vrrp_adverts_sent_total', { instance: INSTANCE });
    await waitUntil('a1 renewing and advertising', async () => {
      const again = await scrape(agentUrl(p.a));
      return (
        valueOf(again, 'keepquorum_lease_requests_total', { instance: INSTANCE, kind: 'renew' }) > renewals &&
        valueOf(again, 'keepquorum_lease_replies_total', { instance: INSTANCE, reply: 'renewed' }) > 0 &&
        valueOf(again, 'keepquorum_vrrp_adverts_sent_total', { instance: INSTANCE }) > sent
      );
    }, 10_000, 200);

    const b = await scrape(agentUrl(p.b));
    assert.equal(valueOf(b, 'keepquorum_vrrp_state', { instance: INSTANCE, state: 'BACKUP' }), 1);
    assert.equal(valueOf(b, 'keepquorum_lease_held', { instance: INSTANCE }), 0);
    assert.ok(valueOf(b, 'keepquorum_vrrp_adverts_received_total', { instance: INSTANCE }) > 0);

    const arb = await scrapeArbiters();
    assert.deepEqual(samplesOf(arb, 'keepquorum_arbiter_lease_holder', { instance: INSTANCE }).map((s) => s.labels['holder']), ['a1', 'a1'], 'both replicas see a1 holding');
    assert.equal(valueOf(arb, 'keepquorum_arbiter_ready'), 2);
    assert.ok(valueOf(arb, 'keepquorum_arbiter_replies_total', { instance: INSTANCE, request: 'renew', reply: 'renewed' }) > 0);
  });

  test('after a1 stops, b1 is MASTER with the lease and every counter of the takeover moved, on b1 and on the arbiters', async (t) => {
    const b0 = await scrape(agentUrl(p.b));
    const arb0 = await scrapeArbiters();
    const at = (s: ParsedSample[], name: string, labels: Record<string, string> = {}) => valueOf(s, name, labels);

    await p.agents.a1.stop();
    await p.agents.b1.waitForState(INSTANCE, 'MASTER', 15_000);

    // The events of the takeover are acknowledged by JetStream a little later: wait for them, then read.
    let b1: ParsedSample[] = [];
    await waitUntil('b1 events acknowledged', async () => {
      b1 = await scrape(agentUrl(p.b));
      return at(b1, 'keepquorum_events_publish_latency_seconds_count') > at(b0, 'keepquorum_events_publish_latency_seconds_count') && at(b1, 'keepquorum_events_journal_backlog') === 0;
    }, 15_000, 200);
    const moved = (name: string, labels: Record<string, string> = {}) => at(b1, name, labels) - at(b0, name, labels);

    assert.equal(at(b1, 'keepquorum_vrrp_state', { instance: INSTANCE, state: 'MASTER' }), 1);
    assert.equal(at(b1, 'keepquorum_vrrp_state', { instance: INSTANCE, state: 'BACKUP' }), 0);
    assert.equal(at(b1, 'keepquorum_lease_held', { instance: INSTANCE }), 1);
    assert.ok(at(b1, 'keepquorum_lease_epoch', { instance: INSTANCE }) > 0);
    assert.ok(moved('keepquorum_vrrp_transitions_total', { instance: INSTANCE, from: 'CLAIMING', to: 'MASTER' }) >= 1);
    assert.ok(moved('keepquorum_vrrp_became_master_total', { instance: INSTANCE }) >= 1);
    assert.ok(moved('keepquorum_vrrp_priority_zero_received_total', { instance: INSTANCE }) >= 1, "a1's priority-0 advert was heard");
    assert.ok(moved('keepquorum_vrrp_adverts_sent_total', { instance: INSTANCE }) > 0);
    assert.ok(moved('keepquorum_lease_requests_total', { instance: INSTANCE, kind: 'claim' }) >= 1);
    assert.ok(moved('keepquorum_lease_replies_total', { instance: INSTANCE, reply: 'grant' }) >= 1);
    assert.ok(moved('keepquorum_vip_changes_total', { instance: INSTANCE, change: 'added' }) >= 1);
    assert.ok(moved('keepquorum_garp_sent_total', { instance: INSTANCE }) >= 1);
    assert.ok(moved('keepquorum_events_published_total') > 0);
    assert.ok(moved('keepquorum_events_acknowledged_total') > 0);

    let arb: ParsedSample[] = [];
    await waitUntil('both replicas see b1 holding', async () => {
      arb = await scrapeArbiters();
      return samplesOf(arb, 'keepquorum_arbiter_lease_holder', { instance: INSTANCE, holder: 'b1' }).length === 2;
    }, 10_000, 200);
    const arbMoved = (name: string, labels: Record<string, string> = {}) => at(arb, name, labels) - at(arb0, name, labels);
    assert.ok(arbMoved('keepquorum_arbiter_replies_total', { instance: INSTANCE, request: 'release', reply: 'released' }) >= 1, "a1's release was answered");
    assert.ok(arbMoved('keepquorum_arbiter_replies_total', { instance: INSTANCE, request: 'claim', reply: 'grant' }) >= 1, "b1's claim was granted");
    assert.ok(arbMoved('keepquorum_arbiter_decision_events_total', { instance: INSTANCE, event: 'lease.granted' }) >= 1);
    assert.ok(arbMoved('keepquorum_arbiter_lease_writes_total') >= 2, 'the release and the grant were written');
    assert.equal(at(arb, 'keepquorum_arbiter_lease_live', { instance: INSTANCE }), 2);
    assert.equal(at(arb, 'keepquorum_arbiter_splitbrain_detections_total'), 0);
    t.diagnostic(
      `b1: transitions ${samplesOf(b1, 'keepquorum_vrrp_transitions_total').map((s) => `${s.labels['from']}->${s.labels['to']} ${s.value}`).join(', ')}; ` +
        `publish latency count ${at(b1, 'keepquorum_events_publish_latency_seconds_count')}, sum ${at(b1, 'keepquorum_events_publish_latency_seconds_sum').toFixed(3)} s; ` +
        `arbiters: replies ${samplesOf(arb, 'keepquorum_arbiter_replies_total').map((s) => `${s.labels['replica']} ${s.labels['request']}/${s.labels['reply']} ${s.value}`).join(', ')}`,
    );
  });
});
