import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { PacketIntake, type IntakeBinding } from '../src/packet-intake.js';
import { encodeAdvertisement, type Advertisement } from '../../../libs/vrrp/src/mod.js';

const advert = (priority: number): Advertisement => ({ version: 3, family: 4, vrid: 51, priority, advertIntervalCs: 10, addresses: ['198.18.10.1'], authType: 0, authPassword: '' });

function binding(name: string, peers: string[], got: string[], refused: string[]): IntakeBinding {
  return {
    name,
    expectation: { vrid: 51, version: 3, advertIntervalCs: 10, addresses: ['198.18.10.1'], authType: 0, authPassword: '' },
    listening: { unicast: peers.length > 0, multicastGroup: '224.0.0.18' },
    peers,
    v3Checksum: 'pseudo-header',
    ownSource: () => '198.18.1.1',
    accept: (a, src) => got.push(`${name}:${a.priority}:${src}`),
    reject: (r) => refused.push(`${name}:${r}`),
  };
}

const intake = () => new PacketIntake('eth0/4', 'pseudo-header', pino({ level: 'silent' }), () => 0);

test('two unicast instances sharing a VRID each get the packets of their own peers', () => {
  const i = intake();
  const got: string[] = [];
  const refused: string[] = [];
  i.bind(51, binding('VI_A', ['198.18.1.2'], got, refused));
  i.bind(51, binding('VI_B', ['198.18.1.3'], got, refused));
  for (const [src, prio] of [['198.18.1.2', 100], ['198.18.1.3', 90]] as const) {
    const payload = encodeAdvertisement(advert(prio), { source: src, destination: '198.18.1.1' });
    i.handle(payload, { family: 4, source: src, destination: '198.18.1.1', ttl: 255, ifindex: 2 });
  }
  assert.deepEqual(got, ['VI_A:100:198.18.1.2', 'VI_B:90:198.18.1.3']);
  assert.deepEqual(refused, []);
});

test('the same bytes again from the same master are accepted without decoding, a changed byte is checked afresh', () => {
  const i = intake();
  const got: string[] = [];
  const refused: string[] = [];
  i.bind(51, binding('VI_1', [], got, refused));
  const payload = encodeAdvertisement(advert(100), { source: '198.18.1.2', destination: '224.0.0.18' });
  const meta = { family: 4 as const, source: '198.18.1.2', destination: '224.0.0.18', ttl: 255, ifindex: 2 };
  i.handle(payload, meta);
  i.handle(payload, meta);
  const corrupt = Buffer.from(payload);
  corrupt[6] = corrupt[6]! ^ 0xff;
  i.handle(corrupt, meta);
  i.handle(payload, { ...meta, ttl: 64 });
  assert.deepEqual(got, ['VI_1:100:198.18.1.2', 'VI_1:100:198.18.1.2']);
  assert.deepEqual(refused, ['VI_1:checksum', 'VI_1:ttl']);
  assert.deepEqual(i.rejected, { checksum: 1, ttl: 1 });
});
