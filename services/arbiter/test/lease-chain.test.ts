/**
 * The chain rule (lease-chain.ts) over lists of records, and the two pure
 * helpers of lease-store.ts built on it (what a write sends, a key's state).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeChain, type ChainRecord } from '../src/lease-chain.js';
import { casPlan, decodeRecord, encodeLease, keyStateOf, type LeaseRecord } from '../src/lease-store.js';

const r = (seq: number, prev: number | null): ChainRecord => ({ seq, prev });
const valids = (records: ChainRecord[], start: Parameters<typeof judgeChain>[1]): number[] =>
  judgeChain(records, start)
    .verdicts.filter((v) => v.valid)
    .map((v) => v.seq);

test('judgeChain: of two records building on the same revision, the first in the stream is valid and the second void', () => {
  const j = judgeChain([r(11, 10), r(12, 10)], { after: 10 });
  assert.deepEqual(
    j.verdicts.map((v) => v.valid),
    [true, false],
  );
  assert.equal(j.lastValid, 11);
  assert.match(j.verdicts[1]!.reason, /builds on revision 10 but the key's last valid record before it is revision 11: void/);
});

test('judgeChain: a record after a void one builds on the last valid record, not on the void one', () => {
  // 11 wins on 10, 12 loses on 10, 13 builds on 11 (valid), 14 builds on the void 12 (void).
  const j = judgeChain([r(11, 10), r(12, 10), r(13, 11), r(14, 12)], { after: 10 });
  assert.deepEqual(valids([r(11, 10), r(12, 10), r(13, 11), r(14, 12)], { after: 10 }), [11, 13]);
  assert.equal(j.lastValid, 13);
});

test('judgeChain: two creates (prev 0) on a key that had no record: the first is valid', () => {
  const j = judgeChain([r(3, 0), r(4, 0)], { after: 0 });
  assert.deepEqual(
    j.verdicts.map((v) => v.valid),
    [true, false],
  );
  assert.equal(j.lastValid, 3);
});

test('judgeChain: records without prev (older arbiters, delete and purge markers) are valid and the chain continues from them', () => {
  const j = judgeChain([r(5, null), r(6, 4), r(7, 5), r(8, null), r(9, 8)], { after: 4 });
  assert.deepEqual(
    j.verdicts.map((v) => v.valid),
    [true, false, true, true, true],
  );
  assert.equal(j.lastValid, 9);
});

test('judgeChain: all records void after a known revision leaves that revision the last valid one; none at all is null', () => {
  assert.equal(judgeChain([r(12, 9)], { after: 10 }).lastValid, 10);
  assert.equal(judgeChain([], { after: 0 }).lastValid, null);
  assert.equal(judgeChain([r(2, 1)], { after: 0 }).lastValid, null);
});

test('judgeChain window: a window starting with the void racer of an evicted winner picks the record building on the winner', () => {
  // Full history: 10 (prev 5) valid, 11 (prev 5) void, 12 (prev 10) valid, 13 (prev 12) valid. 10 is evicted.
  const full = [r(10, 5), r(11, 5), r(12, 10), r(13, 12)];
  const exact = judgeChain(full, { after: 5 });
  const window = judgeChain(full.slice(1), { window: true });
  assert.deepEqual(
    window.verdicts.map((v) => v.valid),
    exact.verdicts.slice(1).map((v) => v.valid),
  );
  assert.equal(window.lastValid, 13);
});

test('judgeChain window: agrees with the exact rule on every suffix that keeps a valid record, over random two- and three-way races', () => {
  let s = 12345;
  const rand = (): number => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  for (let run = 0; run < 300; run++) {
    // Writers build only on valid records; a race stores 1..3 records on the same base in one go.
    const records: ChainRecord[] = [];
    let seq = 0;
    let last = 0;
    for (let round = 0; round < 12; round++) {
      const racers = 1 + Math.floor(rand() * 3);
      const base = last;
      for (let k = 0; k < racers; k++) {
        seq += 1 + Math.floor(rand() * 3); // other keys' records in between
        records.push(r(seq, base));
        if (k === 0) last = seq;
      }
    }
    const exact = judgeChain(records, { after: 0 });
    for (let from = 1; from < records.length; from++) {
      const tail = records.slice(from);
      const tailExact = exact.verdicts.slice(from);
      if (!tailExact.some((v) => v.valid)) continue; // a window of racers only: out of the rule's reach (history too short)
      const w = judgeChain(tail, { window: true });
      assert.deepEqual(
        w.verdicts.map((v) => v.valid),
        tailExact.map((v) => v.valid),
        `run ${run}, window from records[${from}]: ${JSON.stringify(tail)}`,
      );
      assert.equal(w.lastValid, exact.lastValid);
    }
  }
});

test('judgeChain window: a known valid record anchors the rest exactly', () => {
  // Without the hint the window would take 13 (the latest revision from before it); 11 is known valid, so 12 is.
  const records = [r(11, 3), r(12, 11), r(13, 8)];
  assert.equal(judgeChain(records, { window: true }).lastValid, 13);
  assert.equal(judgeChain(records, { window: true, knownValid: 11 }).lastValid, 12);
  const k = judgeChain([r(12, 10), r(13, 10), r(14, 12)], { window: true, knownValid: 12 });
  assert.deepEqual(
    k.verdicts.map((v) => v.valid),
    [true, false, true],
  );
});

test('judgeChain window: from the first record without prev on the rule is exact; nothing valid gives null', () => {
  assert.equal(judgeChain([r(20, 3), r(21, null), r(22, 21), r(23, 21)], { window: true }).lastValid, 22);
  assert.equal(judgeChain([r(20, 19), r(21, 20), r(22, 20)], { window: true }).lastValid, 21);
  assert.equal(judgeChain([r(20, 25)], { window: true }).lastValid, null);
});

test('judgeChain: records out of order or malformed are refused naming the record', () => {
  assert.throws(() => judgeChain([r(5, 1), r(5, 1)], { after: 0 }), /records\[1\]\.seq: 5 is not above records\[0\]\.seq 5/);
  assert.throws(() => judgeChain([r(0, 1)], { after: 0 }), /records\[0\]\.seq: 0 is not a positive integer/);
  assert.throws(() => judgeChain([r(3, -1)], { after: 0 }), /records\[0\]\.prev: -1/);
  assert.throws(() => judgeChain([r(3, 1)], { after: 3 }), /records\[0\]\.seq: 3 is not after start.after 3/);
});

const lease = { holder: 'web1', epoch: 2, grantedAt: 1, renewedAt: 1, expiresAt: 2, reason: 'granted' };
const rec = (seq: number, prev: number | null, entry: LeaseRecord['entry'] = { revision: seq, value: lease }): LeaseRecord => ({ key: 'c.VI_1', seq, prev, entry });

test('decodeRecord: reads prev from the value, leniently; delete and purge markers carry none; encodeLease writes it', () => {
  const withPrev = decodeRecord('c.VI_1', 7, 'PUT', encodeLease(lease, 4));
  assert.equal(withPrev.prev, 4);
  assert.deepEqual(withPrev.entry, { revision: 7, value: lease });
  assert.equal(decodeRecord('c.VI_1', 7, 'PUT', encodeLease(lease)).prev, null);
  assert.equal(decodeRecord('c.VI_1', 7, 'PUT', new TextEncoder().encode(JSON.stringify({ ...lease, prev: 'x' }))).prev, null);
  assert.equal(decodeRecord('c.VI_1', 7, 'PUT', new TextEncoder().encode('{not json')).prev, null);
  assert.deepEqual(decodeRecord('c.VI_1', 7, 'DEL', new Uint8Array()), { key: 'c.VI_1', seq: 7, prev: null, entry: null });
});

test('keyStateOf: the head is the last record, the valid entry the last valid one, the voids listed with their reason', () => {
  const s = keyStateOf([rec(11, 10), rec(12, 10)], { after: 10 });
  assert.equal(s.head, 12);
  assert.equal(s.valid?.seq, 11);
  assert.deepEqual(
    s.voids.map((v) => v.seq),
    [12],
  );
  const deleted = keyStateOf([rec(11, 10), rec(12, null, null)], { after: 10 });
  assert.deepEqual(deleted.valid, { seq: 12, entry: null });
});

test('casPlan: builds on the expected revision and expects the head only when everything after it is known void', () => {
  assert.deepEqual(casPlan(10, undefined), { anchor: 10, expected: 10 });
  assert.deepEqual(casPlan(10, { head: 12, valid: { seq: 10, entry: null } }), { anchor: 10, expected: 12 });
  // A newer valid record is known: the server is asked for the expected revision itself, and refuses.
  assert.deepEqual(casPlan(10, { head: 12, valid: { seq: 11, entry: null } }), { anchor: 10, expected: 10 });
  // A create: on a key never written, or on a deleted key (prev is the delete marker, as the rule counts it valid).
  assert.deepEqual(casPlan(0, undefined), { anchor: 0, expected: 0 });
  assert.deepEqual(casPlan(0, { head: 9, valid: { seq: 9, entry: null } }), { anchor: 9, expected: 9 });
  assert.deepEqual(casPlan(0, { head: 9, valid: { seq: 9, entry: { revision: 9, value: lease } } }), { anchor: 0, expected: 0 });
});
