/**
 * An instance's virtual addresses on their interfaces: add all, remove all, and
 * the cleanup of what a killed agent left behind.
 */
import type { Logger } from 'pino';
import { addVip, addVipNow, removeVip, removeVipNow, type VirtualAddress as NetVip } from '../../../libs/net/src/mod.js';
import type { VirtualAddress, VrrpInstanceConfig } from '../../../libs/config/src/mod.js';

export interface PlacedVip {
  interface: string;
  vip: NetVip;
  text: string;
}

function toNet(v: VirtualAddress): NetVip {
  const out: NetVip = { address: v.address, prefixLength: v.prefixLength };
  if (v.label !== undefined) out.label = v.label;
  if (v.broadcast !== undefined && v.broadcast !== '+' && v.broadcast !== '-') out.broadcast = v.broadcast;
  if (v.scope !== undefined) out.scope = v.scope;
  return out;
}

/** Every address the instance holds as master: VIPs and excluded VIPs, each on its device. */
export function placedVips(inst: VrrpInstanceConfig): PlacedVip[] {
  return [...inst.virtualAddresses, ...inst.virtualAddressesExcluded].map((v) => ({
    interface: v.device ?? inst.interface,
    vip: toNet(v),
    text: `${v.address}/${v.prefixLength} dev ${v.device ?? inst.interface}`,
  }));
}

/** An interface's index when known (from a socket or the link watch), to spare a netlink lookup. */
export type IndexHint = (ifname: string) => number | undefined;

function hint(index: IndexHint, ifname: string): { ifindex?: number } {
  const ifindex = index(ifname);
  return ifindex === undefined ? {} : { ifindex };
}

/**
 * Add every VIP. Synchronous when every interface's index is known (the
 * takeover path: VIP and gratuitous ARP in one turn of the loop); otherwise
 * through the asynchronous lookup.
 */
export function addAll(vips: readonly PlacedVip[], index: IndexHint = () => undefined): boolean | Promise<boolean> {
  if (vips.every((v) => index(v.interface) !== undefined)) {
    let changed = false;
    for (const v of vips) changed = addVipNow(v.interface, index(v.interface)!, v.vip) || changed;
    return changed;
  }
  return (async () => {
    let changed = false;
    for (const v of vips) changed = (await addVip(v.interface, v.vip, hint(index, v.interface))) || changed;
    return changed;
  })();
}

/** Remove every VIP; one that cannot be removed is logged and the others still go. */
export function removeAll(vips: readonly PlacedVip[], log: Logger, index: IndexHint = () => undefined): boolean | Promise<boolean> {
  const failed = (v: PlacedVip, err: unknown) => log.error({ vip: v.text, err }, 'VIP not removed');
  if (vips.every((v) => index(v.interface) !== undefined)) {
    let changed = false;
    for (const v of vips) {
      try {
        changed = removeVipNow(v.interface, index(v.interface)!, v.vip) || changed;
      } catch (err) {
        failed(v, err);
      }
    }
    return changed;
  }
  return (async () => {
    let changed = false;
    for (const v of vips) {
      try {
        changed = (await removeVip(v.interface, v.vip, hint(index, v.interface))) || changed;
      } catch (err) {
        failed(v, err);
      }
    }
    return changed;
  })();
}

/**
 * Remove the VIPs of every instance that is not the address owner: what a
 * killed agent left must not stay (two holders) when we start or after we
 * stopped. An owner's (priority 255) addresses are its own real addresses.
 */
export async function cleanupLeftoverVips(instances: readonly VrrpInstanceConfig[], log: Logger): Promise<string[]> {
  const removed: string[] = [];
  for (const inst of instances) {
    if (inst.priority === 255) continue;
    for (const v of placedVips(inst)) {
      try {
        if (await removeVip(v.interface, v.vip)) removed.push(v.text);
      } catch (err) {
        log.warn({ instance: inst.name, vip: v.text, err: (err as Error).message }, 'leftover VIP check failed');
      }
    }
  }
  return removed;
}
