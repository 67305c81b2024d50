/**
 * One test per rule of RFC 5798 §6.4 (and RFC 3768 for v2), plus the places where
 * we follow keepalived 2.2. Each asserts the new state, the actions in order, and
 * the reason a person would read in the log.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  initialState,
  nextDeadline,
  step,
  type InstanceParams,
  type InstanceState,
  type VrrpEvent,
} from '../src/state-machine.js';
import { masterDownIntervalMs, skewTimeMs } from '../src/timers.js';
import type { Advertisement } from '../src/types.js';

const base: InstanceParams = {
  vrid: 51,
  version: 3,
  priority: 90,
  advertIntervalCs: 10,
  preempt: true,
  preemptDelayMs: 0,
  primaryAddress: '198.18.1.2',
};

function advert(priority: number, extra: Partial<Advertisement> = {}): Advertisement {
  return {
    version: 3,
    family: 4,
    vrid: 51,
    priority,
    advertIntervalCs: 10,
    addresses: ['198.18.10.1'],
    authType: 0,
    authPassword: '',
    ...extra,
  };
}

/** Run a sequence of [event, at] through step, returning every result. */
function run(params: InstanceParams, events: Array<[VrrpEvent, number]>, start?: InstanceState) {
  let state = start ?? initialState(params, 0);
  const results = [];
  for (const [ev, at] of events) {
    const r = step(params, state, ev, at);
    results.push(r);
    state = r.state;
  }
  return { state, results };
}

const types = (r: { actions: Array<{ type: string }> }) => r.actions.map((a) => a.type);

describe('timers', () => {
  test('v3 Skew_Time and Master_Down_Interval follow the master interval in fractional ms, as keepalived computes them', () => {
    assert.ok(Math.abs(skewTimeMs(3, 90, 10) - 64.84375) < 1e-9);
    assert.ok(Math.abs(masterDownIntervalMs(3, 90, 10) - 364.84375) < 1e-9);
    assert.ok(Math.abs(masterDownIntervalMs(3, 100, 100) - (3000 + 609.375)) < 1e-9);
  });
  test('v2 Skew_Time is (256 - priority)/256 seconds whatever the interval', () => {
    assert.ok(Math.abs(skewTimeMs(2, 100, 100) - 609.375) < 1e-9);
    assert.ok(Math.abs(skewTimeMs(2, 100, 300) - 609.375) < 1e-9);
    assert.ok(Math.abs(masterDownIntervalMs(2, 100, 100) - 3609.375) < 1e-9);
  });
});

describe('startup (RFC 5798 §6.4.1)', () => {
  test('a non-owner starts as BACKUP with the down timer at Master_Down_Interval', () => {
    const { state, results } = run(base, [[{ type: 'start' }, 1000]]);
    assert.equal(state.name, 'BACKUP');
    assert.ok(Math.abs((state.masterDownAt ?? 0) - (1000 + 364.84375)) < 1e-9);
    assert.deepEqual(types(results[0]!), ['transition']);
    assert.match(results[0]!.reason, /startup: waiting 364\.8 ms/);
  });

  test('the address owner (priority 255) becomes MASTER at once: advert, VIPs, announcements', () => {
    const { state, results } = run({ ...base, priority: 255 }, [[{ type: 'start' }, 0]]);
    assert.equal(state.name, 'MASTER');
    assert.deepEqual(types(results[0]!), ['sendAdvert', 'addVips', 'announceVips', 'transition']);
    assert.equal(state.advertAt, 100);
  });

  test('an instance with an active fault starts in FAULT and arms no timer', () => {
    const { state } = run(base, [
      [{ type: 'fault', source: 'interface eth0', active: true, detail: 'down' }, 0],
      [{ type: 'start' }, 0],
    ]);
    assert.equal(state.name, 'FAULT');
    assert.equal(nextDeadline(state), null);
  });

  test('adverts before start are ignored', () => {
    const { state, results } = run(base, [[{ type: 'advert', advert: advert(100), source: '198.18.1.1' }, 0]]);
    assert.equal(state.name, 'INIT');
    assert.match(results[0]!.reason, /ignored in INIT/);
  });
});

describe('BACKUP (RFC 5798 §6.4.2)', () => {
  const started = run(base, [[{ type: 'start' }, 0]]).state;

  test('the down timer expiring makes the backup MASTER, advert first', () => {
    const r = step(base, started, { type: 'timer' }, 364.84375);
    assert.equal(r.state.name, 'MASTER');
    assert.deepEqual(types(r), ['sendAdvert', 'addVips', 'announceVips', 'transition']);
    assert.deepEqual(r.actions[0], { type: 'sendAdvert', priority: 90 });
    assert.match(r.reason, /no advertisement from any master within Master_Down_Interval \(364\.8 ms\)/);
  });

  test('a timer before the deadline changes nothing', () => {
    const r = step(base, started, { type: 'timer' }, 300);
    assert.equal(r.state, started);
    assert.equal(r.actions.length, 0);
  });

  test('an advert from a higher-priority master restarts the down timer', () => {
    const r = step(base, started, { type: 'advert', advert: advert(100), source: '198.18.1.1' }, 200);
    assert.equal(r.state.name, 'BACKUP');
    assert.ok(Math.abs((r.state.masterDownAt ?? 0) - (200 + 364.84375)) < 1e-9);
    assert.deepEqual(r.state.master, { address: '198.18.1.1', priority: 100 });
    assert.match(r.reason, /master 198\.18\.1\.1 alive \(priority 100 >= ours 90\)/);
  });

  test('an advert with equal priority is accepted too (>= local priority)', () => {
    const r = step(base, started, { type: 'advert', advert: advert(90), source: '198.18.1.1' }, 200);
    assert.equal(r.state.master?.priority, 90);
    assert.ok(r.state.masterDownAt! > 364.84375);
  });

  test('a v3 backup adopts the master advertisement interval (Master_Adver_Interval)', () => {
    const r = step(base, started, { type: 'advert', advert: advert(100, { advertIntervalCs: 100 }), source: '198.18.1.1' }, 0);
    assert.equal(r.state.masterAdvertIntervalCs, 100);
    assert.ok(Math.abs((r.state.masterDownAt ?? 0) - masterDownIntervalMs(3, 90, 100)) < 1e-9);
  });

  test('a v2 backup keeps its own interval (v2 mismatches are refused before the state machine)', () => {
    const v2 = { ...base, version: 2 as const, advertIntervalCs: 100 };
    const s = run(v2, [[{ type: 'start' }, 0]]).state;
    const r = step(v2, s, { type: 'advert', advert: advert(100, { version: 2, advertIntervalCs: 100 }), source: '198.18.1.1' }, 0);
    assert.equal(r.state.masterAdvertIntervalCs, 100);
    assert.ok(Math.abs((r.state.masterDownAt ?? 0) - 3000 - 648.4375) < 1e-9);
  });

  test('priority 0 from the master shortens the wait to Skew_Time', () => {
    const r = step(base, started, { type: 'advert', advert: advert(0), source: '198.18.1.1' }, 50);
    assert.ok(Math.abs((r.state.masterDownAt ?? 0) - (50 + 64.84375)) < 1e-9);
    assert.match(r.reason, /gave up \(priority 0\): taking over after Skew_Time \(64\.8 ms\)/);
    const takeover = step(base, r.state, { type: 'timer' }, r.state.masterDownAt!);
    assert.equal(takeover.state.name, 'MASTER');
    assert.match(takeover.reason, /master 198\.18\.1\.1 gave up \(priority 0\) and Skew_Time \(64\.8 ms\) elapsed/);
  });

  test('with preempt, a lower-priority advert is discarded so the down timer runs out, and the takeover says it preempted', () => {
    const r = step(base, started, { type: 'advert', advert: advert(50), source: '198.18.1.1' }, 100);
    assert.equal(r.state.masterDownAt, started.masterDownAt);
    assert.match(r.reason, /discarded: preempting/);
    const t = step(base, r.state, { type: 'timer' }, started.masterDownAt!);
    assert.equal(t.state.name, 'MASTER');
    assert.match(t.reason, /preempting master 198\.18\.1\.1 \(priority 50 < ours 90\)/);
  });

  test('with nopreempt, a lower-priority master is accepted and keeps the VIP', () => {
    const p = { ...base, preempt: false };
    const s = run(p, [[{ type: 'start' }, 0]]).state;
    const r = step(p, s, { type: 'advert', advert: advert(50), source: '198.18.1.1' }, 100);
    assert.ok(Math.abs((r.state.masterDownAt ?? 0) - (100 + 364.84375)) < 1e-9);
    assert.match(r.reason, /accepted: nopreempt/);
  });

  test('preempt_delay tolerates a lower-priority master until the delay ends, then preempts', () => {
    const p = { ...base, preemptDelayMs: 1000 };
    const s = run(p, [[{ type: 'start' }, 0]]).state;
    const first = step(p, s, { type: 'advert', advert: advert(50), source: '198.18.1.1' }, 100);
    assert.equal(first.state.preemptUntil, 1100);
    assert.match(first.reason, /tolerated until preempt_delay ends/);
    const during = step(p, first.state, { type: 'advert', advert: advert(50), source: '198.18.1.1' }, 1000);
    assert.ok(during.state.masterDownAt! > 1000);
    const after = step(p, during.state, { type: 'advert', advert: advert(50), source: '198.18.1.1' }, 1200);
    assert.equal(after.state.masterDownAt, during.state.masterDownAt);
    assert.match(after.reason, /discarded: preempting/);
    const takeover = step(p, after.state, { type: 'timer' }, during.state.masterDownAt!);
    assert.equal(takeover.state.name, 'MASTER');
  });

  test('a higher-priority advert during preempt_delay stops the delay', () => {
    const p = { ...base, preemptDelayMs: 1000 };
    const s = run(p, [[{ type: 'start' }, 0]]).state;
    const first = step(p, s, { type: 'advert', advert: advert(50), source: '198.18.1.1' }, 100);
    const higher = step(p, first.state, { type: 'advert', advert: advert(100), source: '198.18.1.1' }, 200);
    assert.equal(higher.state.preemptUntil, null);
  });
});

describe('MASTER (RFC 5798 §6.4.3)', () => {
  const master = run(base, [
    [{ type: 'start' }, 0],
    [{ type: 'timer' }, 400],
  ]).state;

  test('the advert timer sends an advert at the effective priority and stays on schedule', () => {
    const r = step(base, master, { type: 'timer' }, 500.7);
    assert.deepEqual(r.actions, [{ type: 'sendAdvert', priority: 90 }]);
    assert.equal(r.state.advertAt, 600);
  });

  test('after a stall longer than the interval the schedule restarts from now instead of bursting', () => {
    const r = step(base, master, { type: 'timer' }, 900);
    assert.equal(r.state.advertAt, 1000);
  });

  test('a higher-priority advert makes the master BACKUP, releasing the VIPs', () => {
    const r = step(base, master, { type: 'advert', advert: advert(100), source: '198.18.1.1' }, 450);
    assert.equal(r.state.name, 'BACKUP');
    assert.deepEqual(types(r), ['removeVips', 'transition']);
    assert.ok(Math.abs((r.state.masterDownAt ?? 0) - (450 + 364.84375)) < 1e-9);
    assert.match(r.reason, /higher priority advert from 198\.18\.1\.1 \(100 > ours 90\)/);
  });

  test('equal priority from a higher primary address wins the tie', () => {
    const r = step(base, master, { type: 'advert', advert: advert(90), source: '198.18.1.3' }, 450);
    assert.equal(r.state.name, 'BACKUP');
    assert.match(r.reason, /higher primary address/);
  });

  test('equal priority from a lower primary address is answered with our advert', () => {
    const r = step(base, master, { type: 'advert', advert: advert(90), source: '198.18.1.1' }, 450);
    assert.equal(r.state.name, 'MASTER');
    assert.deepEqual(r.actions, [{ type: 'sendAdvert', priority: 90 }]);
  });

  test('the tie-break compares addresses numerically, not as text', () => {
    const p = { ...base, primaryAddress: '198.18.1.9' };
    const m = run(p, [
      [{ type: 'start' }, 0],
      [{ type: 'timer' }, 400],
    ]).state;
    const r = step(p, m, { type: 'advert', advert: advert(90), source: '198.18.1.10' }, 450);
    assert.equal(r.state.name, 'BACKUP');
  });

  test('a lower-priority advert is answered at once so the other master steps down', () => {
    const r = step(base, master, { type: 'advert', advert: advert(50), source: '198.18.1.1' }, 450);
    assert.equal(r.state.name, 'MASTER');
    assert.deepEqual(r.actions, [{ type: 'sendAdvert', priority: 90 }]);
    assert.match(r.reason, /re-asserting/);
  });

  test('a priority-0 advert is answered with an advert and the advert timer reset', () => {
    const r = step(base, master, { type: 'advert', advert: advert(0), source: '198.18.1.1' }, 450);
    assert.deepEqual(r.actions, [{ type: 'sendAdvert', priority: 90 }]);
    assert.equal(r.state.advertAt, 550);
  });

  test('a master adopts the interval of a higher-priority v3 master it yields to', () => {
    const r = step(base, master, { type: 'advert', advert: advert(100, { advertIntervalCs: 100 }), source: '198.18.1.1' }, 450);
    assert.equal(r.state.masterAdvertIntervalCs, 100);
  });
});

describe('FAULT', () => {
  const master = run(base, [
    [{ type: 'start' }, 0],
    [{ type: 'timer' }, 400],
  ]).state;

  test('a fault on the master removes the VIPs first, then sends priority 0', () => {
    const r = step(base, master, { type: 'fault', source: 'interface eth0', active: true, detail: 'link down' }, 500);
    assert.equal(r.state.name, 'FAULT');
    assert.deepEqual(types(r), ['removeVips', 'sendAdvert', 'transition']);
    assert.deepEqual(r.actions[1], { type: 'sendAdvert', priority: 0 });
    assert.match(r.reason, /fault: interface eth0: link down/);
  });

  test('FAULT ignores adverts', () => {
    const f = step(base, master, { type: 'fault', source: 'if', active: true }, 500).state;
    const r = step(base, f, { type: 'advert', advert: advert(100), source: '198.18.1.1' }, 600);
    assert.equal(r.state, f);
  });

  test('recovery returns to election as BACKUP only when every fault has cleared', () => {
    let s = step(base, master, { type: 'fault', source: 'a', active: true }, 500).state;
    s = step(base, s, { type: 'fault', source: 'b', active: true }, 510).state;
    const one = step(base, s, { type: 'fault', source: 'a', active: false }, 520);
    assert.equal(one.state.name, 'FAULT');
    assert.match(one.reason, /still faulty: b/);
    const both = step(base, one.state, { type: 'fault', source: 'b', active: false }, 530);
    assert.equal(both.state.name, 'BACKUP');
    assert.ok(Math.abs((both.state.masterDownAt ?? 0) - (530 + 364.84375)) < 1e-9);
  });

  test('the address owner recovering from a fault becomes MASTER at once', () => {
    const p = { ...base, priority: 255 };
    let s = run(p, [[{ type: 'start' }, 0]]).state;
    s = step(p, s, { type: 'fault', source: 'if', active: true }, 10).state;
    const r = step(p, s, { type: 'fault', source: 'if', active: false }, 20);
    assert.equal(r.state.name, 'MASTER');
  });

  test('a repeated fault report changes nothing', () => {
    const f = step(base, master, { type: 'fault', source: 'if', active: true }, 500).state;
    const r = step(base, f, { type: 'fault', source: 'if', active: true }, 501);
    assert.equal(r.state, f);
  });
});

describe('priority and shutdown', () => {
  test('a new effective priority is carried by the next advert', () => {
    const m = run(base, [
      [{ type: 'start' }, 0],
      [{ type: 'timer' }, 400],
      [{ type: 'priority', priority: 70, detail: 'check_nginx failed, weight -20' }, 450],
    ]);
    assert.match(m.results[2]!.reason, /effective priority 90 -> 70 \(check_nginx failed, weight -20\)/);
    const r = step(base, m.state, { type: 'timer' }, 500);
    assert.deepEqual(r.actions, [{ type: 'sendAdvert', priority: 70 }]);
  });

  test('a priority outside 1..255 is refused', () => {
    const s = run(base, [[{ type: 'start' }, 0]]).state;
    assert.equal(step(base, s, { type: 'priority', priority: 0 }, 1).state, s);
    assert.equal(step(base, s, { type: 'priority', priority: 256 }, 1).state, s);
  });

  test('shutdown of a master removes the VIPs and then sends priority 0', () => {
    const m = run(base, [
      [{ type: 'start' }, 0],
      [{ type: 'timer' }, 400],
    ]).state;
    const r = step(base, m, { type: 'shutdown' }, 500);
    assert.equal(r.state.name, 'INIT');
    assert.deepEqual(types(r), ['removeVips', 'sendAdvert', 'transition']);
    assert.deepEqual(r.actions[1], { type: 'sendAdvert', priority: 0 });
  });

  test('shutdown of a backup sends nothing', () => {
    const b = run(base, [[{ type: 'start' }, 0]]).state;
    const r = step(base, b, { type: 'shutdown' }, 500);
    assert.deepEqual(types(r), ['transition']);
  });

  test('a pair converges: the higher priority wins whichever starts first', () => {
    // Drive two machines against each other through their actions, as the wire would.
    const pa: InstanceParams = { ...base, priority: 100, primaryAddress: '198.18.1.1' };
    const pb: InstanceParams = { ...base, priority: 90, primaryAddress: '198.18.1.2' };
    const nodes = [pa, pb].map((p) => ({ p, s: step(p, initialState(p, 0), { type: 'start' }, 0).state }));
    for (let t = 0; t < 3000; t += 1) {
      for (const self of nodes) {
        const due = nextDeadline(self.s);
        if (due === null || t < due) continue;
        const r = step(self.p, self.s, { type: 'timer' }, t);
        self.s = r.state;
        for (const act of r.actions) {
          if (act.type !== 'sendAdvert') continue;
          for (const other of nodes) {
            if (other === self) continue;
            other.s = step(other.p, other.s, { type: 'advert', advert: advert(act.priority), source: self.p.primaryAddress }, t).state;
          }
        }
      }
    }
    const [a, b] = nodes.map((n) => n.s);
    assert.equal(a!.name, 'MASTER');
    assert.equal(b!.name, 'BACKUP');
  });
});

describe('sync groups', () => {
  test('a backup follows a group member to MASTER at once', () => {
    const b = run(base, [[{ type: 'start' }, 0]]).state;
    const r = step(base, b, { type: 'follow', to: 'MASTER', detail: 'VI_2 became MASTER' }, 10);
    assert.equal(r.state.name, 'MASTER');
    assert.deepEqual(types(r), ['sendAdvert', 'addVips', 'announceVips', 'transition']);
    assert.match(r.reason, /sync group: VI_2 became MASTER/);
  });

  test('a master follows a group member to BACKUP, releasing its VIPs', () => {
    const m = run(base, [
      [{ type: 'start' }, 0],
      [{ type: 'timer' }, 400],
    ]).state;
    const r = step(base, m, { type: 'follow', to: 'BACKUP', detail: 'VI_2 became BACKUP' }, 500);
    assert.equal(r.state.name, 'BACKUP');
    assert.deepEqual(types(r), ['removeVips', 'transition']);
  });

  test('following what the instance already is, or from FAULT, changes nothing', () => {
    const b = run(base, [[{ type: 'start' }, 0]]).state;
    assert.equal(step(base, b, { type: 'follow', to: 'BACKUP', detail: 'x' }, 1).state, b);
    const f = step(base, b, { type: 'fault', source: 'if', active: true }, 2).state;
    assert.equal(step(base, f, { type: 'follow', to: 'MASTER', detail: 'x' }, 3).state, f);
  });
});

describe('aligned adverts', () => {
  test('a new master with alignAdverts advertises at once, then on the grid of its interval', () => {
    const p = { ...base, alignAdverts: true };
    const s = run(p, [[{ type: 'start' }, 0]]).state;
    const r = step(p, s, { type: 'timer' }, 364.84375);
    assert.equal(r.state.name, 'MASTER');
    assert.equal(r.actions[0]!.type, 'sendAdvert');
    assert.equal(r.state.advertAt, 400);
    // Two instances that became master at different times share the grid.
    const other = step(p, run(p, [[{ type: 'start' }, 20]]).state, { type: 'timer' }, 384.9);
    assert.equal(other.state.advertAt, 400);
  });

  test('after a stall the aligned schedule resumes on the grid', () => {
    const p = { ...base, alignAdverts: true };
    const m = step(p, run(p, [[{ type: 'start' }, 0]]).state, { type: 'timer' }, 364.84375).state;
    const r = step(p, m, { type: 'timer' }, 733);
    assert.equal(r.state.advertAt, 800);
  });
});
