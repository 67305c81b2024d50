import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { EventPublisher, natsConnector, type EventPublisherOptions } from '../src/mod.js';
import { SAMPLES } from './samples.js';
import { faultyFs, tempDir, until } from './helpers.js';
import { connectTo, history, natsUnavailableReason, provisionStream, range, runFixture, seqsOf, startNatsServer, storedCount, type NatsServer } from './nats-helpers.js';

const skip = natsUnavailableReason() ?? false;
let ns: NatsServer;
let nc: NatsConnection;
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  if (skip) return;
  ns = await startNatsServer();
  nc = await connectTo(ns.url);
  await provisionStream(nc);
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await nc?.close().catch(() => undefined);
  await ns?.dispose();
});

async function publisher(cluster: string, node: string, extra: Partial<EventPublisherOptions> = {}): Promise<EventPublisher> {
  const tmp = await tempDir();
  const p = await EventPublisher.open({ cluster, node, stateDir: tmp.dir, connect: natsConnector({ servers: [ns.url] }), retryInitialMs: 20, retryMaxMs: 200, ...extra });
  cleanups.push(async () => {
    await p.stop(0);
    await tmp.remove();
  });
  return p;
}

const check = (i: number) => ({ ...SAMPLES['check.result'], latencyMs: i });

test('events of each node arrive in seq order with no gap', { skip }, async () => {
  const nodes = ['n1', 'n2', 'n3'];
  const pubs = await Promise.all(nodes.map((n) => publisher('order', n)));
  for (let i = 0; i < 1500; i++) {
    for (const p of pubs) p.publish('check.result', check(i), { instance: `VI_${i % 3}` });
    if (i % 100 === 0) await new Promise((r) => setImmediate(r));
  }
  for (const p of pubs) assert.equal(await p.flush(60_000), true);
  const h = await history(nc, 'order');
  for (const n of nodes) assert.deepEqual(seqsOf(h.events, n), range(1, 1500), n);
  assert.deepEqual(h.gaps, []);
  assert.equal(h.invalid, 0);
  assert.equal(await storedCount(nc, 'order'), 4500);
});

test('the server stopped for a while and restarted: what was journaled meanwhile arrives, none twice', { skip }, async () => {
  // A small memory window: most of the backlog is read back from the journal.
  const p = await publisher('outage', 'n1', { memoryWindow: 32 });
  for (let i = 0; i < 200; i++) p.publish('check.result', check(i));
  assert.equal(await p.flush(30_000), true);

  await ns.stop();
  for (let i = 0; i < 300; i++) p.publish('vrrp.transition', { ...SAMPLES['vrrp.transition'], reason: `during the outage ${i}` }, { instance: 'VI_1' });
  await until(() => p.backlog().unacknowledged === 300, 'journaled while NATS is away');
  assert.equal(p.backlog().connected, false);

  await ns.restart();
  assert.equal(await p.flush(60_000), true);
  const h = await history(nc, 'outage');
  assert.deepEqual(seqsOf(h.events, 'n1'), range(1, 500));
  assert.equal(h.duplicates, 0);
  assert.equal(await storedCount(nc, 'outage'), 500);
});

test('the server killed while events are in flight and restarted: nothing lost, nothing stored twice', { skip }, async () => {
  const p = await publisher('crash', 'n1', { maxInFlight: 64 });
  let i = 0;
  const pump = async (n: number) => {
    for (let k = 0; k < n; k++, i++) {
      p.publish('check.result', check(i));
      if (k % 10 === 0) await new Promise((r) => setImmediate(r));
    }
  };
  await pump(1000);
  await until(() => p.stats().acknowledged > 200, 'some acknowledged');
  await ns.kill(); // in the middle of the stream of acks
  await pump(1000);
  await ns.restart();
  await pump(500);
  assert.equal(await p.flush(60_000), true);
  const h = await history(nc, 'crash');
  assert.deepEqual(seqsOf(h.events, 'n1'), range(1, 2500));
  assert.equal(h.duplicates, 0);
  assert.equal(await storedCount(nc, 'crash'), 2500);
});

test('a publisher killed while publishing replays its journal on restart: the stream holds exactly seqs 1..N', { skip }, async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.remove);
  const total = 4000;
  const args = [ns.url, tmp.dir, 'killed', 'n1', String(total)];
  const first = runFixture('publish-n', args);
  const watchdog = setTimeout(() => first.kill('SIGKILL'), 60_000); // a broken run must not hang the suite
  await first.waitFor((l) => l['burst'] === true).finally(() => clearTimeout(watchdog));
  first.kill('SIGKILL');
  const { signal } = await first.exited;
  assert.equal(signal, 'SIGKILL');
  const storedAtKill = await storedCount(nc, 'killed');
  assert.ok(storedAtKill > 0 && storedAtKill < total, `killed midway (${storedAtKill} stored)`);

  const second = runFixture('publish-n', args);
  const ready = await second.waitFor((l) => l['ready'] === true);
  const recovery = ready['recovery'] as { unacknowledged: number };
  assert.ok(recovery.unacknowledged > 0, 'the journal had events to replay');
  const done = await second.waitFor((l) => l['done'] === true);
  assert.equal(done['flushed'], true, second.stderr());
  assert.equal((await second.exited).code, 0);

  const h = await history(nc, 'killed');
  assert.deepEqual(seqsOf(h.events, 'n1'), range(1, total));
  assert.equal(h.duplicates, 0);
  assert.deepEqual(h.gaps, []);
  assert.equal(await storedCount(nc, 'killed'), total, 'replays dropped by Nats-Msg-Id');
});

test('a torn journal tail: the events before it arrive, the torn one\'s seq is reused, and the recovery is an event', { skip }, async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.remove);
  const offline = await EventPublisher.open({
    cluster: 'torn',
    node: 'n1',
    stateDir: tmp.dir,
    connect: async () => {
      throw new Error('offline');
    },
  });
  for (let i = 0; i < 10; i++) offline.publish('check.result', check(i));
  await offline.stop(0);
  const seg = (await readdir(tmp.dir)).find((n) => n.endsWith('.jnl'))!;
  const path = join(tmp.dir, seg);
  await truncate(path, (await stat(path)).size - 20);

  const online = await EventPublisher.open({ cluster: 'torn', node: 'n1', stateDir: tmp.dir, connect: natsConnector({ servers: [ns.url] }) });
  try {
    assert.equal(online.recovery.tornTails, 1);
    online.publish('agent.started', { ...SAMPLES['agent.started'], bootId: online.bootId });
    assert.equal(await online.flush(30_000), true);
  } finally {
    await online.stop();
  }
  const h = await history(nc, 'torn');
  assert.deepEqual(seqsOf(h.events, 'n1'), range(1, 11));
  assert.deepEqual(h.events.slice(0, 9).map((e) => e.type), Array(9).fill('check.result'));
  const recovered = h.events[9]!;
  assert.equal(recovered.type, 'journal.recovered');
  assert.equal(recovered.type === 'journal.recovered' && recovered.data.tornTails, 1);
  assert.equal(h.events[10]!.type, 'agent.started');
});

test('the publisher can provision the stream itself, and a wrong password only delays publishing', { skip }, async () => {
  const secured = await startNatsServer({ auth: { user: 'agent', password: 'right' } });
  const tmp = await tempDir();
  try {
    const wrong = await EventPublisher.open({
      cluster: 'auth',
      node: 'n1',
      stateDir: tmp.dir,
      connect: natsConnector({ servers: [secured.url], user: 'agent', password: 'wrong' }),
      retryInitialMs: 10,
      retryMaxMs: 50,
      provision: { maxBytes: 64 * 1024 * 1024 },
    });
    try {
      wrong.publish('agent.started', { ...SAMPLES['agent.started'], bootId: wrong.bootId });
      await until(() => /authorization/i.test(wrong.backlog().lastError ?? '') && wrong.backlog().unacknowledged === 1, 'refused by the server, journaled');
      assert.equal(wrong.backlog().connected, false);
    } finally {
      await wrong.stop(0);
    }

    const right = await EventPublisher.open({
      cluster: 'auth',
      node: 'n1',
      stateDir: tmp.dir,
      connect: natsConnector({ servers: [secured.url], user: 'agent', password: 'right' }),
      provision: { maxBytes: 64 * 1024 * 1024 },
    });
    try {
      right.publish('agent.stopped', SAMPLES['agent.stopped']);
      assert.equal(await right.flush(30_000), true);
    } finally {
      await right.stop();
    }
    const snc = await (await import('nats')).connect({ servers: secured.url, user: 'agent', pass: 'right' });
    try {
      const h = await history(snc, 'auth');
      assert.deepEqual(h.events.map((e) => [e.seq, e.type]), [
        [1, 'agent.started'],
        [2, 'agent.stopped'],
      ]);
    } finally {
      await snc.close();
    }
  } finally {
    await secured.dispose();
    await tmp.remove();
  }
});

test('a full disk delays events without losing them, and its end is published as journal.degraded', { skip }, async () => {
  const { fs, control } = faultyFs();
  const p = await publisher('disk', 'n1', { journal: { fs, retryInitialMs: 5, retryMaxMs: 20 } });
  p.publish('agent.started', { ...SAMPLES['agent.started'], bootId: p.bootId });
  assert.equal(await p.flush(30_000), true);
  control.writeError = 'ENOSPC';
  for (let i = 0; i < 20; i++) p.publish('check.result', check(i));
  await until(() => p.backlog().journal.degraded?.code === 'ENOSPC', 'degraded');
  assert.equal(p.backlog().notDurable, 20);
  control.writeError = null;
  assert.equal(await p.flush(30_000), true);
  const h = await history(nc, 'disk');
  assert.deepEqual(seqsOf(h.events, 'n1'), range(1, 22));
  const last = h.events[21]!;
  assert.equal(last.type, 'journal.degraded');
  if (last.type === 'journal.degraded') {
    assert.equal(last.data.reason, 'write-error');
    assert.equal(last.data.code, 'ENOSPC');
    assert.equal(last.data.dropped, 0);
    assert.ok(last.data.heldMax >= 20);
  }
});
