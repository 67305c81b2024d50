import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { ThreadedEventPublisher } from '../src/publisher-thread.js';
import { SAMPLES } from './samples.js';
import { tempDir } from './helpers.js';
import { connectTo, history, natsUnavailableReason, provisionStream, range, runFixture, seqsOf, startNatsServer, type NatsServer } from './nats-helpers.js';

const skip = natsUnavailableReason() ?? false;
let ns: NatsServer;
let nc: NatsConnection;

before(async () => {
  if (skip) return;
  ns = await startNatsServer();
  nc = await connectTo(ns.url);
  await provisionStream(nc);
});

after(async () => {
  await nc?.close().catch(() => undefined);
  await ns?.dispose();
});

test('a publisher in its own thread stores every event in seq order, and its stop holds the process until the answer', { skip }, async () => {
  const tmp = await tempDir();
  try {
    const run = runFixture('publish-threaded', [ns.url, tmp.dir, 'thr', 'n1', '2000']);
    const { code } = await run.exited;
    assert.equal(code, 0, run.stderr());
    const stopped = run.lines.find((l) => l['stopped'] === true);
    assert.ok(stopped, `stop() answered before the process ended: ${JSON.stringify(run.lines)}`);
    assert.equal(stopped['flushed'], true);
    assert.equal(stopped['unacknowledged'], 0);
    assert.equal(stopped['acknowledged'], 2000);
    const h = await history(nc, 'thr');
    assert.deepEqual(seqsOf(h.events, 'n1'), range(1, 2000));
    assert.deepEqual(h.gaps, []);
  } finally {
    await tmp.remove();
  }
});

test('an event its schema refuses is logged in the thread, not thrown, and takes no seq; publish after stop is refused', { skip }, async () => {
  const tmp = await tempDir();
  try {
    const p = await ThreadedEventPublisher.open({ cluster: 'thr2', node: 'n1', stateDir: tmp.dir, nats: { servers: [ns.url] }, logName: 'test', logLevel: 'silent' });
    assert.match(p.bootId, /^[0-9a-f]{8}$/);
    assert.equal(p.recovery.unacknowledged, 0);
    p.publish('vip.added', SAMPLES['vip.added'], { instance: 'VI_1' });
    // A bug of the caller's: the thread refuses it and goes on.
    p.publish('vip.added', { address: '' } as never, { instance: 'VI_1' });
    p.publish('vip.removed', SAMPLES['vip.removed'], { instance: 'VI_1' });
    assert.equal(await p.flush(30_000), true);
    assert.equal(p.stats().acknowledged, 2);
    assert.equal(p.nextSeq, 3);
    const { flushed } = await p.stop(5000);
    assert.equal(flushed, true);
    assert.throws(() => p.publish('vip.added', SAMPLES['vip.added']), { code: 'KQ_ERR_EVENTS_CLOSED' });
    const h = await history(nc, 'thr2');
    assert.deepEqual(h.events.map((e) => `${e.seq} ${e.type}`), ['1 vip.added', '2 vip.removed']);
  } finally {
    await tmp.remove();
  }
});

test('a state dir that cannot be used fails the open with the journal error', { skip }, async () => {
  const tmp = await tempDir();
  try {
    // A file where the state dir's parent should be.
    const file = join(tmp.dir, 'not-a-dir');
    await writeFile(file, '');
    await assert.rejects(
      ThreadedEventPublisher.open({ cluster: 'thr3', node: 'n1', stateDir: join(file, 'state'), nats: { servers: [ns.url] }, logName: 'test', logLevel: 'silent' }),
      (e: Error & { code?: string }) => e.code === 'KQ_ERR_JOURNAL_IO' && e.message.includes('not-a-dir'),
    );
  } finally {
    await tmp.remove();
  }
});
