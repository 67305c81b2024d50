import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExposition, samplesOf, valueOf, type ParsedSample } from '../../../libs/common/src/metrics-parse.js';
import { AgentMetrics } from '../src/metrics.js';
import { SILENT_SINK, type EventSink } from '../src/events.js';
import type { AgentStatus } from '../src/agent.js';
import type { ArbiterLink } from '../src/lease-client.js';
import type { HolderEvent } from '../../../libs/arbiter/src/holder.js';

const identity = { cluster: 'dc1', node: 'a1', version: '9.9.9' };

function status(over: Partial<AgentStatus['instances'][number]> = {}): AgentStatus {
  return {
    node: 'a1',
    instances: [
      {
        name: 'VI_1',
        state: 'MASTER',
        priority: 100,
        effectivePriority: 90,
        master: null,
        since: 0,
        faults: [],
        counters: { advertsSent: 42, advertsReceived: 7, priorityZeroSent: 1, priorityZeroReceived: 2, becameMaster: 3, rejected: { auth: 4, interval: 1 }, transitions: 5 },
        arbiter: { mode: 'strict', phase: 'MASTER', epoch: 12, arbiter: 'up' },
        ...over,
      },
    ],
    arbiter: { connected: true, bootId: 'x', counters: { requests: 9, answers: 9, failures: 0, orders: 0, heartbeats: 31, heartbeatErrors: 2 }, malformed: { 'reply: bad': 3 } },
    refused: { 'eth0/4': { vrid: 6, auth: 4 } },
    memory: process.memoryUsage(),
    timers: { wakeups: 0, fired: 0 },
    events: null,
  };
}

async function scrape(m: AgentMetrics): Promise<ParsedSample[]> {
  return parseExposition(await m.render());
}

test("an instance's state, priorities and advert counters are read from the agent's status at scrape time", async () => {
  const m = new AgentMetrics(identity, { processMetrics: false });
  let current = status();
  m.readFrom(() => current);
  let s = await scrape(m);
  assert.equal(valueOf(s, 'keepquorum_vrrp_state', { instance: 'VI_1', state: 'MASTER' }), 1);
  assert.equal(samplesOf(s, 'keepquorum_vrrp_state', { instance: 'VI_1' }).length, 5, 'one series per state');
  assert.equal(valueOf(s, 'keepquorum_vrrp_state', { instance: 'VI_1' }), 1, 'exactly one state is 1');
  assert.equal(valueOf(s, 'keepquorum_vrrp_priority', { instance: 'VI_1' }), 100);
  assert.equal(valueOf(s, 'keepquorum_vrrp_effective_priority', { instance: 'VI_1' }), 90);
  assert.equal(valueOf(s, 'keepquorum_vrrp_adverts_sent_total', { instance: 'VI_1' }), 42);
  assert.equal(valueOf(s, 'keepquorum_vrrp_adverts_received_total', { instance: 'VI_1' }), 7);
  assert.equal(valueOf(s, 'keepquorum_vrrp_priority_zero_received_total', { instance: 'VI_1' }), 2);
  assert.equal(valueOf(s, 'keepquorum_vrrp_became_master_total', { instance: 'VI_1' }), 3);
  assert.equal(valueOf(s, 'keepquorum_vrrp_adverts_rejected_total', { instance: 'VI_1', reason: 'auth' }), 4);
  assert.equal(valueOf(s, 'keepquorum_vrrp_packets_rejected_total', { interface: 'eth0', family: '4', reason: 'vrid' }), 6);
  assert.equal(valueOf(s, 'keepquorum_lease_held', { instance: 'VI_1' }), 1);
  assert.equal(valueOf(s, 'keepquorum_lease_epoch', { instance: 'VI_1' }), 12);
  assert.equal(valueOf(s, 'keepquorum_arbiter_connected'), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_heartbeats_total'), 31);
  assert.equal(valueOf(s, 'keepquorum_arbiter_heartbeat_failures_total'), 2);
  assert.equal(valueOf(s, 'keepquorum_arbiter_malformed_messages_total'), 3);
  // Every series names the cluster and the node.
  for (const x of s) assert.deepEqual([x.labels['cluster'], x.labels['node']], ['dc1', 'a1'], x.name);
  assert.equal(valueOf(s, 'keepquorum_agent_info', { version: '9.9.9' }), 1);

  current = status({ state: 'BACKUP', effectivePriority: 100, arbiter: { mode: 'strict', phase: 'BACKUP', epoch: null, arbiter: 'up' } });
  s = await scrape(m);
  assert.equal(valueOf(s, 'keepquorum_vrrp_state', { instance: 'VI_1', state: 'BACKUP' }), 1);
  assert.equal(valueOf(s, 'keepquorum_vrrp_state', { instance: 'VI_1', state: 'MASTER' }), 0);
  assert.equal(valueOf(s, 'keepquorum_lease_held', { instance: 'VI_1' }), 0);
  assert.equal(samplesOf(s, 'keepquorum_lease_epoch').length, 0, 'no epoch without a lease');
});

test('an instance in mode off has no lease series; an agent without an arbiter link or event log has none of theirs', async () => {
  const m = new AgentMetrics(identity, { processMetrics: false });
  const { arbiter: _drop, ...noLink } = status();
  const st: AgentStatus = { ...noLink, instances: noLink.instances.map(({ arbiter: _a, ...i }) => i) };
  m.readFrom(() => st);
  m.observeSink(SILENT_SINK);
  const s = await scrape(m);
  assert.equal(samplesOf(s, 'keepquorum_lease_held').length, 0);
  assert.equal(samplesOf(s, 'keepquorum_arbiter_connected').length, 0);
  assert.equal(samplesOf(s, 'keepquorum_events_journal_backlog').length, 0);
  assert.equal(samplesOf(s, 'keepquorum_events_publish_latency_seconds_count').length, 0);
});

test('transitions, check results, VIP changes and lease failures are counted on their way through the event sink, which still gets them', async () => {
  const m = new AgentMetrics(identity, { processMetrics: false });
  const seen: string[] = [];
  const inner: EventSink = {
    ...SILENT_SINK,
    enabled: true,
    transition: (e) => seen.push(`transition ${e.from}->${e.to}`),
    checkResult: (e) => seen.push(`check ${e.check}`),
    vipAdded: (e) => seen.push(`vip+ ${e.address}`),
    lease: (i, e) => seen.push(`lease ${i} ${e.name}`),
  };
  const sink = m.observeSink(inner);
  assert.equal(sink.enabled, true, 'the wrapper says what the sink is');
  const t = { instance: 'VI_1', vrid: 51, reason: 'r', priority: 100, effectivePriority: 100, masterSeen: null };
  sink.transition({ ...t, from: 'BACKUP', to: 'CLAIMING' });
  sink.transition({ ...t, from: 'CLAIMING', to: 'MASTER' });
  sink.transition({ ...t, from: 'BACKUP', to: 'CLAIMING' });
  const check = { check: 'chk_nginx', kind: 'script', output: '', changed: true, reason: 'r' };
  sink.checkResult({ ...check, ok: true, latencyMs: 3, status: 'good' });
  sink.checkResult({ ...check, ok: false, latencyMs: 2000, status: 'failing' });
  sink.vipAdded({ instance: 'VI_1', address: '198.18.1.10', prefix: 24, interface: 'eth0', changed: true });
  sink.vipAdded({ instance: 'VI_1', address: '198.18.1.10', prefix: 24, interface: 'eth0', changed: false });
  sink.vipRemoved({ instance: 'VI_1', address: '198.18.1.10', prefix: 24, interface: 'eth0', changed: true });
  sink.garpSent('VI_1', 'eth0', '198.18.1.10');
  sink.lease('VI_1', { name: 'lease.renewal_failed', data: { epoch: 3, reason: 'no answer', remainingMs: 100, attempts: 2 } });
  sink.lease('VI_1', { name: 'lease.self_demoted', data: { epoch: 3, reason: 'expired' } });
  const s = await scrape(m);
  assert.equal(valueOf(s, 'keepquorum_vrrp_transitions_total', { instance: 'VI_1', from: 'BACKUP', to: 'CLAIMING' }), 2);
  assert.equal(valueOf(s, 'keepquorum_vrrp_transitions_total', { instance: 'VI_1', from: 'CLAIMING', to: 'MASTER' }), 1);
  assert.equal(valueOf(s, 'keepquorum_check_results_total', { check: 'chk_nginx', result: 'ok' }), 1);
  assert.equal(valueOf(s, 'keepquorum_check_results_total', { check: 'chk_nginx', result: 'failed' }), 1);
  assert.equal(valueOf(s, 'keepquorum_check_status', { check: 'chk_nginx', status: 'failing' }), 1);
  assert.equal(valueOf(s, 'keepquorum_check_status', { check: 'chk_nginx', status: 'good' }), 0);
  assert.equal(valueOf(s, 'keepquorum_check_duration_seconds_count', { check: 'chk_nginx' }), 2);
  assert.equal(valueOf(s, 'keepquorum_check_duration_seconds_bucket', { check: 'chk_nginx', le: '0.005' }), 1);
  assert.equal(valueOf(s, 'keepquorum_vip_changes_total', { instance: 'VI_1', change: 'added' }), 1, 'an address already there is no change');
  assert.equal(valueOf(s, 'keepquorum_vip_changes_total', { instance: 'VI_1', change: 'removed' }), 1);
  assert.equal(valueOf(s, 'keepquorum_garp_sent_total', { instance: 'VI_1' }), 1);
  assert.equal(valueOf(s, 'keepquorum_lease_renewal_failures_total', { instance: 'VI_1' }), 1);
  assert.equal(valueOf(s, 'keepquorum_lease_self_demotions_total', { instance: 'VI_1' }), 1);
  assert.deepEqual(seen, [
    'transition BACKUP->CLAIMING',
    'transition CLAIMING->MASTER',
    'transition BACKUP->CLAIMING',
    'check chk_nginx',
    'check chk_nginx',
    'vip+ 198.18.1.10',
    'vip+ 198.18.1.10',
    'lease VI_1 lease.renewal_failed',
    'lease VI_1 lease.self_demoted',
  ]);
});

test("lease requests, the arbiters' replies, failures and orders are counted on the arbiter link, and every event still reaches the holder", async () => {
  const m = new AgentMetrics(identity, { processMetrics: false });
  const delivered: HolderEvent[] = [];
  const sent: string[] = [];
  let deliver: ((e: HolderEvent) => void) | null = null;
  const link: ArbiterLink = {
    register: (_i, d) => {
      deliver = d;
    },
    send: (i, a) => sent.push(`${i} ${a.type}`),
    start: () => {},
    reportSoon: () => {},
    drain: async () => {},
    close: async () => {},
    status: () => ({ connected: false }),
  };
  const observed = m.observeLink(link);
  observed.register('VI_1', (e) => delivered.push(e));
  observed.send('VI_1', { type: 'sendClaim', requestId: 1 }, 250);
  observed.send('VI_1', { type: 'sendRenew', requestId: 2, epoch: 4 }, 250);
  observed.send('VI_1', { type: 'sendRenew', requestId: 3, epoch: 4 }, 250);
  observed.send('VI_1', { type: 'sendRelease', requestId: 4, epoch: 4 }, 250);
  const events: HolderEvent[] = [
    { type: 'reply', requestId: 1, reply: { type: 'grant', v: 1, instance: 'VI_1', epoch: 4, validForMs: 1000, reason: 'free' } },
    { type: 'reply', requestId: 2, reply: { type: 'renewed', v: 1, instance: 'VI_1', epoch: 4, validForMs: 1000 } },
    { type: 'reply', requestId: 5, reply: { type: 'veto', v: 1, instance: 'VI_1', reason: 'holder alive' } },
    { type: 'requestFailed', requestId: 3, reason: 'no answer from an arbiter', definitive: false },
    { type: 'requestFailed', requestId: 6, reason: 'not connected to NATS', definitive: true },
    { type: 'offer', epoch: 5, reason: 'successor', eligible: true },
    { type: 'orderDemote', epoch: 5, reason: 'split-brain' },
    { type: 'arbiterReachable', reachable: true, detail: 'connected' },
  ];
  for (const e of events) deliver!(e);
  assert.deepEqual(delivered, events);
  assert.deepEqual(sent, ['VI_1 sendClaim', 'VI_1 sendRenew', 'VI_1 sendRenew', 'VI_1 sendRelease']);
  m.readFrom(() => status());
  const s = await scrape(m);
  assert.equal(valueOf(s, 'keepquorum_lease_requests_total', { instance: 'VI_1', kind: 'claim' }), 1);
  assert.equal(valueOf(s, 'keepquorum_lease_requests_total', { instance: 'VI_1', kind: 'renew' }), 2);
  assert.equal(valueOf(s, 'keepquorum_lease_requests_total', { instance: 'VI_1', kind: 'release' }), 1);
  assert.equal(valueOf(s, 'keepquorum_lease_replies_total', { instance: 'VI_1', reply: 'grant' }), 1);
  assert.equal(valueOf(s, 'keepquorum_lease_replies_total', { instance: 'VI_1', reply: 'renewed' }), 1);
  assert.equal(valueOf(s, 'keepquorum_lease_replies_total', { instance: 'VI_1', reply: 'veto' }), 1);
  assert.equal(valueOf(s, 'keepquorum_lease_request_failures_total', { instance: 'VI_1', cause: 'unanswered' }), 1);
  assert.equal(valueOf(s, 'keepquorum_lease_request_failures_total', { instance: 'VI_1', cause: 'unreachable' }), 1);
  assert.equal(valueOf(s, 'keepquorum_lease_orders_total', { instance: 'VI_1', order: 'offer' }), 1);
  assert.equal(valueOf(s, 'keepquorum_lease_orders_total', { instance: 'VI_1', order: 'demote' }), 1);
});

test("the event log's backlog, counters and publish latency histogram come from the sink's publisher report", async () => {
  const m = new AgentMetrics(identity, { processMetrics: false });
  m.observeSink({
    ...SILENT_SINK,
    enabled: true,
    backlog: () => ({ unacknowledged: 17, notDurable: 2, inFlight: 5, connected: false, lastError: 'x', journal: { bytes: 4096, droppedTotal: 1 } }),
    stats: () => ({ published: 30, acknowledged: 13, duplicates: 0, failures: 2, resent: 4, connects: 1, ackLatency: { bounds: [0.01, 0.1], counts: [3, 9, 1], sum: 0.75, count: 13 } }),
  });
  m.readFrom(() => status());
  const s = await scrape(m);
  assert.equal(valueOf(s, 'keepquorum_events_journal_backlog'), 17);
  assert.equal(valueOf(s, 'keepquorum_events_journal_not_durable'), 2);
  assert.equal(valueOf(s, 'keepquorum_events_connected'), 0);
  assert.equal(valueOf(s, 'keepquorum_events_journal_bytes'), 4096);
  assert.equal(valueOf(s, 'keepquorum_events_dropped_total'), 1);
  assert.equal(valueOf(s, 'keepquorum_events_published_total'), 30);
  assert.equal(valueOf(s, 'keepquorum_events_acknowledged_total'), 13);
  assert.equal(valueOf(s, 'keepquorum_events_publish_failures_total'), 2);
  // Cumulative buckets, +Inf = count.
  assert.deepEqual(
    samplesOf(s, 'keepquorum_events_publish_latency_seconds_bucket').map((x) => [x.labels['le'], x.value]),
    [['0.01', 3], ['0.1', 12], ['+Inf', 13]],
  );
  assert.equal(valueOf(s, 'keepquorum_events_publish_latency_seconds_sum'), 0.75);
  assert.equal(valueOf(s, 'keepquorum_events_publish_latency_seconds_count'), 13);
});

test('the process metrics of prom-client come along unless turned off', async () => {
  const m = new AgentMetrics(identity);
  m.readFrom(() => status());
  const s = await scrape(m);
  assert.ok(valueOf(s, 'process_resident_memory_bytes') > 0);
  assert.ok(samplesOf(s, 'nodejs_eventloop_lag_seconds').length > 0);
});
