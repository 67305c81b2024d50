/**
 * The Internet checksum (RFC 1071) and the pseudo-headers VRRP puts under it.
 *
 * VRRPv2 sums the VRRP message alone (RFC 3768 §5.3.8). VRRPv3 sums an IPv6
 * pseudo-header always and, over IPv4, the IPv4 pseudo-header too
 * (RFC 5798 §5.2.8, kept by RFC 9568); some routers omit it over IPv4, which
 * is why the mode is a parameter.
 */
import type { IpFamily, V3ChecksumMode, VrrpVersion } from './types.js';

export const VRRP_PROTOCOL_NUMBER = 112;

/**
 * The 16-bit one's complement sum of the chunks, read as one contiguous byte
 * stream (an odd-length chunk hands its last byte to the next one), folded
 * but not complemented.
 */
export function onesComplementSum(chunks: readonly Uint8Array[]): number {
  let sum = 0;
  let pendingHigh = -1;
  for (const chunk of chunks) {
    let i = 0;
    if (pendingHigh >= 0 && chunk.length > 0) {
      sum += (pendingHigh << 8) | (chunk[0] as number);
      pendingHigh = -1;
      i = 1;
    }
    for (; i + 1 < chunk.length; i += 2) {
      sum += ((chunk[i] as number) << 8) | (chunk[i + 1] as number);
    }
    if (i < chunk.length) pendingHigh = chunk[i] as number;
    // Fold now and then so the sum stays a small integer on huge inputs.
    if (sum > 0x7fffffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  }
  if (pendingHigh >= 0) sum += pendingHigh << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for the data (its checksum field zeroed): ~sum. */
export function internetChecksum(...chunks: Uint8Array[]): number {
  return ~onesComplementSum(chunks) & 0xffff;
}

/**
 * True when data that already holds its checksum sums to all ones. This
 * accepts both encodings of a zero checksum (0x0000 and 0xffff).
 */
export function verifyInternetChecksum(...chunks: Uint8Array[]): boolean {
  return onesComplementSum(chunks) === 0xffff;
}

/** RFC 768-style IPv4 pseudo-header: source, destination, zero, protocol, length. */
export function ipv4PseudoHeader(source: Uint8Array, destination: Uint8Array, protocol: number, length: number): Uint8Array {
  if (source.length !== 4 || destination.length !== 4) throw new RangeError('IPv4 pseudo-header needs 4-byte addresses');
  if (length > 0xffff) throw new RangeError(`IPv4 pseudo-header length ${length} exceeds 65535`);
  const header = new Uint8Array(12);
  header.set(source, 0);
  header.set(destination, 4);
  header[9] = protocol;
  header[10] = length >> 8;
  header[11] = length & 0xff;
  return header;
}

/** RFC 8200 §8.1 pseudo-header: source, destination, 32-bit length, 3 zero bytes, next header. */
export function ipv6PseudoHeader(source: Uint8Array, destination: Uint8Array, nextHeader: number, length: number): Uint8Array {
  if (source.length !== 16 || destination.length !== 16) throw new RangeError('IPv6 pseudo-header needs 16-byte addresses');
  const header = new Uint8Array(40);
  header.set(source, 0);
  header.set(destination, 16);
  new DataView(header.buffer).setUint32(32, length >>> 0);
  header[39] = nextHeader;
  return header;
}

export interface VrrpChecksumContext {
  version: VrrpVersion;
  family: IpFamily;
  source: Uint8Array;
  destination: Uint8Array;
  v3Checksum: V3ChecksumMode;
}

/** Whether this combination sums a pseudo-header under the VRRP message. */
export function usesPseudoHeader(ctx: Pick<VrrpChecksumContext, 'version' | 'family' | 'v3Checksum'>): boolean {
  if (ctx.family === 6) return true;
  return ctx.version === 3 && ctx.v3Checksum === 'pseudo-header';
}

/** The pseudo-header to sum under a VRRP message of `length` bytes, or none. */
export function vrrpPseudoHeader(ctx: VrrpChecksumContext, length: number): Uint8Array | null {
  if (!usesPseudoHeader(ctx)) return null;
  return ctx.family === 6
    ? ipv6PseudoHeader(ctx.source, ctx.destination, VRRP_PROTOCOL_NUMBER, length)
    : ipv4PseudoHeader(ctx.source, ctx.destination, VRRP_PROTOCOL_NUMBER, length);
}

/**
 * The checksum field value for a VRRP message, computed as if its checksum
 * field (bytes 6-7) were zero.
 */
export function vrrpChecksum(message: Uint8Array, ctx: VrrpChecksumContext): number {
  const zeroed = Uint8Array.from(message);
  if (zeroed.length >= 8) {
    zeroed[6] = 0;
    zeroed[7] = 0;
  }
  const pseudo = vrrpPseudoHeader(ctx, message.length);
  return pseudo ? internetChecksum(pseudo, zeroed) : internetChecksum(zeroed);
}

/** True when the message's own checksum field is right for this context. */
export function vrrpChecksumValid(message: Uint8Array, ctx: VrrpChecksumContext): boolean {
  const pseudo = vrrpPseudoHeader(ctx, message.length);
  return pseudo ? verifyInternetChecksum(pseudo, message) : verifyInternetChecksum(message);
}
