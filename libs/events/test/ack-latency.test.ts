import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACK_LATENCY_BOUNDS_S, AckLatency } from '../src/ack-latency.js';

const bucketOf = (seconds: number): number => {
  const i = ACK_LATENCY_BOUNDS_S.findIndex((b) => seconds <= b);
  return i === -1 ? ACK_LATENCY_BOUNDS_S.length : i;
};

test('each acknowledged event of this run counts once, in the bucket of its publish-to-ack time', () => {
  const h = new AckLatency();
  h.published(10, 1000);
  h.published(11, 1000);
  h.published(12, 1002);
  h.acknowledged(10, 1003); // 3 ms
  h.acknowledged(11, 1040); // 40 ms
  h.acknowledged(12, 3002); // 2 s
  const s = h.snapshot();
  assert.equal(s.count, 3);
  assert.ok(Math.abs(s.sum - (0.003 + 0.04 + 2)) < 1e-9);
  const expected = new Array<number>(ACK_LATENCY_BOUNDS_S.length + 1).fill(0);
  for (const x of [0.003, 0.04, 2]) expected[bucketOf(x)]!++;
  assert.deepEqual(s.counts, expected);
});

test("events replayed from an earlier run's journal (no publish time here) are not counted", () => {
  const h = new AckLatency();
  h.published(100, 0);
  h.acknowledged(97, 5);
  h.acknowledged(98, 5);
  assert.equal(h.snapshot().count, 0);
  h.acknowledged(100, 5);
  assert.equal(h.snapshot().count, 1);
});

test('an event that never gets its ack (dropped by the journal) is skipped when a later one is acknowledged', () => {
  const h = new AckLatency();
  for (let seq = 1; seq <= 3; seq++) h.published(seq, seq);
  h.acknowledged(1, 10);
  h.acknowledged(3, 10); // 2 never acknowledged
  const s = h.snapshot();
  assert.equal(s.count, 2);
  assert.ok(Math.abs(s.sum - (0.009 + 0.007)) < 1e-9);
  // Nothing waits any more: the next publish starts afresh.
  h.published(4, 20);
  h.acknowledged(4, 21);
  assert.equal(h.snapshot().count, 3);
});

test('a long outage keeps at most 65,536 publish times: the oldest are dropped, the newest still counted', () => {
  const h = new AckLatency();
  const n = 70_000;
  for (let seq = 1; seq <= n; seq++) h.published(seq, 0);
  for (let seq = 1; seq <= n; seq++) h.acknowledged(seq, 1000);
  const s = h.snapshot();
  assert.equal(s.count, 65_536);
  assert.equal(s.counts[bucketOf(1)], 65_536);
});
