/**
 * The arbiter's vocabulary: what it knows (the view), what it is asked (requests),
 * and what it tells the shell to do (actions).
 *
 * Time. Every instant in the view, in a lease and in `now` is Unix epoch
 * milliseconds as the arbiter replica reads it (`Date.now()` in the shell).
 * Leases live in a KV bucket shared by replicas on different hosts, and a
 * monotonic clock means nothing outside its host, so the arbiter cannot use one.
 * Clock skew between replicas is what the safety margin covers (see timing.ts):
 * the agent never compares these instants with its own clocks; it receives
 * `validForMs` and counts it down on its monotonic clock from when it sent the
 * request (see `selfDemotionAt`).
 */

export type ArbiterMode = 'strict' | 'failsafe' | 'off';
export type FencingPolicy = 'off' | 'best-effort' | 'required';

/** A ping's last verdict. `unknown`: no probe has answered yet, or nobody probes. */
export type Reachability = 'up' | 'down' | 'unknown';

/** The agent's states, as the `vrrp.transition` events carry them (libs/events AGENT_STATES). */
export type AgentState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'CLAIMING';

/** Lease timing of one instance; every value in milliseconds. See timing.ts for the rules. */
export interface LeaseTiming {
  /** How long a grant or renewal is valid from the moment the arbiter writes it. */
  readonly leaseTtlMs: number;
  /** How often the holder renews. */
  readonly renewIntervalMs: number;
  /** How long the agent waits for an answer before it retries (Patroni's retry_timeout). */
  readonly requestTimeoutMs: number;
  /** The holder demotes itself this long before its lease runs out, on its monotonic clock. */
  readonly safetyMarginMs: number;
}

export interface InstancePolicy {
  readonly mode: ArbiterMode;
  readonly fencing: FencingPolicy;
  readonly timing: LeaseTiming;
}

/**
 * A former holder that may still have the VIP up: after a forced failover its
 * epoch is revoked, but nobody else is granted until it confirms (a release of
 * its old epoch), it is fenced, or `until` (its old expiry) has passed.
 */
export interface OutgoingHolder {
  readonly node: string;
  readonly epoch: number;
  readonly grantedAt: number;
  readonly until: number;
}

/**
 * The value of `HA_LEASES/<cluster>.<instance>`. The key is never deleted: a
 * released lease keeps its epoch (holder null) so that epochs only grow.
 */
export interface LeaseValue {
  /** null: nobody holds the lease. */
  readonly holder: string | null;
  /** Grows by one at every change of holder (and at a forced failover's revocation). */
  readonly epoch: number;
  /** When the holder got this epoch (0 when free). */
  readonly grantedAt: number;
  /** When the lease was last written for this holder (grant or renewal). */
  readonly renewedAt: number;
  /** The first instant at which the lease is no longer held (0 when free). */
  readonly expiresAt: number;
  /** Why the lease is in this state: the reason of the write. */
  readonly reason: string;
  readonly outgoing?: OutgoingHolder;
  /** A forced failover keeps the lease for this node. */
  readonly reservedFor?: string;
  /**
   * true while the holder was only offered the lease (a successor, a failover
   * target) and has not claimed it: it was never told it holds it, so it cannot
   * serve with it. Dropped by the write that grants its claim. An offer that
   * runs out unclaimed is a free lease again, never a silent holder to fence.
   */
  readonly offered?: true;
}

/** A KV entry as read; `revision` is what a compare-and-set must name. */
export interface LeaseEntry {
  readonly revision: number;
  readonly value: LeaseValue;
}

/** What the instance's members last reported about themselves (vrrp.transition, vip.* events). */
export interface MemberView {
  readonly priority: number;
  readonly state: AgentState;
  /** The member reports the VIP on its interface. */
  readonly vip: boolean;
}

/**
 * The last fence of a node, folded from the fence events.
 * `confirmed` means the backend reported ok and confirmed (libs/fencing
 * FenceResult); ok without confirmation is `failed` with a detail.
 */
export interface FenceRecord {
  readonly status: 'inProgress' | 'confirmed' | 'failed';
  readonly attempt: number;
  readonly requestedAt: number;
  readonly finishedAt?: number;
  readonly detail?: string;
}

export interface NodeView {
  /** Its NATS connection is open (the server's connect/disconnect advisories). */
  readonly connected: boolean;
  /** When `connected` last changed. */
  readonly since: number;
  /** The node's own gateway check, as it reports it. */
  readonly gateway: Reachability;
  /** The arbiter's ping of the node, from the arbiter's place: evidence, not a verdict. */
  readonly reachableFromArbiter: Reachability;
  /** Cleared by the shell when the node connects again: a fenced node that returns is a new incarnation. */
  readonly fence?: FenceRecord;
  /** When its last heartbeat came (epoch ms): what its members say is at least that fresh. */
  readonly heardAt?: number;
}

/** A lease write this replica issued and whose result has not come back. */
export interface PendingWrite {
  readonly expectedRevision: number;
  readonly intent: WriteIntent;
  readonly issuedAt: number;
}

export interface InstanceView {
  readonly policy: InstancePolicy;
  /** null: the key does not exist yet (a create expects revision 0). */
  readonly lease: LeaseEntry | null;
  readonly members: Readonly<Record<string, MemberView>>;
  readonly pendingWrite?: PendingWrite;
  /** Members whose heartbeat reports a lease timing other than the policy's: node -> what differs. */
  readonly timingMismatch?: Readonly<Record<string, string>>;
}

/** Everything decide() knows; the shell builds it as a fold over the stream, the KV and its own pending work. */
export interface ArbiterView {
  readonly cluster: string;
  /**
   * Can this replica write to the lease KV (JetStream has quorum, the bucket
   * answers)? Without it there is no quorum evidence, and nothing is granted.
   */
  readonly writePath: { readonly available: boolean; readonly detail?: string };
  /** The arbiter's own gateway ping: an arbiter that cannot reach the gateway never fences. */
  readonly gateway: Reachability;
  readonly nodes: Readonly<Record<string, NodeView>>;
  readonly instances: Readonly<Record<string, InstanceView>>;
}

// ---------------------------------------------------------------------------
// Requests

export type ArbiterRequest =
  /** The agent's VRRP election says "become master": it asks for the lease. */
  | { readonly type: 'claim'; readonly instance: string; readonly node: string }
  | { readonly type: 'renew'; readonly instance: string; readonly node: string; readonly epoch: number }
  /**
   * The holder gives the lease up, its VIP already removed: at a graceful stop,
   * or to confirm an order to demote (then `epoch` is the revoked one).
   */
  | { readonly type: 'release'; readonly instance: string; readonly node: string; readonly epoch: number }
  /** `hactl failover INSTANCE [--to NODE]`; `by` names the operator or token for the audit trail. */
  | { readonly type: 'failover'; readonly instance: string; readonly to?: string; readonly by: string }
  /** The node's NATS connection closed; asked once per instance the node is a member of. */
  | { readonly type: 'nodeGone'; readonly instance: string; readonly node: string }
  /**
   * Look at the instance again: after a fact was folded into the view (a
   * member's report, a fence result, a connection change, a lease change) and
   * at `nextDeadline`. Detects split-brain and moves stalled handovers on.
   */
  | { readonly type: 'reconcile'; readonly instance: string }
  /** The result of a writeLease action, reported back by the shell. */
  | { readonly type: 'writeResult'; readonly write: WriteLeaseAction; readonly outcome: WriteOutcome };

export type WriteOutcome =
  | { readonly ok: true; readonly revision: number }
  /** The KV holds another revision: another replica (or an earlier write) got there first. */
  | { readonly ok: false; readonly error: 'conflict'; readonly currentRevision?: number; readonly detail?: string }
  /** No answer or an error: the write may or may not have happened. */
  | { readonly ok: false; readonly error: 'unavailable' | 'timeout'; readonly detail?: string };

/** Why a lease write is made; carried through the shell so the result can be answered without state. */
export type WriteIntent =
  /** `claimed`: the answer to the node's claim; otherwise the node is offered it (a successor, a failover target). */
  | { readonly kind: 'grant'; readonly node: string; readonly epoch: number; readonly claimed: boolean }
  | { readonly kind: 'renew'; readonly node: string; readonly epoch: number }
  | { readonly kind: 'release'; readonly node: string; readonly epoch: number }
  /** A release and the successor's grant in one write: break-then-make. */
  | { readonly kind: 'handover'; readonly from: string; readonly fromEpoch: number; readonly to: string; readonly epoch: number }
  /** Forced failover, first write: the holder's epoch is revoked and the lease reserved for `to`. */
  | { readonly kind: 'revoke'; readonly from: string; readonly fromEpoch: number; readonly to: string; readonly epoch: number; readonly by: string };

// ---------------------------------------------------------------------------
// Actions, in the order they must happen

/** Compare-and-set on `HA_LEASES`: `expectedRevision` 0 means "create; the key must not exist". */
export interface WriteLeaseAction {
  readonly type: 'writeLease';
  readonly instance: string;
  readonly key: string;
  readonly expectedRevision: number;
  readonly value: LeaseValue;
  readonly intent: WriteIntent;
}

/** Power the node off through the instance's fencing backend (libs/fencing FenceRequest, action 'off'). */
export interface FenceNodeAction {
  readonly type: 'fence';
  readonly node: string;
  readonly instance: string;
  /** The lease epoch the fence is for. */
  readonly epoch: number;
  readonly attempt: number;
  /** The same for every replica and attempt fencing the same thing, so a receiver does it once. */
  readonly idempotencyKey: string;
  readonly reason: string;
}

/**
 * To the node: it holds the lease. Always the answer to its own claim (or the
 * re-claim that follows an offer), sent on that request's reply inbox and
 * nowhere else, so that:
 * - the agent counts `validForMs` from when it sent that request: a late
 *   delivery shortens its hold, never lengthens it;
 * - a restarted agent never receives its predecessor's grant;
 * - the agent ignores a grant of an epoch it has already given up (released,
 *   or demoted from on order): the arbiter may have handed the lease on.
 */
export interface GrantAction {
  readonly type: 'grant';
  readonly node: string;
  readonly instance: string;
  readonly epoch: number;
  readonly expiresAt: number;
  /** expiresAt - now at the time of the answer; what the agent counts down (see selfDemotionAt). */
  readonly validForMs: number;
  readonly reason: string;
}

/**
 * To the node: the lease was written in its name (a planned handover, a forced
 * failover's target, a successor after a fence) but is not usable yet. The
 * agent claims at once; the claim of the node the lease names is granted again
 * with a fresh expiry, counted from that claim. A pushed grant could not be
 * counted from anything the agent knows, and a delayed one would outlive the
 * lease.
 */
export interface OfferAction {
  readonly type: 'offer';
  readonly node: string;
  readonly instance: string;
  readonly epoch: number;
  readonly reason: string;
}

export interface VetoAction {
  readonly type: 'veto';
  readonly node: string;
  readonly instance: string;
  readonly reason: string;
  /** When asking again may get another answer; absent when it will not by itself. */
  readonly retryAfterMs?: number;
}

export interface RenewedAction {
  readonly type: 'renewed';
  readonly node: string;
  readonly instance: string;
  readonly epoch: number;
  readonly expiresAt: number;
  readonly validForMs: number;
}

/** The answer to a release that was recorded. */
export interface ReleasedAction {
  readonly type: 'released';
  readonly node: string;
  readonly instance: string;
  readonly epoch: number;
}

/** A renewal, release or other request from a node that was not carried out; no order to demote by itself. */
export interface RefuseAction {
  readonly type: 'refuse';
  readonly node: string;
  readonly instance: string;
  readonly reason: string;
}

/**
 * Remove the VIP (then the priority-0 advert) and confirm with a release.
 * `epoch` is the newest epoch the order applies to: a node obeys when the grant
 * it holds (if any) has an epoch <= `epoch`, and ignores it when it holds a
 * newer one, so an order overtaken by a newer grant is harmless.
 */
export interface OrderDemoteAction {
  readonly type: 'orderDemote';
  readonly node: string;
  readonly instance: string;
  readonly epoch: number;
  readonly reason: string;
}

export type ArbiterEventName =
  | 'claim.vetoed'
  | 'lease.granted'
  | 'lease.released'
  | 'lease.refused'
  | 'lease.write_failed'
  | 'fence.requested'
  | 'failover.started'
  | 'failover.refused'
  | 'node.gone'
  | 'splitbrain.detected'
  | 'vip.without_lease';

/** Something to publish on the stream. Events come last: nothing waits on them. */
export interface EventAction {
  readonly type: 'event';
  readonly name: ArbiterEventName;
  readonly instance: string;
  readonly node?: string;
  readonly reason: string;
  readonly data?: Readonly<Record<string, string | number | boolean | null | readonly string[]>>;
}

export type ArbiterAction =
  | WriteLeaseAction
  | FenceNodeAction
  | GrantAction
  | OfferAction
  | VetoAction
  | RenewedAction
  | ReleasedAction
  | RefuseAction
  | OrderDemoteAction
  | EventAction;

/**
 * What decide() concluded.
 * - propose: a lease write is issued; the verdict follows its result (writeResult).
 * - grant / offer / renew / release / failover: a write succeeded and is now acted on
 *   (offer: the lease names a node that did not ask; it is told to claim).
 * - veto: a claim is refused for now (retryAfterMs says when asking again may help).
 * - fenceFirst: nobody is granted until the incumbent is fenced; a fence is requested or running.
 * - wait: something must happen first (a lease must run out, a holder must confirm).
 * - refuse: a request that cannot be served (unknown, stale, out of mode, write path down).
 * - demote: a node must give up the VIP.
 * - splitBrain: two members report the VIP; all but the lease holder are ordered down.
 * - writeFailed: a write did not happen or its outcome is unknown.
 * - noop: nothing to do.
 */
export type DecisionKind =
  | 'propose'
  | 'grant'
  | 'offer'
  | 'renew'
  | 'release'
  | 'failover'
  | 'veto'
  | 'fenceFirst'
  | 'wait'
  | 'refuse'
  | 'demote'
  | 'splitBrain'
  | 'writeFailed'
  | 'noop';

export interface Decision {
  readonly decision: DecisionKind;
  /** For a person: logged, published and asserted in tests. */
  readonly reason: string;
  readonly actions: readonly ArbiterAction[];
}
