import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, labUnavailableReason } from '../../../test/lab/lab.js';
import { KqError } from '../../common/src/errors.js';
import { getInterface } from '../src/mod.js';
import { runFixture } from '../fixtures/lab-helpers.js';

const skip = labUnavailableReason();

test('a missing interface is a KQ_ERR_INTERFACE_MISSING error that names it', async () => {
  await assert.rejects(getInterface('kq-nosuch0'), (e: unknown) => e instanceof KqError && e.code === 'KQ_ERR_INTERFACE_MISSING' && /kq-nosuch0/.test(e.message));
  // A name the kernel could never hold is refused the same way, without asking it.
  await assert.rejects(getInterface('a-name-far-too-long-for-linux'), (e: unknown) => e instanceof KqError && e.code === 'KQ_ERR_INTERFACE_MISSING');
});

test('the loopback interface reads as up, with 127.0.0.1/8 as its primary IPv4 address', async () => {
  const lo = await getInterface('lo');
  assert.ok(lo.index > 0);
  assert.equal(lo.up, true);
  assert.ok(lo.ipv4.some((a) => a.address === '127.0.0.1' && a.prefixLength === 8));
  assert.equal(lo.primaryIpv4, '127.0.0.1');
});

test('a lab interface reads with its index, MAC, flags, primary IPv4 and IPv6 link-local address', { skip }, async () => {
  const lab = await Lab.create();
  try {
    const host = await lab.addHost({ name: 'a', ipv4: '198.18.1.1', ipv6: 'fd00:198:18::11' });
    await host.ip(['addr', 'add', '198.18.10.1/16', 'dev', 'eth0']);
    const { lines } = await runFixture(host, 'interface', ['--interface', 'eth0']);
    const info = lines.find((l) => l.event === 'interface');
    assert.ok(info, JSON.stringify(lines));
    assert.equal(info['name'], 'eth0');
    assert.equal(info['mac'], await host.macAddress());
    assert.equal(info['up'], true);
    assert.equal(info['running'], true);
    assert.equal(info['primaryIpv4'], '198.18.1.1');
    assert.match(String(info['ipv6LinkLocal']), /^fe80::/);
    const ipv4 = info['ipv4'] as Array<{ address: string; prefixLength: number; secondary: boolean }>;
    assert.deepEqual(
      ipv4.map((a) => [a.address, a.prefixLength, a.secondary]),
      [
        ['198.18.1.1', 16, false],
        ['198.18.10.1', 16, true],
      ],
    );
    const ipv6 = info['ipv6'] as Array<{ address: string }>;
    assert.ok(ipv6.some((a) => a.address === 'fd00:198:18::11'));
    const { lines: missing } = await runFixture(host, 'interface', ['--interface', 'eth9']);
    assert.equal(missing[0]?.['code'], 'KQ_ERR_INTERFACE_MISSING');
  } finally {
    await lab.destroy();
  }
});
