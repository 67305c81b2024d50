/**
 * Address text <-> bytes on the packet path. A VRRP socket sees the same few
 * peers and groups over and over, so both directions are memoised in small
 * bounded caches instead of formatting or parsing on every packet.
 */
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../../vrrp/src/address.js';
import type { IpFamily } from '../../vrrp/src/types.js';
import { KqError } from '../../common/src/errors.js';

/** Text of addresses read from packets, remembered for the last few distinct ones. */
export class AddressFormatter {
  private readonly slots: Array<{ bytes: Buffer; text: string }> = [];
  private next = 0;

  constructor(
    private readonly family: IpFamily,
    private readonly capacity = 8,
  ) {}

  /** The canonical text of the address at `offset` in `packet`. */
  format(packet: Buffer, offset: number): string {
    const width = this.family === 4 ? 4 : 16;
    for (const slot of this.slots) {
      if (packet.compare(slot.bytes, 0, width, offset, offset + width) === 0) return slot.text;
    }
    const text = this.family === 4 ? formatIPv4(packet, offset) : formatIPv6(packet, offset);
    const bytes = Buffer.from(packet.subarray(offset, offset + width));
    if (this.slots.length < this.capacity) this.slots.push({ bytes, text });
    else {
      this.slots[this.next] = { bytes, text };
      this.next = (this.next + 1) % this.capacity;
    }
    return text;
  }
}

/** Bytes of addresses given as text (destinations), parsed once each. */
export class AddressParser {
  private readonly cache = new Map<string, Buffer>();

  constructor(
    private readonly family: IpFamily,
    private readonly capacity = 64,
  ) {}

  /** The address bytes, or undefined when the text is not an address of this family. */
  parse(text: string): Buffer | undefined {
    const cached = this.cache.get(text);
    if (cached) return cached;
    const bytes = this.family === 4 ? parseIPv4(text) : parseIPv6(text);
    if (!bytes) return undefined;
    const buffer = Buffer.from(bytes);
    // Destinations are the group and the configured peers: a full cache means misuse, not a working set.
    if (this.cache.size >= this.capacity) this.cache.clear();
    this.cache.set(text, buffer);
    return buffer;
  }
}

export function requireAddress(text: string, family: IpFamily, what: string): Buffer {
  const bytes = family === 4 ? parseIPv4(text) : parseIPv6(text);
  if (!bytes) {
    throw new KqError('KQ_ERR_CONFIG_VALUE', `${what} "${text}" is not an IPv${family} address`);
  }
  return Buffer.from(bytes);
}

export function isMulticast(bytes: Uint8Array, family: IpFamily): boolean {
  const first = bytes[0] as number;
  return family === 4 ? first >= 224 && first <= 239 : first === 0xff;
}
