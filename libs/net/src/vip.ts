/**
 * Virtual addresses on an interface through rtnetlink, idempotent and
 * telling whether anything changed (kube-vip's AddIP habit): add of a present
 * address and removal of an absent one are `false`, not errors. The kernel
 * decides presence atomically (EEXIST / EADDRNOTAVAIL), so two callers racing
 * on one address cannot both see `true`.
 *
 * As keepalived: IPv6 VIPs carry IFA_F_NODAD (usable at once, and a transient
 * split brain cannot leave them "dadfailed" for good), and a /128 IPv6 VIP is
 * added deprecated (preferred lifetime 0) so that the host never picks it as
 * a source address. An IPv4 VIP in the subnet of the interface's address
 * becomes a secondary address: the kernel keeps the real address primary.
 */
import { formatAddress, parseIPv4, parseIPv6 } from '../../vrrp/src/address.js';
import type { IpFamily } from '../../vrrp/src/types.js';
import { KqError } from '../../common/src/errors.js';
import { AddressScope, addressesOfIndex, getLink, type AddressScopeName, type InterfaceAddress } from './interfaces.js';
import { AF_INET, AF_INET6, netlinkErrno, netlinkError, REQUEST_TIMEOUT_MS, rtRequest } from './netlink.js';
import { deleteAddressRequest, IFA_F_NODAD, newAddressRequest, RtnetlinkError, type AddressChange } from './rtnetlink.js';
import { nativeAddon } from './native.js';
import { getSystemErrorName } from 'node:util';

export interface VirtualAddress {
  address: string;
  prefixLength: number;
  /** IPv4 only: the address label, by convention the interface name and a suffix ("eth0:vip"); at most 15 bytes. */
  label?: string;
  /** IPv4 only: the broadcast address. */
  broadcast?: string;
  /** Default global. */
  scope?: AddressScopeName | number;
}


interface Prepared {
  family: IpFamily;
  bytes: Buffer;
  prefixLength: number;
  scope: number;
}

function prepare(vip: VirtualAddress): Prepared {
  const v4 = parseIPv4(vip.address);
  const v6 = v4 ? null : parseIPv6(vip.address);
  if (!v4 && !v6) throw new KqError('KQ_ERR_CONFIG_VALUE', `virtual address "${vip.address}" is neither IPv4 nor IPv6`);
  const family: IpFamily = v4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  if (!Number.isInteger(vip.prefixLength) || vip.prefixLength < 0 || vip.prefixLength > max) {
    throw new KqError('KQ_ERR_CONFIG_VALUE', `virtual address ${vip.address}: prefix length ${vip.prefixLength} is not in 0..${max}`);
  }
  if (family === 6 && (vip.label !== undefined || vip.broadcast !== undefined)) {
    throw new KqError('KQ_ERR_CONFIG_VALUE', `virtual address ${vip.address}: IPv6 addresses take no label and no broadcast`);
  }
  let scope = 0;
  if (typeof vip.scope === 'number') scope = vip.scope;
  else if (vip.scope !== undefined) {
    const named = AddressScope[vip.scope];
    if (named === undefined) throw new KqError('KQ_ERR_CONFIG_VALUE', `virtual address ${vip.address}: unknown scope "${String(vip.scope)}"`);
    scope = named;
  }
  if (!Number.isInteger(scope) || scope < 0 || scope > 255) {
    throw new KqError('KQ_ERR_CONFIG_VALUE', `virtual address ${vip.address}: scope ${scope} is not in 0..255`);
  }
  return { family, bytes: Buffer.from((v4 ?? v6) as Uint8Array), prefixLength: vip.prefixLength, scope };
}

function checkLabel(vip: VirtualAddress): void {
  if (vip.label !== undefined && (vip.label.length === 0 || Buffer.byteLength(vip.label) > 15)) {
    throw new KqError('KQ_ERR_CONFIG_VALUE', `virtual address ${vip.address}: label "${vip.label}" must be 1 to 15 bytes (the kernel's IFNAMSIZ)`);
  }
}

function describeVip(vip: VirtualAddress, ifname: string): string {
  return `${vip.address}/${vip.prefixLength} on ${ifname}`;
}

export interface VipOptions {
  /**
   * The interface's index, when the caller already knows it (from its socket or
   * link watch): saves a netlink round trip on the takeover path. Linux does not
   * reuse an index while the namespace lives, so a stale one fails (ENODEV)
   * rather than hitting another interface.
   */
  ifindex?: number;
}

async function indexOf(ifname: string, opts: VipOptions): Promise<number> {
  if (opts.ifindex !== undefined && opts.ifindex > 0) return opts.ifindex;
  const link = await getLink(ifname);
  return link.index;
}

/** Adds a virtual address; `true` when added, `false` when it was there already. */
export async function addVip(ifname: string, vip: VirtualAddress, opts: VipOptions = {}): Promise<boolean> {
  const prepared = prepare(vip);
  checkLabel(vip);
  const broadcast = vip.broadcast === undefined ? undefined : parseIPv4(vip.broadcast);
  if (vip.broadcast !== undefined && !broadcast) {
    throw new KqError('KQ_ERR_CONFIG_VALUE', `virtual address ${vip.address}: broadcast "${vip.broadcast}" is not an IPv4 address`);
  }
  const index = await indexOf(ifname, opts);
  const change = addressChange(prepared, vip, index, broadcast);
  try {
    await rtRequest((nl) => nl.request((seq) => newAddressRequest(seq, change), REQUEST_TIMEOUT_MS));
    return true;
  } catch (cause) {
    if (netlinkErrno(cause) === 'EEXIST') return false;
    throw netlinkError(`adding ${describeVip(vip, ifname)}`, cause);
  }
}

/** Removes a virtual address; `true` when removed, `false` when it was not there. */
export async function removeVip(ifname: string, vip: VirtualAddress, opts: VipOptions = {}): Promise<boolean> {
  const prepared = prepare(vip);
  const index = await indexOf(ifname, opts);
  try {
    await rtRequest((nl) =>
      nl.request((seq) => deleteAddressRequest(seq, { family: prepared.family === 4 ? AF_INET : AF_INET6, bytes: prepared.bytes, prefixLength: prepared.prefixLength, index }), REQUEST_TIMEOUT_MS),
    );
    return true;
  } catch (cause) {
    const errno = netlinkErrno(cause);
    if (errno === 'EADDRNOTAVAIL' || errno === 'ESRCH' || errno === 'ENOENT') return false;
    throw netlinkError(`removing ${describeVip(vip, ifname)}`, cause);
  }
}

/** Every address on an interface, both families, in the kernel's order. */
export async function listAddresses(ifname: string): Promise<InterfaceAddress[]> {
  const link = await getLink(ifname);
  return addressesOfIndex(link.index);
}

/** Whether the interface carries this address (any prefix length). */
export async function hasAddress(ifname: string, address: string): Promise<boolean> {
  const wanted = parseIPv4(address) ?? parseIPv6(address);
  if (!wanted) throw new KqError('KQ_ERR_CONFIG_VALUE', `"${address}" is neither IPv4 nor IPv6`);
  const wantedText = formatAddress(wanted);
  return (await listAddresses(ifname)).some((a) => a.address === wantedText);
}

function addressChange(prepared: Prepared, vip: VirtualAddress, index: number, broadcast: Uint8Array | null | undefined): AddressChange {
  const change: AddressChange = {
    family: prepared.family === 4 ? AF_INET : AF_INET6,
    bytes: prepared.bytes,
    prefixLength: prepared.prefixLength,
    scope: prepared.scope,
    index,
  };
  if (prepared.family === 6) {
    change.flags = IFA_F_NODAD;
    if (prepared.prefixLength === 128) change.preferredLifetime = 0;
  }
  if (vip.label !== undefined) change.label = vip.label;
  if (broadcast) change.broadcast = Buffer.from(broadcast);
  return change;
}

let syncSeq = 1;

function ackErrno(message: Buffer): string | undefined {
  const errno = nativeAddon().rtnlAck(message);
  if (errno === 0) return undefined;
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

/**
 * As addVip, synchronously, for an interface whose index is known: the kernel
 * adds the address inside the request, so a takeover can announce it in the
 * same turn of the loop (a fraction of a millisecond, measured).
 */
export function addVipNow(ifname: string, ifindex: number, vip: VirtualAddress): boolean {
  const prepared = prepare(vip);
  checkLabel(vip);
  const broadcast = vip.broadcast === undefined ? undefined : parseIPv4(vip.broadcast);
  if (vip.broadcast !== undefined && !broadcast) {
    throw new KqError('KQ_ERR_CONFIG_VALUE', `virtual address ${vip.address}: broadcast "${vip.broadcast}" is not an IPv4 address`);
  }
  const change = addressChange(prepared, vip, ifindex, broadcast);
  const errno = ackErrno(newAddressRequest(syncSeq++, change));
  if (errno === undefined) return true;
  if (errno === 'EEXIST') return false;
  throw netlinkError(`adding ${describeVip(vip, ifname)}`, new RtnetlinkError(0, errno));
}

/** As removeVip, synchronously, for an interface whose index is known. */
export function removeVipNow(ifname: string, ifindex: number, vip: VirtualAddress): boolean {
  const prepared = prepare(vip);
  const errno = ackErrno(deleteAddressRequest(syncSeq++, { family: prepared.family === 4 ? AF_INET : AF_INET6, bytes: prepared.bytes, prefixLength: prepared.prefixLength, index: ifindex }));
  if (errno === undefined) return true;
  if (errno === 'EADDRNOTAVAIL' || errno === 'ESRCH' || errno === 'ENOENT') return false;
  throw netlinkError(`removing ${describeVip(vip, ifname)}`, new RtnetlinkError(0, errno));
}
