/**
 * IPv4/IPv6 text <-> bytes, RFC 5952 canonical IPv6 text, and the numeric
 * address comparison VRRP uses to break priority ties (RFC 5798 §6.4.3).
 *
 * Pure and strict: parsers return null instead of guessing, because a
 * leniently parsed address (octal "010", a zone id) would silently compare
 * unequal to what keepalived puts on the wire.
 */
import type { IpFamily } from './types.js';

export interface ParsedAddress {
  family: IpFamily;
  bytes: Uint8Array;
}

const IPV4_TEXT = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Dotted quad to 4 bytes; null unless it is exactly four decimal octets. */
export function parseIPv4(text: string): Uint8Array | null {
  const match = IPV4_TEXT.exec(text);
  if (!match) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const octet = match[i + 1] as string;
    // inet_pton refuses leading zeros; other tools read them as octal.
    if (octet.length > 1 && octet.startsWith('0')) return null;
    const value = Number(octet);
    if (value > 255) return null;
    bytes[i] = value;
  }
  return bytes;
}

/** RFC 4291 §2.2 text (with "::" and a dotted-quad tail) to 16 bytes; null if malformed. */
export function parseIPv6(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] === '' ? [] : (halves[0] as string).split(':');
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : (halves[1] as string).split(':')) : [];
  const groups: number[] = [];
  const tailGroups: number[] = [];
  const last = halves.length === 2 ? tail : head;
  // Only the final group of the whole text may be an embedded IPv4 address.
  let ipv4Tail: Uint8Array | null = null;
  if (last.length > 0 && (last[last.length - 1] as string).includes('.')) {
    ipv4Tail = parseIPv4(last.pop() as string);
    if (!ipv4Tail) return null;
  }
  for (const group of head) {
    if (!HEX_GROUP.test(group)) return null;
    groups.push(parseInt(group, 16));
  }
  for (const group of tail) {
    if (!HEX_GROUP.test(group)) return null;
    tailGroups.push(parseInt(group, 16));
  }
  if (ipv4Tail) {
    const target = halves.length === 2 ? tailGroups : groups;
    target.push(((ipv4Tail[0] as number) << 8) | (ipv4Tail[1] as number));
    target.push(((ipv4Tail[2] as number) << 8) | (ipv4Tail[3] as number));
  }
  const explicit = groups.length + tailGroups.length;
  if (halves.length === 2) {
    // "::" stands for at least one zero group.
    if (explicit > 7) return null;
  } else if (explicit !== 8) {
    return null;
  }
  const all = [...groups, ...new Array<number>(8 - explicit).fill(0), ...tailGroups];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/** Either family; the family is told by the text itself. */
export function parseAddress(text: string): ParsedAddress | null {
  const v4 = parseIPv4(text);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6(text);
  if (v6) return { family: 6, bytes: v6 };
  return null;
}

/** Parse an address that must be of the given family. */
export function parseAddressOfFamily(text: string, family: IpFamily): Uint8Array | null {
  return family === 4 ? parseIPv4(text) : parseIPv6(text);
}

export function addressFamily(text: string): IpFamily | null {
  return parseAddress(text)?.family ?? null;
}

export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  if (bytes.length < offset + 4) throw new RangeError(`IPv4 address needs 4 bytes at offset ${offset}, got ${bytes.length - offset}`);
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** RFC 5952 §4: lowercase, no leading zeros, longest zero run (≥ 2 groups, first on a tie) as "::". */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  if (bytes.length < offset + 16) throw new RangeError(`IPv6 address needs 16 bytes at offset ${offset}, got ${bytes.length - offset}`);
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[offset + i * 2] as number) << 8) | (bytes[offset + i * 2 + 1] as number));

  // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIPv4(bytes, offset + 12)}`;
  }

  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLength < 2) return hex.join(':');
  const before = hex.slice(0, bestStart).join(':');
  const after = hex.slice(bestStart + bestLength).join(':');
  return `${before}::${after}`;
}

/** 4 bytes print as IPv4, 16 as IPv6. */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatIPv4(bytes);
  if (bytes.length === 16) return formatIPv6(bytes);
  throw new RangeError(`an address is 4 or 16 bytes, got ${bytes.length}`);
}

/** The canonical text of an address (RFC 5952 for IPv6), or null if it does not parse. */
export function canonicalAddress(text: string): string | null {
  const parsed = parseAddress(text);
  return parsed ? formatAddress(parsed.bytes) : null;
}

function toBytes(address: string | Uint8Array, which: string): Uint8Array {
  if (typeof address !== 'string') return address;
  const parsed = parseAddress(address);
  if (!parsed) throw new TypeError(`${which} address ${JSON.stringify(address)} is neither IPv4 nor IPv6`);
  return parsed.bytes;
}

/**
 * Compare two addresses of one family as unsigned big-endian integers:
 * negative if a < b, 0 if equal, positive if a > b. When priorities tie, the
 * sender whose primary address is numerically higher wins mastership.
 */
export function compareAddresses(a: string | Uint8Array, b: string | Uint8Array): number {
  const left = toBytes(a, 'first');
  const right = toBytes(b, 'second');
  if (left.length !== right.length) {
    throw new RangeError(`cannot compare an address of ${left.length} bytes with one of ${right.length} bytes`);
  }
  for (let i = 0; i < left.length; i++) {
    const diff = (left[i] as number) - (right[i] as number);
    if (diff !== 0) return diff < 0 ? -1 : 1;
  }
  return 0;
}

/** Equal as addresses, whatever their spelling ("fd00::1" and "FD00:0::0001"). */
export function sameAddress(a: string, b: string): boolean {
  const left = parseAddress(a);
  const right = parseAddress(b);
  if (!left || !right || left.family !== right.family) return false;
  return compareAddresses(left.bytes, right.bytes) === 0;
}
