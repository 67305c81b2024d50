import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarizeClient, parseClientLine, type ClientRecord } from '../client.js';

// A CLOCK_MONOTONIC origin far from zero, as a real machine's uptime is.
const BASE = 5_000_000_000_000n;
const at = (ms: number): bigint => BASE + BigInt(Math.round(ms * 1e6));
const ok = (startMs: number, server: string, ms = 1): ClientRecord => ({ t: at(startMs), ok: true, server, ms });
const timeout = (startMs: number): ClientRecord => ({ t: at(startMs), ok: false, ms: 100, error: 'timeout' });
const every10 = (fromMs: number, toMs: number, make: (startMs: number) => ClientRecord): ClientRecord[] => {
  const out: ClientRecord[] = [];
  for (let s = fromMs; s < toMs; s += 10) out.push(make(s));
  return out;
};

test('a healthy run has no downtime and one server', () => {
  const s = summarizeClient(every10(0, 1000, (t) => ok(t, 'a1')));
  assert.equal(s.requests, 100);
  assert.equal(s.ok, 100);
  assert.equal(s.failed, 0);
  assert.equal(s.downtimeMs, 0);
  assert.deepEqual(s.servedBy.map((x) => [x.server, x.count]), [['a1', 100]]);
  assert.equal(s.servedBy[0]?.fromNs, at(1));
  assert.equal(s.servedBy[0]?.toNs, at(991));
});

test('a failover: downtime runs from the last success to the next one, less one interval', () => {
  const records = [
    ...every10(0, 100, (t) => ok(t, 'a1')),
    ...every10(100, 400, timeout),
    ...every10(400, 600, (t) => ok(t, 'b1')),
  ];
  const s = summarizeClient(records);
  // last a1 success completes at 91 ms, first b1 success at 401 ms
  assert.equal(s.downtimeMs, 401 - 91 - 10);
  assert.deepEqual(s.outage, { fromNs: at(91), toNs: at(401) });
  assert.equal(s.failed, 30);
  assert.deepEqual(s.servedBy.map((x) => [x.server, x.count]), [['a1', 10], ['b1', 20]]);
});

test('the latency of the first success after an outage counts as outage', () => {
  const records = [
    ...every10(0, 100, (t) => ok(t, 'a1')),
    ...every10(100, 200, timeout),
    ok(200, 'b1', 5), // the new holder's first answer waits for ARP
    ...every10(210, 300, (t) => ok(t, 'b1')),
  ];
  assert.equal(summarizeClient(records).downtimeMs, 205 - 91 - 10);
});

test('records in any order give the same figures', () => {
  const records = [...every10(0, 100, (t) => ok(t, 'a1')), ...every10(100, 300, timeout), ...every10(300, 400, (t) => ok(t, 'b1'))];
  const shuffled = [...records].reverse();
  assert.deepEqual(summarizeClient(shuffled), summarizeClient(records));
});

test('nothing ever succeeded: the whole observed time is outage', () => {
  const records = every10(0, 200, timeout);
  const s = summarizeClient(records);
  // observed from the first request's start (0) to the last one's abandonment (190 + 100)
  assert.equal(s.downtimeMs, 290 - 10);
  assert.equal(s.ok, 0);
  assert.deepEqual(s.servedBy, []);
});

test('an outage at the start is measured from the start of the window', () => {
  const records = [...every10(0, 50, timeout), ...every10(50, 300, (t) => ok(t, 'b1'))];
  assert.equal(summarizeClient(records).downtimeMs, 51 - 0 - 10);
  assert.equal(summarizeClient(records, { from: at(-100) }).downtimeMs, 51 + 100 - 10);
});

test('an outage at the end is measured to the end of the window', () => {
  const records = [...every10(0, 60, (t) => ok(t, 'a1')), ...every10(60, 110, timeout)];
  // last success completes at 51; the last request (sent at 100) was abandoned at 200
  assert.equal(summarizeClient(records).downtimeMs, 200 - 51 - 10);
  assert.equal(summarizeClient(records, { to: at(1000) }).downtimeMs, 1000 - 51 - 10);
});

test('a window counts its requests but measures an outage that crosses its edges whole', () => {
  const records = [
    ...every10(0, 100, (t) => ok(t, 'a1')),
    ...every10(100, 400, timeout),
    ...every10(400, 600, (t) => ok(t, 'b1')),
  ];
  const s = summarizeClient(records, { from: at(95), to: at(195) });
  assert.equal(s.downtimeMs, 401 - 91 - 10);
  assert.equal(s.requests, 10); // started at 100, 110, …, 190
  assert.equal(s.ok, 0);
  assert.deepEqual(s.servedBy, []);
  const later = summarizeClient(records, { from: at(450) });
  assert.equal(later.downtimeMs, 0);
  assert.deepEqual(later.servedBy.map((x) => [x.server, x.count]), [['b1', 15]]);
});

test('a longer request interval is the allowance between successes', () => {
  const records = [ok(0, 'a1'), ok(50, 'a1'), ok(100, 'a1')];
  assert.equal(summarizeClient(records).downtimeMs, 40);
  assert.equal(summarizeClient(records, { intervalMs: 50 }).downtimeMs, 0);
});

test('no records and no window: all zero', () => {
  assert.deepEqual(summarizeClient([]), { requests: 0, ok: 0, failed: 0, downtimeMs: 0, servedBy: [] });
  assert.equal(summarizeClient([], { from: at(0), to: at(100) }).downtimeMs, 90);
});

test('client lines parse, anything else is skipped', () => {
  assert.deepEqual(parseClientLine('{"t":"123456789012345678","ok":true,"server":"a1","ms":0.5}'), {
    t: 123456789012345678n,
    ok: true,
    server: 'a1',
    ms: 0.5,
  });
  assert.deepEqual(parseClientLine('{"t":"1","ok":false,"ms":100,"error":"timeout"}'), { t: 1n, ok: false, ms: 100, error: 'timeout' });
  assert.equal(parseClientLine('not json'), undefined);
  assert.equal(parseClientLine('{"t":1,"ok":true,"ms":1}'), undefined);
});
