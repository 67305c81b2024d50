import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, labUnavailableReason } from '../../../test/lab/lab.js';
import { FAILURE_TIMEOUT_MS, fixture, jsonLines, waitForEvent } from '../fixtures/lab-helpers.js';

const skip = labUnavailableReason();

test('ip link set down/up produces a down event and then an up-and-running event, after the state read at start', { skip }, async () => {
  const lab = await Lab.create();
  try {
    const host = await lab.addHost({ name: 'a', ipv4: '198.18.1.1', ipv6: 'fd00:198:18::11' });
    const watcher = host.spawnNode('watch', fixture('link-watch'), ['--interface', 'eth0', '--max-ms', String(FAILURE_TIMEOUT_MS)], { captureStdout: true });
    await waitForEvent(watcher, (l) => l.event === 'ready');
    await host.setInterface(false);
    await waitForEvent(watcher, (l) => l.event === 'link' && l['name'] === 'eth0' && l['up'] === false);
    await host.setInterface(true);
    const { code } = await watcher.exited;
    assert.equal(code, 0, 'the watcher exits by itself once closed');
    const states = jsonLines(watcher).filter((l) => l.event === 'link' && l['name'] === 'eth0');
    assert.deepEqual(states[0], { event: 'link', name: 'eth0', index: states[0]?.['index'], present: true, up: true, running: true });
    const down = states.findIndex((s) => s['up'] === false);
    assert.ok(down > 0, JSON.stringify(states));
    assert.equal(states[down]?.['running'], false);
    const back = states.slice(down).find((s) => s['up'] === true && s['running'] === true);
    assert.ok(back, `no up-and-running event after the down one: ${JSON.stringify(states)}`);
    assert.equal(jsonLines(watcher).find((l) => l.event === 'stopped')?.['reason'], 'cycled');
  } finally {
    await lab.destroy();
  }
});

test('a watched interface that does not exist is reported absent at start', { skip }, async () => {
  const lab = await Lab.create();
  try {
    const host = await lab.addHost({ name: 'a', ipv4: '198.18.1.1' });
    const watcher = host.spawnNode('watch', fixture('link-watch'), ['--interface', 'eth0', '--max-ms', String(FAILURE_TIMEOUT_MS)], { captureStdout: true });
    const absent = await waitForEvent(watcher, (l) => l.event === 'link' && l['name'] === 'kq-absent0');
    assert.deepEqual(absent, { event: 'link', name: 'kq-absent0', index: 0, present: false, up: false, running: false });
    watcher.signal('SIGKILL');
  } finally {
    await lab.destroy();
  }
});

test('an address removed from a watched interface by someone else is reported', { skip }, async () => {
  const lab = await Lab.create();
  try {
    const host = await lab.addHost({ name: 'a', ipv4: '198.18.1.1' });
    await host.ip(['addr', 'add', '198.18.10.9/32', 'dev', 'eth0']);
    const watcher = host.spawnNode('watch', fixture('link-watch'), ['--interface', 'eth0', '--max-ms', String(FAILURE_TIMEOUT_MS)], { captureStdout: true });
    await waitForEvent(watcher, (l) => l.event === 'ready');
    await host.ip(['addr', 'del', '198.18.10.9/32', 'dev', 'eth0']);
    const removed = await waitForEvent(watcher, (l) => l.event === 'address-removed');
    assert.equal(removed['address'], '198.18.10.9');
    assert.equal(removed['prefixLength'], 32);
    assert.equal(removed['family'], 4);
    assert.equal(removed['interface'], 'eth0');
    watcher.signal('SIGKILL');
  } finally {
    await lab.destroy();
  }
});
