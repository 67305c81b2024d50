/**
 * Property and fuzz tests of the VRRP codec: random bytes and mutations of
 * valid adverts (ours and keepalived's captured ones) never throw, and every
 * refusal comes back as one of the RejectReasons with a detail naming the
 * field and the value found. Fixed seed, bounded runs (../../common/test/fuzz.ts).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { checkAgainstInstance, checkDestination, decodeAdvertisement, encodeAdvertisement, type InstanceExpectation } from '../src/packet.js';
import { internetChecksum, vrrpPseudoHeader } from '../src/checksum.js';
import { formatAddress, parseAddressOfFamily } from '../src/address.js';
import type { Advertisement, DecodeResult, IpFamily, PacketMeta, RejectReason, V3ChecksumMode } from '../src/types.js';
import { fuzzParams } from '../../common/test/fuzz.js';

/** Each reason and what its detail must name: the field, then the value found. */
const DETAIL: Record<RejectReason, RegExp> = {
  truncated: /^payload \d+ bytes, (shorter than the 8-byte VRRP header|count \d+ announces \d+)/,
  ttl: /^(ttl|hop limit) .*, expected 255$/,
  version: /^version \d+, (expected 2 or 3|instance runs [23])$/,
  type: /^type \d+, expected 1 \(ADVERTISEMENT\)$/,
  checksum: /^checksum 0x[0-9a-f]{4}, computed 0x[0-9a-f]{4} \(/,
  length: /^payload \d+ bytes, \d+ trailing beyond the \d+ that count \d+ announces$/,
  address_count: /^count \d+, (VRRPv3 requires at least 1 address|instance has \d+)$/,
  interval: /^(max )?adver int \d+(\.\d+)? (s|cs)/,
  family: /^(meta\.family|source|destination|input not decodable|IPv[46] advert for an IPv[46] instance)/,
  vrid: /^vrid \d+, instance has \d+$/,
  address_list: /^instance address \S+ missing from advert \[/,
  auth: /^(auth type \d+|simple-text password mismatch)/,
  own_packet: /./,
  destination: /^(destination|multicast to)/,
};

function assertTypedRefusal(result: { ok: boolean; reason?: string; detail?: string }): void {
  if (result.ok) return;
  const reason = result.reason as RejectReason;
  assert.ok(Object.hasOwn(DETAIL, reason), `reason ${String(reason)} is not a RejectReason`);
  assert.equal(typeof result.detail, 'string');
  assert.match(result.detail!, DETAIL[reason], `${reason}: detail does not name the field: ${result.detail}`);
}

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatAddress(b));
const addressOf = (family: IpFamily) => (family === 4 ? ipv4 : ipv6);

const meta: fc.Arbitrary<PacketMeta> = fc.constantFrom<IpFamily>(4, 6).chain((family) =>
  fc.record({
    family: fc.constant(family),
    source: addressOf(family),
    destination: fc.oneof(fc.constant(family === 4 ? '224.0.0.18' : 'ff02::12'), addressOf(family)),
    ttl: fc.oneof(fc.constant(255), fc.nat(255)),
  }),
);
const mode = fc.constantFrom<V3ChecksumMode>('pseudo-header', 'no-pseudo-header');

/** A valid advertisement of either version and family, with the meta it is sent under. */
const validAdvert: fc.Arbitrary<{ advert: Advertisement; meta: PacketMeta; mode: V3ChecksumMode }> = fc
  .tuple(fc.constantFrom<2 | 3>(2, 3), fc.constantFrom<IpFamily>(4, 6))
  .chain(([version, family]) =>
    fc.record({
      advert: fc.record({
        version: fc.constant(version),
        family: fc.constant(family),
        vrid: fc.integer({ min: 1, max: 255 }),
        priority: fc.nat(255),
        advertIntervalCs: version === 2 ? fc.integer({ min: 1, max: 255 }).map((s) => s * 100) : fc.integer({ min: 1, max: 4095 }),
        addresses: fc.array(addressOf(family), { minLength: version === 3 ? 1 : 0, maxLength: 12 }),
        authType: version === 2 ? fc.constantFrom(0, 1, 2) : fc.constant(0),
        authPassword: fc.string({ unit: fc.constantFrom(...'abcdefghXYZ0123456789-_'), maxLength: 8 }),
      }),
      meta: fc.record({
        family: fc.constant(family),
        source: addressOf(family),
        destination: fc.constant(family === 4 ? '224.0.0.18' : 'ff02::12'),
        ttl: fc.constant(255),
      }),
      mode,
    }),
  )
  .map((x) => ({ ...x, advert: { ...x.advert, authPassword: x.advert.version === 2 && x.advert.family === 4 && x.advert.authType === 1 ? x.advert.authPassword : '' } }));

function encode(x: { advert: Advertisement; meta: PacketMeta; mode: V3ChecksumMode }): Buffer {
  return encodeAdvertisement(x.advert, { source: x.meta.source, destination: x.meta.destination, v3Checksum: x.mode });
}

/** Rewrite the checksum of a damaged payload so it reaches the checks after the checksum. */
function fixChecksum(payload: Buffer, m: PacketMeta, v3Checksum: V3ChecksumMode): void {
  if (payload.length < 8) return;
  const version = payload[0]! >> 4;
  if (version !== 2 && version !== 3) return;
  payload.writeUInt16BE(0, 6);
  const ctx = {
    version: version as 2 | 3,
    family: m.family,
    source: parseAddressOfFamily(m.source, m.family)!,
    destination: parseAddressOfFamily(m.destination, m.family)!,
    v3Checksum,
  };
  const pseudo = vrrpPseudoHeader(ctx, payload.length);
  payload.writeUInt16BE(pseudo ? internetChecksum(pseudo, payload) : internetChecksum(payload), 6);
}

type Mutation =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; length: number }
  | { kind: 'append'; bytes: Uint8Array }
  | { kind: 'splice'; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(80), value: fc.nat(255) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(80), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('truncate' as const), length: fc.nat(80) }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 20 }) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(80), bytes: fc.uint8Array({ maxLength: 20 }) }),
);

export function applyMutations(payload: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(payload);
  for (const m of mutations) {
    if (b.length === 0 && m.kind !== 'append' && m.kind !== 'splice') continue;
    switch (m.kind) {
      case 'set':
        b[m.at % b.length] = m.value;
        break;
      case 'flip':
        b[m.at % b.length] = b[m.at % b.length]! ^ (1 << m.bit);
        break;
      case 'truncate':
        b = b.subarray(0, m.length % (b.length + 1));
        break;
      case 'append':
        b = Buffer.concat([b, m.bytes]);
        break;
      case 'splice': {
        const at = m.at % (b.length + 1);
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      }
    }
  }
  return b;
}

/** The fields a decoded advert reports are the bytes it came from. */
function assertFaithful(result: DecodeResult, payload: Buffer, m: PacketMeta): void {
  if (!result.ok) return;
  const a = result.advert;
  assert.equal(a.version, payload[0]! >> 4);
  assert.equal(a.vrid, payload[1]);
  assert.equal(a.priority, payload[2]);
  assert.equal(a.addresses.length, payload[3]);
  assert.equal(a.family, m.family);
  for (const text of a.addresses) assert.ok(parseAddressOfFamily(text, m.family), `address ${text} is IPv${m.family} text`);
}

const captured: Array<{ payload: Buffer; meta: PacketMeta }> = (() => {
  const dir = fileURLToPath(new URL('../../../../libs/vrrp/test/fixtures/', import.meta.url));
  const out: Array<{ payload: Buffer; meta: PacketMeta }> = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const f = JSON.parse(readFileSync(`${dir}${name}`, 'utf8')) as { packets: Array<{ family: IpFamily; src: string; dst: string; ttl: number; payloadHex: string }> };
    for (const p of f.packets) out.push({ payload: Buffer.from(p.payloadHex, 'hex'), meta: { family: p.family, source: p.src, destination: p.dst, ttl: p.ttl } });
  }
  return out;
})();

describe('VRRP decoder under fuzzing', () => {
  test('random bytes under random metadata are refused with a typed reason naming the field, never thrown', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), meta, mode, (bytes, m, v3) => {
        const result = decodeAdvertisement(bytes, m, { v3Checksum: v3 });
        assertTypedRefusal(result);
        assertFaithful(result, Buffer.from(bytes), m);
      }),
      fuzzParams(3000),
    );
  });

  test('random bytes that start like an advert (version 2 or 3, type 1) are refused with a typed reason', () => {
    const header = fc.tuple(fc.constantFrom(0x21, 0x31), fc.integer({ min: 1, max: 255 }), fc.nat(255), fc.nat(20));
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 340 }), meta, mode, fc.boolean(), ([b0, vrid, prio, count], rest, m, v3, fix) => {
        const payload = Buffer.concat([Buffer.from([b0, vrid, prio, count]), Buffer.from(rest)]);
        if (fix) fixChecksum(payload, m, v3);
        const result = decodeAdvertisement(payload, m, { v3Checksum: v3 });
        assertTypedRefusal(result);
        assertFaithful(result, payload, m);
      }),
      fuzzParams(2000),
    );
  });

  test('mutations of valid adverts (checksum kept or rewritten) are refused with a typed reason, or decode to what their bytes say', () => {
    fc.assert(
      fc.property(validAdvert, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (x, mutations, fix) => {
        const payload = applyMutations(encode(x), mutations);
        if (fix) fixChecksum(payload, x.meta, x.mode);
        const result = decodeAdvertisement(payload, x.meta, { v3Checksum: x.mode });
        assertTypedRefusal(result);
        assertFaithful(result, payload, x.meta);
      }),
      fuzzParams(3000),
    );
  });

  test("mutations of keepalived's captured adverts are refused with a typed reason, or decode to what their bytes say", () => {
    fc.assert(
      fc.property(fc.constantFrom(...captured), fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.boolean(), (c, mutations, fix) => {
        const payload = applyMutations(c.payload, mutations);
        if (fix) fixChecksum(payload, c.meta, 'pseudo-header');
        const result = decodeAdvertisement(payload, c.meta);
        assertTypedRefusal(result);
        assertFaithful(result, payload, c.meta);
      }),
      fuzzParams(2000),
    );
  });

  test('a single damaged byte of a valid advert is always caught by the checksum', () => {
    fc.assert(
      fc.property(validAdvert, fc.nat(80), fc.integer({ min: 1, max: 255 }), (x, at, xor) => {
        const payload = encode(x);
        const i = at % payload.length;
        if (i === 6 || i === 7) return; // the checksum itself: covered by the checksum tests
        payload[i] = payload[i]! ^ xor;
        const result = decodeAdvertisement(payload, x.meta, { v3Checksum: x.mode });
        assert.equal(result.ok, false, `byte ${i} ^ ${xor} went unnoticed`);
        assertTypedRefusal(result);
      }),
      fuzzParams(2000),
    );
  });

  test('every valid advert decodes to itself', () => {
    fc.assert(
      fc.property(validAdvert, (x) => {
        const result = decodeAdvertisement(encode(x), x.meta, { v3Checksum: x.mode });
        if (!result.ok) assert.fail(`${result.reason}: ${result.detail}`);
        assert.deepEqual(result.advert, { ...x.advert, authType: x.advert.version === 2 ? x.advert.authType : 0 });
      }),
      fuzzParams(1500),
    );
  });

  test('malformed metadata or options (not from the socket layer) are refused with a typed reason, never thrown', () => {
    const junk = fc.oneof(fc.anything(), fc.constant(undefined), fc.constant(null));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), junk, junk, junk, junk, (bytes, family, source, destination, ttl) => {
        const m = { family, source, destination, ttl } as unknown as PacketMeta;
        assertTypedRefusal(decodeAdvertisement(bytes, m));
        assertTypedRefusal(decodeAdvertisement(bytes, { family: 4, source: '198.18.0.1', destination: '224.0.0.18', ttl: 255 }, { v3Checksum: family } as never));
      }),
      fuzzParams(1500),
    );
  });

  test('any decoded advert checked against any instance gives ok or a typed reason naming the field', () => {
    const instance: fc.Arbitrary<InstanceExpectation> = fc.record({
      vrid: fc.integer({ min: 1, max: 255 }),
      version: fc.constantFrom<2 | 3>(2, 3),
      advertIntervalCs: fc.integer({ min: 1, max: 4095 }),
      addresses: fc.array(fc.oneof(ipv4, ipv6, fc.string()), { maxLength: 4 }),
      authType: fc.nat(3),
      authPassword: fc.string({ maxLength: 12 }),
      skipCheckAdvAddr: fc.boolean(),
    });
    fc.assert(
      fc.property(validAdvert, instance, fc.oneof(ipv4, ipv6, fc.string()), fc.boolean(), fc.oneof(ipv4, ipv6), (x, inst, destination, unicast, group) => {
        assertTypedRefusal(checkAgainstInstance(x.advert, inst));
        assertTypedRefusal(checkDestination(destination, { unicast, multicastGroup: group }));
      }),
      fuzzParams(2000),
    );
  });
});
