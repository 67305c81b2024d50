import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AF_INET,
  AF_INET6,
  attribute,
  deleteAddressRequest,
  getLinkRequest,
  IFA_F_NODAD,
  newAddressRequest,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  parseAddress,
  parseAttributes,
  parseLink,
  parseMessages,
  RTM_DELADDR,
  RTM_GETLINK,
  RTM_NEWADDR,
} from '../src/rtnetlink.js';

test('a link request carries the name as a NUL-terminated IFLA_IFNAME after an empty ifinfomsg', () => {
  const [m] = parseMessages(getLinkRequest(7, 'eth0'));
  assert.equal(m!.type, RTM_GETLINK);
  assert.equal(m!.seq, 7);
  assert.equal(m!.flags, NLM_F_REQUEST);
  const attrs = parseAttributes(m!.payload, 16);
  assert.deepEqual(attrs.get(3), Buffer.from('eth0\0'));
});

test('a new-address request is exclusive, asks for an ACK and round-trips through the parser', () => {
  const bytes = Buffer.from([0xfd, 0, 1, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 1]);
  const [m] = parseMessages(newAddressRequest(9, { family: AF_INET6, bytes, prefixLength: 128, scope: 0, index: 4, flags: IFA_F_NODAD, preferredLifetime: 0 }));
  assert.equal(m!.type, RTM_NEWADDR);
  assert.equal(m!.flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  const a = parseAddress(m!.payload)!;
  assert.equal(a.family, AF_INET6);
  assert.equal(a.prefixLength, 128);
  assert.equal(a.index, 4);
  assert.equal(a.flags & IFA_F_NODAD, IFA_F_NODAD);
  assert.deepEqual(a.local, bytes);
  assert.deepEqual(a.address, bytes);
});

test('a delete request matches by address and prefix (IFA_LOCAL and IFA_ADDRESS)', () => {
  const bytes = Buffer.from([198, 18, 10, 1]);
  const [m] = parseMessages(deleteAddressRequest(3, { family: AF_INET, bytes, prefixLength: 16, index: 2 }));
  assert.equal(m!.type, RTM_DELADDR);
  const a = parseAddress(m!.payload)!;
  assert.equal(a.prefixLength, 16);
  assert.deepEqual(a.local, bytes);
});

test('several messages in one datagram are split, and a truncated one ends the parse instead of throwing', () => {
  const two = Buffer.concat([getLinkRequest(1, 'a'), getLinkRequest(2, 'b')]);
  assert.deepEqual(parseMessages(two).map((m) => m.seq), [1, 2]);
  assert.equal(parseMessages(two.subarray(0, two.length - 3)).length, 1);
  assert.deepEqual(parseMessages(Buffer.from([1, 2, 3])), []);
});

test('link and attribute parsers never throw on short or garbage input', () => {
  assert.equal(parseLink(Buffer.alloc(3)), undefined);
  assert.equal(parseAddress(Buffer.alloc(3)), undefined);
  const junk = Buffer.concat([Buffer.alloc(16), Buffer.from([0xff, 0xff, 3, 0, 1, 2])]);
  assert.equal(parseLink(junk)!.name, undefined);
  assert.deepEqual(parseAttributes(attribute(3, Buffer.from('x\0')), 0).get(3), Buffer.from('x\0'));
});
