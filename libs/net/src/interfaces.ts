/**
 * What the kernel says about one interface, read through rtnetlink: index,
 * MAC, flags and addresses. The VRRP socket takes its source address from
 * here (the primary IPv4 address, the IPv6 link-local address), GARP/NA take
 * the MAC, and the agent takes up/running for FAULT.
 */
import { formatIPv4, formatIPv6 } from '../../vrrp/src/address.js';
import type { IpFamily } from '../../vrrp/src/types.js';
import { KqError } from '../../common/src/errors.js';
import { AF_INET, AF_INET6, netlinkErrno, netlinkError, REQUEST_TIMEOUT_MS, rtRequest } from './netlink.js';
import {
  dumpAddressesRequest,
  getLinkRequest,
  IFA_F_DEPRECATED,
  IFA_F_NODAD,
  IFA_F_SECONDARY,
  IFA_F_TENTATIVE,
  IFF_LOWER_UP,
  IFF_RUNNING,
  IFF_UP,
  parseAddress,
  parseLink,
  RTM_NEWADDR,
  RTM_NEWLINK,
  type AddressInfo,
  type LinkInfo,
} from './rtnetlink.js';

/** rtnetlink address scopes (RT_SCOPE_*). */
export const AddressScope = { global: 0, site: 200, link: 253, host: 254, nowhere: 255 } as const;
export type AddressScopeName = keyof typeof AddressScope;

export interface InterfaceAddress {
  family: IpFamily;
  /** Canonical text (RFC 5952 for IPv6). */
  address: string;
  prefixLength: number;
  /** RT_SCOPE_* number: 0 global, 253 link, 254 host. */
  scope: number;
  /** IPv4: another address of the same subnet came first (IFA_F_SECONDARY). */
  secondary: boolean;
  /** IPv6: preferred lifetime 0, never chosen as a source address. */
  deprecated: boolean;
  /** IPv6: duplicate address detection still running. */
  tentative: boolean;
  nodad: boolean;
  /** IPv4 label ("eth0", "eth0:vip"). */
  label?: string;
  /** IPv4 broadcast address, when set. */
  broadcast?: string;
}

export interface InterfaceInfo {
  name: string;
  index: number;
  /** "aa:bb:cc:dd:ee:ff", or "" for interfaces without one. */
  mac: string;
  /** The 6 MAC bytes (empty when the interface has no Ethernet address). */
  macBytes: Buffer;
  mtu: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Operationally up (IFF_RUNNING): up and carrier. */
  running: boolean;
  /** Carrier present (IFF_LOWER_UP). */
  lowerUp: boolean;
  ipv4: InterfaceAddress[];
  ipv6: InterfaceAddress[];
  /** The first IPv4 address that is not secondary: what VRRP sends from by default. */
  primaryIpv4: string | undefined;
  /** The IPv6 link-local address (fe80::/10): what VRRP over IPv6 sends from by default. */
  ipv6LinkLocal: string | undefined;
}

export function formatMac(bytes: Uint8Array | undefined): string {
  if (!bytes || bytes.length === 0) return '';
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(text: string): Buffer {
  const parts = text.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new KqError('KQ_ERR_CONFIG_VALUE', `"${text}" is not a MAC address (six hex bytes separated by colons)`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

function missing(name: string, cause?: unknown): KqError {
  return new KqError(
    'KQ_ERR_INTERFACE_MISSING',
    `interface "${name}" does not exist in this network namespace (\`ip link show\` lists the interfaces)`,
    undefined,
    cause === undefined ? undefined : { cause },
  );
}

/** The kernel's view of one link by name; throws KQ_ERR_INTERFACE_MISSING when there is none. */
export async function getLink(name: string): Promise<LinkInfo> {
  if (name.length === 0 || name.length > 15 || name.includes('/') || /\s/.test(name)) throw missing(name);
  let links: LinkInfo[];
  try {
    const replies = await rtRequest((nl) => nl.request((seq) => getLinkRequest(seq, name), REQUEST_TIMEOUT_MS));
    links = replies.filter((m) => m.type === RTM_NEWLINK).map((m) => parseLink(m.payload)).filter((l): l is LinkInfo => l !== undefined);
  } catch (cause) {
    if (netlinkErrno(cause) === 'ENODEV') throw missing(name, cause);
    throw netlinkError(`reading interface ${name}`, cause);
  }
  const link = links.find((l) => l.name === name);
  if (!link || link.index <= 0) throw missing(name);
  return link;
}

/** Every address of one interface (index), both families, in the kernel's order. */
export async function addressesOfIndex(index: number): Promise<InterfaceAddress[]> {
  let messages: AddressInfo[];
  try {
    const replies = await rtRequest((nl) => nl.request((seq) => dumpAddressesRequest(seq), REQUEST_TIMEOUT_MS));
    messages = replies.filter((m) => m.type === RTM_NEWADDR).map((m) => parseAddress(m.payload)).filter((a): a is AddressInfo => a !== undefined);
  } catch (cause) {
    throw netlinkError('listing addresses', cause);
  }
  const result: InterfaceAddress[] = [];
  for (const message of messages) {
    if (message.index !== index) continue;
    const converted = toInterfaceAddress(message);
    if (converted) result.push(converted);
  }
  return result;
}

export function toInterfaceAddress(message: AddressInfo): InterfaceAddress | undefined {
  // IFA_LOCAL is our address; IFA_ADDRESS is the peer on point-to-point links.
  const bytes = message.local ?? message.address;
  if (!bytes) return undefined;
  let family: IpFamily;
  let address: string;
  if (message.family === AF_INET && bytes.length === 4) {
    family = 4;
    address = formatIPv4(bytes);
  } else if (message.family === AF_INET6 && bytes.length === 16) {
    family = 6;
    address = formatIPv6(bytes);
  } else {
    return undefined;
  }
  const result: InterfaceAddress = {
    family,
    address,
    prefixLength: message.prefixLength,
    scope: message.scope,
    secondary: (message.flags & IFA_F_SECONDARY) !== 0,
    deprecated: (message.flags & IFA_F_DEPRECATED) !== 0,
    tentative: (message.flags & IFA_F_TENTATIVE) !== 0,
    nodad: (message.flags & IFA_F_NODAD) !== 0,
  };
  if (message.label !== undefined) result.label = message.label;
  if (message.broadcast && message.broadcast.length === 4) result.broadcast = formatIPv4(message.broadcast);
  return result;
}

function isLinkLocal6(address: InterfaceAddress): boolean {
  return address.family === 6 && /^fe[89ab][0-9a-f]:/i.test(address.address);
}

/** Look an interface up by name: index, MAC, flags and addresses. */
export async function getInterface(name: string): Promise<InterfaceInfo> {
  const link = await getLink(name);
  const addresses = await addressesOfIndex(link.index);
  return describe(link, addresses);
}

export function describe(link: LinkInfo, addresses: InterfaceAddress[]): InterfaceInfo {
  const macBytes = link.mac.length === 6 ? Buffer.from(link.mac) : Buffer.alloc(0);
  const ipv4 = addresses.filter((a) => a.family === 4);
  const ipv6 = addresses.filter((a) => a.family === 6);
  const linkLocal = ipv6.find((a) => isLinkLocal6(a) && !a.tentative) ?? ipv6.find(isLinkLocal6);
  return {
    name: link.name ?? '',
    index: link.index,
    mac: formatMac(macBytes),
    macBytes,
    mtu: link.mtu,
    up: (link.flags & IFF_UP) !== 0,
    running: (link.flags & IFF_RUNNING) !== 0,
    lowerUp: (link.flags & IFF_LOWER_UP) !== 0,
    ipv4,
    ipv6,
    primaryIpv4: ipv4.find((a) => !a.secondary)?.address,
    ipv6LinkLocal: linkLocal?.address,
  };
}
