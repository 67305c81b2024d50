import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentPair, arbiter, CLIENT, GATEWAY, ipv6Twin, keepalivedPeer, natsServer, vipOf, buildSegment } from '../topology.js';
import { checkLabAddress, Lab, labUnavailableReason } from '../lab.js';

const skip = labUnavailableReason();

test('the address plan of LAB.md', () => {
  assert.deepEqual(GATEWAY, { name: 'gw', ipv4: '198.18.0.1' });
  assert.deepEqual(CLIENT, { name: 'cl', ipv4: '198.18.0.50', arpAccept: true });
  assert.deepEqual([1, 2, 3].map((i) => natsServer(i).ipv4), ['198.18.0.2', '198.18.0.3', '198.18.0.4']);
  assert.deepEqual([1, 2].map((i) => arbiter(i)), [{ name: 'arb1', ipv4: '198.18.0.5' }, { name: 'arb2', ipv4: '198.18.0.6' }]);
  assert.deepEqual(agentPair(1), { a: { name: 'a1', ipv4: '198.18.1.1' }, b: { name: 'b1', ipv4: '198.18.1.2' } });
  assert.deepEqual(agentPair(2), { a: { name: 'a2', ipv4: '198.18.1.3' }, b: { name: 'b2', ipv4: '198.18.1.4' } });
  assert.deepEqual(keepalivedPeer(3), { name: 'ka3', ipv4: '198.18.2.3' });
  assert.deepEqual(vipOf(2), {
    ipv4: '198.18.10.2',
    ipv4Cidr: '198.18.10.2/16',
    ipv6: 'fd00:198:18::10:2',
    ipv6Cidr: 'fd00:198:18::10:2/64',
    vrid: 52,
  });
  assert.throws(() => natsServer(4), /outside/);
  assert.throws(() => agentPair(0), /outside/);
  assert.throws(() => vipOf(206), /outside/);
});

test('IPv6 twins are in canonical form and inside the lab', () => {
  assert.equal(ipv6Twin('198.18.1.3'), 'fd00:198:18::1:3');
  assert.equal(ipv6Twin('198.18.0.50'), 'fd00:198:18::50');
  assert.equal(ipv6Twin('198.18.10.1'), 'fd00:198:18::10:1');
  assert.throws(() => ipv6Twin('198.19.0.1'), /only 198\.18/);
  for (const a of ['198.18.0.1', '198.18.1.254', '198.18.10.205']) checkLabAddress(ipv6Twin(a));
});

test('buildSegment plugs the hosts in as planned', { skip, timeout: 60_000 }, async () => {
  const lab = await Lab.create();
  try {
    const s = await buildSegment(lab, { pairs: 2, keepalivedPeers: 1, client: true, gateway: true });
    assert.deepEqual([...lab.hosts.keys()].sort(), ['a1', 'a2', 'b1', 'b2', 'cl', 'gw', 'ka1']);
    assert.equal(s.pairs[1]?.b.ipv4, '198.18.1.4');
    assert.equal(s.pairs[1]?.vip.vrid, 52);
    assert.deepEqual((await s.pairs[1]?.a.addresses())?.filter((a) => !a.startsWith('fe80')), ['198.18.1.3/16', 'fd00:198:18::1:3/64']);
    const out = await s.client?.exec('ping', ['-6', '-c', '1', '-W', '2', 'fd00:198:18::1:4']);
    assert.match(out ?? '', /1 received/);
    assert.equal((await s.client?.exec('sysctl', ['-n', 'net.ipv4.conf.eth0.arp_accept']))?.trim(), '1');
  } finally {
    await lab.destroy();
  }
});
