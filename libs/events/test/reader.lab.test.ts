import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from 'nats';
import { collectHistory, EventPublisher, eventSubject, makeEnvelope, natsConnector, readHistory, STREAM_NAME, tail, type Gap, type ReadItem } from '../src/mod.js';
import { SAMPLES } from './samples.js';
import { tempDir, until } from './helpers.js';
import { connectTo, natsUnavailableReason, provisionStream, range, seqsOf, startNatsServer, type NatsServer } from './nats-helpers.js';

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

async function publisher(cluster: string, node: string): Promise<EventPublisher> {
  const tmp = await tempDir();
  const p = await EventPublisher.open({ cluster, node, stateDir: tmp.dir, connect: natsConnector({ servers: [ns.url] }) });
  cleanups.push(async () => {
    await p.stop(0);
    await tmp.remove();
  });
  return p;
}

/** An event as a node would publish it, but by hand (to make gaps and copies). */
function byHand(cluster: string, node: string, seq: number, boot = 'hand') {
  const env = makeEnvelope('vip.added', SAMPLES['vip.added'], { cluster, node, bootId: boot, seq });
  return { subject: eventSubject(cluster, node, 'vip.added'), data: JSON.stringify(env), id: env.id };
}

test('malformed messages published by hand on the subjects are skipped and counted by the reader', { skip }, async () => {
  const p = await publisher('mal', 'n1');
  for (let i = 0; i < 5; i++) p.publish('vip.added', SAMPLES['vip.added'], { instance: 'VI_1' });
  assert.equal(await p.flush(30_000), true);
  const js = nc.jetstream();
  const good = JSON.parse(byHand('mal', 'n1', 6).data) as Record<string, unknown>;
  await js.publish('ha.mal.evt.n1.vip.added', new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
  await js.publish('ha.mal.evt.n1.vip.added', '{"hello": "world"}');
  await js.publish('ha.mal.evt.n1.vip.added', JSON.stringify({ ...good, data: { address: 42 } }));
  await js.publish('ha.mal.evt.n2.vip.added', JSON.stringify(good)); // n1's event on n2's subject
  await js.publish('ha.mal.evt.n1.no.such', JSON.stringify({ ...good, type: 'no.such' }));
  p.publish('vip.removed', SAMPLES['vip.removed']);
  assert.equal(await p.flush(30_000), true);

  const h = await collectHistory(js, { cluster: 'mal' });
  assert.deepEqual(seqsOf(h.events, 'n1'), range(1, 6));
  assert.equal(h.invalid, 5);
  assert.equal(h.read, 11);
  assert.equal(h.delivered, 6);
  assert.equal(h.invalidReasons['not UTF-8'], 1);
  assert.equal(h.invalidSamples.length, 5);
  assert.ok(h.invalidSamples.every((s) => s.streamSeq > 0 && s.subject.startsWith('ha.mal.evt.')));
  assert.deepEqual(h.gaps, []);
});

test('history reports a gap in a node\'s seq, and a copy stored twice is delivered once', { skip }, async () => {
  const js = nc.jetstream();
  for (const seq of [1, 2, 3, 6, 7]) {
    const e = byHand('gaps', 'n1', seq);
    await js.publish(e.subject, e.data, { msgID: e.id });
  }
  // A copy stored past the duplicate window: a different Nats-Msg-Id, so the stream keeps it.
  const copy = byHand('gaps', 'n1', 7);
  await js.publish(copy.subject, copy.data, { msgID: `${copy.id}-late` });
  const h = await collectHistory(js, { cluster: 'gaps' });
  assert.deepEqual(seqsOf(h.events, 'n1'), [1, 2, 3, 6, 7]);
  assert.deepEqual(h.gaps, [{ cluster: 'gaps', node: 'n1', from: 4, to: 5 }]);
  assert.equal(h.duplicates, 1);
});

test('history filters by cluster, node, type, instance and time', { skip }, async () => {
  const a = await publisher('filt', 'a');
  const b = await publisher('filt', 'b');
  const other = await publisher('filt2', 'a');
  const t0 = new Date('2024-05-01T00:00:00.000Z');
  const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
  a.publish('vrrp.transition', SAMPLES['vrrp.transition'], { instance: 'VI_1', at: at(0) });
  a.publish('check.result', SAMPLES['check.result'], { instance: 'VI_1', at: at(1) });
  a.publish('vrrp.transition', SAMPLES['vrrp.transition'], { instance: 'VI_2', at: at(2) });
  // Each publisher stored before the next begins: two publishers' events reach the stream in no set order.
  assert.equal(await a.flush(30_000), true);
  b.publish('vrrp.transition', SAMPLES['vrrp.transition'], { instance: 'VI_1', at: at(3) });
  b.publish('vip.added', SAMPLES['vip.added'], { instance: 'VI_1', at: at(4) });
  assert.equal(await b.flush(30_000), true);
  other.publish('vrrp.transition', SAMPLES['vrrp.transition'], { instance: 'VI_1', at: at(5) });
  assert.equal(await other.flush(30_000), true);
  const js = nc.jetstream();
  const ids = async (filter: Parameters<typeof collectHistory>[1]) => (await collectHistory(js, filter)).events.map((e) => `${e.cluster}/${e.node}/${e.seq}`);
  assert.deepEqual(await ids({ cluster: 'filt' }), ['filt/a/1', 'filt/a/2', 'filt/a/3', 'filt/b/1', 'filt/b/2']);
  assert.deepEqual(await ids({ cluster: 'filt', node: 'b' }), ['filt/b/1', 'filt/b/2']);
  assert.deepEqual(await ids({ cluster: 'filt', type: 'vrrp.transition' }), ['filt/a/1', 'filt/a/3', 'filt/b/1']);
  assert.deepEqual(await ids({ cluster: 'filt', type: 'vrrp.>' }), ['filt/a/1', 'filt/a/3', 'filt/b/1']);
  assert.deepEqual(await ids({ cluster: 'filt', instance: 'VI_1' }), ['filt/a/1', 'filt/a/2', 'filt/b/1', 'filt/b/2']);
  assert.deepEqual(await ids({ node: 'a', instance: 'VI_1', type: 'vrrp.transition' }), ['filt/a/1', 'filt2/a/1']);
  // `at` is the node's clock; the stream stored these now, so time filters work on `at`.
  assert.deepEqual(await ids({ cluster: 'filt', since: at(1), until: at(3) }), ['filt/a/2', 'filt/a/3', 'filt/b/1']);
  assert.deepEqual(await ids({ cluster: 'nobody' }), []);
});

test('a history of one instance reads only the nodes that may have it, with the same answer as a full pass', { skip }, async () => {
  const announce = (p: EventPublisher, instances: string[]) => p.publish('config.loaded', { ...SAMPLES['config.loaded'], instances });
  const a = await publisher('narrow', 'a');
  const b = await publisher('narrow', 'b');
  const arb = await publisher('narrow', 'arb');
  announce(a, ['VI_1', 'VI_3']);
  announce(b, ['VI_2']);
  for (let i = 0; i < 40; i++) {
    a.publish('check.result', SAMPLES['check.result'], { instance: i % 2 ? 'VI_1' : 'VI_3' });
    b.publish('check.result', SAMPLES['check.result'], { instance: 'VI_2' });
    // An arbiter announces nothing: it is always read.
    if (i % 10 === 0) arb.publish('lease.granted', SAMPLES['lease.granted'], { instance: i % 20 ? 'VI_1' : 'VI_2' });
  }
  for (const p of [a, b, arb]) assert.equal(await p.flush(30_000), true);
  const js = nc.jetstream();
  const narrowed = await collectHistory(js, { cluster: 'narrow', instance: 'VI_1' });
  const ids = narrowed.events.map((e) => `${e.node}/${e.seq}`);
  // a's odd check results (seq 2 is its first) and the arbiter's two grants of VI_1.
  assert.deepEqual([...ids].sort(), [...range(1, 20).map((i) => `a/${2 * i + 1}`), 'arb/2', 'arb/4'].sort());
  // The same events, in the same (stream) order, as a filter over everything; b was never read.
  const full: string[] = [];
  for await (const item of readHistory(js, { cluster: 'narrow' })) if (item.event.instance === 'VI_1') full.push(`${item.event.node}/${item.event.seq}`);
  assert.deepEqual(ids, full);
  assert.equal(narrowed.read, 41 + 4, 'a and arb read, b skipped');
  assert.deepEqual(narrowed.gaps, []);
});

test('a history reader can be iterated as it arrives and gives stream positions', { skip }, async () => {
  const p = await publisher('iter', 'n1');
  for (let i = 0; i < 2500; i++) p.publish('check.result', SAMPLES['check.result']);
  assert.equal(await p.flush(30_000), true);
  const reader = readHistory(nc.jetstream(), { cluster: 'iter' }, { batch: 200 });
  let last = 0;
  let count = 0;
  for await (const item of reader) {
    assert.ok(item.streamSeq > last);
    assert.ok(item.storedAt instanceof Date && !Number.isNaN(item.storedAt.getTime()));
    last = item.streamSeq;
    count++;
  }
  assert.equal(count, 2500);
  assert.equal(reader.summary().delivered, 2500);
});

test('tail follows events as they are stored, reports a gap as it appears, and stops', { skip }, async () => {
  const p = await publisher('live', 'n1');
  const gaps: Gap[] = [];
  const reader = tail(nc.jetstream(), { cluster: 'live' }, { onGap: (g) => gaps.push(g) });
  const got: ReadItem[] = [];
  const consuming = (async () => {
    for await (const item of reader) got.push(item);
  })();
  // The consumer starts asynchronously: publish until the reader sees something.
  await until(async () => {
    p.publish('vip.added', SAMPLES['vip.added']);
    await new Promise((r) => setTimeout(r, 20));
    return got.length > 0;
  }, 'tail receives');
  const before = got.length;
  for (let i = 0; i < 50; i++) p.publish('check.result', SAMPLES['check.result']);
  await until(() => got.length >= before + 50, 'tail receives the rest');
  const next = p.nextSeq;
  const jump = byHand('live', 'n1', next + 3, p.bootId);
  await nc.jetstream().publish(jump.subject, jump.data);
  await until(() => gaps.length === 1, 'gap seen');
  assert.deepEqual(gaps[0], { cluster: 'live', node: 'n1', from: next, to: next + 2 });
  reader.stop();
  await consuming;
  const seqs = got.map((i) => i.event.seq);
  assert.deepEqual(seqs, [...range(seqs[0]!, next - 1), next + 3]);
});

test('a tail whose consumer is deleted under it goes on with a new one after the last event it saw', { skip }, async () => {
  const p = await publisher('lost', 'n1');
  const reader = tail(nc.jetstream(), { cluster: 'lost' });
  const got: ReadItem[] = [];
  const consuming = (async () => {
    for await (const item of reader) got.push(item);
  })();
  await until(async () => {
    p.publish('vip.added', SAMPLES['vip.added']);
    await new Promise((r) => setTimeout(r, 20));
    return got.length > 0;
  }, 'tail receives');
  const jsm = await nc.jetstreamManager();
  const names: string[] = [];
  for await (const c of jsm.consumers.list(STREAM_NAME)) if (c.name.startsWith('kq_read_')) names.push(c.name);
  assert.equal(names.length, 1, 'the tail has one consumer');
  await jsm.consumers.delete(STREAM_NAME, names[0]!);
  for (let i = 0; i < 50; i++) p.publish('check.result', SAMPLES['check.result']);
  const last = p.nextSeq - 1;
  await until(() => got.at(-1)?.event.seq === last, 'tail receives what was stored after the loss');
  reader.stop();
  await consuming;
  const seqs = got.map((i) => i.event.seq);
  assert.deepEqual(seqs, range(seqs[0]!, last), 'in order, none missed, none twice');
  assert.deepEqual(reader.summary().gaps, []);
  const left: string[] = [];
  for await (const c of jsm.consumers.list(STREAM_NAME)) if (c.name.startsWith('kq_read_')) left.push(c.name);
  assert.deepEqual(left, [], 'a stopped reader leaves no consumer behind');
});

test('reading a stream that does not exist says how to create it', { skip }, async () => {
  const reader = readHistory(nc.jetstream(), {}, { stream: 'NO_SUCH_STREAM' });
  await assert.rejects(
    (async () => {
      for await (const _ of reader) break;
    })(),
    (e: Error & { code?: string }) => e.code === 'KQ_ERR_STREAM_CONFIG' && /hactl stream init/.test(e.message),
  );
});
