/**
 * keepalived's vrrp_sync_group: the member instances move together. Pure rules;
 * the agent applies what they return.
 *
 * - A member that becomes MASTER (by its own election) pulls the others from
 *   BACKUP to MASTER; one that drops from MASTER to BACKUP pulls the others
 *   down. A transition that was itself a follow leads nobody (no echo).
 * - A member with a fault of its own (not one it got from the group) puts
 *   every other member in FAULT, through a fault source named after the group,
 *   until that fault clears.
 */
import type { VrrpEvent, VrrpStateName } from '../../../libs/vrrp/src/mod.js';

export const SYNC_FOLLOW_PREFIX = 'sync group: ';

export interface SyncGroup {
  name: string;
  members: readonly string[];
}

export interface MemberTransition {
  member: string;
  from: VrrpStateName;
  to: VrrpStateName;
  reason: string;
}

export interface FollowUp {
  member: string;
  event: VrrpEvent;
}

export function groupFaultSource(group: SyncGroup): string {
  return `sync group ${group.name}`;
}

/** What the other members must do after `t`. */
export function followTransition(group: SyncGroup, t: MemberTransition): FollowUp[] {
  if (!group.members.includes(t.member) || t.reason.startsWith(SYNC_FOLLOW_PREFIX)) return [];
  let to: 'MASTER' | 'BACKUP' | undefined;
  if (t.to === 'MASTER') to = 'MASTER';
  else if (t.from === 'MASTER' && t.to === 'BACKUP') to = 'BACKUP';
  if (!to) return [];
  const detail = `${t.member} became ${to} in group ${group.name}`;
  return group.members.filter((m) => m !== t.member).map((member) => ({ member, event: { type: 'follow', to, detail } }));
}

/**
 * The group fault each member must carry, from every member's own faults
 * (those not received from this group): active for a member when any other
 * member has a fault of its own.
 */
export function groupFaults(group: SyncGroup, faultsOf: (member: string) => readonly string[]): FollowUp[] {
  const source = groupFaultSource(group);
  const own = new Map(group.members.map((m) => [m, faultsOf(m).filter((f) => f !== source)]));
  return group.members.map((member) => {
    const culprits = group.members.filter((other) => other !== member && (own.get(other)?.length ?? 0) > 0);
    const event: VrrpEvent =
      culprits.length > 0
        ? { type: 'fault', source, active: true, detail: `${culprits.join(', ')} faulty (${culprits.map((c) => own.get(c)!.join(', ')).join('; ')})` }
        : { type: 'fault', source, active: false, detail: 'every member healthy' };
    return { member, event };
  });
}

/** The state a group's notify scripts report: FAULT if any member is, MASTER if all are, STOP if all stopped, else BACKUP. */
export function groupState(states: readonly VrrpStateName[]): 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP' {
  if (states.some((s) => s === 'FAULT')) return 'FAULT';
  if (states.length > 0 && states.every((s) => s === 'MASTER')) return 'MASTER';
  if (states.length > 0 && states.every((s) => s === 'INIT')) return 'STOP';
  return 'BACKUP';
}
