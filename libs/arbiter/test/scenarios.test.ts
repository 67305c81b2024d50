/**
 * Multi-step stories, each decided step by step with the shell's folds
 * (view.ts) in between, and a tiny compare-and-set KV standing in for
 * HA_LEASES: what happens across requests, which one table row cannot show.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decide, nextDeadline } from '../src/decide.js';
import { recordConnection, recordFenceResult, recordIssued, recordMember, recordWriteResult } from '../src/view.js';
import type { ArbiterAction, ArbiterView, Decision, LeaseEntry, WriteLeaseAction, WriteOutcome } from '../src/types.js';
import { HELD, T0, world } from './golden/world.js';

/** HA_LEASES with one key: a create expects revision 0. */
class Kv {
  entry: LeaseEntry | null;
  constructor(entry: LeaseEntry | null) {
    this.entry = entry;
  }
  cas(w: WriteLeaseAction): WriteOutcome {
    const current = this.entry?.revision ?? 0;
    if (current !== w.expectedRevision) return { ok: false, error: 'conflict', currentRevision: current };
    this.entry = { revision: current + 1, value: w.value };
    return { ok: true, revision: current + 1 };
  }
}

const writesOf = (d: Decision) => d.actions.filter((a): a is WriteLeaseAction => a.type === 'writeLease');
const types = (d: Decision) => d.actions.map((a) => a.type);
function only<T extends ArbiterAction['type']>(d: Decision, type: T): Extract<ArbiterAction, { type: T }> {
  const found = d.actions.filter((a) => a.type === type);
  assert.equal(found.length, 1, `one ${type} in ${JSON.stringify(d)}`);
  return found[0] as Extract<ArbiterAction, { type: T }>;
}

/** The shell's loop for one decision: record what is issued, run the writes on the KV, decide on each result. */
function execute(view: ArbiterView, d: Decision, kv: Kv, now: number): { view: ArbiterView; results: Decision[] } {
  let v = recordIssued(view, d.actions, now);
  const results: Decision[] = [];
  for (const w of writesOf(d)) {
    const outcome = kv.cas(w);
    v = recordWriteResult(v, w, outcome);
    results.push(decide(v, { type: 'writeResult', write: w, outcome }, now));
  }
  return { view: v, results };
}

describe('two claims for one free lease', () => {
  test('on one replica: the second is vetoed while the first write is pending, then by the live holder', () => {
    const kv = new Kv(null);
    let v = world({ lease: null, members: { 'node-a': { state: 'BACKUP', vip: false } } });
    const first = decide(v, { type: 'claim', instance: 'web', node: 'node-b' }, T0);
    assert.equal(first.decision, 'propose');
    v = recordIssued(v, first.actions, T0);
    const second = decide(v, { type: 'claim', instance: 'web', node: 'node-c' }, T0);
    assert.equal(second.decision, 'veto');
    assert.match(second.reason, /a lease write is in flight \(grant of epoch 1 to node-b/);
    assert.equal(writesOf(second).length, 0);

    const w = writesOf(first)[0]!;
    const outcome = kv.cas(w);
    v = recordWriteResult(v, w, outcome);
    const granted = decide(v, { type: 'writeResult', write: w, outcome }, T0 + 1);
    assert.equal(granted.decision, 'grant');
    assert.equal(only(granted, 'grant').node, 'node-b');
    const again = decide(v, { type: 'claim', instance: 'web', node: 'node-c' }, T0 + 2);
    assert.equal(again.decision, 'veto');
    assert.match(again.reason, /holder node-b is alive/);
  });

  test('on two replicas with the same view: both propose on revision 0, the KV lets one through', () => {
    const kv = new Kv(null);
    const v = world({ lease: null, members: { 'node-a': { state: 'BACKUP', vip: false } } });
    const r1 = decide(v, { type: 'claim', instance: 'web', node: 'node-b' }, T0);
    const r2 = decide(v, { type: 'claim', instance: 'web', node: 'node-c' }, T0);
    const w1 = writesOf(r1)[0]!;
    const w2 = writesOf(r2)[0]!;
    assert.equal(w1.expectedRevision, 0);
    assert.equal(w2.expectedRevision, 0);
    const o1 = kv.cas(w1);
    const o2 = kv.cas(w2);
    const d1 = decide(v, { type: 'writeResult', write: w1, outcome: o1 }, T0 + 1);
    const d2 = decide(v, { type: 'writeResult', write: w2, outcome: o2 }, T0 + 1);
    assert.equal(d1.decision, 'grant');
    assert.equal(d2.decision, 'writeFailed');
    assert.deepEqual(types(d2), ['veto', 'event']);
    assert.equal(kv.entry?.value.holder, 'node-b');
  });
});

describe('planned handover (break-then-make)', () => {
  test('a release hands the lease to the backup in one write; its claim makes it the holder milliseconds later, not a TTL later', () => {
    const kv = new Kv({ revision: 10, value: HELD });
    const v0 = world();
    const rel = decide(v0, { type: 'release', instance: 'web', node: 'node-a', epoch: 4 }, T0);
    const { view: v1, results } = execute(v0, rel, kv, T0 + 2);
    assert.equal(results.length, 1);
    const d = results[0]!;
    assert.equal(d.decision, 'offer');
    assert.deepEqual(types(d), ['offer', 'released', 'event', 'event']);
    assert.equal(only(d, 'offer').node, 'node-b');
    assert.equal(v1.instances.web?.lease?.value.holder, 'node-b');
    // node-b claims on the offer: granted with its clock starting at this claim.
    const c = decide(v1, { type: 'claim', instance: 'web', node: 'node-b' }, T0 + 3);
    const { view: v2, results: r2 } = execute(v1, c, kv, T0 + 4);
    const g = only(r2[0]!, 'grant');
    assert.equal(g.node, 'node-b');
    assert.equal(g.epoch, 5);
    assert.equal(g.validForMs, 1999);
    // The releaser's late renewal is answered with an order for its old epoch only.
    const late = decide(v2, { type: 'renew', instance: 'web', node: 'node-a', epoch: 4 }, T0 + 5);
    assert.equal(only(late, 'orderDemote').epoch, 4);
  });

  test('the backup is offered the lease while the handover write is in flight; its claim, held until the write is in, is granted on it', () => {
    const kv = new Kv({ revision: 10, value: HELD });
    const v0 = world();
    const rel = decide(v0, { type: 'release', instance: 'web', node: 'node-a', epoch: 4 }, T0);
    assert.deepEqual(types(rel), ['writeLease', 'offer'], 'the write first, then the early offer');
    assert.equal(only(rel, 'offer').node, 'node-b');
    assert.equal(only(rel, 'offer').epoch, 5);
    // node-b claims at once; the write is still pending here, so decided now it would only be vetoed:
    // the shell holds it until the write's result and decides it then.
    const inFlight = recordIssued(v0, rel.actions, T0);
    const tooEarly = decide(inFlight, { type: 'claim', instance: 'web', node: 'node-b' }, T0 + 1);
    assert.equal(tooEarly.decision, 'veto');
    assert.match(tooEarly.reason, /a lease write is in flight \(handover from node-a to node-b/);
    const w = writesOf(rel)[0]!;
    const outcome = kv.cas(w);
    const v1 = recordWriteResult(inFlight, w, outcome);
    const held = decide(v1, { type: 'claim', instance: 'web', node: 'node-b' }, T0 + 2);
    const { results } = execute(v1, held, kv, T0 + 3);
    const g = only(results[0]!, 'grant');
    assert.equal(g.node, 'node-b');
    assert.equal(g.epoch, 5);
    assert.equal(kv.entry?.value.offered, undefined, 'the claim dropped the offered marker in the KV');
  });
});

describe('release, then claim', () => {
  test('a released lease is free at once: the next claim is granted without waiting out the TTL', () => {
    const kv = new Kv({ revision: 10, value: HELD });
    // Nobody can take over at the moment of the release, so the lease is left free.
    let v = world({ nodes: { 'node-b': { gateway: 'down' }, 'node-c': { connected: false } } });
    const rel = decide(v, { type: 'release', instance: 'web', node: 'node-a', epoch: 4 }, T0);
    let step = execute(v, rel, kv, T0 + 1);
    assert.equal(step.results[0]?.decision, 'release');
    assert.equal(kv.entry?.value.holder, null);
    assert.equal(kv.entry?.value.epoch, 4);
    // node-b's gateway answers again and its VRRP election says "become master".
    v = { ...step.view, nodes: { ...step.view.nodes, 'node-b': { ...step.view.nodes['node-b']!, gateway: 'up' } } };
    const c = decide(v, { type: 'claim', instance: 'web', node: 'node-b' }, T0 + 5);
    assert.match(c.reason, /^the lease is free: granting node-b epoch 5/);
    step = execute(v, c, kv, T0 + 6);
    const g = only(step.results[0]!, 'grant');
    assert.equal(g.epoch, 5);
    assert.ok(T0 + 6 < HELD.expiresAt, 'long before node-a\'s lease would have run out');
  });
});

describe('forced failover', () => {
  test('revoke, order the holder down, refuse its stale renewal, grant the target on its confirmation', () => {
    const kv = new Kv({ revision: 10, value: HELD });
    let v = world();
    const asked = decide(v, { type: 'failover', instance: 'web', to: 'node-c', by: 'ops' }, T0);
    assert.equal(asked.decision, 'propose');
    assert.equal(types(asked).join(), 'writeLease', 'no order before the epoch is bumped in the KV');
    let step = execute(v, asked, kv, T0 + 1);
    v = step.view;
    const started = step.results[0]!;
    assert.equal(started.decision, 'failover');
    assert.deepEqual(only(started, 'orderDemote'), { type: 'orderDemote', node: 'node-a', instance: 'web', epoch: 4, reason: started.reason });

    // node-a's renewal was already on its way: stale now.
    const stale = decide(v, { type: 'renew', instance: 'web', node: 'node-a', epoch: 4 }, T0 + 2);
    assert.equal(stale.decision, 'refuse');
    assert.match(stale.reason, /stale epoch: the lease was revoked by a forced failover \(now epoch 5, reserved for node-c\)/);
    // The target is not granted while node-a may still have the VIP.
    const early = decide(v, { type: 'claim', instance: 'web', node: 'node-c' }, T0 + 2);
    assert.equal(early.decision, 'veto');

    const confirmed = decide(v, { type: 'release', instance: 'web', node: 'node-a', epoch: 4 }, T0 + 4);
    step = execute(v, confirmed, kv, T0 + 5);
    v = step.view;
    const offered = step.results[0]!;
    assert.equal(offered.decision, 'offer');
    assert.equal(only(offered, 'offer').node, 'node-c');
    step = execute(v, decide(v, { type: 'claim', instance: 'web', node: 'node-c' }, T0 + 6), kv, T0 + 7);
    const granted = step.results[0]!;
    assert.equal(granted.decision, 'grant');
    assert.equal(only(granted, 'grant').node, 'node-c');
    assert.equal(only(granted, 'grant').epoch, 6);
    assert.equal(kv.entry?.value.holder, 'node-c');
    assert.equal(kv.entry?.value.outgoing, undefined);
    assert.equal(kv.entry?.value.reservedFor, undefined);
  });

  test('a holder that never confirms: the target is granted when the revoked lease runs out', () => {
    const kv = new Kv({ revision: 10, value: HELD });
    const v0 = world({ nodes: { 'node-a': { connected: true } } });
    const { view: v1 } = execute(v0, decide(v0, { type: 'failover', instance: 'web', to: 'node-c', by: 'ops' }, T0), kv, T0);
    assert.equal(decide(v1, { type: 'reconcile', instance: 'web' }, T0 + 1499).decision, 'wait');
    const d = decide(v1, { type: 'reconcile', instance: 'web' }, T0 + 1500);
    assert.equal(d.decision, 'propose');
    assert.equal(writesOf(d)[0]?.value.holder, 'node-c');
  });
});

describe('node gone', () => {
  test('with fencing: fence, then grant the backup at once, long before the lease or Master_Down_Interval', () => {
    const kv = new Kv({ revision: 10, value: HELD });
    let v = world({ fencing: 'required' });
    v = recordConnection(v, 'node-a', false, T0);
    const g = decide(v, { type: 'nodeGone', instance: 'web', node: 'node-a' }, T0);
    assert.equal(g.decision, 'fenceFirst');
    const fence = only(g, 'fence');
    v = recordIssued(v, g.actions, T0);

    // The backup's claim meanwhile asks for no second fence.
    const c = decide(v, { type: 'claim', instance: 'web', node: 'node-b' }, T0 + 20);
    assert.equal(c.decision, 'fenceFirst');
    assert.equal(c.actions.filter((a) => a.type === 'fence').length, 0);

    v = recordFenceResult(v, fence.node, true, T0 + 40);
    const r = decide(v, { type: 'reconcile', instance: 'web' }, T0 + 40);
    assert.equal(r.decision, 'propose');
    const step = execute(v, r, kv, T0 + 42);
    assert.equal(only(step.results[0]!, 'offer').node, 'node-b');
    const { results } = execute(step.view, decide(step.view, { type: 'claim', instance: 'web', node: 'node-b' }, T0 + 43), kv, T0 + 44);
    const granted = results[0]!;
    assert.equal(granted.decision, 'grant');
    assert.equal(only(granted, 'grant').node, 'node-b');
    assert.ok(T0 + 44 < HELD.expiresAt, 'granted before the lease would have run out');
  });

  test('a fenced node that reconnects is a new incarnation: its old fence stops counting', () => {
    let v = world({ fencing: 'required' });
    v = recordConnection(v, 'node-a', false, T0);
    v = recordIssued(v, decide(v, { type: 'nodeGone', instance: 'web', node: 'node-a' }, T0).actions, T0);
    v = recordFenceResult(v, 'node-a', true, T0 + 40);
    v = recordConnection(v, 'node-a', true, T0 + 60_000);
    assert.equal(v.nodes['node-a']?.fence, undefined);
  });

  test('without fencing: wait for the lease, then the claiming backup gets it', () => {
    let v = world();
    v = recordConnection(v, 'node-a', false, T0);
    assert.equal(decide(v, { type: 'nodeGone', instance: 'web', node: 'node-a' }, T0).decision, 'wait');
    v = recordMember(v, 'web', 'node-b', { priority: 100, state: 'CLAIMING', vip: false });
    assert.equal(nextDeadline(v, 'web', T0), T0 + 750, 'first the holder becomes overdue');
    assert.equal(nextDeadline(v, 'web', T0 + 750), T0 + 1500, 'then its lease runs out');
    assert.equal(decide(v, { type: 'reconcile', instance: 'web' }, T0 + 1499).decision, 'wait');
    const d = decide(v, { type: 'reconcile', instance: 'web' }, T0 + 1500);
    assert.equal(d.decision, 'propose');
    assert.equal(writesOf(d)[0]?.value.holder, 'node-b');
  });
});
