/**
 * The arbiter against a real nats-server (JetStream on loopback, test/nats/server.ts):
 * claims, vetoes, renewals, releases, a silent holder's expiry, fencing through
 * a signed webhook, forced failover through the HTTP API, malformed requests,
 * and a restart that rebuilds the view from the KV. No mocks: the agents are
 * NATS clients speaking the protocol, the leases are in HA_LEASES.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type KV, type NatsConnection } from 'nats';
import { LEASE_BUCKET, PROTOCOL_VERSION } from '../../../libs/arbiter/src/protocol.js';
import { collectHistory } from '../../../libs/events/src/mod.js';
import {
  CLUSTER,
  claimUntilGranted,
  heldReceiver,
  httpJson,
  natsUnavailableReason,
  replicaConfig,
  secretFile,
  SimNode,
  startNatsServer,
  startReplica,
  waitFor,
  type NatsServer,
} from '../fixtures/harness.js';
import type { ArbiterService } from '../src/service.js';

const skip = natsUnavailableReason() ?? false;

describe('arbiter with a real nats-server', { skip }, () => {
  let ns: NatsServer;
  let nc: NatsConnection;
  let kv: KV;
  const cleanup: (() => Promise<unknown>)[] = [];

  before(async () => {
    ns = await startNatsServer();
    nc = await connect({ servers: ns.url });
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    await nc?.close();
    await ns?.dispose();
  });

  async function lease(instance: string): Promise<{ revision: number; value: Record<string, unknown> } | null> {
    kv ??= await nc.jetstream().views.kv(LEASE_BUCKET, { bindOnly: true });
    const e = await kv.get(`${CLUSTER}.${instance}`);
    return e && e.operation === 'PUT' ? { revision: e.revision, value: e.json<Record<string, unknown>>() } : null;
  }

  const running: ArbiterService[] = [];
  /** One replica per test: the previous test's replicas (which know other instances) leave the queue group first. */
  async function replica(name: string, instances: Record<string, unknown>[], extra?: Record<string, unknown>, env?: NodeJS.ProcessEnv): Promise<ArbiterService> {
    for (const r of running.splice(0)) await r.stop();
    const s = await startReplica(replicaConfig({ url: ns.url, replica: name, instances, ...(extra ? { extra } : {}) }), env);
    running.push(s);
    cleanup.push(() => s.stop());
    return s;
  }

  async function node(name: string, instance: string, state: 'BACKUP' | 'CLAIMING' | 'MASTER' = 'BACKUP', priority = 100): Promise<SimNode> {
    const n = await SimNode.start(ns.url, name);
    n.report(instance, state, priority);
    n.startHeartbeats();
    cleanup.push(() => n.close());
    return n;
  }

  /** The replica has heard of every node's heartbeat. */
  async function seen(s: ArbiterService, instance: string, ...nodes: string[]): Promise<void> {
    await waitFor(`members ${nodes.join(', ')} of ${instance}`, () => nodes.every((n) => s.arbiter.snapshot().instances[instance]?.members[n]));
  }

  test('a claim on a free lease is granted only once the KV holds it, and a second claimant is vetoed naming the live holder', async () => {
    const s = await replica('arb-claim', [{ name: 'claim1' }]);
    const a = await node('claim-a', 'claim1', 'CLAIMING');
    const b = await node('claim-b', 'claim1');
    await seen(s, 'claim1', 'claim-a', 'claim-b');

    const g = await a.claim('claim1');
    assert.equal(g.answer.type, 'grant', JSON.stringify(g.answer));
    assert.ok(g.answer.type === 'grant' && g.answer.epoch === 1 && g.answer.validForMs > 0 && g.answer.validForMs <= 2000);
    const stored = await lease('claim1');
    assert.equal(stored?.value['holder'], 'claim-a');
    assert.equal(stored?.value['epoch'], 1);

    const v = await b.claim('claim1');
    assert.equal(v.answer.type, 'veto');
    assert.match(v.answer.type === 'veto' ? v.answer.reason : '', /^claim by claim-b vetoed: holder claim-a is alive \(renewed \d+ ms ago, its gateway answering\); its lease \(epoch 1\) runs \d+ ms more$/);
    assert.equal((await lease('claim1'))?.revision, stored?.revision, 'a veto writes nothing');
  });

  test('the holder renews its epoch: the KV is rewritten with a later expiry, the epoch stays', async () => {
    const s = await replica('arb-renew', [{ name: 'renew1' }]);
    const a = await node('renew-a', 'renew1', 'CLAIMING');
    await seen(s, 'renew1', 'renew-a');
    const g = await claimUntilGranted(a, 'renew1');
    const before = await lease('renew1');
    const r = await a.renew('renew1', g.answer.epoch);
    assert.equal(r.answer.type, 'renewed', JSON.stringify(r.answer));
    assert.ok(r.answer.type === 'renewed' && r.answer.epoch === g.answer.epoch && r.answer.validForMs > 0);
    const after = await lease('renew1');
    assert.equal(after?.value['epoch'], before?.value['epoch']);
    assert.ok((after?.revision ?? 0) > (before?.revision ?? 0));
    assert.ok(Number(after?.value['expiresAt']) >= Number(before?.value['expiresAt']));
  });

  test('a release hands the lease to the backup at once: released to the holder, an offer to the backup, whose claim is granted', async () => {
    const s = await replica('arb-release', [{ name: 'rel1' }]);
    const a = await node('rel-a', 'rel1', 'CLAIMING', 200);
    const b = await node('rel-b', 'rel1', 'BACKUP', 100);
    await seen(s, 'rel1', 'rel-a', 'rel-b');
    const g = await claimUntilGranted(a, 'rel1');
    const r = await a.release('rel1', g.answer.epoch);
    assert.deepEqual(r.answer, { type: 'released', v: PROTOCOL_VERSION, instance: 'rel1', epoch: g.answer.epoch });
    const offer = await waitFor('an offer to rel-b', () => b.orders.find((o) => o.type === 'offer' && o.instance === 'rel1'));
    assert.equal(offer.epoch, g.answer.epoch + 1);
    const g2 = await b.claim('rel1');
    assert.equal(g2.answer.type, 'grant', JSON.stringify(g2.answer));
    assert.equal(g2.answer.type === 'grant' && g2.answer.epoch, g.answer.epoch + 1);
    assert.equal((await lease('rel1'))?.value['holder'], 'rel-b');
  });

  test('a holder whose heartbeats stop is gone; its lease runs out and then, not before, the backup is granted (fencing off)', async () => {
    const s = await replica('arb-gone', [{ name: 'gone1', advertIntervalMs: 200 }]);
    const a = await node('gone-a', 'gone1', 'CLAIMING', 200);
    const b = await node('gone-b', 'gone1', 'BACKUP', 100);
    await seen(s, 'gone1', 'gone-a', 'gone-b');
    await claimUntilGranted(a, 'gone1');
    const held = await lease('gone1');
    a.stopHeartbeats();
    await waitFor('gone-a to be disconnected in the view', () => s.arbiter.snapshot().nodes['gone-a']?.connected === false);
    b.report('gone1', 'CLAIMING', 100);
    b.heartbeatNow();
    const g = await claimUntilGranted(b, 'gone1');
    const now = await lease('gone1');
    assert.equal(now?.value['holder'], 'gone-b');
    assert.equal(g.answer.epoch, Number(held?.value['epoch']) + 1);
    assert.ok(Number(now?.value['grantedAt']) >= Number(held?.value['expiresAt']), 'granted after the old lease ran out, by the arbiter\'s clock');
    // The event log says why.
    const h = await collectHistory(nc.jetstream(), { cluster: CLUSTER, node: 'arb-gone' });
    const types = h.events.map((e) => e.type);
    assert.ok(types.includes('node.gone'), types.join(','));
  });

  test('fencing required: a silent holder is fenced through the signed webhook, and nobody is granted before the fence is confirmed', async () => {
    const SECRET = 'kq-arbiter-test-secret-9c1e7d3b8a';
    const receiver = await heldReceiver(SECRET);
    cleanup.push(() => receiver.close());
    const s = await replica('arb-fence', [{ name: 'fence1', fencing: 'required' }], {
      gateway: { address: '127.0.0.1', intervalMs: 200, timeoutMs: 500 },
      defaultFencing: { type: 'webhook', url: receiver.url, secretFile: secretFile(SECRET), retries: 0, totalTimeoutMs: 60_000 },
    });
    await waitFor('the arbiter to reach its gateway', () => s.arbiter.snapshot().gateway === 'up');
    const a = await node('fence-a', 'fence1', 'CLAIMING', 200);
    const b = await node('fence-b', 'fence1', 'BACKUP', 100);
    await seen(s, 'fence1', 'fence-a', 'fence-b');
    const held = await claimUntilGranted(a, 'fence1');
    a.stopHeartbeats();
    b.report('fence1', 'CLAIMING', 100);
    b.heartbeatNow();

    const req = await waitFor('the fence request at the receiver', () => receiver.requests[0]);
    assert.equal(req.signature.ok, true);
    assert.equal(req.body['node'], 'fence-a');
    assert.equal(req.body['action'], 'off');
    assert.equal(req.body['epoch'], held.answer.epoch);
    // While the receiver has not confirmed, the backup's claim is refused and the KV still names the holder.
    const early = await b.claim('fence1');
    assert.equal(early.answer.type, 'veto', JSON.stringify(early.answer));
    assert.match(early.answer.type === 'veto' ? early.answer.reason : '', /fence of fence-a is in progress/);
    assert.equal((await lease('fence1'))?.value['holder'], 'fence-a');

    receiver.answer(200, { status: 'fenced' });
    const g = await claimUntilGranted(b, 'fence1');
    assert.equal(g.answer.epoch, held.answer.epoch + 1);
    const now = await lease('fence1');
    assert.equal(now?.value['holder'], 'fence-b');
    assert.match(String(now?.value['reason']), /fence-a \(epoch \d+\) was fenced and the fence confirmed/);
    // The arbiter's events are journaled, then published: wait for the stream to hold the result.
    const fenceResult = await waitFor('fence.result in the event log', async () => {
      const h = await collectHistory(nc.jetstream(), { cluster: CLUSTER, node: 'arb-fence' });
      return h.events.find((e) => e.type === 'fence.result');
    });
    assert.equal((fenceResult!.data as { confirmed: boolean }).confirmed, true);
  });

  test('fencing required: a holder whose agent\'s NATS connection closes is fenced at once, long before its heartbeats are missed or its renewals overdue, and the backup is granted on the confirmation', async () => {
    const SECRET = 'kq-arbiter-test-secret-4f2a9e61d0';
    const receiver = await heldReceiver(SECRET);
    cleanup.push(() => receiver.close());
    const s = await replica('arb-conn', [{ name: 'conn1', fencing: 'required' }], {
      gateway: { address: '127.0.0.1', intervalMs: 200, timeoutMs: 500 },
      defaultFencing: { type: 'webhook', url: receiver.url, secretFile: secretFile(SECRET), retries: 0, totalTimeoutMs: 60_000 },
    });
    await waitFor('the arbiter to reach its gateway', () => s.arbiter.snapshot().gateway === 'up');
    // Heartbeats every 60 s: missing three of them takes minutes, so only the connection can tell.
    const a = await SimNode.start(ns.url, 'conn-a', 60_000);
    cleanup.push(() => a.close());
    a.report('conn1', 'CLAIMING', 200);
    a.heartbeatNow();
    const b = await node('conn-b', 'conn1', 'BACKUP', 100);
    await seen(s, 'conn1', 'conn-a', 'conn-b');
    const held = await claimUntilGranted(a, 'conn1');
    await waitFor('a probe to find conn-a\'s inbox', () => s.arbiter.agentConnections()['conn-a'] === 'open');
    // The agent dies, its host stays up: its NATS connection closes.
    await a.close();
    const req = await waitFor('the fence request at the receiver', () => receiver.requests[0]);
    assert.equal(req.body['node'], 'conn-a');
    assert.equal(req.body['epoch'], held.answer.epoch);
    assert.match(String(req.body['reason']), /holder conn-a is not connected: fencing conn-a/, 'fenced for its closed connection, not for overdue renewals');
    receiver.answer(200, { status: 'fenced' });
    b.report('conn1', 'CLAIMING', 100);
    b.heartbeatNow();
    const g = await claimUntilGranted(b, 'conn1');
    assert.equal(g.answer.epoch, held.answer.epoch + 1);
    assert.equal((await lease('conn1'))?.value['holder'], 'conn-b');
  });

  test('fencing required, two replicas: a holder whose agent restarts is not fenced by the replica that knew only the dead process\'s inbox', async () => {
    const SECRET = 'kq-arbiter-test-secret-7c1d93b2e4';
    const receiver = await heldReceiver(SECRET);
    cleanup.push(() => receiver.close());
    const instances = [{ name: 'rst1', fencing: 'required' }];
    const extra = {
      gateway: { address: '127.0.0.1', intervalMs: 200, timeoutMs: 500 },
      defaultFencing: { type: 'webhook', url: receiver.url, secretFile: secretFile(SECRET), retries: 0, totalTimeoutMs: 60_000 },
    };
    const r1 = await replica('arb-rst1', instances, extra);
    const r2 = await startReplica(replicaConfig({ url: ns.url, replica: 'arb-rst2', instances, extra }));
    running.push(r2);
    cleanup.push(() => r2.stop());
    await waitFor('both replicas to reach their gateway', () => r1.arbiter.snapshot().gateway === 'up' && r2.arbiter.snapshot().gateway === 'up');
    const old = await SimNode.start(ns.url, 'rst-a');
    cleanup.push(() => old.close());
    old.report('rst1', 'CLAIMING', 200);
    old.startHeartbeats();
    // The backup is FAULT for now (the release below frees the lease instead of offering it to it).
    const b = await SimNode.start(ns.url, 'rst-b');
    cleanup.push(() => b.close());
    b.report('rst1', 'FAULT', 100);
    b.startHeartbeats();
    await seen(r1, 'rst1', 'rst-a', 'rst-b');
    await seen(r2, 'rst1', 'rst-a', 'rst-b');
    const held = await claimUntilGranted(old, 'rst1');
    // Each renewal reaches one replica (queue group): renew until both probe the old process's inbox.
    await waitFor('both replicas to find the old process\'s inbox', async () => {
      assert.equal((await old.renew('rst1', held.answer.epoch)).answer.type, 'renewed');
      return r1.arbiter.agentConnections()['rst-a'] === 'open' && r2.arbiter.agentConnections()['rst-a'] === 'open';
    });
    // The agent restarts: it gives the lease up, its process exits, a new process (new bootId) claims.
    assert.equal((await old.release('rst1', held.answer.epoch)).answer.type, 'released');
    await old.close();
    const a = await SimNode.start(ns.url, 'rst-a');
    cleanup.push(() => a.close());
    a.report('rst1', 'CLAIMING', 200);
    a.startHeartbeats();
    // One claim, on the free lease: it reaches one replica; the other knows only the dead process's inbox.
    const g = (await a.claim('rst1')).answer;
    if (g.type !== 'grant') assert.fail(`the new process's claim: ${JSON.stringify(g)}`);
    assert.ok(g.epoch > held.answer.epoch);
    // Now a backup could take over: a verdict of "gone" on the holder would fence it.
    b.report('rst1', 'BACKUP', 100);
    b.heartbeatNow();
    // The claim reached one replica; the other knew only the dead process's inbox. Renew as an agent
    // does (every renewIntervalMs) until both have answered the new process and found its inbox.
    const renewEvery = r1.arbiter.snapshot().instances['rst1']!.policy.timing.renewIntervalMs;
    const answers: string[] = [];
    await waitFor(
      'both replicas to find the new process\'s inbox',
      async () => {
        answers.push((await a.renew('rst1', g.epoch)).answer.type);
        return r1.arbiter.agentConnections()['rst-a'] === 'open' && r2.arbiter.agentConnections()['rst-a'] === 'open';
      },
      30_000,
      renewEvery,
    );
    assert.deepEqual(receiver.requests.map((q) => q.body['node']), [], 'nobody fenced');
    assert.deepEqual(new Set(answers), new Set(['renewed']), `every renewal of the new process renewed: ${answers.join(', ')}`);
    for (const r of [r1, r2]) assert.equal(r.arbiter.snapshot().nodes['rst-a']?.connected, true, 'rst-a connected at every replica');
    assert.equal((await lease('rst1'))?.value['holder'], 'rst-a');
    assert.equal((await lease('rst1'))?.value['epoch'], g.epoch);
  });

  test('forced failover through the HTTP API: bearer token required, bodies checked, the holder is ordered down and the target granted', async () => {
    const TOKEN = 'ops-token-0123456789abcdef';
    const s = await replica('arb-http', [{ name: 'fo1' }], { http: { listen: '127.0.0.1:0', tokensEnv: 'KQ_TEST_TOKENS' } }, { KQ_TEST_TOKENS: `ops:${TOKEN}` });
    const base = `http://127.0.0.1:${s.http!.port}`;
    const a = await node('fo-a', 'fo1', 'CLAIMING', 200);
    const b = await node('fo-b', 'fo1', 'BACKUP', 100);
    await seen(s, 'fo1', 'fo-a', 'fo-b');
    const g = await claimUntilGranted(a, 'fo1');

    const status = await httpJson(`${base}/v1/status`);
    assert.equal(status.status, 200);
    const inst = (status.body['instances'] as Record<string, { lease: { holder: string; epoch: number } }>)['fo1'];
    assert.equal(inst?.lease.holder, 'fo-a');
    assert.equal(inst?.lease.epoch, g.answer.epoch);

    const noToken = await httpJson(`${base}/v1/failover`, { body: { instance: 'fo1', to: 'fo-b' } });
    assert.equal(noToken.status, 401);
    assert.match(String(noToken.body['error']), /no Authorization header/);
    const badToken = await httpJson(`${base}/v1/failover`, { token: 'not-the-token-at-all', body: { instance: 'fo1' } });
    assert.equal(badToken.status, 401);
    assert.match(String(badToken.body['error']), /not accepted/);
    const badBody = await httpJson(`${base}/v1/failover`, { token: TOKEN, body: { instance: 'fo1', to: 'no such.node' } });
    assert.equal(badBody.status, 400);
    assert.match(String(badBody.body['error']), /^to: letters, digits/);
    const extra = await httpJson(`${base}/v1/failover`, { token: TOKEN, body: { instance: 'fo1', force: true } });
    assert.equal(extra.status, 400);
    assert.match(String(extra.body['error']), /force: unknown field/);
    const notJson = await httpJson(`${base}/v1/failover`, { token: TOKEN, rawBody: '{instance' });
    assert.equal(notJson.status, 400);
    assert.match(String(notJson.body['error']), /^body: not JSON/);
    const unknown = await httpJson(`${base}/v1/failover`, { token: TOKEN, body: { instance: 'nope' } });
    assert.equal(unknown.status, 404);
    assert.equal((await lease('fo1'))?.value['holder'], 'fo-a', 'refused requests change nothing');

    a.onOrder = (o) => {
      if (o.type === 'orderDemote') void a.release('fo1', o.epoch);
    };
    const fo = await httpJson(`${base}/v1/failover`, { token: TOKEN, body: { instance: 'fo1', to: 'fo-b' } });
    assert.equal(fo.status, 200, JSON.stringify(fo.body));
    assert.equal(fo.body['decision'], 'failover');
    assert.match(String(fo.body['reason']), /^forced failover by ops: epoch \d+ of fo-a revoked/);
    const demote = await waitFor('the order to fo-a', () => a.orders.find((o) => o.type === 'orderDemote'));
    assert.equal(demote.epoch, g.answer.epoch);
    const offer = await waitFor('the offer to fo-b', () => b.orders.find((o) => o.type === 'offer'));
    const g2 = await b.claim('fo1');
    assert.equal(g2.answer.type, 'grant', JSON.stringify(g2.answer));
    assert.equal(g2.answer.type === 'grant' && g2.answer.epoch, offer.epoch);
    assert.ok(demote.at <= offer.at, 'break before make');
    assert.equal((await lease('fo1'))?.value['holder'], 'fo-b');
  });

  test('malformed and stale requests on the claim subject are refused with the field named, change nothing, and the arbiter keeps answering', async () => {
    const s = await replica('arb-bad', [{ name: 'bad1' }]);
    const a = await node('bad-a', 'bad1', 'CLAIMING');
    await seen(s, 'bad1', 'bad-a');
    const g = await claimUntilGranted(a, 'bad1');
    const before = await lease('bad1');
    const enc = (x: unknown) => new TextEncoder().encode(typeof x === 'string' ? x : JSON.stringify(x));
    const cases: [string, Uint8Array, RegExp][] = [
      ['not JSON', enc('claim please'), /^request: not JSON/],
      ['not UTF-8', new Uint8Array([0xff, 0xfe, 0x00]), /^request: not UTF-8/],
      ['unknown type', enc({ v: 1, type: 'steal', instance: 'bad1', node: 'bad-a' }), /^request: type: /],
      ['wrong version', enc({ v: 2, type: 'claim', instance: 'bad1', node: 'bad-a' }), /^request: v: /],
      ['bad node name', enc({ v: 1, type: 'claim', instance: 'bad1', node: 'a.b' }), /^request: node: letters, digits/],
      ['missing epoch', enc({ v: 1, type: 'renew', instance: 'bad1', node: 'bad-a' }), /^request: epoch: /],
      ['extra field', enc({ v: 1, type: 'claim', instance: 'bad1', node: 'bad-a', force: true }), /^request: \(message\): .*force/],
      ['unknown instance', enc({ v: 1, type: 'claim', instance: 'nope', node: 'bad-a' }), /^request: instance: unknown instance 'nope'/],
      ['stale epoch', enc({ v: 1, type: 'renew', instance: 'bad1', node: 'bad-a', epoch: g.answer.epoch - 1 }), /stale epoch/],
      ['future epoch', enc({ v: 1, type: 'renew', instance: 'bad1', node: 'bad-a', epoch: g.answer.epoch + 5 }), /knows epoch \d+ at most/],
      ['release by a non-holder', enc({ v: 1, type: 'release', instance: 'bad1', node: 'bad-x', epoch: g.answer.epoch }), /nothing to release/],
    ];
    for (const [what, data, reason] of cases) {
      const r = await a.raw(data);
      assert.equal(r.answer.type, 'refuse', `${what}: ${JSON.stringify(r.answer)}`);
      assert.match(r.answer.type === 'refuse' ? r.answer.reason : '', reason, what);
    }
    assert.equal((await lease('bad1'))?.revision, before?.revision, 'nothing was written');
    const renewed = await a.renew('bad1', g.answer.epoch);
    assert.equal(renewed.answer.type, 'renewed', 'still answering');
  });

  test('a restarted arbiter rebuilds the lease from the KV: the holder renews the same epoch, a rival is vetoed', async () => {
    const first = await replica('arb-restart-1', [{ name: 'rs1' }]);
    const a = await node('rs-a', 'rs1', 'CLAIMING', 200);
    const b = await node('rs-b', 'rs1', 'BACKUP', 100);
    await seen(first, 'rs1', 'rs-a', 'rs-b');
    const g = await claimUntilGranted(a, 'rs1');
    await first.stop();
    const second = await replica('arb-restart-2', [{ name: 'rs1' }]);
    assert.equal(second.arbiter.snapshot().instances['rs1']?.lease?.value.holder, 'rs-a');
    // As an agent does: a renewal nobody answered yet (the replica joins the queue group once its write path is up) is sent again.
    const r = await waitFor('an answer to the renewal from the restarted replica', async () => {
      const x = await a.renew('rs1', g.answer.epoch);
      return x.answer.type === 'error' ? null : x;
    });
    assert.equal(r.answer.type, 'renewed', JSON.stringify(r.answer));
    const v = await b.claim('rs1');
    assert.equal(v.answer.type, 'veto');
    assert.match(v.answer.type === 'veto' ? v.answer.reason : '', /holder rs-a is alive/);
  });
});
