/**
 * VRRP advertisement codec: VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 9568 §5),
 * over IPv4 and IPv6. Works on the VRRP payload only; the IP header fields
 * that matter (source, destination, TTL) arrive as PacketMeta.
 *
 *   0                   1                   2                   3
 *   +-------+-------+---------------+---------------+---------------+
 *   |Version| Type  |     VRID      |   Priority    | Count IP Addrs|
 *   +-------+-------+---------------+---------------+---------------+
 *   v2: | Auth Type | Adver Int (s) |          Checksum             |
 *   v3: |rsvd| Max Adver Int (cs)   |          Checksum             |
 *   +---------------------------------------------------------------+
 *   |                  IPvX address(es) ...                          |
 *   +---------------------------------------------------------------+
 *   v2 over IPv4 only: 8 bytes of authentication data
 *
 * keepalived sends VRRPv2 over IPv6 too (version 2 on an IPv6 instance when
 * vrrp_strict is off): the same v2 header, no authentication data, and the
 * checksum the kernel computes over the IPv6 pseudo-header. The codec
 * accepts and produces that form so such peers are not invisible.
 */
import { Buffer } from 'node:buffer';
import { formatAddress, parseAddress, parseAddressOfFamily, compareAddresses, sameAddress } from './address.js';
import { internetChecksum, vrrpChecksumValid, vrrpPseudoHeader, type VrrpChecksumContext } from './checksum.js';
import {
  AuthType,
  type Advertisement,
  type DecodeResult,
  type IpFamily,
  type PacketMeta,
  type RejectReason,
  type V3ChecksumMode,
  type VrrpVersion,
} from './types.js';

export const VRRP_PROTOCOL = 112;
export const VRRP_MULTICAST_V4 = '224.0.0.18';
export const VRRP_MULTICAST_V6 = 'ff02::12';
/** RFC 3768 §6.1 / RFC 9568 §5.1.1.3: sent and required on receipt. */
export const VRRP_TTL = 255;
export const VRRP_HEADER_LENGTH = 8;
export const VRRP_V2_AUTH_LENGTH = 8;
export const VRRP_PACKET_TYPE_ADVERTISEMENT = 1;
/** The v3 interval field is 12 bits of centiseconds. */
export const VRRP_V3_MAX_INTERVAL_CS = 0x0fff;
/** The v2 interval field is 8 bits of seconds. */
export const VRRP_V2_MAX_INTERVAL_S = 0xff;

export interface EncodeOptions {
  source: string;
  destination: string;
  v3Checksum?: V3ChecksumMode; // default 'pseudo-header'
}

export interface DecodeOptions {
  v3Checksum?: V3ChecksumMode; // default 'pseudo-header'
}

export type CheckResult = { ok: true } | { ok: false; reason: RejectReason; detail: string };

/** What the instance layer knows about itself, for checkAgainstInstance. */
export interface InstanceExpectation {
  vrid: number;
  version: 2 | 3;
  advertIntervalCs: number;
  addresses: string[];
  authType: number;
  authPassword: string;
  /** keepalived's skip_check_adv_addr: do not compare the address list. */
  skipCheckAdvAddr?: boolean;
}

function addressLength(family: IpFamily): number {
  return family === 4 ? 4 : 16;
}

function carriesAuthData(version: VrrpVersion, family: IpFamily): boolean {
  return version === 2 && family === 4;
}

/** Bytes of a VRRP message with `count` addresses (no IP header). */
export function advertisementLength(version: VrrpVersion, family: IpFamily, count: number): number {
  return VRRP_HEADER_LENGTH + count * addressLength(family) + (carriesAuthData(version, family) ? VRRP_V2_AUTH_LENGTH : 0);
}

/**
 * The 8-byte v2 authentication data for a simple-text password: its UTF-8
 * bytes, cut at 8 and NUL padded. keepalived copies at most 8 bytes of
 * auth_pass and compares all 8, so a longer password is its first 8 bytes.
 */
export function authPasswordField(password: string): Buffer {
  const field = Buffer.alloc(VRRP_V2_AUTH_LENGTH);
  Buffer.from(password, 'utf8').copy(field, 0, 0, VRRP_V2_AUTH_LENGTH);
  return field;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The password as carried: the field without its NUL padding. Bytes that are
 * not UTF-8 (keepalived cuts at 8 bytes, possibly inside a character) are
 * read one byte per character so the text stays printable-safe and distinct.
 */
export function decodeAuthPasswordField(field: Uint8Array): string {
  let end = field.length;
  while (end > 0 && field[end - 1] === 0) end--;
  const carried = field.subarray(0, end);
  try {
    return strictUtf8.decode(carried);
  } catch {
    return Buffer.from(carried).toString('latin1');
  }
}

function hex16(value: number): string {
  return `0x${value.toString(16).padStart(4, '0')}`;
}

function checksumLabel(version: VrrpVersion, family: IpFamily, mode: V3ChecksumMode): string {
  if (family === 6) return `v${version}, IPv6 pseudo-header`;
  if (version === 2) return 'v2, message only';
  return `v3, ${mode}`;
}

function reject(reason: RejectReason, detail: string): { ok: false; reason: RejectReason; detail: string } {
  return { ok: false, reason, detail };
}

function authTypeName(authType: number): string {
  switch (authType) {
    case AuthType.None:
      return 'none';
    case AuthType.SimpleText:
      return 'simple-text';
    case AuthType.IpAh:
      return 'ip-ah';
    default:
      return `unknown(${authType})`;
  }
}

function checkByte(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} ${value} is out of range ${min}..${max}`);
  }
}

/**
 * Build the VRRP payload (no IP header) with its checksum. Throws RangeError
 * or TypeError for an advertisement that cannot be put on the wire: these
 * are programming errors, the config layer validates user input earlier.
 */
export function encodeAdvertisement(advert: Advertisement, opts: EncodeOptions): Buffer {
  const { version, family } = advert;
  if (version !== 2 && version !== 3) throw new RangeError(`version ${String(version)} is not 2 or 3`);
  if (family !== 4 && family !== 6) throw new RangeError(`family ${String(family)} is not 4 or 6`);
  checkByte('vrid', advert.vrid, 1, 255);
  checkByte('priority', advert.priority, 0, 255);
  checkByte('address count', advert.addresses.length, version === 3 ? 1 : 0, 255);

  let intervalField: number;
  if (version === 2) {
    const seconds = advert.advertIntervalCs / 100;
    if (!Number.isInteger(seconds)) {
      throw new RangeError(`VRRPv2 carries whole seconds; interval ${advert.advertIntervalCs} cs is not a multiple of 100`);
    }
    checkByte('VRRPv2 interval (s)', seconds, 1, VRRP_V2_MAX_INTERVAL_S);
    checkByte('VRRPv2 auth type', advert.authType, 0, 255);
    intervalField = (advert.authType << 8) | seconds;
  } else {
    checkByte('VRRPv3 interval (cs)', advert.advertIntervalCs, 1, VRRP_V3_MAX_INTERVAL_CS);
    intervalField = advert.advertIntervalCs;
  }

  const source = parseAddressOfFamily(opts.source, family);
  if (!source) throw new TypeError(`source ${JSON.stringify(opts.source)} is not an IPv${family} address`);
  const destination = parseAddressOfFamily(opts.destination, family);
  if (!destination) throw new TypeError(`destination ${JSON.stringify(opts.destination)} is not an IPv${family} address`);

  const count = advert.addresses.length;
  const message = Buffer.alloc(advertisementLength(version, family, count));
  message[0] = (version << 4) | VRRP_PACKET_TYPE_ADVERTISEMENT;
  message[1] = advert.vrid;
  message[2] = advert.priority;
  message[3] = count;
  message.writeUInt16BE(intervalField, 4);
  let offset = VRRP_HEADER_LENGTH;
  for (const text of advert.addresses) {
    const bytes = parseAddressOfFamily(text, family);
    if (!bytes) throw new TypeError(`virtual address ${JSON.stringify(text)} is not an IPv${family} address`);
    message.set(bytes, offset);
    offset += bytes.length;
  }
  if (carriesAuthData(version, family) && advert.authType === AuthType.SimpleText) {
    authPasswordField(advert.authPassword).copy(message, offset);
  }

  const ctx: VrrpChecksumContext = { version, family, source, destination, v3Checksum: opts.v3Checksum ?? 'pseudo-header' };
  const pseudo = vrrpPseudoHeader(ctx, message.length);
  message.writeUInt16BE(pseudo ? internetChecksum(pseudo, message) : internetChecksum(message), 6);
  return message;
}

/**
 * Parse and validate a received VRRP payload. Checks run in a fixed order
 * and the first failure is returned with a detail naming the field and its
 * value. Never throws, whatever the bytes.
 */
export function decodeAdvertisement(payload: Uint8Array, meta: PacketMeta, opts: DecodeOptions = {}): DecodeResult {
  try {
    return decodeChecked(payload, meta, opts.v3Checksum ?? 'pseudo-header');
  } catch (error) {
    // Only a malformed meta or options object can get here; a packet must
    // never take the receive loop down, so it becomes a rejection.
    return reject('family', `input not decodable (payload or metadata malformed): ${error instanceof Error ? error.message : String(error)}`);
  }
}

function decodeChecked(payload: Uint8Array, meta: PacketMeta, mode: V3ChecksumMode): DecodeResult {
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (bytes.length < VRRP_HEADER_LENGTH) {
    return reject('truncated', `payload ${bytes.length} bytes, shorter than the ${VRRP_HEADER_LENGTH}-byte VRRP header`);
  }

  if (meta.ttl !== VRRP_TTL) {
    return reject('ttl', `${meta.family === 6 ? 'hop limit' : 'ttl'} ${meta.ttl}, expected ${VRRP_TTL}`);
  }

  const version = (bytes[0] as number) >> 4;
  if (version !== 2 && version !== 3) return reject('version', `version ${version}, expected 2 or 3`);

  const type = (bytes[0] as number) & 0x0f;
  if (type !== VRRP_PACKET_TYPE_ADVERTISEMENT) return reject('type', `type ${type}, expected 1 (ADVERTISEMENT)`);

  const family = meta.family;
  if (family !== 4 && family !== 6) return reject('family', `meta.family ${String(family)}, expected 4 or 6`);

  const count = bytes[3] as number;
  const expected = advertisementLength(version, family, count);
  if (bytes.length < expected) {
    const auth = carriesAuthData(version, family) ? ` + ${VRRP_V2_AUTH_LENGTH} auth` : '';
    return reject(
      'truncated',
      `payload ${bytes.length} bytes, count ${count} announces ${expected} (${VRRP_HEADER_LENGTH} header + ${count}×${addressLength(family)} IPv${family}${auth})`,
    );
  }
  if (bytes.length > expected) {
    return reject('length', `payload ${bytes.length} bytes, ${bytes.length - expected} trailing beyond the ${expected} that count ${count} announces`);
  }

  const source = parseAddressOfFamily(String(meta.source), family);
  if (!source) return reject('family', `source ${JSON.stringify(meta.source)} is not an IPv${family} address`);
  const destination = parseAddressOfFamily(String(meta.destination), family);
  if (!destination) return reject('family', `destination ${JSON.stringify(meta.destination)} is not an IPv${family} address`);

  const ctx: VrrpChecksumContext = { version, family, source, destination, v3Checksum: mode };
  if (!vrrpChecksumValid(bytes, ctx)) {
    const zeroed = Buffer.from(bytes);
    zeroed.writeUInt16BE(0, 6);
    const pseudo = vrrpPseudoHeader(ctx, bytes.length);
    const computed = pseudo ? internetChecksum(pseudo, zeroed) : internetChecksum(zeroed);
    return reject('checksum', `checksum ${hex16(bytes.readUInt16BE(6))}, computed ${hex16(computed)} (${checksumLabel(version, family, mode)})`);
  }

  if (version === 3 && count === 0) return reject('address_count', 'count 0, VRRPv3 requires at least 1 address');

  let advertIntervalCs: number;
  let authType = 0;
  if (version === 2) {
    authType = bytes[4] as number;
    const seconds = bytes[5] as number;
    if (seconds === 0) return reject('interval', 'adver int 0 s, must be 1..255');
    advertIntervalCs = seconds * 100;
  } else {
    advertIntervalCs = bytes.readUInt16BE(4) & VRRP_V3_MAX_INTERVAL_CS; // the 4 reserved bits are ignored on receipt
    if (advertIntervalCs === 0) return reject('interval', 'max adver int 0 cs, must be 1..4095');
  }

  const step = addressLength(family);
  const addresses: string[] = [];
  for (let offset = VRRP_HEADER_LENGTH; offset < VRRP_HEADER_LENGTH + count * step; offset += step) {
    addresses.push(formatAddress(bytes.subarray(offset, offset + step)));
  }

  let authPassword = '';
  if (carriesAuthData(version, family) && authType === AuthType.SimpleText) {
    const start = VRRP_HEADER_LENGTH + count * step;
    authPassword = decodeAuthPasswordField(bytes.subarray(start, start + VRRP_V2_AUTH_LENGTH));
  }

  return {
    ok: true,
    advert: {
      version,
      family,
      vrid: bytes[1] as number,
      priority: bytes[2] as number,
      advertIntervalCs,
      addresses,
      authType,
      authPassword,
    },
  };
}

function familyOfAddresses(addresses: readonly string[]): IpFamily | null {
  for (const text of addresses) {
    const parsed = parseAddress(text);
    if (parsed) return parsed.family;
  }
  return null;
}

/**
 * The per-instance checks keepalived's vrrp_check_packet makes after the
 * packet itself is sound, in its order: VRID, version, then for v2 the auth
 * type, password and interval, then the address count and list (unless
 * skip_check_adv_addr). A v3 interval that differs is not a rejection: the
 * backup adopts the master's interval (RFC 9568 §6.4.2).
 */
export function checkAgainstInstance(a: Advertisement, inst: InstanceExpectation): CheckResult {
  if (a.vrid !== inst.vrid) return reject('vrid', `vrid ${a.vrid}, instance has ${inst.vrid}`);

  const instanceFamily = familyOfAddresses(inst.addresses);
  if (instanceFamily !== null && a.family !== instanceFamily) {
    return reject('family', `IPv${a.family} advert for an IPv${instanceFamily} instance`);
  }

  if (a.version !== inst.version) return reject('version', `version ${a.version}, instance runs ${inst.version}`);

  if (a.version === 2) {
    if (a.authType !== AuthType.None && a.authType !== AuthType.SimpleText && a.authType !== AuthType.IpAh) {
      return reject('auth', `auth type ${a.authType}, not 0 (none), 1 (simple text) or 2 (IP AH)`);
    }
    if (a.authType !== inst.authType) {
      return reject('auth', `auth type ${a.authType} (${authTypeName(a.authType)}), instance uses ${inst.authType} (${authTypeName(inst.authType)})`);
    }
    // Over IPv6 a v2 advert has no authentication data to compare.
    if (a.authType === AuthType.SimpleText && a.family === 4) {
      const carried = authPasswordField(a.authPassword);
      const configured = authPasswordField(inst.authPassword);
      if (!carried.equals(configured)) {
        return reject('auth', 'simple-text password mismatch (compared on the first 8 bytes)');
      }
    }
    if (a.advertIntervalCs !== inst.advertIntervalCs) {
      return reject('interval', `adver int ${a.advertIntervalCs / 100} s, instance configured ${inst.advertIntervalCs / 100} s`);
    }
  }

  if (inst.skipCheckAdvAddr) return { ok: true };

  if (a.addresses.length !== inst.addresses.length) {
    return reject('address_count', `count ${a.addresses.length}, instance has ${inst.addresses.length}`);
  }
  const carried = a.addresses.map((text) => parseAddress(text));
  for (const configured of inst.addresses) {
    const wanted = parseAddress(configured);
    const present =
      wanted !== null &&
      carried.some((got) => got !== null && got.family === wanted.family && compareAddresses(got.bytes, wanted.bytes) === 0);
    if (!present) {
      return reject('address_list', `instance address ${configured} missing from advert [${a.addresses.join(', ')}]`);
    }
  }
  return { ok: true };
}

/** Where an instance listens, as keepalived's receive socket for it does. */
export interface ListeningExpectation {
  /** The instance has unicast peers (unicast_peer). */
  unicast: boolean;
  /** The group a multicast instance joined (vrrp_mcast_group4 / vrrp_mcast_group6). */
  multicastGroup: string;
}

function isMulticastAddress(text: string): boolean | null {
  const parsed = parseAddress(text);
  if (!parsed) return null;
  const first = parsed.bytes[0] as number;
  return parsed.family === 4 ? first >= 224 && first <= 239 : first === 0xff;
}

/**
 * Whether an advert sent to `destination` reaches the instance, decided as
 * keepalived's sockets decide it. A unicast instance's socket joins no group,
 * so no multicast advert ever reaches it: a unicast pair on a segment shared
 * with a multicast router of the same VRID must not follow (or fight) it. A
 * multicast instance's socket joins its group and, bound to no address, also
 * takes unicast adverts sent to this host. Our sockets are shared between
 * instances and join the group whatever the instance, so the agent asks this
 * per packet.
 */
export function checkDestination(destination: string, inst: ListeningExpectation): CheckResult {
  const multicast = isMulticastAddress(destination);
  if (multicast === null) return reject('destination', `destination ${JSON.stringify(destination)} is not an IP address`);
  if (!multicast) return { ok: true };
  if (inst.unicast) {
    return reject('destination', `multicast to ${destination}: a unicast instance (unicast_peer) hears only adverts sent to it`);
  }
  if (!sameAddress(destination, inst.multicastGroup)) {
    return reject('destination', `multicast to ${destination}, the instance's group is ${inst.multicastGroup}`);
  }
  return { ok: true };
}

/** One line for logs. Names the auth type, never the password. */
export function describeAdvertisement(a: Advertisement): string {
  const priority = a.priority === 0 ? '0(resign)' : a.priority === 255 ? '255(owner)' : String(a.priority);
  const interval = a.version === 2 ? `${a.advertIntervalCs / 100}s` : `${a.advertIntervalCs}cs`;
  const auth = a.version === 2 ? ` auth=${authTypeName(a.authType)}` : '';
  return `VRRPv${a.version}/IPv${a.family} vrid=${a.vrid} prio=${priority} int=${interval}${auth} addrs=[${a.addresses.join(', ')}]`;
}
