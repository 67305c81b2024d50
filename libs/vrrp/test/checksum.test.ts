import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  internetChecksum,
  ipv4PseudoHeader,
  ipv6PseudoHeader,
  onesComplementSum,
  verifyInternetChecksum,
  vrrpChecksum,
} from '../src/checksum.js';
import { parseIPv4, parseIPv6 } from '../src/address.js';

const bytes = (hexText: string): Uint8Array => Uint8Array.from(Buffer.from(hexText.replace(/\s+/g, ''), 'hex'));

test('the one\'s complement sum matches the RFC 1071 §3 worked example', () => {
  const data = bytes('0001 f203 f4f5 f6f7');
  assert.equal(onesComplementSum([data]), 0xddf2);
  assert.equal(internetChecksum(data), 0x220d);
});

test('an odd trailing byte is summed as if padded with a zero byte', () => {
  assert.equal(internetChecksum(bytes('0001f203f4f5f6f7ab')), internetChecksum(bytes('0001f203f4f5f6f7ab00')));
});

test('chunks are summed as one byte stream even when a chunk has odd length', () => {
  const whole = bytes('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
  for (let cut = 0; cut <= whole.length; cut++) {
    assert.equal(internetChecksum(whole.subarray(0, cut), whole.subarray(cut)), internetChecksum(whole), `cut at ${cut}`);
  }
  assert.equal(internetChecksum(whole.subarray(0, 3), whole.subarray(3, 4), whole.subarray(4, 9), whole.subarray(9)), internetChecksum(whole));
});

test('a well-known IPv4 header checksums to the value it carries', () => {
  // The classic example header with its checksum field zeroed; 0xb861 is its checksum.
  assert.equal(internetChecksum(bytes('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7')), 0xb861);
  assert.equal(verifyInternetChecksum(bytes('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7')), true);
});

test('verification accepts both encodings of a zero checksum', () => {
  // These words sum to 0xffff, so the checksum is 0x0000 (or its twin 0xffff).
  const data = bytes('fffe 0001 0000');
  assert.equal(internetChecksum(data), 0x0000);
  assert.equal(verifyInternetChecksum(bytes('fffe 0001 0000')), true);
  assert.equal(verifyInternetChecksum(bytes('fffe 0001 ffff')), true);
  assert.equal(verifyInternetChecksum(bytes('fffe 0001 0001')), false);
});

test('a long message sums without overflow', () => {
  const data = new Uint8Array(200_000).fill(0xff);
  assert.equal(onesComplementSum([data]), 0xffff);
  assert.equal(internetChecksum(data), 0);
});

test('the IPv4 pseudo-header is source, destination, zero, protocol, length', () => {
  const header = ipv4PseudoHeader(parseIPv4('198.18.0.1') as Uint8Array, parseIPv4('224.0.0.18') as Uint8Array, 112, 12);
  assert.equal(Buffer.from(header).toString('hex'), 'c6120001' + 'e0000012' + '00' + '70' + '000c');
});

test('the IPv6 pseudo-header is source, destination, 32-bit length, three zeros, next header', () => {
  const header = ipv6PseudoHeader(parseIPv6('fe80::1') as Uint8Array, parseIPv6('ff02::12') as Uint8Array, 112, 24);
  assert.equal(
    Buffer.from(header).toString('hex'),
    'fe800000000000000000000000000001' + 'ff020000000000000000000000000012' + '00000018' + '000000' + '70',
  );
});

test('the VRRPv3 IPv4 checksum matches a hand-computed sum over the pseudo-header', () => {
  // pseudo c612+0001+e000+0012+0070+000c = 0x1a6a1
  // message 3103+6401+0064+0000+c612+001e = 0x15b98
  // 0x1a6a1 + 0x15b98 = 0x30239 -> fold 0x023c -> complement 0xfdc3
  const message = bytes('3103 6401 0064 0000 c612 001e');
  const ctx = {
    version: 3 as const,
    family: 4 as const,
    source: parseIPv4('198.18.0.1') as Uint8Array,
    destination: parseIPv4('224.0.0.18') as Uint8Array,
  };
  assert.equal(vrrpChecksum(message, { ...ctx, v3Checksum: 'pseudo-header' }), 0xfdc3);
  assert.equal(vrrpChecksum(message, { ...ctx, v3Checksum: 'no-pseudo-header' }), 0xa466);
  // The field's current content does not matter: it is taken as zero.
  assert.equal(vrrpChecksum(bytes('3103 6401 0064 abcd c612 001e'), { ...ctx, v3Checksum: 'pseudo-header' }), 0xfdc3);
});
