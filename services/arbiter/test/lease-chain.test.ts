/**
 * The chain rule (lease-chain.ts) over lists of records, and the pure helpers
 * of lease-store.ts built on it (what a write builds on and sends, a key's
 * state, a record as stored).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeChain, type ChainRecord, type ChainStart } from '../src/lease-chain.js';
import { casPlan, decodeRecord, encodeLease, keyStateOf, linkOnto, type LeaseRecord, type ValidRecord } from '../src/lease-store.js';

/** A linked record: `id` builds on `prev` (null: on no live value) at generation `n`. */
const r = (seq: number, id: string, prev: string | null, n: number): ChainRecord => ({ seq, id, link: { prev, n } });
const unlinked = (seq: number, id: string): ChainRecord => ({ seq, id, link: 'unlinked' });
const marker = (seq: number): ChainRecord => ({ seq, id: `marker@${seq}`, link: 'deleted' });
const on = (id: string): ChainStart => ({ after: { id, deleted: false } });
const valids = (records: ChainRecord[], start: ChainStart): string[] =>
  judgeChain(records, start)
    .verdicts.filter((v) => v.valid)
    .map((v) => records.find((x) => x.seq === v.seq)!.id);

test('judgeChain: of two records building on the same record, the first in the stream is valid and the second void', () => {
  const j = judgeChain([r(11, 'A', 'P', 5), r(12, 'B', 'P', 5)], on('P'));
  assert.deepEqual(
    j.verdicts.map((v) => v.valid),
    [true, false],
  );
  assert.equal(j.lastValid, 0);
  assert.match(j.verdicts[1]!.reason, /builds on P but the key's last valid record before it is A: void/);
});

test('judgeChain: a record after a void one is valid when it builds on the last valid record, void when it builds on the void one', () => {
  assert.deepEqual(valids([r(11, 'A', 'P', 5), r(12, 'B', 'P', 5), r(13, 'C', 'A', 6), r(14, 'D', 'B', 6)], on('P')), ['A', 'C']);
});

test('judgeChain: of two creates on a key with no live value, the first is valid; a create over a live value is void', () => {
  assert.deepEqual(valids([r(3, 'A', null, 1), r(4, 'B', null, 1)], { after: null }), ['A']);
  assert.deepEqual(valids([r(3, 'A', null, 1)], on('P')), []);
});

test('judgeChain: unlinked values (older arbiters) and delete markers are valid; a chain builds on an unlinked value, a create on a marker', () => {
  const records = [unlinked(5, 'h:x'), r(6, 'A', 'h:x', 1), marker(7), r(8, 'B', 'A', 2), r(9, 'C', null, 1), r(10, 'D', null, 1)];
  assert.deepEqual(valids(records, on('P')), ['h:x', 'A', 'marker@7', 'C']);
  assert.equal(judgeChain(records, on('P')).lastValid, 4);
});

test('judgeChain: in after mode, no valid record among the records gives lastValid -1', () => {
  assert.equal(judgeChain([r(12, 'B', 'Q', 3)], on('P')).lastValid, -1);
  assert.equal(judgeChain([], { after: null }).lastValid, -1);
});

test('judgeChain: the same records numbered differently (replicas of a 2.9.10 stream off by one to three) get the same verdicts', () => {
  const records = [r(11, 'A', 'P', 5), r(12, 'B', 'P', 5), r(13, 'C', 'A', 6), r(15, 'D', 'B', 6), r(16, 'E', 'C', 7)];
  const expect = judgeChain(records, on('P')).verdicts.map((v) => v.valid);
  for (const shift of [-3, -1, 1, 2]) {
    const renumbered = records.map((x, i) => ({ ...x, seq: x.seq + shift + (i > 2 ? 1 : 0) }));
    assert.deepEqual(
      judgeChain(renumbered, on('P')).verdicts.map((v) => v.valid),
      expect,
    );
    assert.deepEqual(
      judgeChain(renumbered.slice(1), { window: true }).verdicts.map((v) => v.valid),
      expect.slice(1),
    );
  }
});

test('judgeChain window: a window starting with the void racer of an evicted winner picks the record of the highest generation building outside it', () => {
  // Full history: A (gen 5) valid, B (gen 5, on the same record) void, C on A (gen 6), D on C (gen 7). A is evicted.
  const full = [r(10, 'A', 'P', 5), r(11, 'B', 'P', 5), r(12, 'C', 'A', 6), r(13, 'D', 'C', 7)];
  const exact = judgeChain(full, on('P'));
  const window = judgeChain(full.slice(1), { window: true });
  assert.deepEqual(
    window.verdicts.map((v) => v.valid),
    exact.verdicts.slice(1).map((v) => v.valid),
  );
  assert.equal(full.slice(1)[window.lastValid]!.id, 'D');
});

test('judgeChain window: agrees with the exact rule on every suffix that keeps a valid record, over random two- and three-way races', () => {
  let s = 12345;
  const rand = (): number => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  for (let run = 0; run < 300; run++) {
    // Writers build only on valid records; a race stores 1..3 records on the same one in one go.
    const records: ChainRecord[] = [];
    let seq = 0;
    let last = null as { id: string; n: number } | null;
    let next = 0;
    for (let round = 0; round < 12; round++) {
      const racers = 1 + Math.floor(rand() * 3);
      const base: { id: string; n: number } | null = last;
      for (let k = 0; k < racers; k++) {
        seq += 1 + Math.floor(rand() * 3); // other keys' records in between
        const id = `r${next++}`;
        records.push(r(seq, id, base?.id ?? null, (base?.n ?? 0) + 1));
        if (k === 0) last = { id, n: (base?.n ?? 0) + 1 };
      }
    }
    const exact = judgeChain(records, { after: null });
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
      assert.equal(tail[w.lastValid]!.id, records[exact.lastValid]!.id);
    }
  }
});

test('judgeChain window: a known valid record anchors the rest exactly', () => {
  // Without the hint the window takes Z (the highest generation building outside it); A is known valid, so B is.
  const records = [r(11, 'A', 'P', 3), r(12, 'B', 'A', 4), r(13, 'Z', 'Q', 9)];
  assert.equal(judgeChain(records, { window: true }).lastValid, 2);
  assert.equal(judgeChain(records, { window: true, knownValid: 'A' }).lastValid, 1);
});

test('judgeChain window: from the first unlinked record or marker on the rule is exact; a window with nothing valid gives -1', () => {
  assert.equal(judgeChain([r(20, 'A', 'X', 3), marker(21), r(22, 'B', null, 1), r(23, 'C', null, 1)], { window: true }).lastValid, 2);
  assert.equal(judgeChain([r(20, 'A', 'X', 3), r(21, 'B', 'A', 4), r(22, 'C', 'A', 4)], { window: true }).lastValid, 1);
  assert.equal(judgeChain([], { window: true }).lastValid, -1);
});

test('judgeChain: records out of order or malformed are refused naming the record', () => {
  assert.throws(() => judgeChain([r(5, 'A', null, 1), r(5, 'B', null, 1)], { after: null }), /records\[1\]\.seq: 5 is not above records\[0\]\.seq 5/);
  assert.throws(() => judgeChain([r(0, 'A', null, 1)], { after: null }), /records\[0\]\.seq: 0 is not a positive integer/);
  assert.throws(() => judgeChain([r(3, 'A', null, 0)], { after: null }), /records\[0\]\.link\.n: 0/);
  assert.throws(() => judgeChain([r(3, '', null, 1)], { after: null }), /records\[0\]\.id/);
  assert.throws(() => judgeChain([{ seq: 3, id: 'A', link: 'other' as 'deleted' }], { after: null }), /records\[0\]\.link: other/);
});

const lease = { holder: 'web1', epoch: 2, grantedAt: 1, renewedAt: 1, expiresAt: 2, reason: 'granted' };
const rec = (seq: number, id: string, prev: string | null, n: number): LeaseRecord => ({ key: 'c.VI_1', seq, id, link: { prev, n }, entry: { revision: seq, value: lease } });

test('decodeRecord: reads the link from the value, leniently; a value without one is unlinked with an id from its bytes; markers have none', () => {
  const linked = decodeRecord('c.VI_1', 7, 'PUT', encodeLease(lease, { id: 'A', prev: 'P', n: 4 }));
  assert.deepEqual(linked, { key: 'c.VI_1', seq: 7, id: 'A', link: { prev: 'P', n: 4 }, entry: { revision: 7, value: lease } });
  const plain = decodeRecord('c.VI_1', 7, 'PUT', encodeLease(lease));
  assert.equal(plain.link, 'unlinked');
  assert.match(plain.id, /^h:/);
  assert.equal(decodeRecord('c.VI_1', 9, 'PUT', encodeLease(lease)).id, plain.id, 'the id of an unlinked value does not depend on its revision');
  assert.equal(decodeRecord('c.VI_1', 7, 'PUT', new TextEncoder().encode(JSON.stringify({ ...lease, chain: { id: 'A', prev: 3, n: 1 } }))).link, 'unlinked');
  assert.equal(decodeRecord('c.VI_1', 7, 'PUT', new TextEncoder().encode('{not json')).link, 'unlinked');
  assert.deepEqual(decodeRecord('c.VI_1', 7, 'DEL', new Uint8Array()), { key: 'c.VI_1', seq: 7, id: 'marker@7', link: 'deleted', entry: null });
});

test('keyStateOf: the head is the last record, the valid entry the last valid one (the prior one when none is), the voids listed with their reason', () => {
  const prior: ValidRecord = { seq: 10, id: 'P', n: 4, deleted: false, entry: { revision: 10, value: lease } };
  const s = keyStateOf([rec(11, 'A', 'P', 5), rec(12, 'B', 'P', 5)], { after: { id: 'P', deleted: false } }, prior);
  assert.equal(s.head, 12);
  assert.equal(s.headId, 'B');
  assert.equal(s.valid?.id, 'A');
  assert.equal(s.valid?.n, 5);
  assert.deepEqual(
    s.voids.map((v) => v.seq),
    [12],
  );
  assert.equal(keyStateOf([rec(12, 'B', 'Q', 5)], { after: { id: 'P', deleted: false } }, prior).valid, prior);
});

test('casPlan and linkOnto: a write builds on the expected record and expects the head only when everything after it is known void', () => {
  const known = (head: number, valid: Partial<ValidRecord> & { seq: number }) => ({ head, headId: 'h', valid: { id: 'v', n: 1, deleted: false, entry: null, ...valid } });
  assert.deepEqual(casPlan(10, undefined), { anchor: 10, expected: 10 });
  assert.deepEqual(casPlan(10, known(12, { seq: 10 })), { anchor: 10, expected: 12 });
  // A newer valid record is known: the server is asked for the expected revision itself, and refuses.
  assert.deepEqual(casPlan(10, known(12, { seq: 11 })), { anchor: 10, expected: 10 });
  // A create: on a key never written, or on a deleted key (after its marker, which the rule counts valid).
  assert.deepEqual(casPlan(0, undefined), { anchor: 0, expected: 0 });
  assert.deepEqual(casPlan(0, known(9, { seq: 9, deleted: true })), { anchor: 9, expected: 9 });
  assert.deepEqual(casPlan(0, known(9, { seq: 9 })), { anchor: 0, expected: 0 });
  assert.deepEqual(linkOnto({ seq: 10, id: 'P', n: 4, deleted: false, entry: null }, 'A'), { id: 'A', prev: 'P', n: 5 });
  assert.deepEqual(linkOnto({ seq: 10, id: 'marker@10', n: 0, deleted: true, entry: null }, 'A'), { id: 'A', prev: null, n: 1 });
  assert.deepEqual(linkOnto(null, 'A'), { id: 'A', prev: null, n: 1 });
});
