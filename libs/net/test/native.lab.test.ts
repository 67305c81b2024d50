import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, labUnavailableReason } from '../../../test/lab/lab.js';
import { NativeMeta, nativeAddon } from '../src/native.js';
import { runFixture } from '../fixtures/lab-helpers.js';

const skip = labUnavailableReason();

test('the native addon loads and matches the metadata layout the TypeScript side reads', () => {
  const addon = nativeAddon();
  for (const name of ['packetSend', 'vrrp6Open', 'vrrp6Join', 'vrrp6Leave', 'vrrp6Send', 'vrrp6Close', 'vrrp6Ref'] as const) {
    assert.equal(typeof addon[name], 'function', name);
  }
  assert.equal(addon.META_SIZE, NativeMeta.size);
});

test('the addon refuses malformed arguments with a TypeError instead of crashing', () => {
  const addon = nativeAddon();
  assert.throws(() => addon.packetSend(0, Buffer.alloc(60)), TypeError);
  assert.throws(() => addon.packetSend(1, Buffer.alloc(4)), TypeError);
  assert.throws(() => (addon.vrrp6Open as unknown as (...a: unknown[]) => unknown)(1, 'lo'), TypeError);
});

test('closed VRRP sockets leave nothing on the loop: the process exits by itself', { skip }, async () => {
  const lab = await Lab.create();
  try {
    const host = await lab.addHost({ name: 'a', ipv4: '198.18.1.1', ipv6: 'fd00:198:18::11' });
    const { code, lines } = await runFixture(host, 'addon-close', ['--interface', 'eth0']);
    // runFixture kills a process that does not end by itself, which would leave code null.
    assert.equal(code, 0, JSON.stringify(lines));
    const closed = lines.find((l) => l.event === 'closed');
    assert.ok(closed, JSON.stringify(lines));
    // Sending after close is counted, not thrown; a packet socket error comes back as an errno.
    assert.equal((closed['v4'] as Record<string, number>)['sendErrors'], 1);
    assert.ok((closed['packetSendErrno'] as number) > 0);
    assert.deepEqual(lines.at(-1), { event: 'exit', code: 0 });
  } finally {
    await lab.destroy();
  }
});
