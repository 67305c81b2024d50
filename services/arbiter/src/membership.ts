/**
 * Who is there: the agents' heartbeats (`ha.<cluster>.arb.hb.<node>`) and their
 * events (vrrp.transition, vip.added, vip.removed) folded into the view.
 *
 * - A heartbeat makes its node connected, sets its gateway verdict, and makes it
 *   a member of each instance it reports (state, priority, VIP), as far as the
 *   configuration lets it (an instance's `members` list). An instance it no
 *   longer reports loses it as a member.
 * - A node is gone after `missed` of its own heartbeat intervals without one:
 *   not connected, and no longer a member of anything (what it last said about
 *   itself is no evidence any more, and would look like a split brain next to
 *   its successor). The shell then asks decide() `nodeGone` for each instance.
 * - A new bootId is a new incarnation: the old one is taken as gone first, so
 *   a fence of the old incarnation no longer counts (view.ts recordConnection).
 *
 * Time here is the replica's monotonic clock for silence (a wall-clock jump
 * must not make every node gone at once) and the wall clock for the view.
 */
import type { ArbiterView, MemberView } from '../../../libs/arbiter/src/types.js';
import { recordConnection, recordMember, recordMemberRemoved, recordNodeGateway } from '../../../libs/arbiter/src/view.js';
import type { Heartbeat } from '../../../libs/arbiter/src/protocol.js';
import type { AnyEnvelope } from '../../../libs/events/src/mod.js';

interface Tracked {
  bootId: string;
  intervalMs: number;
  /** Monotonic ms of the last heartbeat. */
  lastAt: number;
  gone: boolean;
  instances: Set<string>;
  /** Known from the event stream at start (seed), not heard from yet. */
  seeded?: boolean;
}

export interface HeartbeatFold {
  view: ArbiterView;
  /** The node was gone (or never seen) and is back. */
  connected: boolean;
  /** Instances whose members changed: reconcile them. */
  changed: string[];
  /** Instances it reports that the configuration does not know (logged once by the shell). */
  unknown: string[];
}

/** Drops `node` from an instance's members (view.ts recordMemberRemoved: in place on the shell's owned view). */
export function removeMember(view: ArbiterView, instance: string, node: string): ArbiterView {
  return recordMemberRemoved(view, instance, node);
}

function sameMember(a: MemberView | undefined, b: MemberView): boolean {
  return a !== undefined && a.state === b.state && a.priority === b.priority && a.vip === b.vip;
}

export class Membership {
  private readonly nodes = new Map<string, Tracked>();

  constructor(
    private readonly missed: number,
    /** instance -> allowed members (undefined: anyone reporting it). */
    private readonly allowed: ReadonlyMap<string, ReadonlySet<string> | undefined>,
  ) {}

  /** Folds one heartbeat received at `monoNow` (monotonic) / `wallNow` (epoch ms). */
  heartbeat(view: ArbiterView, hb: Heartbeat, monoNow: number, wallNow: number): HeartbeatFold {
    let v = view;
    const t = this.nodes.get(hb.node);
    const changed = new Set<string>();
    let connected = false;
    if (t && !t.gone && t.bootId !== hb.bootId) {
      // A new incarnation: the old one is gone, whatever it was doing.
      v = this.dropMembers(v, hb.node, t.instances, changed);
      v = recordConnection(v, hb.node, false, wallNow);
      t.instances = new Set();
    }
    if (!t || t.gone || t.bootId !== hb.bootId || t.seeded) connected = true;
    const tracked: Tracked = t ?? { bootId: hb.bootId, intervalMs: hb.intervalMs, lastAt: monoNow, gone: false, instances: new Set() };
    tracked.bootId = hb.bootId;
    tracked.intervalMs = hb.intervalMs;
    tracked.lastAt = monoNow;
    tracked.gone = false;
    delete tracked.seeded;
    this.nodes.set(hb.node, tracked);
    v = recordConnection(v, hb.node, true, wallNow);
    if (v.nodes[hb.node]?.gateway !== hb.gateway) v = recordNodeGateway(v, hb.node, 'gateway', hb.gateway);

    const reported = new Set<string>();
    const unknown: string[] = [];
    for (const r of hb.instances) {
      if (!this.allowed.has(r.instance)) {
        unknown.push(r.instance);
        continue;
      }
      const allowed = this.allowed.get(r.instance);
      if (allowed && !allowed.has(hb.node)) continue;
      reported.add(r.instance);
      const member: MemberView = { priority: r.priority, state: r.state, vip: r.vip };
      if (!sameMember(v.instances[r.instance]?.members[hb.node], member)) {
        v = recordMember(v, r.instance, hb.node, member);
        changed.add(r.instance);
      }
    }
    for (const old of tracked.instances) {
      if (!reported.has(old)) {
        v = removeMember(v, old, hb.node);
        changed.add(old);
      }
    }
    tracked.instances = reported;
    if (connected) for (const i of reported) changed.add(i);
    return { view: v, connected, changed: [...changed], unknown };
  }

  /**
   * An agent's own event: a transition or a VIP change reaches the view before
   * its next heartbeat. Only for members already known through heartbeats.
   */
  event(view: ArbiterView, e: AnyEnvelope): { view: ArbiterView; changed: string | null } {
    const instance = e.instance;
    if (instance === undefined) return { view, changed: null };
    const t = this.nodes.get(e.node);
    if (!t || t.gone || !t.instances.has(instance)) return { view, changed: null };
    const current = view.instances[instance]?.members[e.node];
    if (!current) return { view, changed: null };
    let next: MemberView = current;
    if (e.type === 'vrrp.transition') {
      const d = e.data as { to: MemberView['state']; effectivePriority: number };
      next = { ...current, state: d.to, priority: d.effectivePriority };
    } else if (e.type === 'vip.added') {
      next = { ...current, vip: true };
    } else if (e.type === 'vip.removed') {
      next = { ...current, vip: false };
    } else {
      return { view, changed: null };
    }
    if (sameMember(current, next)) return { view, changed: null };
    return { view: recordMember(view, instance, e.node, next), changed: instance };
  }

  /** Nodes silent for `missed` of their intervals at `monoNow`: marked gone, dropped as members. */
  sweep(view: ArbiterView, monoNow: number, wallNow: number): { view: ArbiterView; gone: string[]; changed: string[] } {
    let v = view;
    const gone: string[] = [];
    const changed = new Set<string>();
    for (const [node, t] of this.nodes) {
      if (t.gone || monoNow - t.lastAt <= this.missed * t.intervalMs) continue;
      t.gone = true;
      gone.push(node);
      v = this.dropMembers(v, node, t.instances, changed);
      t.instances = new Set();
      v = recordConnection(v, node, false, wallNow);
    }
    return { view: v, gone, changed: [...changed] };
  }

  /**
   * `node`'s agent is known to be gone now, before its heartbeats are missed
   * (its NATS connection closed: liveness.ts): as for a node gone silent, it
   * is marked gone, not connected and no longer a member. Its next heartbeat,
   * if it comes after all, makes it connected and a member again.
   */
  gone(view: ArbiterView, node: string, wallNow: number): { view: ArbiterView; changed: string[]; already: boolean } {
    const t = this.nodes.get(node);
    if (!t || t.gone) return { view, changed: [], already: true };
    const changed = new Set<string>();
    t.gone = true;
    let v = this.dropMembers(view, node, t.instances, changed);
    t.instances = new Set();
    v = recordConnection(v, node, false, wallNow);
    return { view: v, changed: [...changed], already: false };
  }

  /**
   * A node the event stream knows as a member (replay.ts) before its first
   * heartbeat: tracked as heard of at `monoNow`, so that it is gone after
   * `silentMs` without one (as any node gone silent), and its first heartbeat
   * either goes on with the same run (`bootId`: instances it no longer reports
   * are dropped) or replaces it (another bootId: a new incarnation).
   */
  seed(node: string, bootId: string | null, instances: Iterable<string>, monoNow: number, silentMs: number): void {
    if (this.nodes.has(node)) return;
    const intervalMs = Math.max(1, Math.ceil(silentMs / Math.max(1, this.missed)));
    this.nodes.set(node, { bootId: bootId ?? '', intervalMs, lastAt: monoNow, gone: false, instances: new Set(instances), seeded: true });
  }

  /** When `node` was last heard of, monotonic ms; undefined when never. */
  lastHeard(node: string): number | undefined {
    return this.nodes.get(node)?.lastAt;
  }

  isGone(node: string): boolean {
    return this.nodes.get(node)?.gone ?? true;
  }

  private dropMembers(view: ArbiterView, node: string, instances: Iterable<string>, changed: Set<string>): ArbiterView {
    let v = view;
    for (const i of instances) {
      v = removeMember(v, i, node);
      changed.add(i);
    }
    return v;
  }
}
