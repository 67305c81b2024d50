import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectivePriority, initialTracker, isGood, trackerStep, type TrackedObject, type TrackerState, type TrackStatus } from '../src/mod.js';

type Step = [ok: boolean, counter: number, status: TrackStatus, changed: boolean];

function replay(state: TrackerState, steps: Step[]): void {
  steps.forEach(([ok, counter, status, changed], i) => {
    const r = trackerStep(state, ok);
    const where = `step ${i + 1} (${ok ? 'success' : 'failure'}): ${r.reason}`;
    assert.equal(r.state.counter, counter, where);
    assert.equal(r.state.status, status, where);
    assert.equal(r.changed, changed, where);
    assert.equal(r.good, status === 'good', where);
    assert.equal(isGood(r.state), r.state.counter >= r.state.rise, where);
    state = r.state;
  });
}

const S = true;
const F = false;

test('by default a script starts with no verdict at counter rise - 1, and its first result decides', () => {
  const state = initialTracker({ name: 'chk', rise: 3, fall: 2 });
  assert.equal(state.counter, 2);
  assert.equal(state.status, 'init');
  assert.equal(isGood(state), false);
  // One success is enough (keepalived "one success is enough"): to the top, rise + fall - 1.
  replay(state, [[S, 4, 'good', true]]);
  // One failure is enough the other way.
  replay(state, [[F, 0, 'failing', true]]);
});

test('init_fail starts failed at counter 0, and only rise successes in a row make it good', () => {
  const state = initialTracker({ name: 'chk', rise: 2, fall: 2, initFail: true });
  assert.equal(state.counter, 0);
  assert.equal(state.status, 'failing');
  replay(state, [
    [F, 0, 'failing', false],
    [S, 1, 'failing', false],
    [F, 0, 'failing', false],
    [S, 1, 'failing', false],
    [S, 3, 'good', true],
  ]);
});

test('a good script fails after exactly fall failures in a row; a success in between restarts the count', () => {
  const good = trackerStep(initialTracker({ name: 'chk', rise: 2, fall: 3 }), S).state;
  assert.equal(good.counter, 4);
  replay(good, [
    [F, 3, 'good', false],
    [F, 2, 'good', false],
    [S, 4, 'good', false],
    [F, 3, 'good', false],
    [F, 2, 'good', false],
    [F, 0, 'failing', true],
    [F, 0, 'failing', false],
  ]);
});

test('a failing script is good again after exactly rise successes in a row; a failure in between restarts the count', () => {
  const failing = trackerStep(initialTracker({ name: 'chk', rise: 3, fall: 1 }), F).state;
  replay(failing, [
    [S, 1, 'failing', false],
    [S, 2, 'failing', false],
    [F, 0, 'failing', false],
    [S, 1, 'failing', false],
    [S, 2, 'failing', false],
    [S, 3, 'good', true],
    [F, 0, 'failing', true],
  ]);
});

test('rise 1 fall 1 follows every result', () => {
  replay(initialTracker({ name: 'chk', rise: 1, fall: 1 }), [
    [S, 1, 'good', true],
    [S, 1, 'good', false],
    [F, 0, 'failing', true],
    [F, 0, 'failing', false],
    [S, 1, 'good', true],
  ]);
});

test('the counter stays in [0, rise + fall - 1] and the verdict matches a consecutive-results model on random sequences', () => {
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  for (const [rise, fall] of [
    [1, 1],
    [1, 4],
    [3, 1],
    [2, 3],
    [5, 5],
  ] as const) {
    for (const initFail of [false, true]) {
      let state = initialTracker({ name: 'chk', rise, fall, initFail });
      // The model: the first result decides (unless init_fail); afterwards
      // `fall` failures in a row make good failing, `rise` successes in a row make failing good.
      let model: TrackStatus = initFail ? 'failing' : 'init';
      let streak = 0;
      for (let i = 0; i < 400; i++) {
        const ok = random() < 0.6;
        const before: TrackStatus = model;
        if (model === 'init') {
          model = ok ? 'good' : 'failing';
          streak = 0;
        } else if (model === 'good') {
          streak = ok ? 0 : streak + 1;
          if (streak === fall) {
            model = 'failing';
            streak = 0;
          }
        } else {
          streak = ok ? streak + 1 : 0;
          if (streak === rise) {
            model = 'good';
            streak = 0;
          }
        }
        const r = trackerStep(state, ok);
        state = r.state;
        const where = `rise ${rise} fall ${fall} initFail ${initFail} result ${i}`;
        assert.equal(state.status, model, where);
        assert.equal(r.changed, before !== model, where);
        assert.ok(state.counter >= 0 && state.counter <= rise + fall - 1, where);
        assert.equal(state.counter >= rise, model === 'good', where);
      }
    }
  }
});

test('reasons say what happened in words', () => {
  const good = trackerStep(initialTracker({ name: 'check_nginx', rise: 2, fall: 3 }), S);
  assert.equal(good.reason, 'check_nginx succeeded (first result): now good');
  let s = good.state;
  const r1 = trackerStep(s, F);
  assert.equal(r1.reason, 'check_nginx failed 1 of 3 times (fall 3): still good');
  s = trackerStep(r1.state, F).state;
  const r3 = trackerStep(s, F);
  assert.equal(r3.reason, 'check_nginx failed 3 times (fall 3): now failing');
  const r4 = trackerStep(r3.state, S);
  assert.equal(r4.reason, 'check_nginx succeeded 1 of 2 times (rise 2): still failing');
  assert.equal(trackerStep(r4.state, S).reason, 'check_nginx succeeded 2 times (rise 2): now good');
  assert.equal(trackerStep(r3.state, F).reason, 'check_nginx failed: still failing');
  assert.equal(trackerStep(trackerStep(r4.state, S).state, S).reason, 'check_nginx succeeded: still good');
  assert.equal(trackerStep(initialTracker({ name: 'x', rise: 1, fall: 1 }), F).reason, 'x failed (first result): now failing');
});

test('rise and fall below 1 are refused', () => {
  assert.throws(() => initialTracker({ name: 'x', rise: 0, fall: 1 }), RangeError);
  assert.throws(() => initialTracker({ name: 'x', rise: 1, fall: 0 }), RangeError);
});

// ---------------------------------------------------------------------------

const t = (name: string, weight: number, status: TrackStatus, reverse = false): TrackedObject => ({ name, weight, status, reverse });

test('effective priority follows keepalived for every weight, state and reverse', () => {
  const rows: Array<[string, number, TrackedObject[], number, string[]]> = [
    ['nothing tracked', 100, [], 100, []],
    ['weight > 0 adds while good', 100, [t('a', 10, 'good')], 110, []],
    ['weight > 0 adds nothing while failing', 100, [t('a', 10, 'failing')], 100, []],
    ['weight > 0 adds nothing before the first result', 100, [t('a', 10, 'init')], 100, []],
    ['weight < 0 takes while failing', 100, [t('a', -20, 'failing')], 80, []],
    ['weight < 0 takes nothing while good', 100, [t('a', -20, 'good')], 100, []],
    ['weight < 0 takes nothing before the first result', 100, [t('a', -20, 'init')], 100, []],
    ['weight > 0 reverse takes while good', 100, [t('a', 10, 'good', true)], 90, []],
    ['weight > 0 reverse does nothing while failing', 100, [t('a', 10, 'failing', true)], 100, []],
    ['weight < 0 reverse adds while failing', 100, [t('a', -20, 'failing', true)], 120, []],
    ['weight < 0 reverse does nothing while good', 100, [t('a', -20, 'good', true)], 100, []],
    ['weight 0 failing is FAULT', 100, [t('a', 0, 'failing')], 100, ['a']],
    ['weight 0 good is no fault', 100, [t('a', 0, 'good')], 100, []],
    ['weight 0 reverse good is FAULT', 100, [t('a', 0, 'good', true)], 100, ['a']],
    ['weight 0 reverse failing is no fault', 100, [t('a', 0, 'failing', true)], 100, []],
    ['weights add up', 100, [t('a', 10, 'good'), t('b', -30, 'failing'), t('c', 5, 'failing')], 80, []],
    ['clamped to 1 below', 100, [t('a', -120, 'failing')], 1, []],
    ['a sum of exactly 0 is clamped to 1', 50, [t('a', -50, 'failing')], 1, []],
    ['clamped to 254 above', 250, [t('a', 10, 'good')], 254, []],
    ['a sum of exactly 255 is 254: only the owner has 255', 254, [t('a', 1, 'good')], 254, []],
    ['the address owner is never adjusted', 255, [t('a', -50, 'failing'), t('b', 10, 'good')], 255, []],
    ['the address owner still goes to FAULT on a weight-0 failure', 255, [t('a', 0, 'failing')], 255, ['a']],
    ['several FAULT sources are all named', 100, [t('a', 0, 'failing'), t('b', -10, 'failing'), t('c', 0, 'failing')], 90, ['a', 'c']],
  ];
  for (const [what, base, tracked, priority, fault] of rows) {
    const v = effectivePriority(base, tracked);
    assert.equal(v.priority, priority, what);
    assert.deepEqual(v.fault, fault, what);
  }
});

test('a weight-0 object with no result yet holds the instance back, as keepalived keeps it in INIT', () => {
  const v = effectivePriority(100, [t('chk_db', 0, 'init'), t('chk_web', -10, 'init')]);
  assert.deepEqual(v.pending, ['chk_db']);
  assert.deepEqual(v.fault, []);
  assert.equal(v.priority, 100);
  assert.match(v.reason, /waiting for the first result of chk_db/);
});

test('the priority reason names each adjustment, the clamp and the FAULT', () => {
  assert.equal(
    effectivePriority(100, [t('check_nginx', -20, 'failing'), t('check_disk', 5, 'good', false)]).reason,
    'priority 85: base 100, check_nginx failing (weight -20) -20, check_disk good (weight 5) +5',
  );
  assert.equal(effectivePriority(100, [t('a', -150, 'failing')]).reason, 'priority 1: base 100, a failing (weight -150) -150, -50 clamped to 1');
  assert.equal(effectivePriority(100, [t('chk_db', 0, 'failing')]).reason, 'FAULT: chk_db failing (weight 0); priority 100: base 100, no adjustment');
  assert.equal(effectivePriority(100, [t('chk_maint', 0, 'good', true)]).reason, 'FAULT: chk_maint good (weight 0 reverse); priority 100: base 100, no adjustment');
  assert.equal(effectivePriority(255, [t('a', -20, 'failing')]).reason, 'priority 255: address owner, weights not applied');
  assert.deepEqual(effectivePriority(255, [t('a', -20, 'failing')]).adjustments, []);
  assert.deepEqual(effectivePriority(100, [t('a', -20, 'failing'), t('b', 10, 'good', true)]).adjustments, [
    { name: 'a', delta: -20 },
    { name: 'b', delta: -10 },
  ]);
});
