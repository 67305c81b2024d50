/** The agent's rule while no arbiter answers, per mode. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { failsafeVerdict, type FailsafeLocalView } from '../src/failsafe.js';

const holder: FailsafeLocalView = {
  mode: 'failsafe',
  role: 'holder',
  arbiterReachable: false,
  gatewayUp: true,
  selfDemotionAt: 10_000,
  higherPriorityAdvertSeen: false,
  lastMasterAdvertAt: null,
  masterDownIntervalMs: 3609,
};
const backup: FailsafeLocalView = { ...holder, role: 'backup', selfDemotionAt: null, lastMasterAdvertAt: 5000 };

describe('failsafeVerdict', () => {
  test('an arbiter answers: ask it, whatever the mode but off', () => {
    assert.equal(failsafeVerdict({ ...holder, arbiterReachable: true }, 0).verdict, 'askArbiter');
    assert.equal(failsafeVerdict({ ...backup, mode: 'strict', arbiterReachable: true }, 0).verdict, 'askArbiter');
    assert.deepEqual(failsafeVerdict({ ...holder, mode: 'off' }, 0), { verdict: 'followVrrp', reason: 'mode off: plain VRRP decides' });
  });

  test('strict holder keeps the VIP until its deadline, then gives it up', () => {
    assert.deepEqual(failsafeVerdict({ ...holder, mode: 'strict' }, 9000), {
      verdict: 'keep',
      reason: 'strict, no arbiter: keeping the VIP until the lease deadline in 1000 ms',
    });
    assert.equal(failsafeVerdict({ ...holder, mode: 'strict' }, 10_000).verdict, 'demote');
  });

  test('strict backup never takes over without a lease', () => {
    assert.equal(failsafeVerdict({ ...backup, mode: 'strict', lastMasterAdvertAt: null }, 100_000).verdict, 'stay');
  });

  test('failsafe holder keeps the VIP past its lease while its gateway answers', () => {
    assert.deepEqual(failsafeVerdict(holder, 20_000), {
      verdict: 'keep',
      reason: 'failsafe, no arbiter: keeping the VIP past its lease; the gateway answers and no higher-priority advert arrived',
    });
  });

  test('failsafe holder gives up without its gateway, or when a higher priority advertises', () => {
    assert.match(failsafeVerdict({ ...holder, gatewayUp: false }, 0).reason, /gateway does not answer/);
    assert.equal(failsafeVerdict({ ...holder, higherPriorityAdvertSeen: true }, 0).verdict, 'demote');
  });

  test('failsafe backup takes over only when the master is silent on VRRP and its own gateway answers', () => {
    assert.deepEqual(failsafeVerdict(backup, 5000 + 3608), {
      verdict: 'stay',
      reason: 'failsafe, no arbiter: the master advertised 3608 ms ago (Master_Down_Interval 3609 ms)',
    });
    assert.deepEqual(failsafeVerdict(backup, 5000 + 3609), {
      verdict: 'takeOver',
      reason: 'failsafe, no arbiter: the master has been silent on VRRP for 3609 ms (Master_Down_Interval 3609 ms) and our gateway answers: taking over without a lease',
    });
    assert.equal(failsafeVerdict({ ...backup, gatewayUp: false }, 100_000).verdict, 'stay');
    assert.equal(failsafeVerdict({ ...backup, lastMasterAdvertAt: null }, 0).verdict, 'takeOver');
  });
});
