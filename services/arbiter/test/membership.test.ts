import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ArbiterView } from '../../../libs/arbiter/src/types.js';
import type { Heartbeat } from '../../../libs/arbiter/src/protocol.js';
import { defaultLeaseTiming } from '../../../libs/arbiter/src/timing.js';
import { Membership } from '../src/membership.js';

const policy = { mode: 'strict' as const, fencing: 'off' as const, timing: defaultLeaseTiming(1000) };
const empty = (): ArbiterView => ({
  cluster: 'lab',
  writePath: { available: true },
  gateway: 'up',
  nodes: {},
  instances: { web: { policy, lease: null, members: {} }, db: { policy, lease: null, members: {} } },
});
const hb = (node: string, bootId: string, instances: Heartbeat['instances'], gateway: Heartbeat['gateway'] = 'up'): Heartbeat => ({ v: 1, node, bootId, intervalMs: 100, gateway, instances });
const report = (instance: string, state: 'BACKUP' | 'MASTER', vip = state === 'MASTER') => ({ instance, state, priority: 100, vip, mode: 'strict' as const, fencing: 'off' as const });

describe('membership from heartbeats', () => {
  test('a heartbeat connects its node, sets its gateway and makes it a member of the instances it reports (as the config allows)', () => {
    const m = new Membership(3, new Map([['web', undefined], ['db', new Set(['other'])]]));
    const f = m.heartbeat(empty(), hb('a', 'b1', [report('web', 'MASTER'), report('db', 'BACKUP'), report('mail', 'BACKUP')], 'up'), 0, 1000);
    assert.equal(f.connected, true);
    assert.equal(f.view.nodes['a']?.connected, true);
    assert.equal(f.view.nodes['a']?.gateway, 'up');
    assert.deepEqual(f.view.instances['web']?.members['a'], { priority: 100, state: 'MASTER', vip: true });
    assert.equal(f.view.instances['db']?.members['a'], undefined, 'db allows only "other"');
    assert.deepEqual(f.unknown, ['mail']);
  });

  test('after the configured number of missed intervals the node is gone: disconnected and no longer a member', () => {
    const m = new Membership(3, new Map([['web', undefined]]));
    const v1 = m.heartbeat(empty(), hb('a', 'b1', [report('web', 'MASTER')]), 0, 1000).view;
    assert.deepEqual(m.sweep(v1, 300, 1300).gone, [], 'three intervals is not yet more than three');
    const s = m.sweep(v1, 301, 1301);
    assert.deepEqual(s.gone, ['a']);
    assert.equal(s.view.nodes['a']?.connected, false);
    assert.equal(s.view.instances['web']?.members['a'], undefined);
    assert.deepEqual(m.sweep(s.view, 900, 1900).gone, [], 'gone once');
  });

  test('an instance no longer reported drops the member; a new boot id is a new incarnation', () => {
    const m = new Membership(3, new Map([['web', undefined], ['db', undefined]]));
    let v = m.heartbeat(empty(), hb('a', 'b1', [report('web', 'MASTER'), report('db', 'BACKUP')]), 0, 1000).view;
    const f = m.heartbeat(v, hb('a', 'b1', [report('web', 'MASTER')]), 100, 1100);
    v = f.view;
    assert.equal(v.instances['db']?.members['a'], undefined);
    assert.deepEqual(f.changed, ['db']);
    const again = m.heartbeat(v, hb('a', 'b2', [report('web', 'BACKUP')]), 200, 1200);
    assert.equal(again.connected, true);
    assert.deepEqual(again.view.instances['web']?.members['a'], { priority: 100, state: 'BACKUP', vip: false });
  });
});
