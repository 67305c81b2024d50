/**
 * Lease timing: the defaults follow the advert interval, a bad set is refused
 * with a message that says what to change, and the agent's deadlines.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  leaseTimingMismatch,
  defaultLeaseTiming,
  kvWritesPerSecond,
  nextRenewalAt,
  renewalOverdueAt,
  selfDemotionAt,
  validateLeaseTiming,
} from '../src/timing.js';

describe('defaults from the advert interval', () => {
  test('A = 1 s: renew every second, lease 2 s, and R + 2Q + M = T exactly', () => {
    const t = defaultLeaseTiming(1000);
    assert.deepEqual({ ...t }, { leaseTtlMs: 2000, renewIntervalMs: 1000, requestTimeoutMs: 250, safetyMarginMs: 500 });
    assert.equal(t.renewIntervalMs + 2 * t.requestTimeoutMs + t.safetyMarginMs, t.leaseTtlMs);
  });

  test('A = 0.1 s: the floors hold the KV load and the margin', () => {
    assert.deepEqual({ ...defaultLeaseTiming(100) }, { leaseTtlMs: 450, renewIntervalMs: 250, requestTimeoutMs: 50, safetyMarginMs: 100 });
  });

  test('A = 3 s scales linearly', () => {
    assert.deepEqual({ ...defaultLeaseTiming(3000) }, { leaseTtlMs: 6000, renewIntervalMs: 3000, requestTimeoutMs: 750, safetyMarginMs: 1500 });
  });

  test('every default set passes its own validation with no error', () => {
    for (const a of [10, 50, 100, 250, 300, 1000, 1500, 2000, 3000, 10_000, 40_950]) {
      const errors = validateLeaseTiming(defaultLeaseTiming(a)).filter((i) => i.severity === 'error');
      assert.deepEqual(errors, [], `advert ${a} ms`);
    }
  });

  test('at A >= 1 s the default lease has run out by the time VRRP declares the master down (2A + Skew_Time after a crash)', () => {
    for (const a of [1000, 2000, 3000]) assert.ok(defaultLeaseTiming(a).leaseTtlMs <= 2 * a);
  });

  test('KV load at 1,000 instances: 1,000 writes/s at A = 1 s, 4,000/s at A = 0.1 s', () => {
    assert.equal(kvWritesPerSecond(defaultLeaseTiming(1000), 1000), 1000);
    assert.equal(kvWritesPerSecond(defaultLeaseTiming(100), 1000), 4000);
  });
});

describe('validation', () => {
  test('a lease too short for one missed answer: the rule, the sum and the fix', () => {
    const issues = validateLeaseTiming({ leaseTtlMs: 1500, renewIntervalMs: 1000, requestTimeoutMs: 250, safetyMarginMs: 500 });
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.severity, 'error');
    assert.equal(issues[0]?.code, 'KQ_ERR_CONFIG_VALUE');
    assert.equal(issues[0]?.key, 'leaseTtlMs');
    assert.equal(
      issues[0]?.message,
      'renewIntervalMs + 2*requestTimeoutMs + safetyMarginMs = 1000 + 2*250 + 500 = 2000 ms exceeds leaseTtlMs 1500 ms: ' +
        'a holder that misses one answer would demote itself before its retry; raise leaseTtlMs to 2000 or lower the others',
    );
  });

  test('non-numbers and non-positive values are named, and nothing else is judged', () => {
    const issues = validateLeaseTiming({ leaseTtlMs: Number.NaN, renewIntervalMs: 0, requestTimeoutMs: 250, safetyMarginMs: -1 });
    assert.deepEqual(
      issues.map((i) => i.key),
      ['leaseTtlMs', 'renewIntervalMs', 'safetyMarginMs'],
    );
    assert.match(issues[1]!.message, /renewIntervalMs must be a positive number of milliseconds, got 0/);
  });

  test('a request timeout longer than the renewal interval', () => {
    const issues = validateLeaseTiming({ leaseTtlMs: 5000, renewIntervalMs: 500, requestTimeoutMs: 800, safetyMarginMs: 500 });
    assert.deepEqual(issues.map((i) => [i.severity, i.key]), [['error', 'requestTimeoutMs']]);
    assert.match(issues[0]!.message, /a renewal would still be waiting when the next one is due/);
  });

  test('a safety margin within the replicas\' clock skew', () => {
    const t = { leaseTtlMs: 5000, renewIntervalMs: 1000, requestTimeoutMs: 250, safetyMarginMs: 80 };
    assert.deepEqual(validateLeaseTiming(t), []);
    const issues = validateLeaseTiming(t, { maxClockSkewMs: 100 });
    assert.equal(issues[0]?.key, 'safetyMarginMs');
    assert.match(issues[0]!.message, /must exceed the clock skew between arbiter replicas \(100 ms\)/);
  });

  test('warnings come after errors: KV load below the renewal floor, a lease outliving VRRP without fencing', () => {
    const t = { leaseTtlMs: 5000, renewIntervalMs: 100, requestTimeoutMs: 200, safetyMarginMs: 500 };
    const issues = validateLeaseTiming(t, { masterDownIntervalMs: 3609.375, fencing: 'off' });
    assert.deepEqual(issues.map((i) => [i.severity, i.key]), [
      ['error', 'requestTimeoutMs'],
      ['warning', 'renewIntervalMs'],
      ['warning', 'leaseTtlMs'],
    ]);
    assert.match(issues[1]!.message, /writes 10000 leases\/s to the KV per 1,000 instances/);
    assert.match(issues[2]!.message, /exceeds Master_Down_Interval 3609 ms and fencing is off/);
    const fenced = validateLeaseTiming(t, { masterDownIntervalMs: 3609.375, fencing: 'required' });
    assert.equal(fenced.filter((i) => i.key === 'leaseTtlMs').length, 0);
  });
});

describe('deadlines', () => {
  test('the agent demotes itself a safety margin before its lease, counted from when it sent the request', () => {
    const t = defaultLeaseTiming(1000);
    assert.equal(selfDemotionAt(10_000, 1995, t), 10_000 + 1995 - 500);
    assert.equal(nextRenewalAt(10_000, t), 11_000);
  });

  test('the arbiter calls a holder overdue after its renewal and a first retry', () => {
    assert.equal(renewalOverdueAt(5000, defaultLeaseTiming(1000)), 6250);
  });

  test('two tries fit before the deadline: renewal due, first times out, second answered in time', () => {
    const t = defaultLeaseTiming(1000);
    const anchor = 0;
    const secondAnswerBy = nextRenewalAt(anchor, t) + 2 * t.requestTimeoutMs;
    assert.ok(secondAnswerBy <= selfDemotionAt(anchor, t.leaseTtlMs, t));
  });
});

describe('agent and arbiter timing', () => {
  test('the same timing agrees; a different advert interval is named with both values', () => {
    assert.equal(leaseTimingMismatch(defaultLeaseTiming(1000), defaultLeaseTiming(1000)), null);
    assert.equal(
      leaseTimingMismatch(defaultLeaseTiming(100), defaultLeaseTiming(1000)),
      'the agent runs it with TTL 450, renew 250, request timeout 50, margin 100 ms; the arbiter with TTL 2000, renew 1000, request timeout 250, margin 500 ms (set the same advertIntervalMs or timing on both)',
    );
  });
});
