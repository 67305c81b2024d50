/**
 * The agent's side of the lease, rule by rule. Each case starts from a state
 * reached by real events (a small script), applies one event and asserts the
 * phase, the actions in order and the reason.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  holderStep,
  initialHolderState,
  isVetoRetry,
  nextHolderDeadline,
  vetoBackoffMs,
  type HolderAction,
  type HolderEvent,
  type HolderParams,
  type HolderState,
} from '../src/holder.js';
import { defaultLeaseTiming } from '../src/timing.js';
import type { ArbiterReply } from '../src/protocol.js';

// A = 1 s: R 1000, Q 250, M 500, T 2000.
const timing = defaultLeaseTiming(1000);
const failsafe: HolderParams = { mode: 'failsafe', timing, gatewayConfigured: true };
const strict: HolderParams = { ...failsafe, mode: 'strict' };
const off: HolderParams = { ...failsafe, mode: 'off' };

const MDI = 3609;
const want = (lastMasterAdvertAt: number | null = null): HolderEvent => ({ type: 'wantMaster', reason: 'no advertisement within Master_Down_Interval', lastMasterAdvertAt, masterDownIntervalMs: MDI });
type ReplyBody = ArbiterReply extends infer R ? (R extends ArbiterReply ? Omit<R, 'v'> : never) : never;
const reply = (requestId: number, r: ReplyBody): HolderEvent => ({ type: 'reply', requestId, reply: { v: 1, ...r } as ArbiterReply });
const grant = (requestId: number, epoch = 7, validForMs = 2000) => reply(requestId, { type: 'grant', instance: 'VI_1', epoch, validForMs, reason: 'lease free' });
const renewed = (requestId: number, epoch = 7, validForMs = 2000) => reply(requestId, { type: 'renewed', instance: 'VI_1', epoch, validForMs });
const veto = (requestId: number, retryAfterMs?: number) =>
  reply(requestId, { type: 'veto', instance: 'VI_1', reason: 'holder web2 is alive', ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
const failed = (requestId: number, definitive = false): HolderEvent => ({ type: 'requestFailed', requestId, reason: definitive ? 'no responders' : 'timeout', definitive });
const tick: HolderEvent = { type: 'tick' };
const gateway = (status: 'up' | 'down' | 'unknown'): HolderEvent => ({ type: 'gateway', status });

/** Runs events at times; returns the last result and every action on the way. */
function run(params: HolderParams, script: Array<[number, HolderEvent]>, from: HolderState = initialHolderState()) {
  let state = from;
  let last = { state, actions: [] as readonly HolderAction[], reason: '' };
  const all: HolderAction[] = [];
  for (const [at, event] of script) {
    last = holderStep(params, state, event, at);
    state = last.state;
    all.push(...last.actions);
  }
  return { ...last, all };
}

const types = (actions: readonly HolderAction[]) => actions.map((a) => a.type);

/** Gateway up, claim sent at 1000 (request 1), granted epoch 7 for 2000 ms at 1010. */
const holding = () => run(failsafe, [[0, gateway('up')], [1000, want()], [1010, grant(1)]]).state;

describe('holder: claiming', () => {
  test('VRRP asking for MASTER sends a claim and adds no VIP until the grant', () => {
    const r = run(failsafe, [[0, gateway('up')], [1000, want()]]);
    assert.equal(r.state.phase, 'CLAIMING');
    assert.deepEqual(r.actions, [{ type: 'sendClaim', requestId: 1 }]);
    assert.match(r.reason, /claiming the lease/);
  });

  test('a grant becomes MASTER, its lease counted from when the claim was sent', () => {
    const r = run(failsafe, [[0, gateway('up')], [1000, want()], [1200, grant(1)]]);
    assert.equal(r.state.phase, 'MASTER');
    assert.equal(r.actions[0]?.type, 'becomeMaster');
    // sent at 1000, valid 2000, margin 500: demote at 2500 (not 2700); renew at 1000 + R.
    assert.deepEqual(r.state.lease, { epoch: 7, anchorAt: 1000, validForMs: 2000, demoteAt: 2500, renewAt: 2000 });
    assert.match(r.reason, /lease granted \(epoch 7, valid 1300 ms more\): lease free/);
  });

  test('a veto goes back to BACKUP and retries after retryAfterMs', () => {
    const r = run(failsafe, [[0, gateway('up')], [1000, want()], [1010, veto(1, 800)]]);
    assert.equal(r.state.phase, 'BACKUP');
    assert.deepEqual(r.actions, [{ type: 'backOff', retryAt: 1810, reason: r.reason }]);
    assert.match(r.reason, /^claim vetoed: holder web2 is alive; staying BACKUP, claiming again in 800 ms or at once on new evidence/);
  });

  test('a veto without retryAfterMs retries after Master_Down_Interval', () => {
    const r = run(failsafe, [[0, gateway('up')], [1000, want()], [1010, veto(1)]]);
    assert.deepEqual(r.actions, [{ type: 'backOff', retryAt: 1010 + MDI, reason: r.reason }]);
    assert.match(r.reason, /^claim vetoed: holder web2 is alive; staying BACKUP/);
  });

  test('wait keeps CLAIMING and claims again after retryAfterMs', () => {
    const w = run(failsafe, [[0, gateway('up')], [1000, want()], [1010, reply(1, { type: 'wait', instance: 'VI_1', reason: 'fencing web2', retryAfterMs: 300 })]]);
    assert.equal(w.state.phase, 'CLAIMING');
    assert.deepEqual(w.actions, []);
    assert.equal(nextHolderDeadline(failsafe, w.state), 1310);
    const again = holderStep(failsafe, w.state, tick, 1310);
    assert.deepEqual(again.actions, [{ type: 'sendClaim', requestId: 2 }]);
  });

  test('a refused claim backs off like a veto: no VIP while an arbiter answers', () => {
    const r = run(failsafe, [[0, gateway('up')], [1000, want()], [1010, reply(1, { type: 'refuse', instance: 'VI_1', reason: 'write path down' })]]);
    assert.equal(r.state.phase, 'BACKUP');
    assert.equal(r.actions[0]?.type, 'backOff');
    assert.match(r.reason, /claim refused: write path down/);
  });

  test('a node whose gateway does not answer never claims', () => {
    const r = run(failsafe, [[0, gateway('down')], [1000, want()]]);
    assert.equal(r.state.phase, 'BACKUP');
    assert.deepEqual(types(r.actions), ['backOff']);
    assert.match(r.reason, /never claims/);
  });

  test('VRRP withdrawing (a master advertises) abandons the claim; its late grant is released', () => {
    const r = run(failsafe, [[0, gateway('up')], [1000, want()], [1005, { type: 'leaveMaster', reason: 'master 198.18.1.2 alive' }], [1010, grant(1)]]);
    assert.equal(r.state.phase, 'BACKUP');
    assert.deepEqual(r.actions, [{ type: 'sendRelease', requestId: 2, epoch: 7 }]);
  });

  test('a grant that arrives after its validity minus the margin is not used: claim again', () => {
    const r = run(failsafe, [[0, gateway('up')], [1000, want()], [1200, grant(1, 7, 600)]]);
    assert.equal(r.state.phase, 'CLAIMING');
    assert.deepEqual(r.actions, [{ type: 'sendClaim', requestId: 2 }]);
    assert.match(r.reason, /too late to use/);
  });

  test('one unanswered claim is sent again at once', () => {
    const r = run(failsafe, [[0, gateway('up')], [1000, want()], [1250, tick]]);
    assert.equal(r.state.phase, 'CLAIMING');
    assert.deepEqual(r.actions, [{ type: 'sendClaim', requestId: 2 }]);
  });
});

describe('holder: no arbiter answers', () => {
  test('failsafe: a backup whose master is silent and whose gateway answers takes over without a lease', () => {
    const r = run(failsafe, [[0, gateway('up')], [1000, want(null)], [1250, tick], [1500, tick]]);
    assert.equal(r.state.phase, 'MASTER');
    assert.equal(r.state.lease, null);
    assert.deepEqual(types(r.actions), ['becomeMaster']);
    assert.deepEqual((r.actions[0] as { epoch: number | null }).epoch, null);
    assert.match(r.reason, /taking over without a lease/);
  });

  test('failsafe: no responders is definitive, no second try needed', () => {
    const r = run(failsafe, [[0, gateway('up')], [1000, want(null)], [1001, failed(1, true)]]);
    assert.equal(r.state.phase, 'MASTER');
    assert.equal(r.state.arbiter, 'down');
  });

  test('failsafe: with NATS known down, the takeover needs no claim round trip', () => {
    const r = run(failsafe, [[0, gateway('up')], [1, { type: 'arbiterReachable', reachable: false, detail: 'disconnected' }], [1000, want(null)]]);
    assert.equal(r.state.phase, 'MASTER');
    assert.deepEqual(types(r.actions), ['becomeMaster']);
  });

  test('failsafe: a backup whose gateway is unknown stays claiming, no VIP', () => {
    const r = run(failsafe, [[1000, want(null)], [1001, failed(1, true)]]);
    assert.equal(r.state.phase, 'CLAIMING');
    assert.deepEqual(r.actions, []);
    assert.match(r.reason, /gateway does not answer/);
  });

  test('failsafe: a master that still advertises is not preempted without an arbiter', () => {
    const r = run(failsafe, [[0, gateway('up')], [1000, want(900)], [1001, failed(1, true)]]);
    assert.equal(r.state.phase, 'CLAIMING');
    assert.match(r.reason, /the master advertised 101 ms ago/);
  });

  test('strict: no arbiter, no VIP: keeps claiming every renewal interval', () => {
    const r = run(strict, [[0, gateway('up')], [1000, want(null)], [1001, failed(1, true)]]);
    assert.equal(r.state.phase, 'CLAIMING');
    assert.deepEqual(r.actions, []);
    assert.equal(nextHolderDeadline(strict, r.state), 2001);
    const again = holderStep(strict, r.state, tick, 2001);
    assert.deepEqual(again.actions, [{ type: 'sendClaim', requestId: 2 }]);
  });

  test('failsafe: a leaseless MASTER is demoted when the arbiter answers and vetoes it', () => {
    const m = run(failsafe, [[0, gateway('up')], [1000, want(null)], [1001, failed(1, true)]]);
    const r = run(failsafe, [[2001, tick], [2002, veto(2)]], m.state);
    assert.equal(r.state.phase, 'BACKUP');
    assert.deepEqual(types(r.actions), ['demote', 'publishEvent']);
    assert.match(r.reason, /no VIP without a lease/);
  });

  test('failsafe: a leaseless MASTER that gets a grant is back under the arbiter', () => {
    const m = run(failsafe, [[0, gateway('up')], [1000, want(null)], [1001, failed(1, true)]]);
    const r = run(failsafe, [[2001, tick], [2002, grant(2, 9)]], m.state);
    assert.equal(r.state.phase, 'MASTER');
    assert.equal(r.state.lease?.epoch, 9);
    assert.deepEqual(r.actions, []);
  });

  test('failsafe: a leaseless MASTER whose gateway stops answering demotes itself', () => {
    const m = run(failsafe, [[0, gateway('up')], [1000, want(null)], [1001, failed(1, true)]]);
    const r = holderStep(failsafe, m.state, gateway('down'), 1500);
    assert.equal(r.state.phase, 'BACKUP');
    assert.deepEqual(types(r.actions), ['demote', 'publishEvent']);
  });

  test('failsafe without a configured gateway falls back to plain VRRP', () => {
    const noGw = { ...failsafe, gatewayConfigured: false };
    const r = run(noGw, [[1000, want(null)], [1001, failed(1, true)]]);
    assert.equal(r.state.phase, 'MASTER');
  });
});

describe('holder: renewal and self-demotion', () => {
  test('renewal is sent at anchor + renewIntervalMs', () => {
    const s = holding();
    assert.equal(nextHolderDeadline(failsafe, s), 2000);
    const r = holderStep(failsafe, s, tick, 2000);
    assert.deepEqual(r.actions, [{ type: 'sendRenew', requestId: 2, epoch: 7 }]);
  });

  test('a renewal moves the deadline, counted from when it was sent', () => {
    const r = run(failsafe, [[2000, tick], [2100, renewed(2)]], holding());
    assert.deepEqual(r.state.lease, { epoch: 7, anchorAt: 2000, validForMs: 2000, demoteAt: 3500, renewAt: 3000 });
  });

  test('a failed renewal is reported once and retried before the deadline', () => {
    const r = run(failsafe, [[2000, tick], [2250, tick]], holding());
    assert.deepEqual(types(r.all), ['sendRenew', 'publishEvent', 'sendRenew']);
    const ev = r.all[1] as Extract<HolderAction, { type: 'publishEvent' }>;
    assert.equal(ev.name, 'lease.renewal_failed');
    assert.deepEqual(ev.data, { epoch: 7, reason: 'renewal unanswered (no answer within 250 ms)', remainingMs: 250, attempts: 1 });
  });

  test('strict: no renewal by the deadline: VIP removed, then the release', () => {
    const s = run(strict, [[0, gateway('up')], [1000, want()], [1010, grant(1)]]).state;
    const r = run(strict, [[2000, tick], [2250, tick], [2500, tick]], s);
    assert.equal(r.state.phase, 'BACKUP');
    assert.deepEqual(types(r.actions), ['demote', 'publishEvent', 'sendRelease']);
    assert.match(r.reason, /could not be renewed before its deadline/);
    assert.deepEqual(r.actions[2], { type: 'sendRelease', requestId: 4, epoch: 7 });
  });

  test('failsafe, arbiter answering but refusing renewals: demotes at the deadline like strict', () => {
    const refuse = (id: number) => reply(id, { type: 'refuse', instance: 'VI_1', reason: 'stale epoch' });
    const r = run(failsafe, [[2000, tick], [2001, refuse(2)], [2250, tick], [2251, refuse(3)], [2500, tick]], holding());
    assert.equal(r.state.phase, 'BACKUP');
    assert.equal(r.actions[0]?.type, 'demote');
  });

  test('failsafe, no arbiter at the deadline, gateway up: keeps the VIP and claims when NATS returns', () => {
    const r = run(failsafe, [[2000, tick], [2250, tick], [2500, tick]], holding());
    assert.equal(r.state.phase, 'MASTER');
    assert.equal(r.state.lease, null);
    assert.deepEqual(r.actions, []);
    assert.match(r.reason, /keeping the VIP past its lease/);
  });

  test('failsafe, no arbiter at the deadline, gateway down: demotes', () => {
    const r = run(failsafe, [[2000, tick], [2250, tick], [2400, gateway('down')], [2500, tick]], holding());
    assert.equal(r.state.phase, 'BACKUP');
    assert.deepEqual(types(r.actions), ['demote', 'publishEvent', 'sendRelease']);
  });

  test('a late answer to an abandoned renewal does not extend the lease', () => {
    const r = run(failsafe, [[2000, tick], [2250, tick], [2260, renewed(2, 7, 5000)]], holding());
    assert.equal(r.state.lease?.demoteAt, 2500);
  });
});

describe('holder: orders, offers and stops', () => {
  test('orderDemote at the held epoch: VIP removed, then release of that epoch', () => {
    const r = holderStep(failsafe, holding(), { type: 'orderDemote', epoch: 7, reason: 'failover to web2' }, 1500);
    assert.equal(r.state.phase, 'BACKUP');
    assert.deepEqual(types(r.actions), ['demote', 'publishEvent', 'sendRelease']);
    assert.deepEqual(r.actions[2], { type: 'sendRelease', requestId: 2, epoch: 7 });
  });

  test('orderDemote older than the held epoch is ignored', () => {
    const r = holderStep(failsafe, holding(), { type: 'orderDemote', epoch: 6, reason: 'stale' }, 1500);
    assert.equal(r.state.phase, 'MASTER');
    assert.deepEqual(r.actions, []);
  });

  test('after an order, a grant of that epoch is never used', () => {
    const r = run(failsafe, [[0, gateway('up')], [1000, want()], [1001, { type: 'orderDemote', epoch: 7, reason: 'x' }], [1010, grant(1, 7)]]);
    assert.equal(r.state.phase, 'CLAIMING');
    assert.equal(r.actions[0]?.type, 'sendRelease');
  });

  test('an offer makes a backup claim; the grant makes it MASTER', () => {
    const o = run(failsafe, [[0, gateway('up')], [1000, { type: 'offer', epoch: 8, reason: 'handover from web1', eligible: true }]]);
    assert.equal(o.state.phase, 'CLAIMING');
    assert.equal(o.state.vrrpWants, false);
    assert.deepEqual(o.actions, [{ type: 'sendClaim', requestId: 1 }]);
    const g = holderStep(failsafe, o.state, grant(1, 8), 1003);
    assert.equal(g.state.phase, 'MASTER');
    assert.equal(g.actions[0]?.type, 'becomeMaster');
  });

  test('a claim on an offer that is vetoed is sent again after retryAfterMs while the offer stands, then the offer lapses', () => {
    const offer: HolderEvent = { type: 'offer', epoch: 8, reason: 'handover from web1', eligible: true };
    // Offered at 1000 (the offer stands the TTL, 2000 ms); the claim is vetoed by a replica that cannot write yet.
    const v = run(strict, [[0, gateway('up')], [1000, offer], [1005, veto(1, 250)]]);
    assert.equal(v.state.phase, 'CLAIMING');
    assert.deepEqual(v.actions, []);
    assert.equal(v.state.claimAt, 1255);
    assert.match(v.reason, /claim of the offered lease vetoed: holder web2 is alive; claiming again in 250 ms \(the offer stands 1995 ms more\)/);
    assert.equal(nextHolderDeadline(strict, v.state), 1255);
    const again = holderStep(strict, v.state, tick, 1255);
    assert.deepEqual(again.actions, [{ type: 'sendClaim', requestId: 2 }]);
    // A refusal too, without a retryAfterMs: the renewal interval.
    const r = holderStep(strict, again.state, reply(2, { type: 'refuse', instance: 'VI_1', reason: 'write failed' }), 1260);
    assert.equal(r.state.phase, 'CLAIMING');
    assert.equal(r.state.claimAt, 2260);
    // Vetoed once more when a retry would come after the offer ran out: back to BACKUP, VRRP decides.
    const late = holderStep(strict, holderStep(strict, r.state, tick, 2260).state, veto(3, 1000), 2270);
    assert.equal(late.state.phase, 'BACKUP');
    assert.deepEqual(types(late.actions), ['backOff']);
  });

  test('failsafe MASTER serving without a lease: a late grant for a claim that timed out is kept, not released', () => {
    // Holding epoch 7, the lease ran out with no arbiter answering: serving without a lease, claiming.
    const h = holderStep(failsafe, holding(), { type: 'arbiterReachable', reachable: false, detail: 'NATS disconnected' }, 1100);
    const past = run(failsafe, [[2600, tick]], h.state);
    assert.equal(past.state.phase, 'MASTER');
    assert.equal(past.state.lease, null);
    const claimed = run(failsafe, [[2601, { type: 'arbiterReachable', reachable: true, detail: 'back' }], [2900, tick]], past.state);
    const id = claimed.state.nextRequestId - 2;
    const late = holderStep(failsafe, claimed.state, grant(id, 7), 2950);
    assert.equal(late.state.phase, 'MASTER');
    assert.deepEqual(late.actions, []);
    assert.match(late.reason, /kept, not released/);
  });

  test('an offer to an instance in FAULT is ignored', () => {
    const r = holderStep(failsafe, initialHolderState(), { type: 'offer', epoch: 8, reason: 'x', eligible: false, why: 'FAULT' }, 1);
    assert.equal(r.state.phase, 'BACKUP');
    assert.match(r.reason, /ignored: FAULT/);
  });

  test('VRRP leaving MASTER (graceful stop, fault) releases the lease after the VIP went', () => {
    const r = holderStep(failsafe, holding(), { type: 'leaveMaster', reason: 'shutdown' }, 1500);
    assert.equal(r.state.phase, 'BACKUP');
    assert.deepEqual(r.actions, [{ type: 'sendRelease', requestId: 2, epoch: 7 }]);
  });

  test('mode off: VRRP decides alone and nothing is sent', () => {
    const r = run(off, [[1000, want()], [1001, { type: 'offer', epoch: 1, reason: 'x', eligible: true }], [1002, tick]]);
    assert.equal(r.state.phase, 'MASTER');
    assert.deepEqual(types(r.all), ['becomeMaster']);
  });
});

describe('holder: a veto episode (a live holder vetoes VRRP\'s claims)', () => {
  /** Claim #1 at 1000 vetoed at 1010 with retryAfterMs 1000: BACKUP, retry at 2010. */
  const vetoedOnce = () => run(failsafe, [[0, gateway('up')], [1000, want()], [1010, veto(1, 1000)]]);

  test('the backoff doubles per veto from the arbiter\'s retryAfterMs, up to twice max(lease TTL, Master_Down_Interval)', () => {
    // T 2000, MDI 3609: cap 7218.
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => vetoBackoffMs(timing, MDI, 1000, n)), [1000, 2000, 4000, 7218, 7218]);
    // retryAfterMs 0 (a write that failed) the first time; then from the renewal interval.
    assert.deepEqual([1, 2, 3].map((n) => vetoBackoffMs(timing, MDI, 0, n)), [0, 2000, 4000]);
  });

  test('VRRP asking when the backoff ran out is a quiet retry of the same episode', () => {
    const v = vetoedOnce();
    assert.equal(v.state.vetoes, 1);
    assert.equal(v.state.retryAt, 2010);
    const retry = holderStep(failsafe, v.state, want(), 2010);
    assert.deepEqual(retry.actions, [{ type: 'sendClaim', requestId: 2 }]);
    assert.equal(isVetoRetry(retry.state), true);
    assert.match(retry.reason, /again after 1 veto in a row \(backoff over\)/);
    const again = holderStep(failsafe, retry.state, veto(2, 1000), 2020);
    assert.equal(again.state.phase, 'BACKUP');
    assert.equal(again.state.vetoes, 2);
    assert.deepEqual(again.actions, [{ type: 'backOff', retryAt: 4020, reason: again.reason }]);
    assert.match(again.reason, /2 in a row, claiming again in 2000 ms/);
  });

  test('VRRP asking before the backoff ran out is new evidence: a fresh claim, the episode over', () => {
    const v = vetoedOnce();
    // e.g. the holder's priority-0 advert: VRRP's timer runs Skew_Time only.
    const fresh = holderStep(failsafe, v.state, want(), 1500);
    assert.deepEqual(fresh.actions, [{ type: 'sendClaim', requestId: 2 }]);
    assert.equal(fresh.state.vetoes, 0);
    assert.equal(isVetoRetry(fresh.state), false);
    assert.match(fresh.reason, /new evidence before the backoff ran out/);
    // Vetoed again: a new episode, back to the arbiter's retryAfterMs.
    const again = holderStep(failsafe, fresh.state, veto(2, 1000), 1510);
    assert.equal(again.state.vetoes, 1);
    assert.deepEqual(again.actions, [{ type: 'backOff', retryAt: 2510, reason: again.reason }]);
  });

  test('a grant ends the episode', () => {
    const v = vetoedOnce();
    const retry = holderStep(failsafe, v.state, want(), 2010);
    const granted = holderStep(failsafe, retry.state, grant(2), 2020);
    assert.equal(granted.state.phase, 'MASTER');
    assert.equal(granted.state.vetoes, 0);
    assert.equal(granted.state.retryAt, null);
    assert.equal(granted.actions[0]?.type, 'becomeMaster');
  });

  test('an offer ends the episode and is claimed at once', () => {
    const v = vetoedOnce();
    const offered = holderStep(failsafe, v.state, { type: 'offer', epoch: 8, reason: 'web2 released epoch 7', eligible: true }, 1200);
    assert.deepEqual(offered.actions, [{ type: 'sendClaim', requestId: 2 }]);
    assert.equal(offered.state.vetoes, 0);
    assert.equal(isVetoRetry(offered.state), false);
  });

  test('a retry abandoned because VRRP hears a master ends the episode', () => {
    const v = vetoedOnce();
    const retry = holderStep(failsafe, v.state, want(), 2010);
    const left = holderStep(failsafe, retry.state, { type: 'leaveMaster', reason: 'higher priority advert' }, 2015);
    assert.equal(left.state.phase, 'BACKUP');
    assert.equal(left.state.vetoes, 0);
  });
});

describe('holder: an offer that comes while VRRP\'s claim is in flight', () => {
  test('the veto of that older claim does not drop the offer: claimed again after retryAfterMs while it stands', () => {
    const r = run(failsafe, [[0, gateway('up')], [1000, want()], [1005, { type: 'offer', epoch: 8, reason: 'web2 was fenced', eligible: true }], [1010, veto(1, 250)]]);
    assert.equal(r.state.phase, 'CLAIMING');
    assert.deepEqual(r.actions, []);
    assert.equal(nextHolderDeadline(failsafe, r.state), 1260);
    assert.match(r.reason, /claim of the offered lease vetoed: holder web2 is alive; claiming again in 250 ms/);
    const again = holderStep(failsafe, r.state, tick, 1260);
    assert.deepEqual(again.actions, [{ type: 'sendClaim', requestId: 2 }]);
  });
});

describe('holder: a claim of an offered lease that goes unanswered', () => {
  const offer: HolderEvent = { type: 'offer', epoch: 8, reason: 'web2 released epoch 7', eligible: true };

  test('is sent again while the offer stands, however many answers are late', () => {
    // T 2000: the offer stands until 3000; Q 250.
    const r = run(strict, [[0, gateway('up')], [1000, offer], [1250, tick], [1500, tick]]);
    assert.equal(r.state.phase, 'CLAIMING');
    assert.deepEqual(r.all, [{ type: 'sendClaim', requestId: 1 }, { type: 'sendClaim', requestId: 2 }, { type: 'sendClaim', requestId: 3 }]);
    assert.match(r.reason, /claim of the offered lease unanswered \(no answer within 250 ms\): claiming again \(the offer stands 1500 ms more\)/);
  });

  test('lapses when NATS says nobody listens', () => {
    const r = run(strict, [[0, gateway('up')], [1000, offer], [1001, failed(1, true)]]);
    assert.equal(r.state.phase, 'BACKUP');
    assert.match(r.reason, /the offer lapses/);
  });
});

describe('holder: a late grant of a claim sent again', () => {
  const offer: HolderEvent = { type: 'offer', epoch: 8, reason: 'web2 released epoch 7', eligible: true };

  test('is the grant of the claim in flight, counted from the first claim of the series, not released', () => {
    // Claim 1 at 1000 unanswered at 1250, claim 2 sent; the grant of claim 1 comes at 1260.
    const r = run(strict, [[0, gateway('up')], [1000, offer], [1250, tick], [1260, grant(1, 8)]]);
    assert.equal(r.state.phase, 'MASTER');
    assert.equal(r.actions[0]?.type, 'becomeMaster');
    assert.ok(!r.all.some((a) => a.type === 'sendRelease'));
    // valid 2000 from 1000 (claim 1), margin 500.
    assert.equal(r.state.lease?.demoteAt, 2500);
    assert.match(r.reason, /late answer to claim 1 \(claim 2 in flight\): lease granted/);
    // The answer to claim 2 (the same epoch) changes nothing.
    const second = holderStep(strict, r.state, grant(2, 8), 1270);
    assert.deepEqual(second.actions, []);
    assert.equal(second.state.lease?.demoteAt, 2500);
  });

  test('a grant of a claim before the series is still released', () => {
    const r = run(strict, [[0, gateway('up')], [1000, want()], [1010, veto(1, 100)], [1110, want()], [1360, tick], [1370, grant(1, 8)]]);
    assert.deepEqual(r.actions, [{ type: 'sendRelease', requestId: 4, epoch: 8 }]);
  });
});
