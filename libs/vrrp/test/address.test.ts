import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalAddress,
  compareAddresses,
  formatIPv6,
  parseAddress,
  parseIPv4,
  parseIPv6,
  sameAddress,
} from '../src/address.js';

function hex(bytes: Uint8Array | null): string | null {
  return bytes ? Buffer.from(bytes).toString('hex') : null;
}

test('a dotted quad parses to its four octets', () => {
  assert.equal(hex(parseIPv4('198.18.0.1')), 'c6120001');
  assert.equal(hex(parseIPv4('0.0.0.0')), '00000000');
  assert.equal(hex(parseIPv4('255.255.255.255')), 'ffffffff');
});

test('IPv4 text that inet_pton would refuse or read as octal is rejected', () => {
  for (const text of ['198.18.0.01', '256.0.0.1', '1.2.3', '1.2.3.4.5', '', ' 1.2.3.4', '1.2.3.4 ', '1..2.3', '0x1.2.3.4', '1.2.3.-4']) {
    assert.equal(parseIPv4(text), null, text);
  }
});

test('IPv6 text in every RFC 4291 spelling parses to the same bytes', () => {
  const expected = 'fd000198001800000000000000000001';
  for (const text of ['fd00:198:18::1', 'FD00:0198:0018:0000:0000:0000:0000:0001', 'fd00:198:18:0:0:0:0:1', 'fd00:198:18:0::0:1']) {
    assert.equal(hex(parseIPv6(text)), expected, text);
  }
  assert.equal(hex(parseIPv6('::')), '0'.repeat(32));
  assert.equal(hex(parseIPv6('::1')), '0'.repeat(31) + '1');
  assert.equal(hex(parseIPv6('1::')), '0001' + '0'.repeat(28));
  assert.equal(hex(parseIPv6('::ffff:198.18.0.1')), '00000000000000000000ffffc6120001');
  assert.equal(hex(parseIPv6('1:2:3:4:5:6:198.18.0.1')), '000100020003000400050006c6120001');
  // "::" may stand for a single zero group when parsing, though RFC 5952 never writes it so.
  assert.equal(hex(parseIPv6('1:2:3:4:5:6:7::')), '00010002000300040005000600070000');
});

test('malformed IPv6 text is rejected rather than guessed', () => {
  for (const text of [
    '',
    ':',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8::',
    '12345::1',
    'fe80::1%eth0',
    'g::1',
    ':1::2',
    '1::2:',
    '::1.2.3.4:5',
    '1.2.3.4::',
    '::256.0.0.1',
    '1:2:3:4:5:6:7:1.2.3.4',
  ]) {
    assert.equal(parseIPv6(text), null, text);
  }
});

test('IPv6 is printed the RFC 5952 way', () => {
  const cases: Array<[string, string]> = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'], // §4.1 leading zeros, §4.2.1 longest run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2 a lone zero group stays
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // §4.2.3 the longest run is compressed
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §4.2.3 on a tie, the first run
    ['2001:DB8::ABCD', '2001:db8::abcd'], // §4.3 lowercase
    ['::ffff:c612:1', '::ffff:198.18.0.1'], // §5 IPv4-mapped keeps the dotted quad
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['ff02:0:0:0:0:0:0:12', 'ff02::12'],
    ['fe80::6b:71ff:fe00:1', 'fe80::6b:71ff:fe00:1'],
  ];
  for (const [input, canonical] of cases) {
    assert.equal(canonicalAddress(input), canonical, input);
  }
});

test('IPv6 formatting agrees with the WHATWG URL host serializer on random addresses', () => {
  // The URL serializer implements the same compression rules (but not §5's
  // dotted quad), so it is an independent oracle for everything else.
  let seed = 0x5eed;
  const next = (): number => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x9e3779b9) | 0;
    return (seed >>> 0) / 2 ** 32;
  };
  for (let n = 0; n < 2000; n++) {
    const bytes = new Uint8Array(16);
    // Mostly zero groups, so runs of every length and ties are common.
    for (let g = 0; g < 8; g++) {
      if (next() < 0.5) continue;
      bytes[g * 2] = Math.floor(next() * 256);
      bytes[g * 2 + 1] = Math.floor(next() * 256);
    }
    const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
    if (mapped) continue;
    const ours = formatIPv6(bytes);
    const theirs = new URL(`http://[${ours}]/`).hostname.slice(1, -1);
    assert.equal(ours, theirs);
    assert.deepEqual(parseIPv6(ours), bytes);
  }
});

test('addresses compare as numbers, so the tie-break picks the numerically higher sender', () => {
  // As text "198.18.0.9" sorts after "198.18.0.10"; as numbers it is lower.
  assert.equal(compareAddresses('198.18.0.9', '198.18.0.10'), -1);
  assert.equal(compareAddresses('198.18.0.10', '198.18.0.9'), 1);
  assert.equal(compareAddresses('198.18.1.0', '198.18.0.255'), 1);
  assert.equal(compareAddresses('fe80::9', 'fe80::a'), -1);
  assert.equal(compareAddresses('fe80::1:0', 'fe80::ffff'), 1);
  assert.equal(compareAddresses('FE80:0::0001', 'fe80::1'), 0);
  assert.equal(compareAddresses(parseIPv4('255.0.0.0') as Uint8Array, '1.0.0.0'), 1);
});

test('comparing addresses of different families or unparsable text is a programming error', () => {
  assert.throws(() => compareAddresses('198.18.0.1', 'fe80::1'), RangeError);
  assert.throws(() => compareAddresses('198.18.0.1', 'not-an-address'), TypeError);
});

test('parseAddress tells the family from the text', () => {
  assert.equal(parseAddress('198.18.0.1')?.family, 4);
  assert.equal(parseAddress('fd00:198:18::1')?.family, 6);
  assert.equal(parseAddress('example.org'), null);
  assert.equal(sameAddress('fd00:198:18::1', 'fd00:198:18:0:0:0:0:1'), true);
  assert.equal(sameAddress('198.18.0.1', '::ffff:198.18.0.1'), false);
});
