import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, checkLabAddress, labUnavailableReason, run } from '../lab.js';

const skip = labUnavailableReason();

test('the lab refuses addresses outside its ranges', () => {
  assert.throws(() => checkLabAddress('10.0.0.1'), /outside the lab/);
  assert.throws(() => checkLabAddress('fd00:1::1'), /outside/);
  checkLabAddress('198.18.0.1');
  checkLabAddress('198.19.3.4');
  checkLabAddress('fd00:198:18::5');
});

test('hosts on one segment reach each other and teardown removes every namespace of the run', { skip }, async () => {
  const lab = await Lab.create();
  try {
    const a = await lab.addHost({ name: 'a', ipv4: '198.18.1.1', ipv6: 'fd00:198:18::11' });
    await lab.addHost({ name: 'b', ipv4: '198.18.1.2', ipv6: 'fd00:198:18::12' });
    const out = await a.exec('ping', ['-c', '1', '-W', '2', '198.18.1.2']);
    assert.match(out, /1 received/);
    const out6 = await a.exec('ping', ['-6', '-c', '1', '-W', '2', 'fd00:198:18::12']);
    assert.match(out6, /1 received/);
    await a.powerOff();
    const lost = await lab.host('b').exec('ping', ['-c', '1', '-W', '1', '198.18.1.1'], { allowFail: true });
    assert.doesNotMatch(lost, /1 received/);
  } finally {
    await lab.destroy();
  }
  const left = await run('ip', ['netns', 'list']);
  assert.equal(left.split('\n').filter((l) => l.startsWith(`${lab.prefix}-`)).length, 0);
});
