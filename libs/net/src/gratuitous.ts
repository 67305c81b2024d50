/**
 * Telling the segment who holds a VIP now: gratuitous ARP for IPv4 and an
 * unsolicited Neighbour Advertisement for IPv6, both as Ethernet frames sent
 * through AF_PACKET (our addon), byte for byte as keepalived builds them:
 *
 *  - GARP: an ARP *request*, sender = target = VIP, sender MAC = interface
 *    MAC, target MAC ff:ff:ff:ff:ff:ff, to the Ethernet broadcast.
 *  - NA: from the VIP to ff02::1 (33:33:00:00:00:01), hop limit 255,
 *    Override set, Solicited clear, Router set when the interface forwards
 *    IPv6, with a Target Link-Layer Address option.
 *
 * `garpSchedule` says when to send them, with keepalived's
 * vrrp_garp_master_delay / _repeat / _refresh / _refresh_repeat and
 * vrrp_garp_interval semantics and defaults.
 */
import { readFileSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { parseIPv4, parseIPv6 } from '../../vrrp/src/address.js';
import { KqError } from '../../common/src/errors.js';
import { getInterface, type InterfaceInfo } from './interfaces.js';
import { nativeAddon } from './native.js';

const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERNET_HEADER = 14;
const ARP_LENGTH = 28;
const IPV6_HEADER = 40;
/** ICMPv6 NA (24 bytes) + Target Link-Layer Address option (8 bytes). */
const NA_LENGTH = 32;
const ICMPV6 = 58;
const ND_NEIGHBOR_ADVERT = 136;
const NA_FLAG_ROUTER = 0x80;
const NA_FLAG_OVERRIDE = 0x20;
const ND_OPT_TARGET_LINKADDR = 2;
const ALL_NODES = Buffer.from('ff020000000000000000000000000001', 'hex');

function requireMac(mac: Uint8Array, what: string): void {
  if (mac.length !== 6) throw new KqError('KQ_ERR_SOCKET', `${what}: the interface has no Ethernet address to announce`);
}

/** The gratuitous ARP frame (42 bytes) announcing `address` at `mac`. */
export function buildGratuitousArp(address: string, mac: Uint8Array): Buffer {
  const ip = parseIPv4(address);
  if (!ip) throw new KqError('KQ_ERR_CONFIG_VALUE', `gratuitous ARP: "${address}" is not an IPv4 address`);
  requireMac(mac, `gratuitous ARP for ${address}`);
  const frame = Buffer.alloc(ETHERNET_HEADER + ARP_LENGTH);
  frame.fill(0xff, 0, 6);
  frame.set(mac, 6);
  frame.writeUInt16BE(ETHERTYPE_ARP, 12);
  const arp = ETHERNET_HEADER;
  frame.writeUInt16BE(1, arp); // hardware: Ethernet
  frame.writeUInt16BE(0x0800, arp + 2); // protocol: IPv4
  frame[arp + 4] = 6;
  frame[arp + 5] = 4;
  frame.writeUInt16BE(1, arp + 6); // request, the form keepalived sends and every stack honours
  frame.set(mac, arp + 8);
  frame.set(ip, arp + 14);
  frame.fill(0xff, arp + 18, arp + 24);
  frame.set(ip, arp + 24);
  return frame;
}

/** The ones' complement sum over the IPv6 pseudo-header and the ICMPv6 message (RFC 4443 §2.3). */
export function icmpv6Checksum(source: Uint8Array, destination: Uint8Array, message: Uint8Array): number {
  let sum = 0;
  const add16 = (bytes: Uint8Array, length: number): void => {
    for (let i = 0; i + 1 < length; i += 2) sum += ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
    if (length % 2 === 1) sum += (bytes[length - 1] as number) << 8;
  };
  add16(source, 16);
  add16(destination, 16);
  sum += message.length >>> 16;
  sum += message.length & 0xffff;
  sum += ICMPV6;
  add16(message, message.length);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The unsolicited Neighbour Advertisement frame (86 bytes) announcing `address` at `mac`. */
export function buildUnsolicitedNa(address: string, mac: Uint8Array, options: { router: boolean }): Buffer {
  const ip = parseIPv6(address);
  if (!ip) throw new KqError('KQ_ERR_CONFIG_VALUE', `neighbour advertisement: "${address}" is not an IPv6 address`);
  requireMac(mac, `neighbour advertisement for ${address}`);
  const frame = Buffer.alloc(ETHERNET_HEADER + IPV6_HEADER + NA_LENGTH);
  // RFC 2464 §7: 33:33 followed by the low 32 bits of the group.
  frame.set([0x33, 0x33, 0, 0, 0, 1], 0);
  frame.set(mac, 6);
  frame.writeUInt16BE(ETHERTYPE_IPV6, 12);
  const ip6 = ETHERNET_HEADER;
  frame[ip6] = 0x60;
  frame.writeUInt16BE(NA_LENGTH, ip6 + 4);
  frame[ip6 + 6] = ICMPV6;
  frame[ip6 + 7] = 255; // RFC 4861 §7.1.2: receivers drop NDP with any other hop limit
  frame.set(ip, ip6 + 8);
  ALL_NODES.copy(frame, ip6 + 24);
  const na = ip6 + IPV6_HEADER;
  frame[na] = ND_NEIGHBOR_ADVERT;
  frame[na + 4] = NA_FLAG_OVERRIDE | (options.router ? NA_FLAG_ROUTER : 0);
  frame.set(ip, na + 8);
  frame[na + 24] = ND_OPT_TARGET_LINKADDR;
  frame[na + 25] = 1; // option length in units of 8 bytes
  frame.set(mac, na + 26);
  frame.writeUInt16BE(icmpv6Checksum(ip, ALL_NODES, frame.subarray(na)), na + 2);
  return frame;
}

/** Whether the interface forwards IPv6: keepalived sets the NA Router flag from this. */
export function ipv6Forwarding(ifname: string): boolean {
  try {
    return readFileSync(`/proc/sys/net/ipv6/conf/${ifname}/forwarding`, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

function sendFrame(iface: InterfaceInfo, frame: Buffer, what: string): void {
  const errno = nativeAddon().packetSend(iface.index, frame);
  if (errno !== 0) {
    let name: string;
    try {
      name = getSystemErrorName(-errno);
    } catch {
      name = `errno ${errno}`;
    }
    const privilege = name === 'EPERM' || name === 'EACCES';
    throw new KqError(
      privilege ? 'KQ_ERR_PRIVILEGE' : 'KQ_ERR_SOCKET',
      `${what} on ${iface.name} failed: ${name}${privilege ? ' (packet sockets need CAP_NET_RAW)' : ''}`,
    );
  }
}

async function resolve(iface: InterfaceInfo | string): Promise<InterfaceInfo> {
  return typeof iface === 'string' ? getInterface(iface) : iface;
}

/** Sends one gratuitous ARP for an IPv4 VIP. Pass the InterfaceInfo to skip the netlink lookup. */
export async function sendGratuitousArp(iface: InterfaceInfo | string, address: string): Promise<void> {
  const info = await resolve(iface);
  sendFrame(info, buildGratuitousArp(address, info.macBytes), `gratuitous ARP for ${address}`);
}

/**
 * Sends one unsolicited Neighbour Advertisement for an IPv6 VIP. `router`
 * defaults to whether the interface forwards IPv6, as in keepalived.
 */
export async function sendUnsolicitedNa(iface: InterfaceInfo | string, address: string, options: { router?: boolean } = {}): Promise<void> {
  const info = await resolve(iface);
  const router = options.router ?? ipv6Forwarding(info.name);
  sendFrame(info, buildUnsolicitedNa(address, info.macBytes, { router }), `neighbour advertisement for ${address}`);
}

/** GARP for an IPv4 address, NA for an IPv6 one. */
export async function announceAddress(iface: InterfaceInfo | string, address: string): Promise<void> {
  announceAddressNow(await resolve(iface), address);
}

/**
 * As announceAddress, for an interface already looked up: the frame is with
 * the kernel when this returns (a takeover announces in the same turn of the
 * loop as it adds the VIP). Throws a KqError when the send fails.
 */
export function announceAddressNow(info: InterfaceInfo, address: string): void {
  if (parseIPv4(address)) {
    sendFrame(info, buildGratuitousArp(address, info.macBytes), `gratuitous ARP for ${address}`);
    return;
  }
  sendFrame(info, buildUnsolicitedNa(address, info.macBytes, { router: ipv6Forwarding(info.name) }), `neighbour advertisement for ${address}`);
}

/** keepalived's global_defs knobs for gratuitous ARP / NA after becoming MASTER. */
export interface GarpOptions {
  /** vrrp_garp_master_delay: seconds until the second set; 0: no second set. */
  masterDelayS: number;
  /** vrrp_garp_master_repeat: messages per address in each set. */
  masterRepeat: number;
  /** vrrp_garp_master_refresh: seconds between refresh sets while MASTER; 0: no refresh. */
  masterRefreshS: number;
  /** vrrp_garp_master_refresh_repeat: messages per address in each refresh set. */
  masterRefreshRepeat: number;
  /** vrrp_garp_interval (and vrrp_gna_interval): seconds between two messages on one interface. */
  intervalS: number;
}

/** keepalived's defaults (keepalived.conf(5)). */
export const KEEPALIVED_GARP_DEFAULTS: Readonly<GarpOptions> = Object.freeze({
  masterDelayS: 5,
  masterRepeat: 5,
  masterRefreshS: 0,
  masterRefreshRepeat: 1,
  intervalS: 0,
});

export interface GarpSend {
  /** Milliseconds after the reference instant (the MASTER transition, or the refresh tick). */
  atMs: number;
  /** Which of the repeats this message is (0-based) within its set. */
  round: number;
  /** Which address (0-based, in the caller's order) it announces. */
  addressIndex: number;
}

export interface GarpSchedule {
  /** The sets sent on becoming MASTER: one at once, one after masterDelayS. Offsets from the transition. */
  onMaster: GarpSend[];
  /**
   * While MASTER, every `everyMs` from the transition on, send `sends` (offsets from each tick).
   * Undefined when refreshing is off (the default).
   */
  refresh: { everyMs: number; sends: GarpSend[] } | undefined;
}

function checkOption(name: keyof GarpOptions, value: number, integer: boolean): void {
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new KqError('KQ_ERR_CONFIG_VALUE', `${name} must be a ${integer ? 'whole number' : 'number'} ≥ 0, got ${value}`);
  }
}

/**
 * What to send when, for `addressCount` addresses on one interface. A set is
 * `repeat` rounds of one message per address; consecutive messages on an
 * interface are at least `intervalS` apart, as keepalived queues them, so a
 * set that is still going when the next is due pushes the next one later.
 */
export function garpSchedule(options: Partial<GarpOptions> & { addressCount?: number } = {}): GarpSchedule {
  const o: GarpOptions = { ...KEEPALIVED_GARP_DEFAULTS, ...stripUndefined(options) };
  const addressCount = options.addressCount ?? 1;
  checkOption('masterDelayS', o.masterDelayS, false);
  checkOption('masterRepeat', o.masterRepeat, true);
  checkOption('masterRefreshS', o.masterRefreshS, false);
  checkOption('masterRefreshRepeat', o.masterRefreshRepeat, true);
  checkOption('intervalS', o.intervalS, false);
  if (!Number.isInteger(addressCount) || addressCount < 0) {
    throw new KqError('KQ_ERR_CONFIG_VALUE', `addressCount must be a whole number ≥ 0, got ${addressCount}`);
  }
  const intervalMs = o.intervalS * 1000;
  const spaced = (startsMs: number[], repeat: number): GarpSend[] => {
    const sends: GarpSend[] = [];
    let earliest = 0;
    for (const startMs of startsMs) {
      for (let round = 0; round < repeat; round++) {
        for (let addressIndex = 0; addressIndex < addressCount; addressIndex++) {
          const atMs = Math.max(startMs, earliest);
          sends.push({ atMs, round, addressIndex });
          earliest = atMs + intervalMs;
        }
      }
    }
    return sends;
  };
  const starts = o.masterDelayS > 0 ? [0, o.masterDelayS * 1000] : [0];
  const onMaster = spaced(starts, o.masterRepeat);
  const refresh = o.masterRefreshS > 0 ? { everyMs: o.masterRefreshS * 1000, sends: spaced([0], o.masterRefreshRepeat) } : undefined;
  return { onMaster, refresh };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
