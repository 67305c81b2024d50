/**
 * What one instance tracks (vrrp_scripts and probes, interfaces) and what
 * follows from it: the effective priority and the fault sources, through the
 * pure `effectivePriority` of libs/checks. The agent feeds statuses in and
 * forwards the verdict's changes to the instance's state machine.
 */
import { effectivePriority, type PriorityVerdict, type TrackStatus } from '../../../libs/checks/src/mod.js';
import type { AgentConfig, VrrpInstanceConfig } from '../../../libs/config/src/mod.js';

export interface TrackedItem {
  /** How it reads in reasons: the script name, or "interface eth1". */
  label: string;
  kind: 'check' | 'interface';
  /** The script name or the interface name. */
  key: string;
  weight: number;
  reverse: boolean;
}

export function trackedItems(inst: VrrpInstanceConfig, config: AgentConfig): TrackedItem[] {
  const items: TrackedItem[] = [];
  for (const ref of inst.trackScripts) {
    const script = config.scripts[ref.name];
    if (!script) continue; // the config validation refuses unknown names
    items.push({ label: ref.name, kind: 'check', key: ref.name, weight: ref.weight ?? script.weight, reverse: ref.reverse ?? script.weightReverse });
  }
  for (const t of inst.trackInterfaces) {
    items.push({ label: `interface ${t.name}`, kind: 'interface', key: t.name, weight: t.weight, reverse: t.reverse });
  }
  return items;
}

export interface TrackingChange {
  verdict: PriorityVerdict;
  priorityChanged: boolean;
  /** Fault sources to set (true) or clear (false). */
  faults: Array<{ source: string; active: boolean }>;
  /** No weight-0 item is waiting for its first result any more. */
  ready: boolean;
}

export class InstanceTracking {
  private readonly status = new Map<string, TrackStatus>();
  private last: PriorityVerdict;

  constructor(
    readonly base: number,
    readonly items: readonly TrackedItem[],
  ) {
    for (const i of items) this.status.set(i.label, 'init');
    this.last = this.compute();
  }

  get verdict(): PriorityVerdict {
    return this.last;
  }

  /** Waiting for a weight-0 check's first result: keepalived keeps such an instance in INIT. */
  get ready(): boolean {
    return this.last.pending.length === 0;
  }

  tracks(kind: TrackedItem['kind'], key: string): boolean {
    return this.items.some((i) => i.kind === kind && i.key === key);
  }

  /** Record a status; returns what changed, or undefined when nothing did. */
  update(kind: TrackedItem['kind'], key: string, status: TrackStatus): TrackingChange | undefined {
    let touched = false;
    for (const i of this.items) {
      if (i.kind !== kind || i.key !== key || this.status.get(i.label) === status) continue;
      this.status.set(i.label, status);
      touched = true;
    }
    if (!touched) return undefined;
    const before = this.last;
    const after = this.compute();
    this.last = after;
    const faults: TrackingChange['faults'] = [];
    for (const f of after.fault) if (!before.fault.includes(f)) faults.push({ source: `track ${f}`, active: true });
    for (const f of before.fault) if (!after.fault.includes(f)) faults.push({ source: `track ${f}`, active: false });
    return { verdict: after, priorityChanged: after.priority !== before.priority, faults, ready: after.pending.length === 0 };
  }

  private compute(): PriorityVerdict {
    return effectivePriority(
      this.base,
      this.items.map((i) => ({ name: i.label, weight: i.weight, reverse: i.reverse, status: this.status.get(i.label) ?? 'init' })),
    );
  }
}
