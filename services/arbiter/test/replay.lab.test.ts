/**
 * The cold start from the event stream against a real nats-server: a replica
 * writes a snapshot, more events come, another replica (bin/ha-arbiter, a real
 * process) starts a fence and is killed (SIGKILL) before the receiver answers;
 * a replica started then knows every member's state before any heartbeat, has
 * the fence still in progress, builds the same view with the snapshot as
 * without it, and, once ready, takes the fence up again with the same
 * idempotency key, so the backup is granted when the fence is confirmed.
 *
 * No mocks: the agents' events are real envelopes published to HA_EVENTS with
 * their message ids (as an agent's publisher does), the agents' heartbeats and
 * claims are NATS messages of protocol.ts, the fence receiver is an HTTP server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { ensureStream, streamConfig } from '../../../libs/events/src/stream.js';
import { collectHistory, makeEnvelope, type EventInput, type EventType } from '../../../libs/events/src/mod.js';
import { freePort } from '../../../test/nats/server.js';
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
  tempDir,
  testLog,
  waitFor,
  type HeldReceiver,
  type NatsServer,
} from '../fixtures/harness.js';
import { startArbiterService, type ArbiterService } from '../src/service.js';
import { SnapshotStore } from '../src/snapshot.js';

const skip = natsUnavailableReason() ?? false;
const BIN = new URL('../../../../bin/ha-arbiter', import.meta.url).pathname;
const SECRET = 'kq-replay-test-secret-4b7f0c2e91';
const I = 'rp1';

describe('arbiter cold start from the stream, with a snapshot', { skip }, () => {
  let ns: NatsServer;
  let nc: NatsConnection;
  let receiver: HeldReceiver;
  const cleanup: (() => Promise<unknown>)[] = [];
  const seqs = new Map<string, number>();

  before(async () => {
    ns = await startNatsServer();
    nc = await connect({ servers: ns.url });
    await ensureStream(await nc.jetstreamManager(), streamConfig({ maxBytes: 64 * 1024 * 1024 }));
    receiver = await heldReceiver(SECRET);
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    await receiver?.close();
    await nc?.close();
    await ns?.dispose();
  });

  /** An agent's event, stored as its publisher stores it (envelope, subject, Nats-Msg-Id). */
  async function agentEvent<T extends EventType>(node: string, boot: string, type: T, data: EventInput<T>): Promise<void> {
    const seq = (seqs.get(node) ?? 0) + 1;
    seqs.set(node, seq);
    const env = makeEnvelope(type, data, { cluster: CLUSTER, node, bootId: boot, seq, instance: I });
    await nc.jetstream().publish(`ha.${CLUSTER}.evt.${node}.${type}`, JSON.stringify(env), { msgID: env.id });
  }
  const transition = (from: 'INIT' | 'BACKUP' | 'CLAIMING', to: 'BACKUP' | 'MASTER' | 'CLAIMING', p: number): EventInput<'vrrp.transition'> => ({
    from,
    to,
    reason: 'test',
    priority: p,
    effectivePriority: p,
    masterSeen: null,
  });
  const vip = { address: '198.18.77.1', prefix: 32, interface: 'eth0', changed: true };

  const fencing = (extra: Record<string, unknown> = {}) => ({
    gateway: { address: '127.0.0.1', intervalMs: 200, timeoutMs: 500 },
    defaultFencing: { type: 'webhook', url: receiver.url, secretFile: secretFile(SECRET), retries: 0, totalTimeoutMs: 120_000 },
    ...extra,
  });

  async function service(name: string, warmupMs: number): Promise<ArbiterService> {
    const config = replicaConfig({ url: ns.url, replica: name, instances: [{ name: I, fencing: 'required' }], warmupMs, extra: fencing() });
    const s = await startArbiterService(config, { log: testLog(name), replay: { policy: { checkMs: 3_600_000 } } });
    cleanup.push(() => s.stop());
    return s;
  }

  /** bin/ha-arbiter as an operator runs it, so that it can be killed. */
  async function processReplica(name: string): Promise<{ child: ChildProcess; base: string }> {
    const port = await freePort();
    const dir = tempDir('kq-replay-proc-');
    const file = join(dir, 'arbiter.json');
    writeFileSync(
      file,
      JSON.stringify({
        cluster: CLUSTER,
        replica: name,
        stateDir: join(dir, 'state'),
        nats: { servers: [ns.url] },
        leases: { replicas: 1, history: 64, writeTimeoutMs: 3000 },
        heartbeats: { missed: 3, warmupMs: 400 },
        instances: [{ name: I, fencing: 'required' }],
        http: { listen: `127.0.0.1:${port}` },
        ...fencing(),
      }),
    );
    const child = spawn(process.execPath, [BIN, '--config', file, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
    cleanup.push(async () => child.kill('SIGKILL'));
    const base = `http://127.0.0.1:${port}`;
    await waitFor(`${name} to answer`, async () => (await httpJson(`${base}/v1/status`).catch(() => ({ body: {} as Record<string, unknown> }))).body['ready'] === true, 30_000, 100);
    return { child, base };
  }

  test('a fence in progress survives the crash of the replica running it; members are known before the first heartbeat; the snapshot changes nothing but the read', async () => {
    // 1. Agents report, a replica folds and snapshots, stops.
    const a = await SimNode.start(ns.url, 'rp-a');
    const b = await SimNode.start(ns.url, 'rp-b');
    const c = await SimNode.start(ns.url, 'rp-c');
    cleanup.push(() => a.close(), () => b.close(), () => c.close());
    await agentEvent('rp-a', 'ba', 'vrrp.transition', transition('INIT', 'BACKUP', 200));
    await agentEvent('rp-b', 'bb', 'vrrp.transition', transition('INIT', 'BACKUP', 100));
    await agentEvent('rp-c', 'bc', 'vrrp.transition', transition('INIT', 'BACKUP', 50));
    const first = await service('rp-first', 400);
    await first.arbiter.whenReady();
    await first.replay!.keeper!.checkNow(true);
    const store = await SnapshotStore.open({ nc, replicas: 1 });
    const snap = await store.read(CLUSTER);
    assert.ok(snap && snap.seq >= 3, 'a snapshot covering the first events');
    assert.deepEqual(snap.nodes['rp-b']?.members, { [I]: { state: 'BACKUP', priority: 100, vip: false } });
    await first.stop();

    // 2. After the snapshot: a is granted and takes the VIP; c reports the VIP as well (split-brain material).
    const proc = await processReplica('rp-killed');
    for (const n of [a, b, c]) {
      n.report(I, n === a ? 'CLAIMING' : 'BACKUP', n === a ? 200 : n === b ? 100 : 50, n === c);
      n.startHeartbeats();
    }
    await waitFor('the members in rp-killed', async () => Object.keys(((await httpJson(`${proc.base}/v1/status`)).body['instances'] as Record<string, { members: object }>)[I]!.members).length === 3);
    await waitFor('rp-killed to reach its gateway', async () => (await httpJson(`${proc.base}/v1/status`)).body['gateway'] === 'up');
    const held = await claimUntilGranted(a, I);
    await agentEvent('rp-a', 'ba', 'vrrp.transition', transition('CLAIMING', 'MASTER', 200));
    await agentEvent('rp-a', 'ba', 'vip.added', vip);
    await agentEvent('rp-b', 'bb', 'vrrp.transition', transition('BACKUP', 'CLAIMING', 100));
    await agentEvent('rp-c', 'bc', 'vip.added', vip); // c reports the VIP in its heartbeats too
    await waitFor('rp-b claiming in rp-killed', async () => JSON.stringify((await httpJson(`${proc.base}/v1/status`)).body['instances']).includes('"rp-b":{"priority":100,"state":"CLAIMING"'));
    // 3. a goes silent (judged gone: node.gone): rp-killed fences it; the receiver holds its answer; rp-killed is killed.
    a.stopHeartbeats();
    b.report(I, 'CLAIMING', 100);
    const req = await waitFor('the fence request at the receiver', () => receiver.requests[0]);
    assert.equal(req.body['node'], 'rp-a');
    await waitFor('fence.requested in the stream', async () => (await collectHistory(nc.jetstream(), { cluster: CLUSTER, node: 'rp-killed', type: 'fence.requested' })).events.length === 1);
    const before = (await httpJson(`${proc.base}/v1/status`)).body as { nodes: Record<string, { fence?: { status: string; attempt: number } }>; instances: Record<string, { members: Record<string, unknown> }> };
    assert.equal(before.nodes['rp-a']?.fence?.status, 'inProgress');
    proc.child.kill('SIGKILL');
    await new Promise((r) => proc.child.once('exit', r));
    b.stopHeartbeats();
    c.stopHeartbeats();

    // 4. A new replica, before any heartbeat: what the stream says.
    const restarted = await service('rp-restarted', 3000);
    const r = restarted.replay!.result;
    assert.equal(r.snapshotSeq, snap.seq, 'started from the snapshot');
    assert.ok(r.tailRecords >= 5, `read the tail after it (${r.tailRecords} records)`);
    const view = restarted.arbiter.snapshot();
    assert.equal(restarted.arbiter.isReady, false);
    // rp-a was judged gone (node.gone on the stream): no longer a member, as in the killed replica's view.
    assert.deepEqual(view.instances[I]?.members, {
      'rp-b': { state: 'CLAIMING', priority: 100, vip: false },
      'rp-c': { state: 'BACKUP', priority: 50, vip: true },
    });
    assert.deepEqual(view.instances[I]?.members, before.instances[I]?.members, 'the members the killed replica had');
    assert.equal(view.nodes['rp-a']?.fence?.status, 'inProgress', 'the fence is still in progress: nobody is granted past it');
    assert.equal(view.nodes['rp-a']?.fence?.attempt, before.nodes['rp-a']?.fence?.attempt);
    assert.equal(view.instances[I]?.lease?.value.holder, 'rp-a');

    // The same view without the snapshot (the whole stream read).
    await store.delete(CLUSTER);
    const whole = await service('rp-whole', 3_600_000);
    assert.equal(whole.replay!.result.snapshotSeq, null);
    const w = whole.arbiter.snapshot();
    assert.deepEqual(w.instances[I]?.members, view.instances[I]?.members);
    assert.deepEqual(w.nodes['rp-a']?.fence, view.nodes['rp-a']?.fence);
    await whole.stop();

    // 5. Ready: the restarted replica takes the fence up again (same idempotency key); confirmed, the backup is granted.
    b.startHeartbeats();
    await waitFor('the fence taken up again', () => receiver.requests.length >= 2, 20_000);
    assert.equal(receiver.requests[1]!.body['node'], 'rp-a');
    assert.equal(receiver.requests[1]!.body['idempotencyKey'], req.body['idempotencyKey']);
    const early = await b.claim(I);
    assert.equal(early.answer.type, 'veto', JSON.stringify(early.answer));
    receiver.answer(200, { status: 'fenced' });
    const g = await claimUntilGranted(b, I);
    assert.equal(g.answer.epoch, held.answer.epoch + 1);
  });
});
