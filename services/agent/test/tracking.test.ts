import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InstanceTracking, type TrackedItem } from '../src/tracking.js';

const items: TrackedItem[] = [
  { label: 'chk_nginx', kind: 'check', key: 'chk_nginx', weight: -20, reverse: false },
  { label: 'chk_db', kind: 'check', key: 'chk_db', weight: 0, reverse: false },
  { label: 'interface eth1', kind: 'interface', key: 'eth1', weight: 10, reverse: false },
];

test('an instance waits (not ready) until every weight-0 check has reported once', () => {
  const t = new InstanceTracking(100, items);
  assert.equal(t.ready, false);
  assert.deepEqual(t.verdict.pending, ['chk_db']);
  const c = t.update('check', 'chk_db', 'good')!;
  assert.equal(c.ready, true);
  assert.deepEqual(c.faults, []);
});

test('a failing weighted check lowers the priority; a failing weight-0 check is a fault source', () => {
  const t = new InstanceTracking(100, items);
  t.update('check', 'chk_db', 'good');
  const lowered = t.update('check', 'chk_nginx', 'failing')!;
  assert.equal(lowered.priorityChanged, true);
  assert.equal(lowered.verdict.priority, 80);
  const fault = t.update('check', 'chk_db', 'failing')!;
  assert.deepEqual(fault.faults, [{ source: 'track chk_db', active: true }]);
  const cleared = t.update('check', 'chk_db', 'good')!;
  assert.deepEqual(cleared.faults, [{ source: 'track chk_db', active: false }]);
});

test('a tracked interface that is up adds its positive weight; a repeated status changes nothing', () => {
  const t = new InstanceTracking(100, items);
  const up = t.update('interface', 'eth1', 'good')!;
  assert.equal(up.verdict.priority, 110);
  assert.equal(t.update('interface', 'eth1', 'good'), undefined);
  assert.equal(t.update('check', 'unknown', 'good'), undefined);
});
