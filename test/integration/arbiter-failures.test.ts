/**
 * The arbiter's lab scenarios, part 2: gateway lost, graceful handover,
 * arbiter lost, agent restart mid-failover. The same lab as part 1
 * (arbiter-scenarios.test.ts): a 3-server NATS cluster, two ha-arbiter
 * replicas, a keepquorum pair in strict mode with fencing required (the lab's
 * power switch behind the webhook), nginx behind the VIP, the client.
 *
 * Each scenario asserts who holds the VIP and split-brain ms = 0 from the
 * samplers, and prints its figures, never asserting them.
 */
import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Lab, labUnavailableReason } from '../lab/lab.js';
import { NATS_SERVER } from '../lab/nats.js';
import { startClient, summarizeClient, type ClientHandle } from '../lab/client.js';
import { startSplitBrainWatch, type SplitBrainWatch } from '../lab/split-brain.js';
import { arbiterApi, startArbiter } from '../lab/arbiter.js';
import { API_TOKEN, cutAddress, healAddress, INSTANCE, settleWithA1, startArbiterPair, type ArbiterPair } from '../lab/arbiter-pair.js';
import { waitUntil } from '../lab/wait.js';

const skip =
  labUnavailableReason() ??
  (existsSync(NATS_SERVER) ? undefined : `${NATS_SERVER} is not installed`) ??
  (existsSync('/usr/sbin/nft') ? undefined : 'nftables (nft) is not installed');

type Node = 'a1' | 'b1';

describe('arbiter scenarios: failures around a strict pair with fencing required', { skip }, () => {
  let lab: Lab;
  let p: ArbiterPair;

  /** The samplers and the client around one scenario. */
  const observe = async (server: Node): Promise<{ watch: SplitBrainWatch; client: ClientHandle; from: bigint }> => {
    const watch = await startSplitBrainWatch([p.a, p.b], p.pair.vip.ipv4);
    const client = startClient(p.cl, p.pair.vip.ipv4, { durationMs: 20_000 });
    await client.waitFor((r) => r.ok && r.server === server, 5000);
    return { watch, client, from: process.hrtime.bigint() };
  };
  const conclude = async (t: TestContext, label: string, o: { watch: SplitBrainWatch; client: ClientHandle; from: bigint }, server: Node, extra = '') => {
    await o.client.waitFor((r) => r.ok && r.server === server && r.t > o.from, 5000);
    const records = await o.client.stop();
    const sb = await o.watch.stop();
    const summary = summarizeClient(records, { from: o.from });
    t.diagnostic(`${label}: client downtime ${summary.downtimeMs.toFixed(1)} ms, split-brain ${sb.splitBrainMs} ms${extra ? `; ${extra}` : ''}`);
    assert.equal(sb.splitBrainMs, 0, `${label}: split-brain`);
    assert.equal(summary.servedBy.at(-1)?.server, server);
    assert.deepEqual(await p.holders(), [server]);
    return summary;
  };
  /** Back to a1 holding, b1 backup (a forced failover when b1 holds). */
  const backToA1 = async () => {
    if (p.agents.b1.state(INSTANCE) === 'MASTER') {
      const r = await arbiterApi(p.cl, p.arbiters.at(-1)!.apiUrl!, 'POST', '/v1/failover', { token: API_TOKEN, body: { instance: INSTANCE, to: 'a1' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    await settleWithA1(p);
  };

  before(async () => {
    lab = await Lab.create();
    p = await startArbiterPair(lab, { mode: 'strict', fencing: 'required' });
    await p.startAgent('a1');
    await p.agents.a1.waitForState(INSTANCE, 'MASTER', 15_000);
    await p.startAgent('b1');
    await settleWithA1(p);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('gateway lost: a1 cannot reach 198.18.0.1, gives the VIP up (FAULT) and b1 serves; nobody is fenced', async (t) => {
    const o = await observe('a1');
    const fencesBefore = p.fence.operations.length;
    await cutAddress(p.a, '198.18.0.1');
    const fault = await p.agents.a1.waitForState(INSTANCE, 'FAULT', 10_000);
    const takeover = await p.agents.b1.waitForState(INSTANCE, 'MASTER', 10_000);
    await conclude(t, 'gateway lost', o, 'b1', `a1 FAULT ${(fault!.at - Number(o.from) / 1e6).toFixed(0)} ms after the cut, b1 MASTER ${(takeover!.at - fault!.at).toFixed(1)} ms after that (${takeover!.reason.slice(0, 160)})`);
    assert.match(fault!.reason, /gateway 198\.18\.0\.1/);
    assert.match(takeover!.reason, /lease granted/);
    assert.equal(p.fence.operations.length, fencesBefore, 'a node that released is not fenced');
    await healAddress(p.a);
    await waitUntil('a1 out of FAULT', () => p.agents.a1.state(INSTANCE) !== 'FAULT', 10_000);
    await backToA1();
  });

  test('graceful handover: SIGTERM of the holder a1 with the arbiter reachable, b1 takes over at once', async (t) => {
    const o = await observe('a1');
    const code = await p.agents.a1.stop();
    assert.equal(code, 0);
    const takeover = await p.agents.b1.waitForState(INSTANCE, 'MASTER', 5000);
    await conclude(t, 'graceful handover', o, 'b1', `b1 MASTER ${(takeover!.at - Number(o.from) / 1e6).toFixed(1)} ms after the SIGTERM (${takeover!.reason.slice(0, 160)})`);
    assert.match(takeover!.reason, /a1 released epoch \d+: handing over to b1/);
    await p.startAgent('a1');
    await waitUntil('a1 vetoed (b1 holds) or backup', () => ['BACKUP', 'CLAIMING'].includes(p.agents.a1.state(INSTANCE) ?? ''), 10_000);
    await backToA1();
  });

  test('arbiter lost: arb-1 killed; renewals and the claims of a handover are answered by arb-2', async (t) => {
    const [arb1, arb2] = p.arbiters as [NonNullable<(typeof p.arbiters)[0]>, NonNullable<(typeof p.arbiters)[0]>];
    const o = await observe('a1');
    await arb1.kill();
    const renewedLine = (l: string) => l.includes('"lease renewed');
    const before = p.agents.a1.process.lines.filter(renewedLine).length;
    await waitUntil('a1 renewing 4 times after arb-1 died', () => p.agents.a1.process.lines.filter(renewedLine).length >= before + 4, 10_000, 20);
    assert.equal(p.agents.a1.state(INSTANCE), 'MASTER');
    const claimsBefore = arb2.decisions.length;
    const code = await p.agents.a1.stop();
    assert.equal(code, 0);
    const takeover = await p.agents.b1.waitForState(INSTANCE, 'MASTER', 5000);
    await conclude(t, 'arbiter lost', o, 'b1', `b1 MASTER: ${takeover!.reason.slice(0, 160)}`);
    const answered = arb2.decisions.slice(claimsBefore).filter((d) => d.node === 'b1' || d.reason.includes('b1'));
    assert.ok(answered.some((d) => d.request === 'writeResult' && d.decision === 'grant'), `arb-2 granted b1: ${answered.map((d) => `${d.request}/${d.decision}`).join(', ')}`);
    p.arbiters[0] = await startArbiter(arb1.host, arb1.replica, p.arbiterConfig, { name: `${arb1.replica}-again` });
    await p.startAgent('a1');
    await waitUntil('a1 vetoed (b1 holds) or backup', () => ['BACKUP', 'CLAIMING'].includes(p.agents.a1.state(INSTANCE) ?? ''), 10_000);
    await backToA1();
  });

  /**
   * Which branch ran is read from what the arbiters did, after the fact: a1 is
   * frozen when it logs CLAIMING, but its claim (and even the grant's write) may
   * be on its way by then, and the lease in /v1/status names a1 as holder both
   * when it was only offered (never claimed: never fenced, the offer lapses) and
   * when its claim was granted (a1 held it: fenced). Predicting the branch from
   * that read was the flakiness seen in CI (a fence awaited for an offer that
   * simply lapsed; a1 awaited as MASTER while its host was being fenced).
   */
  test('agent restart mid-failover: the target a1 is killed while it claims, then restarted: one holder', async (t) => {
    // b1 holds; a forced failover to a1, and a1's agent is frozen the moment it starts claiming, then killed.
    const r0 = await arbiterApi(p.cl, p.arbiters[1]!.apiUrl!, 'POST', '/v1/failover', { token: API_TOKEN, body: { instance: INSTANCE, to: 'b1' } });
    assert.equal(r0.status, 200, JSON.stringify(r0.body));
    await p.agents.b1.waitForState(INSTANCE, 'MASTER', 5000);
    await waitUntil('a1 BACKUP', () => p.agents.a1.state(INSTANCE) === 'BACKUP', 5000);
    const o = await observe('b1');
    const victim = p.agents.a1;
    const fencesBefore = p.fence.operations.filter((f) => f.node === 'a1').length;
    const frozen = new Promise<void>((resolve) => {
      victim.process.onLine((line) => {
        if (line.includes('"to":"CLAIMING"')) {
          victim.process.signal('SIGSTOP');
          resolve();
        }
      });
    });
    const failoverNs = process.hrtime.bigint();
    const r = await arbiterApi(p.cl, p.arbiters[0]!.apiUrl!, 'POST', '/v1/failover', { token: API_TOKEN, body: { instance: INSTANCE, to: 'a1' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await frozen;
    victim.process.signal('SIGKILL');
    await victim.process.exited;
    // b1 serves again in either branch: after a1's offer lapsed unclaimed, or after a1 (granted) was fenced.
    const takeover = await p.agents.b1.waitForState(INSTANCE, 'MASTER', 20_000);
    const a1Granted = p.decisions().some((d) => d.seenNs > failoverNs && d.request === 'writeResult' && d.decision === 'grant' && /^a1 holds /.test(d.reason));
    const fences = p.fence.operations.filter((f) => f.node === 'a1' && f.doneNs !== undefined);
    const fenced = fences.length > fencesBefore;
    let branch: string;
    if (a1Granted) {
      // a1 held a claimed lease and went silent: its host is fenced before b1 is granted.
      assert.ok(fenced, 'a1 held a granted lease when it died: fenced');
      assert.ok(takeover!.at * 1e6 >= Number(fences.at(-1)!.doneNs!), 'b1 MASTER only after a1 was powered off');
      // A power cycle is a reboot: the VIP the frozen agent had added does not survive it
      // (the lab's powerOn only plugs the cable back in).
      await p.a.ip(['addr', 'del', p.pair.vip.ipv4Cidr, 'dev', p.a.ifname], { allowFail: true });
      await p.a.powerOn();
      p.fence.poweredOn('a1');
      branch = 'a1 was granted before it froze: fenced, then b1 granted';
    } else {
      assert.ok(!fenced, 'a1 never claimed the offer (only offered): nobody fenced');
      branch = 'a1 froze before its claim was granted: the offer lapsed, b1 granted without a fence';
    }
    const restarted = await p.startAgent('a1');
    await waitUntil('a1 back as a backup', () => ['BACKUP', 'CLAIMING'].includes(restarted.state(INSTANCE) ?? ''), 15_000);
    await conclude(t, 'agent restart mid-failover', o, 'b1', branch);
    await backToA1();
  });
});
