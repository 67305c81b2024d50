/**
 * What the kernel says about one interface, read through rtnetlink: index,
 * MAC, flags and addresses. The VRRP socket takes its source address from
 * here (the primary IPv4 address, the IPv6 link-local address), GARP/NA take
 * the MAC, and the agent takes up/running for FAULT.
 */
import { formatIPv4, formatIPv6 } from '../../vrrp/src/address.js';
import type { IpFamily } from '../../vrrp/src/types.js';
import { KqError } from '../../common/src/errors.js';
import { AF_INET, AF_INET6, netlinkErrno, netlinkError, requestOptions, rtRequest, type AddressMessage, type LinkMessage } from './netlink.js';

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
export async function getLink(name: string): Promise<LinkMessage> {
  if (name.length === 0 || name.length > 15 || name.includes('/') || /\s/.test(name)) throw missing(name);
  let links: LinkMessage[];
  try {
    links = await rtRequest((nl) => nl.getLink({}, { ifname: name }, requestOptions));
  } catch (cause) {
    if (netlinkErrno(cause) === 'ENODEV') throw missing(name, cause);
    throw netlinkError(`reading interface ${name}`, cause);
  }
  const link = links.find((l) => l.attrs.ifname === name);
  if (!link || link.data.index === undefined) throw missing(name);
  return link;
}

/** Every address of one interface (index), both families, in the kernel's order. */
export async function addressesOfIndex(index: number): Promise<InterfaceAddress[]> {
  let messages: AddressMessage[];
  try {
    messages = await rtRequest((nl) => nl.getAddresses({}, {}, requestOptions));
  } catch (cause) {
    throw netlinkError('listing addresses', cause);
  }
  const result: InterfaceAddress[] = [];
  for (const message of messages) {
    if (message.data.index !== index) continue;
    const converted = toInterfaceAddress(message);
    if (converted) result.push(converted);
  }
  return result;
}

export function toInterfaceAddress(message: AddressMessage): InterfaceAddress | undefined {
  const { data, attrs } = message;
  // IFA_LOCAL is our address; IFA_ADDRESS is the peer on point-to-point links.
  const bytes = attrs.local ?? attrs.address;
  if (!bytes) return undefined;
  const flags = attrs.flags ?? data.flags ?? {};
  let family: IpFamily;
  let address: string;
  if (data.family === AF_INET && bytes.length === 4) {
    family = 4;
    address = formatIPv4(bytes);
  } else if (data.family === AF_INET6 && bytes.length === 16) {
    family = 6;
    address = formatIPv6(bytes);
  } else {
    return undefined;
  }
  const result: InterfaceAddress = {
    family,
    address,
    prefixLength: data.prefixlen ?? (family === 4 ? 32 : 128),
    scope: data.scope ?? 0,
    secondary: flags.secondary === true,
    deprecated: flags.deprecated === true,
    tentative: flags.tentative === true,
    nodad: flags.nodad === true,
  };
  if (attrs.label !== undefined) result.label = attrs.label;
  if (attrs.broadcast && attrs.broadcast.length === 4) result.broadcast = formatIPv4(attrs.broadcast);
  return result;
}

function isLinkLocal6(address: InterfaceAddress): boolean {
  return address.family === 6 && /^fe[89ab][0-9a-f]:/i.test(address.address);
}

/** Look an interface up by name: index, MAC, flags and addresses. */
export async function getInterface(name: string): Promise<InterfaceInfo> {
  const link = await getLink(name);
  const index = link.data.index as number;
  const addresses = await addressesOfIndex(index);
  return describe(link, addresses);
}

export function describe(link: LinkMessage, addresses: InterfaceAddress[]): InterfaceInfo {
  const flags = link.data.flags ?? {};
  const macBytes = link.attrs.address && link.attrs.address.length === 6 ? Buffer.from(link.attrs.address) : Buffer.alloc(0);
  const ipv4 = addresses.filter((a) => a.family === 4);
  const ipv6 = addresses.filter((a) => a.family === 6);
  const linkLocal = ipv6.find((a) => isLinkLocal6(a) && !a.tentative) ?? ipv6.find(isLinkLocal6);
  return {
    name: link.attrs.ifname ?? '',
    index: link.data.index as number,
    mac: formatMac(macBytes),
    macBytes,
    mtu: link.attrs.mtu ?? 0,
    up: flags.up === true,
    running: flags.running === true,
    lowerUp: flags.lowerUp === true,
    ipv4,
    ipv6,
    primaryIpv4: ipv4.find((a) => !a.secondary)?.address,
    ipv6LinkLocal: linkLocal?.address,
  };
}
