import { test } from 'node:test';
import assert from 'node:assert/strict';
import { followTransition, groupFaults, groupState, type SyncGroup } from '../src/sync-groups.js';

const group: SyncGroup = { name: 'G1', members: ['VI_1', 'VI_2', 'VI_3'] };

test('a member that becomes MASTER by election pulls the others to MASTER', () => {
  const f = followTransition(group, { member: 'VI_1', from: 'BACKUP', to: 'MASTER', reason: 'no advertisement ...' });
  assert.deepEqual(f.map((x) => x.member), ['VI_2', 'VI_3']);
  assert.deepEqual(f[0]!.event, { type: 'follow', to: 'MASTER', detail: 'VI_1 became MASTER in group G1' });
});

test('a member that drops from MASTER to BACKUP pulls the others down', () => {
  const f = followTransition(group, { member: 'VI_2', from: 'MASTER', to: 'BACKUP', reason: 'higher priority advert' });
  assert.deepEqual(f.map((x) => [x.member, x.event.type === 'follow' ? x.event.to : '']), [['VI_1', 'BACKUP'], ['VI_3', 'BACKUP']]);
});

test('a transition that was itself a follow leads nobody, and FAULT/INIT are not followed this way', () => {
  assert.deepEqual(followTransition(group, { member: 'VI_2', from: 'BACKUP', to: 'MASTER', reason: 'sync group: VI_1 became MASTER in group G1' }), []);
  assert.deepEqual(followTransition(group, { member: 'VI_2', from: 'MASTER', to: 'FAULT', reason: 'fault: interface eth1: down' }), []);
  assert.deepEqual(followTransition(group, { member: 'VI_2', from: 'BACKUP', to: 'INIT', reason: 'shutdown requested' }), []);
  assert.deepEqual(followTransition(group, { member: 'VI_9', from: 'BACKUP', to: 'MASTER', reason: 'x' }), []);
});

test("a member's own fault puts every other member in FAULT, and a fault received from the group does not echo back", () => {
  const faults: Record<string, string[]> = { VI_1: ['interface eth1'], VI_2: ['sync group G1'], VI_3: [] };
  const out = groupFaults(group, (m) => faults[m] ?? []);
  const byMember = Object.fromEntries(out.map((f) => [f.member, f.event.type === 'fault' ? f.event.active : null]));
  // VI_1 is the culprit: it gets no group fault of its own making.
  assert.deepEqual(byMember, { VI_1: false, VI_2: true, VI_3: true });
  const detail = out.find((f) => f.member === 'VI_3')!.event;
  assert.equal(detail.type === 'fault' && detail.detail, 'VI_1 faulty (interface eth1)');
});

test('when the culprit recovers every member is cleared', () => {
  const out = groupFaults(group, (m) => (m === 'VI_2' ? ['sync group G1'] : []));
  assert.ok(out.every((f) => f.event.type === 'fault' && f.event.active === false));
});

test("a group's notify state: FAULT if any member is, MASTER if all are, STOP if all stopped, else BACKUP", () => {
  assert.equal(groupState(['MASTER', 'FAULT']), 'FAULT');
  assert.equal(groupState(['MASTER', 'MASTER']), 'MASTER');
  assert.equal(groupState(['MASTER', 'BACKUP']), 'BACKUP');
  assert.equal(groupState(['INIT', 'INIT']), 'STOP');
});
