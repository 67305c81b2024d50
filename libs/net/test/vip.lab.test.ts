import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, labUnavailableReason, type LabHost } from '../../../test/lab/lab.js';
import { runFixture, type JsonLine } from '../fixtures/lab-helpers.js';

const skip = labUnavailableReason();

function results(lines: JsonLine[], event: string): boolean[] {
  return lines.filter((l) => l.event === event).map((l) => l['changed'] as boolean);
}

function errors(lines: JsonLine[]): JsonLine[] {
  return lines.filter((l) => l.event === 'error');
}

async function addrLine(host: LabHost, address: string): Promise<string | undefined> {
  const out = await host.ip(['-o', 'addr', 'show', 'dev', 'eth0']);
  return out.split('\n').find((line) => line.includes(` ${address}/`));
}

describe('virtual addresses through netlink', { skip }, () => {
  let lab: Lab;
  let host: LabHost;

  before(async () => {
    lab = await Lab.create();
    host = await lab.addHost({ name: 'a', ipv4: '198.18.1.1', ipv6: 'fd00:198:18::11' });
  });

  after(async () => {
    await lab?.destroy();
  });

  it('adds an IPv4 VIP once: true, then false; it shows in ip -o addr as a secondary address of the segment', async () => {
    const { code, lines } = await runFixture(host, 'vip', ['--interface', 'eth0', '--add', '198.18.10.1/16', '--add', '198.18.10.1/16']);
    assert.equal(code, 0);
    assert.deepEqual(errors(lines), []);
    assert.deepEqual(results(lines, 'add'), [true, false]);
    const line = await addrLine(host, '198.18.10.1');
    assert.ok(line, 'the VIP is not on eth0');
    assert.match(line, /inet 198\.18\.10\.1\/16 .*secondary/);
    // The real address stays primary: VRRP and everything else keep sending from it.
    assert.doesNotMatch((await addrLine(host, '198.18.1.1')) ?? '', /secondary/);
  });

  it('removes an IPv4 VIP once: true, then false; it is gone from ip -o addr', async () => {
    const { code, lines } = await runFixture(host, 'vip', ['--interface', 'eth0', '--remove', '198.18.10.1/16', '--remove', '198.18.10.1/16']);
    assert.equal(code, 0);
    assert.deepEqual(errors(lines), []);
    assert.deepEqual(results(lines, 'remove'), [true, false]);
    assert.equal(await addrLine(host, '198.18.10.1'), undefined);
    assert.ok(await addrLine(host, '198.18.1.1'), 'removing the VIP must leave the real address alone');
  });

  it('adds and removes an IPv6 VIP idempotently, with nodad', async () => {
    const added = await runFixture(host, 'vip', ['--interface', 'eth0', '--add', 'fd00:198:18::100/64', '--add', 'fd00:198:18::100/64']);
    assert.deepEqual(errors(added.lines), []);
    assert.deepEqual(results(added.lines, 'add'), [true, false]);
    const line = await addrLine(host, 'fd00:198:18::100');
    assert.ok(line, 'the IPv6 VIP is not on eth0');
    assert.match(line, /nodad/);
    const removed = await runFixture(host, 'vip', ['--interface', 'eth0', '--remove', 'fd00:198:18::100/64', '--remove', 'fd00:198:18::100/64']);
    assert.deepEqual(errors(removed.lines), []);
    assert.deepEqual(results(removed.lines, 'remove'), [true, false]);
    assert.equal(await addrLine(host, 'fd00:198:18::100'), undefined);
  });

  it('adds a /128 IPv6 VIP deprecated, so that the host never sends from it', async () => {
    const added = await runFixture(host, 'vip', ['--interface', 'eth0', '--add', 'fd00:198:18::101/128']);
    assert.deepEqual(results(added.lines, 'add'), [true]);
    const line = await addrLine(host, 'fd00:198:18::101');
    assert.match(line ?? '', /deprecated/);
    assert.match(line ?? '', /preferred_lft 0sec/);
    await runFixture(host, 'vip', ['--interface', 'eth0', '--remove', 'fd00:198:18::101/128']);
  });

  it('puts the label on an IPv4 VIP', async () => {
    const added = await runFixture(host, 'vip', ['--interface', 'eth0', '--label', 'eth0:vip', '--add', '198.18.10.2/32']);
    assert.deepEqual(errors(added.lines), []);
    assert.match((await addrLine(host, '198.18.10.2')) ?? '', /eth0:vip/);
    const listed = added.lines.find((l) => l.event === 'addresses')?.['addresses'] as Array<{ address: string; label?: string }>;
    assert.equal(listed.find((a) => a.address === '198.18.10.2')?.label, 'eth0:vip');
    await runFixture(host, 'vip', ['--interface', 'eth0', '--remove', '198.18.10.2/32']);
  });

  it('names the interface when it does not exist', async () => {
    const { lines } = await runFixture(host, 'vip', ['--interface', 'nosuch0', '--add', '198.18.10.3/32']);
    const error = lines.find((l) => l.event === 'error');
    assert.equal(error?.['code'], 'KQ_ERR_INTERFACE_MISSING');
    assert.match(String(error?.['message']), /nosuch0/);
  });
});
