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

export interface VipChange {
  vip: PlacedVip;
  /** false when there was nothing to do (already there, already gone) or it failed. */
  changed: boolean;
}

/** Whether any VIP changed, from per-VIP results that may still be on their way. */
export function anyChanged(results: VipChange[] | Promise<VipChange[]>): boolean | Promise<boolean> {
  const any = (r: VipChange[]) => r.some((c) => c.changed);
  return Array.isArray(results) ? any(results) : results.then(any);
}

/**
 * Add every VIP. Synchronous when every interface's index is known (the
 * takeover path: VIP and gratuitous ARP in one turn of the loop); otherwise
 * through the asynchronous lookup.
 */
export function addAll(vips: readonly PlacedVip[], index: IndexHint = () => undefined): VipChange[] | Promise<VipChange[]> {
  if (vips.every((v) => index(v.interface) !== undefined)) {
    return vips.map((v) => ({ vip: v, changed: addVipNow(v.interface, index(v.interface)!, v.vip) }));
  }
  return (async () => {
    const out: VipChange[] = [];
    for (const v of vips) out.push({ vip: v, changed: await addVip(v.interface, v.vip, hint(index, v.interface)) });
    return out;
  })();
}

/** Remove every VIP; one that cannot be removed is logged and the others still go. */
export function removeAll(vips: readonly PlacedVip[], log: Logger, index: IndexHint = () => undefined): VipChange[] | Promise<VipChange[]> {
  const failed = (v: PlacedVip, err: unknown): VipChange => {
    log.error({ vip: v.text, err }, 'VIP not removed');
    return { vip: v, changed: false };
  };
  if (vips.every((v) => index(v.interface) !== undefined)) {
    return vips.map((v) => {
      try {
        return { vip: v, changed: removeVipNow(v.interface, index(v.interface)!, v.vip) };
      } catch (err) {
        return failed(v, err);
      }
    });
  }
  return (async () => {
    const out: VipChange[] = [];
    for (const v of vips) {
      try {
        out.push({ vip: v, changed: await removeVip(v.interface, v.vip, hint(index, v.interface)) });
      } catch (err) {
        out.push(failed(v, err));
      }
    }
    return out;
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
