/**
 * The arbiter's lab scenarios (LAB.md from "vrrp link cut" down), part 1:
 * vrrp link cut (beside a keepalived pair that splits), hung master with
 * fencing required, forced failover. Real processes throughout: a 3-server
 * NATS JetStream cluster, two ha-arbiter replicas, a keepquorum pair in strict
 * mode in front of nginx, real keepalived, and a power switch in the gateway's
 * namespace that takes the arbiter's signed webhook and powers the fenced
 * host's namespace off before it answers.
 *
 * The scenarios run in order on one lab; each asserts who holds the VIP and
 * that two hosts never held it at once (split-brain ms from the samplers), and
 * prints downtime and takeover figures (t.diagnostic), never asserting them.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Lab, labUnavailableReason } from '../lab/lab.js';
import { vipOf } from '../lab/topology.js';
import { NATS_SERVER } from '../lab/nats.js';
import { KEEPALIVED, keepalivedConf, startKeepalived } from '../lab/keepalived.js';
import { startClient, summarizeClient } from '../lab/client.js';
import { startSplitBrainWatch } from '../lab/split-brain.js';
import { arbiterApi } from '../lab/arbiter.js';
import { API_TOKEN, cutVrrp, eventHistory, healVrrp, INSTANCE, settleWithA1, startArbiterPair, type ArbiterPair } from '../lab/arbiter-pair.js';
import { waitUntil } from '../lab/wait.js';

const skip =
  labUnavailableReason() ??
  (existsSync(NATS_SERVER) ? undefined : `${NATS_SERVER} is not installed`) ??
  (existsSync(KEEPALIVED) ? undefined : `${KEEPALIVED} is not installed`) ??
  (existsSync('/usr/sbin/nft') ? undefined : 'nftables (nft) is not installed');

const ms = (ns: bigint): string => `${(Number(ns) / 1e6).toFixed(1)} ms`;

describe('arbiter scenarios: a strict pair with fencing required', { skip }, () => {
  let lab: Lab;
  let p: ArbiterPair;

  before(async () => {
    lab = await Lab.create();
    p = await startArbiterPair(lab, { mode: 'strict', fencing: 'required', keepalivedPeers: 2 });
    await p.startAgent('a1');
    await p.agents.a1.waitForState(INSTANCE, 'MASTER', 15_000);
    await p.startAgent('b1');
    await settleWithA1(p);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('vrrp link cut: the keepquorum pair keeps one holder (the arbiter vetoes b1), the keepalived pair beside it splits', async (t) => {
    const [ka1, ka2] = p.seg.keepalived as [typeof p.a, typeof p.a];
    const kaVip = vipOf(2);
    const kaConf = (priority: number) => keepalivedConf({ vrid: kaVip.vrid, priority, advertInt: 0.1, version: 3, vips: [kaVip.ipv4Cidr], routerId: `ka${priority}` });
    const k1 = await startKeepalived(ka1, kaConf(100));
    const k2 = await startKeepalived(ka2, kaConf(90));
    await k1.waitForState('VI_1', 'MASTER', 10_000);
    await k2.waitForState('VI_1', 'BACKUP', 10_000);

    const kqWatch = await startSplitBrainWatch([p.a, p.b], p.pair.vip.ipv4);
    const kaWatch = await startSplitBrainWatch([ka1, ka2], kaVip.ipv4);
    const vetoesBefore = p.decisions().filter((d) => d.request === 'claim' && d.node === 'b1' && d.decision === 'veto').length;
    for (const h of [p.a, p.b, ka1, ka2]) await cutVrrp(h);
    // keepalived's backup stops hearing its master and takes the VIP as well.
    await k2.waitForState('VI_1', 'MASTER', 10_000);
    // b1 stops hearing a1 too: it claims, and is vetoed (a1 is alive and renewing), more than once.
    await waitUntil(
      'b1 vetoed twice during the cut',
      () => p.decisions().filter((d) => d.request === 'claim' && d.node === 'b1' && d.decision === 'veto').length >= vetoesBefore + 2,
      10_000,
      20,
    );
    await waitUntil('keepalived both MASTER', () => k1.state('VI_1') === 'MASTER' && k2.state('VI_1') === 'MASTER', 5000);
    for (const h of [p.a, p.b, ka1, ka2]) await healVrrp(h);
    await k2.waitForState('VI_1', 'BACKUP', 10_000);
    const kq = await kqWatch.stop();
    const ka = await kaWatch.stop();
    const vetoes = p.decisions().filter((d) => d.request === 'claim' && d.node === 'b1' && d.decision === 'veto');
    t.diagnostic(`vrrp link cut: keepquorum split-brain ${kq.splitBrainMs} ms (b1 vetoed ${vetoes.length - vetoesBefore} times: ${vetoes.at(-1)?.reason}); keepalived split-brain ${ka.splitBrainMs.toFixed(1)} ms`);
    assert.ok(ka.splitBrainMs > 0, 'the keepalived pair split (the cut bites)');
    assert.equal(kq.splitBrainMs, 0);
    assert.match(vetoes.at(-1)!.reason, /claim by b1 vetoed: holder a1 is alive/);
    assert.deepEqual(await p.holders(), ['a1']);
    await settleWithA1(p);
    await k1.stop();
    await k2.stop();
  });

  test('hung master: a1 SIGSTOPped past its lease is fenced (webhook, its host powered off) before b1 is granted; split-brain 0; the fence is in the event log', async (t) => {
    const watch = await startSplitBrainWatch([p.a, p.b], p.pair.vip.ipv4);
    const client = startClient(p.cl, p.pair.vip.ipv4, { durationMs: 20_000 });
    await client.waitFor((r) => r.ok && r.server === 'a1', 5000);
    const hungAt = process.hrtime.bigint();
    p.agents.a1.process.signal('SIGSTOP');
    // a1's VIP stays on its interface while its agent is frozen: only the fence takes it away.
    const fenced = await p.fence.waitFenced('a1', 15_000);
    const takeover = await p.agents.b1.waitForState(INSTANCE, 'MASTER', 10_000);
    p.agents.a1.process.signal('SIGCONT');
    await client.waitFor((r) => r.ok && r.server === 'b1' && r.t > hungAt, 5000);
    const records = await client.stop();
    const sb = await watch.stop();
    const summary = summarizeClient(records, { from: hungAt });
    t.diagnostic(
      `hung master: fence requested ${ms(fenced.requestedNs - hungAt)} after SIGSTOP, a1 powered off ${ms(fenced.doneNs! - hungAt)}, ` +
        `b1 MASTER ${(takeover!.at - Number(hungAt) / 1e6).toFixed(1)} ms; client downtime ${summary.downtimeMs.toFixed(1)} ms, split-brain ${sb.splitBrainMs} ms`,
    );
    assert.equal(sb.splitBrainMs, 0);
    assert.equal(fenced.via, 'webhook');
    // The grant came only once the fence was confirmed: b1's MASTER (same monotonic clock) is after the power-off.
    assert.ok(takeover!.at * 1e6 >= Number(fenced.doneNs!), `b1 MASTER at ${takeover!.at} ms, a1 powered off at ${Number(fenced.doneNs!) / 1e6} ms`);
    assert.match(takeover!.reason, /lease granted \(epoch \d+.*a1 \(epoch \d+\) was fenced and the fence confirmed/);
    assert.deepEqual(await p.holders(), ['b1']);
    assert.equal(summary.servedBy.at(-1)?.server, 'b1');

    let fenceEvents: Awaited<ReturnType<typeof eventHistory>>['events'] = [];
    await waitUntil('fence.requested and fence.result in the event log', async () => {
      fenceEvents = (await eventHistory(p, ['--type', 'fence.>'])).events;
      return fenceEvents.some((e) => e.type === 'fence.requested') && fenceEvents.some((e) => e.type === 'fence.result' && e.data['confirmed'] === true);
    }, 15_000, 250);
    const result = fenceEvents.find((e) => e.type === 'fence.result')!;
    assert.equal(result.data['subject'], 'a1');
    assert.equal(result.data['backend'], 'webhook');
    t.diagnostic(`event log: ${fenceEvents.map((e) => `${e.type} by ${e.node}: ${String(e.data['reason']).slice(0, 140)}`).join(' | ')}`);
  });

  test('forced failover: POST /v1/failover moves the lease from b1 back to a1; b1 demotes, a1 serves (break-then-make)', async (t) => {
    // a1 comes back from its power-off: it cannot preempt (b1 holds a live lease), so it stays out.
    await p.a.powerOn();
    p.fence.poweredOn('a1');
    await p.startAgent('a1');
    await waitUntil('a1 claiming and vetoed, or backup', () => ['BACKUP', 'CLAIMING'].includes(p.agents.a1.state(INSTANCE) ?? ''), 10_000);
    await waitUntil('a1 vetoed at least once', () => p.decisions().some((d) => d.request === 'claim' && d.node === 'a1' && d.decision === 'veto' && /holder b1 is alive/.test(d.reason)), 10_000);
    assert.deepEqual(await p.holders(), ['b1']);

    const watch = await startSplitBrainWatch([p.a, p.b], p.pair.vip.ipv4);
    const client = startClient(p.cl, p.pair.vip.ipv4, { durationMs: 15_000 });
    await client.waitFor((r) => r.ok && r.server === 'b1', 5000);
    const unauth = await arbiterApi(p.cl, p.arbiters[0]!.apiUrl!, 'POST', '/v1/failover', { body: { instance: INSTANCE, to: 'a1' } });
    assert.equal(unauth.status, 401);
    const askedAt = process.hrtime.bigint();
    const r = await arbiterApi(p.cl, p.arbiters[0]!.apiUrl!, 'POST', '/v1/failover', { token: API_TOKEN, body: { instance: INSTANCE, to: 'a1' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const demoted = await p.agents.b1.waitForState(INSTANCE, 'BACKUP', 5000);
    const promoted = await p.agents.a1.waitForState(INSTANCE, 'MASTER', 5000);
    await client.waitFor((x) => x.ok && x.server === 'a1' && x.t > askedAt, 5000);
    const records = await client.stop();
    const sb = await watch.stop();
    const summary = summarizeClient(records, { from: askedAt });
    t.diagnostic(
      `forced failover: b1 BACKUP ${(demoted!.at - Number(askedAt) / 1e6).toFixed(1)} ms after the POST, a1 MASTER ${(promoted!.at - demoted!.at).toFixed(1)} ms after that; ` +
        `client downtime ${summary.downtimeMs.toFixed(1)} ms, split-brain ${sb.splitBrainMs} ms; ${(r.body as { reason?: string }).reason}`,
    );
    assert.equal(sb.splitBrainMs, 0);
    assert.match(demoted!.reason, /ordered by the arbiter|forced failover/);
    assert.deepEqual(await p.holders(), ['a1']);
    assert.equal(summary.servedBy.at(-1)?.server, 'a1');
    await settleWithA1(p);
  });
});
