/**
 * The folds (view.ts) on the two kinds of view: a plain one is left alone and
 * a new one returned; the shell's owned view (ownView) is changed in place,
 * and copyView() of it is not changed by later folds. decide() answers the
 * same on either.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../src/decide.js';
import {
  copyView,
  isOwnedView,
  ownView,
  recordArbiterGateway,
  recordConnection,
  recordIssued,
  recordLease,
  recordMember,
  recordMemberRemoved,
  recordWritePath,
  recordWriteResult,
} from '../src/view.js';
import type { WriteLeaseAction } from '../src/types.js';
import { CASES } from './golden/cases.js';
import { mismatch } from './golden/world.js';
import { HELD, T0, world } from './golden/world.js';

describe('folds on a plain view', () => {
  test('return a new view and leave the old one as it was', () => {
    const v = world({ lease: null, members: { 'node-a': { state: 'BACKUP', vip: false } } });
    const before = JSON.stringify(v);
    const next = recordMember(recordConnection(v, 'node-z', true, T0), 'web', 'node-a', { priority: 1, state: 'MASTER', vip: true });
    assert.notEqual(next, v);
    assert.equal(JSON.stringify(v), before);
    assert.equal(next.instances['web']?.members['node-a']?.state, 'MASTER');
    assert.equal(next.nodes['node-z']?.connected, true);
    assert.equal(isOwnedView(next), false);
  });

  test('a fold that changes nothing returns the same view', () => {
    const v = world({ lease: null, members: { 'node-a': { state: 'BACKUP', vip: false } } });
    assert.equal(recordMemberRemoved(v, 'web', 'nobody'), v);
    assert.equal(recordWritePath(v, v.writePath), v);
    assert.equal(recordArbiterGateway(v, v.gateway), v);
  });
});

describe('folds on an owned view', () => {
  test('change it in place and return it; the plain view it was made from is left alone', () => {
    const plain = world({ lease: null, members: { 'node-a': { state: 'BACKUP', vip: false } } });
    const before = JSON.stringify(plain);
    const v = ownView(plain);
    assert.equal(isOwnedView(v), true);
    assert.equal(recordConnection(v, 'node-z', true, T0), v);
    assert.equal(recordMember(v, 'web', 'node-a', { priority: 1, state: 'MASTER', vip: true }), v);
    assert.equal(recordWritePath(v, { available: false, detail: 'lost' }), v);
    assert.equal(recordArbiterGateway(v, 'down'), v);
    assert.equal(v.nodes['node-z']?.connected, true);
    assert.equal(v.instances['web']?.members['node-a']?.state, 'MASTER');
    assert.deepEqual(v.writePath, { available: false, detail: 'lost' });
    assert.equal(v.gateway, 'down');
    assert.equal(JSON.stringify(plain), before, 'the plain view ownView() copied from changed');
  });

  test('a watch entry older than the view is ignored; the stream leader\'s entry after a lost compare-and-set is taken even when lower', () => {
    const v = world({ revision: 1365, members: { 'node-a': { state: 'MASTER', vip: true } } });
    const lower = { revision: 1363, value: { ...HELD, renewedAt: T0 + 1000, expiresAt: T0 + 3000 } };
    assert.equal(recordLease(v, 'web', lower).instances['web']?.lease?.revision, 1365);
    assert.equal(recordLease(v, 'web', lower, true).instances['web']?.lease?.revision, 1363);
  });

  test('copyView() is a snapshot: later folds do not reach it', () => {
    const v = ownView(world({ revision: 7, members: { 'node-a': { state: 'MASTER', vip: true } } }));
    const snap = copyView(v);
    const before = JSON.stringify(snap);
    recordLease(v, 'web', { revision: 8, value: { ...HELD, renewedAt: T0 + 1000, expiresAt: T0 + 3000 } });
    recordMemberRemoved(v, 'web', 'node-a');
    recordConnection(v, 'node-a', false, T0 + 1);
    assert.equal(v.instances['web']?.lease?.revision, 8);
    assert.equal(JSON.stringify(snap), before);
    assert.equal(isOwnedView(snap), false);
  });

  test('a claim, its pending write and its result fold in place and decide as on a plain view', () => {
    const spec = { lease: null, members: { 'node-a': { state: 'BACKUP' as const, vip: false } } };
    let plain = world(spec);
    const v = ownView(world(spec));
    const claim = { type: 'claim', instance: 'web', node: 'node-a' } as const;
    const d1 = decide(v, claim, T0);
    assert.deepEqual(d1, decide(plain, claim, T0));
    const w = d1.actions.find((a): a is WriteLeaseAction => a.type === 'writeLease')!;
    assert.equal(recordIssued(v, d1.actions, T0), v);
    plain = recordIssued(plain, d1.actions, T0);
    assert.ok(v.instances['web']?.pendingWrite, 'the write is pending in the owned view');
    const again = decide(v, { type: 'claim', instance: 'web', node: 'node-b' }, T0);
    assert.equal(again.decision, 'veto', 'a second claim sees the pending write');
    const outcome = { ok: true as const, revision: 1 };
    assert.equal(recordWriteResult(v, w, outcome), v);
    plain = recordWriteResult(plain, w, outcome);
    assert.equal(JSON.stringify(v), JSON.stringify(plain));
    assert.deepEqual(decide(v, { type: 'writeResult', write: w, outcome }, T0 + 1), decide(plain, { type: 'writeResult', write: w, outcome }, T0 + 1));
  });
});

describe('golden table on an owned view', () => {
  for (const c of CASES) {
    test(c.name, () => {
      const v = ownView(c.view);
      const before = JSON.stringify(v);
      const d = decide(v, c.request, c.now);
      assert.equal(d.decision, c.decision);
      assert.equal(mismatch(d.actions, c.actions, 'actions'), null);
      assert.equal(JSON.stringify(v), before, 'decide() changed its view');
    });
  }
});
