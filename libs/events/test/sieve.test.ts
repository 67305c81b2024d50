import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventSieve, eventSubject, makeEnvelope, type Gap } from '../src/mod.js';
import { SAMPLES } from './samples.js';

function event(node: string, seq: number, opts: { boot?: string; instance?: string; at?: string; type?: 'vip.added' | 'check.result' } = {}) {
  const type = opts.type ?? 'vip.added';
  const env = makeEnvelope(type, SAMPLES[type] as never, {
    cluster: 'c',
    node,
    bootId: opts.boot ?? 'b1',
    seq,
    instance: opts.instance,
    ...(opts.at ? { at: new Date(opts.at) } : {}),
  });
  return { subject: eventSubject('c', node, type), data: JSON.stringify(env) };
}

function feed(sieve: EventSieve, events: { subject: string; data: string }[]): number[] {
  const out: number[] = [];
  for (const e of events) {
    const r = sieve.accept(e.subject, e.data);
    if (r) out.push(r.seq);
  }
  return out;
}

test('a jump in a node\'s seq is a gap, reported as it appears and until it is filled', () => {
  const seen: Gap[] = [];
  const sieve = new EventSieve({}, (g) => seen.push(g));
  feed(sieve, [1, 2, 5, 6, 9].map((s) => event('n1', s)));
  feed(sieve, [1, 2, 3].map((s) => event('n2', s)));
  assert.deepEqual(seen, [
    { cluster: 'c', node: 'n1', from: 3, to: 4 },
    { cluster: 'c', node: 'n1', from: 7, to: 8 },
  ]);
  assert.deepEqual(sieve.summary().gaps, seen);
  assert.equal(sieve.summary().gapsTracked, true);
});

test('a late event fills its gap and is delivered; a copy of a seen event is skipped and counted', () => {
  const sieve = new EventSieve();
  const delivered = feed(sieve, [1, 2, 5, 3, 4, 4, 2, 6].map((s) => event('n1', s)));
  assert.deepEqual(delivered, [1, 2, 5, 3, 4, 6]);
  const s = sieve.summary();
  assert.equal(s.late, 2);
  assert.equal(s.duplicates, 2);
  assert.deepEqual(s.gaps, []);
  assert.equal(s.read, 8);
  assert.equal(s.delivered, 6);
});

test('a node that starts over in a new run (state dir lost) is a reset, not duplicates', () => {
  const sieve = new EventSieve();
  const delivered = feed(sieve, [...[1, 2, 3].map((s) => event('n1', s, { boot: 'b1' })), ...[1, 2].map((s) => event('n1', s, { boot: 'b2' })), event('n1', 2, { boot: 'b1' })]);
  assert.deepEqual(delivered, [1, 2, 3, 1, 2]);
  assert.equal(sieve.summary().resets, 1);
  assert.equal(sieve.summary().duplicates, 1);
});

test('messages that do not decode or match their schema are skipped and counted by reason', () => {
  const sieve = new EventSieve();
  const good = event('n1', 1);
  const bad = [
    { subject: good.subject, data: 'not json at all' },
    { subject: good.subject, data: '{"id":"x"}' },
    { subject: good.subject, data: JSON.stringify({ ...JSON.parse(good.data), data: { address: 1 } }) },
    { subject: 'ha.c.evt.n9.vip.added', data: good.data },
  ];
  assert.deepEqual(feed(sieve, [good, ...bad, event('n1', 2)]), [1, 2]);
  const s = sieve.summary();
  assert.equal(s.invalid, 4);
  assert.equal(s.invalidReasons['not JSON'], 1);
  assert.equal(Object.values(s.invalidReasons).reduce((a, b) => a + b, 0), 4);
  assert.equal(s.invalidSamples.length, 4);
  assert.deepEqual(s.gaps, [], 'invalid messages do not count as seqs');
});

test('instance and time filters apply after gap tracking, so a filtered read still sees gaps', () => {
  const sieve = new EventSieve({ instance: 'VI_2', since: '2024-05-01T00:00:00.000Z', until: '2024-05-01T23:59:59.999Z' });
  const events = [
    event('n1', 1, { instance: 'VI_2', at: '2024-04-30T23:59:59.999Z' }),
    event('n1', 2, { instance: 'VI_1', at: '2024-05-01T01:00:00.000Z' }),
    event('n1', 3, { instance: 'VI_2', at: '2024-05-01T02:00:00.000Z' }),
    event('n1', 6, { instance: 'VI_2', at: '2024-05-01T03:00:00.000Z' }),
    event('n1', 7, { instance: 'VI_2', at: '2024-05-02T00:00:00.000Z' }),
  ];
  assert.deepEqual(feed(sieve, events), [3, 6]);
  assert.deepEqual(sieve.summary().gaps, [{ cluster: 'c', node: 'n1', from: 4, to: 5 }]);
});

test('with a type filter a node\'s seqs have holes by design, so no gap is reported', () => {
  const sieve = new EventSieve({ type: 'check.result' });
  feed(sieve, [1, 4, 9].map((s) => event('n1', s, { type: 'check.result' })));
  assert.equal(sieve.summary().gapsTracked, false);
  assert.deepEqual(sieve.summary().gaps, []);
});
