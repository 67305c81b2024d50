/**
 * Folding facts into the view: the small pure steps the shell applies between
 * two decide() calls, so that what a replica just did is what it decides on
 * next.
 *
 * Two kinds of view go through the same functions:
 * - a plain view (tests, replay, decide()'s own scratch copies): each step
 *   returns a new view and leaves the old one alone;
 * - the view a shell owns (`ownView`): each step changes it in place and
 *   returns it. The shell keeps one view of 1,000 instances and 2,000 nodes and
 *   folds several facts per request (a pending write, its result, a
 *   heartbeat); copying a whole map for each was what kept claims and renewals
 *   at the agents' 1 s timeout (bench 'arbiter'). The entries themselves
 *   (InstanceView, NodeView, LeaseEntry...) are never changed, only replaced,
 *   so `copyView` (a copy of the two maps) is a consistent snapshot that later
 *   folds do not touch.
 * decide() only reads a view; it never folds into one.
 *
 * The one that matters most is `recordIssued`: a writeLease action becomes the
 * instance's pending write at once, so a second claim decided on the same
 * replica before the first write's result sees it and is vetoed instead of
 * proposing a second grant. (Across replicas the compare-and-set does the same
 * job: both writes name one revision, only one can land.)
 */
import type { ArbiterAction, ArbiterView, InstanceView, LeaseEntry, MemberView, NodeView, Reachability, WriteLeaseAction, WriteOutcome } from './types.js';

/** The view with its fields writable: only ever made by ownView(). */
type OwnedView = { -readonly [K in keyof ArbiterView]: ArbiterView[K] } & {
  nodes: Record<string, NodeView>;
  instances: Record<string, InstanceView>;
};

const owned = new WeakSet<ArbiterView>();

/**
 * A view the caller owns from now on: the folds of this module change it in
 * place (see the header). Made from a copy of `view`'s maps, so `view` itself
 * stays as it was. A spread of an owned view (`{ ...v }`) is a plain view that
 * shares the owned maps: never keep one; use copyView().
 */
export function ownView(view: ArbiterView): ArbiterView {
  const v: OwnedView = { ...view, nodes: { ...view.nodes }, instances: { ...view.instances } };
  owned.add(v);
  return v;
}

/** Is `view` one that folds change in place (ownView)? */
export function isOwnedView(view: ArbiterView): boolean {
  return owned.has(view);
}

/** A plain view of what `view` holds now, which no later fold changes: for status pages, logs and snapshots. */
export function copyView(view: ArbiterView): ArbiterView {
  return { ...view, nodes: { ...view.nodes }, instances: { ...view.instances } };
}

function putInstance(view: ArbiterView, name: string, next: InstanceView): ArbiterView {
  if (owned.has(view)) {
    (view as OwnedView).instances[name] = next;
    return view;
  }
  return { ...view, instances: { ...view.instances, [name]: next } };
}

function putNode(view: ArbiterView, node: string, next: NodeView): ArbiterView {
  if (owned.has(view)) {
    (view as OwnedView).nodes[node] = next;
    return view;
  }
  return { ...view, nodes: { ...view.nodes, [node]: next } };
}

// A change that changes nothing returns the view untouched (no copy, no write).
function withInstance(view: ArbiterView, name: string, change: (inst: InstanceView) => InstanceView): ArbiterView {
  const inst = view.instances[name];
  if (!inst) return view;
  const next = change(inst);
  if (next === inst) return view;
  return putInstance(view, name, next);
}

function withNode(view: ArbiterView, node: string, change: (n: NodeView | undefined) => NodeView): ArbiterView {
  const before = view.nodes[node];
  const next = change(before);
  if (next === before) return view;
  return putNode(view, node, next);
}

/** Whether this replica can write the lease KV (ArbiterView.writePath). */
export function recordWritePath(view: ArbiterView, writePath: ArbiterView['writePath']): ArbiterView {
  const wp = view.writePath;
  if (wp.available === writePath.available && wp.detail === writePath.detail) return view;
  if (owned.has(view)) {
    (view as OwnedView).writePath = writePath;
    return view;
  }
  return { ...view, writePath };
}

/** The arbiter's own gateway ping (ArbiterView.gateway). */
export function recordArbiterGateway(view: ArbiterView, gateway: Reachability): ArbiterView {
  if (view.gateway === gateway) return view;
  if (owned.has(view)) {
    (view as OwnedView).gateway = gateway;
    return view;
  }
  return { ...view, gateway };
}

function withoutPending(inst: InstanceView): InstanceView {
  const { pendingWrite: _dropped, ...rest } = inst;
  return rest;
}

/** After the shell issued `actions` at `now`: writes become pending, fences in progress. */
export function recordIssued(view: ArbiterView, actions: readonly ArbiterAction[], now: number): ArbiterView {
  let v = view;
  for (const a of actions) {
    if (a.type === 'writeLease') {
      v = withInstance(v, a.instance, (inst) => ({ ...inst, pendingWrite: { expectedRevision: a.expectedRevision, intent: a.intent, issuedAt: now } }));
    } else if (a.type === 'fence') {
      v = withNode(v, a.node, (n) => ({
        ...(n ?? { connected: false, since: now, gateway: 'unknown', reachableFromArbiter: 'unknown' }),
        fence: { status: 'inProgress', attempt: a.attempt, requestedAt: now },
      }));
    }
  }
  return v;
}

/** A write's result came back: it is no longer pending, and if it landed the lease is what it wrote. */
export function recordWriteResult(view: ArbiterView, write: WriteLeaseAction, outcome: WriteOutcome): ArbiterView {
  return withInstance(view, write.instance, (inst) => {
    const cleared = withoutPending(inst);
    if (!outcome.ok) return cleared;
    if (inst.lease && inst.lease.revision >= outcome.revision) return cleared; // the KV watch was quicker
    return { ...cleared, lease: { revision: outcome.revision, value: write.value } };
  });
}

/**
 * The KV watch delivered an entry (null: the key is gone). Older revisions than
 * the view's are ignored, unless `fromLeader`: the entry a lost compare-and-set
 * read back from the stream leader is the one the next write must name, even
 * when its revision is lower than the view's (the replicas of a nats-server
 * 2.9.10 stream were seen numbering the same records differently, so a watch
 * placed on a follower can be ahead of the leader's numbering).
 */
export function recordLease(view: ArbiterView, instance: string, entry: LeaseEntry | null, fromLeader = false): ArbiterView {
  return withInstance(view, instance, (inst) => {
    if (!fromLeader && entry && inst.lease && inst.lease.revision >= entry.revision) return inst;
    return { ...inst, lease: entry };
  });
}

/**
 * A fence ended. `confirmed` is libs/fencing's `ok && confirmed`: anything less
 * (failed, or done without confirmation) is recorded as failed with the detail.
 */
export function recordFenceResult(view: ArbiterView, node: string, confirmed: boolean, at: number, detail?: string): ArbiterView {
  const n = view.nodes[node];
  if (!n?.fence) return view;
  const fence = { ...n.fence, status: confirmed ? ('confirmed' as const) : ('failed' as const), finishedAt: at, ...(detail !== undefined ? { detail } : {}) };
  return withNode(view, node, () => ({ ...n, fence }));
}

/** A node's NATS connection opened or closed. A node that connects again is a new incarnation: its old fence no longer counts. */
export function recordConnection(view: ArbiterView, node: string, connected: boolean, at: number): ArbiterView {
  return withNode(view, node, (n) => {
    const base: NodeView = n ?? { connected, since: at, gateway: 'unknown', reachableFromArbiter: 'unknown' };
    if (base.connected === connected && n) return n;
    const next: NodeView = { ...base, connected, since: at };
    if (!connected) return next;
    const { fence: _old, ...rest } = next;
    return rest;
  });
}

/** A heartbeat of `node` came at `at`: its members' states are at least that fresh. */
export function recordHeard(view: ArbiterView, node: string, at: number): ArbiterView {
  const n = view.nodes[node];
  if (!n) return view;
  return withNode(view, node, () => ({ ...n, heardAt: at }));
}

/** A member's heartbeat reported its lease timing: `mismatch` says how it differs from the policy's (null: it agrees). */
export function recordTimingReport(view: ArbiterView, instance: string, node: string, mismatch: string | null): ArbiterView {
  const inst = view.instances[instance];
  if (!inst || (inst.timingMismatch?.[node] ?? null) === mismatch) return view;
  const { [node]: _old, ...rest } = inst.timingMismatch ?? {};
  const next = mismatch === null ? rest : { ...rest, [node]: mismatch };
  return withInstance(view, instance, (i) => {
    const { timingMismatch: _drop, ...base } = i;
    return Object.keys(next).length > 0 ? { ...base, timingMismatch: next } : base;
  });
}

/** What a member last reported about itself. */
export function recordMember(view: ArbiterView, instance: string, node: string, member: MemberView): ArbiterView {
  return withInstance(view, instance, (inst) => ({ ...inst, members: { ...inst.members, [node]: member } }));
}

/** `node` is no longer a member of `instance` (gone, or no longer reporting it). */
export function recordMemberRemoved(view: ArbiterView, instance: string, node: string): ArbiterView {
  return withInstance(view, instance, (inst) => {
    if (!(node in inst.members)) return inst;
    const { [node]: _gone, ...members } = inst.members;
    return { ...inst, members };
  });
}

/** A gateway verdict: the node's own (`gateway`) or the arbiter's ping of it (`reachableFromArbiter`). */
export function recordNodeGateway(view: ArbiterView, node: string, field: 'gateway' | 'reachableFromArbiter', value: NodeView['gateway']): ArbiterView {
  return withNode(view, node, (n) => ({ ...(n ?? { connected: false, since: 0, gateway: 'unknown', reachableFromArbiter: 'unknown' }), [field]: value }));
}
