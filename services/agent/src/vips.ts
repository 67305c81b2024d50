/**
 * An instance's virtual addresses on their interfaces: add all, remove all, and
 * the cleanup of what a killed agent left behind.
 */
import type { Logger } from 'pino';
import { addVip, removeVip, type VirtualAddress as NetVip } from '../../../libs/net/src/mod.js';
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

export async function addAll(vips: readonly PlacedVip[], index: IndexHint = () => undefined): Promise<boolean> {
  let changed = false;
  for (const v of vips) changed = (await addVip(v.interface, v.vip, hint(index, v.interface))) || changed;
  return changed;
}

export async function removeAll(vips: readonly PlacedVip[], log: Logger, index: IndexHint = () => undefined): Promise<boolean> {
  let changed = false;
  for (const v of vips) {
    try {
      changed = (await removeVip(v.interface, v.vip, hint(index, v.interface))) || changed;
    } catch (err) {
      // Keep removing the others: one missing interface must not keep a VIP elsewhere.
      log.error({ vip: v.text, err }, 'VIP not removed');
    }
  }
  return changed;
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
