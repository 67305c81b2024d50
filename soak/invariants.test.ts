/**
 * The soak's checker catches what it is there to catch: a clean trace passes,
 * and each injected violation (two holders at once, a lost event, a duplicated
 * event, a fault not followed by a correct holder within its bound) is reported
 * with a reason naming it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkEvents, checkOneHolder, checkSoak, eligibleAt, settleAfter, type SoakTrace } from './invariants.js';

/** a1 holds; a1's agent is killed at 1000, b1 holds from 1400; a1 restarted at 3000 as backup. */
function cleanTrace(): SoakTrace {
  return {
    instances: [
      {
        instance: 'VI_1',
        hosts: ['a1', 'b1'],
        spans: [
          { fromMs: 0, toMs: 1000, holders: ['a1'] },
          { fromMs: 1000, toMs: 1400, holders: [] },
          { fromMs: 1400, toMs: 10_000, holders: ['b1'] },
        ],
      },
      { instance: 'VI_2', hosts: ['a2', 'b2'], spans: [{ fromMs: 0, toMs: 10_000, holders: ['a2'] }] },
    ],
    ineligible: [{ host: 'a1', fromMs: 1000, toMs: 3000, why: 'its agent was SIGKILLed' }],
    faults: [
      {
        id: 1,
        kind: 'agent-kill',
        target: 'a1',
        injectedMs: 1000,
        endedMs: 3000,
        expectations: [
          { instance: 'VI_1', atMs: 1000, boundMs: 2000, label: 'injected' },
          { instance: 'VI_1', atMs: 3000, boundMs: 2000, label: 'restored' },
        ],
      },
      {
        id: 2,
        kind: 'nats-kill',
        target: 'nats2',
        injectedMs: 2000,
        expectations: [
          { instance: 'VI_1', atMs: 2000, boundMs: 2000, label: 'injected' },
          { instance: 'VI_2', atMs: 2000, boundMs: 2000, label: 'injected' },
        ],
      },
    ],
    events: {
      stored: [
        { node: 'a1', seq: 1, id: 'a1-x-1' },
        { node: 'b1', seq: 1, id: 'b1-y-1' },
        { node: 'a1', seq: 2, id: 'a1-x-2' },
        { node: 'a1', seq: 3, id: 'a1-z-3' },
      ],
      journaled: { a1: 3, b1: 1 },
      reader: { duplicates: 0, resets: 0 },
    },
  };
}

describe('the soak invariant checker', () => {
  test('a clean trace passes: no violation, split-brain 0, every fault settled with its time', () => {
    const v = checkSoak(cleanTrace());
    assert.deepEqual(v.violations, []);
    assert.equal(v.ok, true);
    assert.deepEqual(v.splitBrainMs, { VI_1: 0, VI_2: 0 });
    assert.deepEqual(
      v.settles.map((s) => [s.faultId, s.instance, s.label, s.settledMs]),
      [
        [1, 'VI_1', 'injected', 400],
        [1, 'VI_1', 'restored', 0],
        [2, 'VI_1', 'injected', 0],
        [2, 'VI_2', 'injected', 0],
      ],
    );
    assert.deepEqual(v.events.perNode['a1'], { journaled: 3, stored: 3, missing: [] });
    assert.equal(v.events.lost, 0);
    assert.equal(v.events.duplicated, 0);
  });

  test('two holders at once: a one-holder violation naming both hosts, counted in split-brain ms', () => {
    const t = cleanTrace();
    t.instances[0]!.spans = [
      { fromMs: 0, toMs: 1000, holders: ['a1'] },
      { fromMs: 1000, toMs: 1012.5, holders: ['a1', 'b1'] },
      { fromMs: 1012.5, toMs: 10_000, holders: ['b1'] },
    ];
    const v = checkSoak(t);
    assert.equal(v.ok, false);
    assert.equal(v.splitBrainMs['VI_1'], 12.5);
    const sb = v.violations.filter((x) => x.invariant === 'one-holder');
    assert.equal(sb.length, 1);
    assert.match(sb[0]!.reason, /VI_1: a1 and b1 held the VIP at once for 12\.5 ms/);
  });

  test('a lost event: a seq gap in the stream is reported with the missing seqs', () => {
    const t = cleanTrace();
    t.events.stored = t.events.stored.filter((e) => !(e.node === 'a1' && e.seq === 2));
    const v = checkSoak(t);
    assert.equal(v.ok, false);
    assert.equal(v.events.lost, 1);
    const lost = v.violations.filter((x) => x.invariant === 'event-lost');
    assert.equal(lost.length, 1);
    assert.match(lost[0]!.reason, /a1: 1 event\(s\) missing from the stream, seq 2 /);
  });

  test('a lost event at the tail: journaled but never stored', () => {
    const t = cleanTrace();
    t.events.journaled['b1'] = 3;
    const r = checkEvents(t.events);
    assert.equal(r.figures.lost, 2);
    assert.match(r.violations[0]!.reason, /b1: 2 event\(s\) missing from the stream, seq 2-3 \(journaled up to 3, highest stored 1\)/);
  });

  test('a duplicated event: the same id stored twice, a seq under two ids, and copies the reader dropped', () => {
    const t = cleanTrace();
    t.events.stored.push({ node: 'a1', seq: 2, id: 'a1-x-2' });
    t.events.stored.push({ node: 'b1', seq: 1, id: 'b1-w-1' });
    const v = checkSoak(t);
    assert.equal(v.ok, false);
    assert.equal(v.events.duplicated, 2);
    const reasons = v.violations.filter((x) => x.invariant === 'event-duplicated').map((x) => x.reason);
    assert.match(reasons[0]!, /a1: event a1-x-2 \(seq 2\) stored more than once/);
    assert.match(reasons[1]!, /b1: seq 1 stored under two ids \(b1-y-1, b1-w-1\)/);

    const r = checkEvents({ ...cleanTrace().events, reader: { duplicates: 3, resets: 0 } });
    assert.equal(r.figures.duplicated, 3);
    assert.match(r.violations[0]!.reason, /the reader dropped 3 copies/);
  });

  test('a fault not followed by a correct holder within its bound: nobody holds in time', () => {
    const t = cleanTrace();
    // b1 takes over only 2500 ms after the kill; the bound is 2000.
    t.instances[0]!.spans = [
      { fromMs: 0, toMs: 1000, holders: ['a1'] },
      { fromMs: 1000, toMs: 3500, holders: [] },
      { fromMs: 3500, toMs: 10_000, holders: ['b1'] },
    ];
    const v = checkSoak(t);
    assert.equal(v.ok, false);
    const late = v.violations.filter((x) => x.invariant === 'holder-within-bound');
    // The kill (1000 + 2000) and the NATS fault (2000 + 2000 > 3500 is fine) : only the kill misses.
    assert.deepEqual(late.map((x) => x.faultId), [1]);
    assert.match(late[0]!.reason, /fault #1 agent-kill on a1, injected at t=1000 ms: no correct holder of VI_1 within 2000 ms \(at the bound nobody held the VIP\)/);
  });

  test('a holder that is not eligible is not a correct holder: a hung master still holding past the bound', () => {
    const t = cleanTrace();
    t.instances[0]!.spans = [{ fromMs: 0, toMs: 10_000, holders: ['a1'] }];
    t.ineligible = [{ host: 'a1', fromMs: 1000, toMs: 6000, why: 'its agent was SIGSTOPped' }];
    t.faults = [{ id: 7, kind: 'agent-hang', target: 'a1', injectedMs: 1000, expectations: [{ instance: 'VI_1', atMs: 1000, boundMs: 3000, label: 'injected' }] }];
    const v = checkSoak(t);
    assert.equal(v.violations.length, 1);
    assert.match(v.violations[0]!.reason, /no correct holder of VI_1 within 3000 ms \(at the bound a1 held it but its agent was SIGSTOPped\)/);
  });

  test('a holder becoming eligible inside the window settles it at that moment', () => {
    const trace = { instance: 'VI_1', hosts: ['a1', 'b1'], spans: [{ fromMs: 0, toMs: 10_000, holders: ['a1'] }] };
    const ineligible = [{ host: 'a1', fromMs: 0, toMs: 1750, why: 'no gateway' }];
    assert.equal(eligibleAt('a1', 1749, ineligible), false);
    assert.equal(eligibleAt('a1', 1750, ineligible), true);
    assert.deepEqual(settleAfter({ instance: 'VI_1', atMs: 1000, boundMs: 1000, label: 'injected' }, trace, ineligible), { settledMs: 750 });
  });

  test('a window that runs past the end of the observation is reported, not passed', () => {
    const trace = { instance: 'VI_1', hosts: ['a1', 'b1'], spans: [{ fromMs: 0, toMs: 1000, holders: [] }] };
    const r = settleAfter({ instance: 'VI_1', atMs: 500, boundMs: 5000, label: 'injected' }, trace, []);
    assert.equal(r.settledMs, undefined);
    assert.match(r.reason!, /nobody held the VIP/);
    const r2 = settleAfter({ instance: 'VI_1', atMs: 2000, boundMs: 5000, label: 'injected' }, trace, []);
    assert.match(r2.reason!, /not observed after t=1000 ms/);
  });

  test('a SIGKILLed agent\'s stale VIP beside the new holder, on a pair without fencing: counted as stale VIP within the bound, a violation past it or with fencing', () => {
    const spans = [
      { fromMs: 0, toMs: 1000, holders: ['a2'] },
      { fromMs: 1000, toMs: 1500, holders: ['a2'] },
      { fromMs: 1500, toMs: 1800, holders: ['a2', 'b2'] },
      { fromMs: 1800, toMs: 9000, holders: ['b2'] },
    ];
    const killed = [{ host: 'a2', fromMs: 1000, toMs: 4000, why: 'its agent was SIGKILLed', cause: 'agent-killed' as const }];
    const within = checkOneHolder({ instance: 'VI_2', hosts: ['a2', 'b2'], spans, staleVipBoundMs: 5000 }, killed);
    assert.deepEqual(within.violations, []);
    assert.equal(within.splitBrainMs, 300);
    assert.equal(within.staleVipMs, 300);
    assert.match(within.tolerated[0]!, /the stale VIP of a2, whose agent was SIGKILLed, before its cleanup/);

    const past = checkOneHolder({ instance: 'VI_2', hosts: ['a2', 'b2'], spans, staleVipBoundMs: 500 }, killed);
    assert.equal(past.violations.length, 1);
    assert.equal(past.staleVipMs, 0);

    const fenced = checkOneHolder({ instance: 'VI_2', hosts: ['a2', 'b2'], spans }, killed);
    assert.equal(fenced.violations.length, 1);

    // A second holder whose agent was not killed (hung, say) is never stale.
    const hung = checkOneHolder({ instance: 'VI_2', hosts: ['a2', 'b2'], spans, staleVipBoundMs: 5000 }, [{ host: 'a2', fromMs: 1000, toMs: 4000, why: 'its agent was SIGSTOPped' }]);
    assert.equal(hung.violations.length, 1);
  });

  test('split-brain sums every stretch with two holders', () => {
    const r = checkOneHolder({
      instance: 'VI_3',
      hosts: ['a3', 'b3'],
      spans: [
        { fromMs: 0, toMs: 5, holders: ['a3', 'b3'] },
        { fromMs: 5, toMs: 100, holders: ['a3'] },
        { fromMs: 100, toMs: 107, holders: ['a3', 'b3'] },
      ],
    });
    assert.equal(r.splitBrainMs, 12);
    assert.equal(r.violations.length, 2);
  });
});
