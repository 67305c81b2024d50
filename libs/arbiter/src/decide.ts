/**
 * The arbiter's decision as one pure function:
 * `decide(view, request, now) -> {decision, reason, actions}`.
 *
 * It reads the view and never changes it, touches no clock (`now` is epoch ms,
 * see types.ts), no KV and no network. What must happen goes out as actions,
 * in order; a lease is only ever changed by a compare-and-set action whose
 * result the shell reports back as a `writeResult` request, so nothing here
 * assumes a write succeeded: a node is told it holds a lease only after the
 * write that says so is in the KV, and only in answer to its own claim (a
 * node the arbiter picks, a successor or a failover target, is offered the
 * lease and claims it, so its clock starts at a request it sent).
 *
 * One question runs through it: may someone other than the incumbent (the
 * holder, or a forced failover's outgoing holder) get the lease now? The
 * answer (`assess`) is the same for a claim, a node that went away, a
 * reconcile and a forced failover:
 *   - nobody holds it, or the incumbent was fenced and the fence confirmed: yes;
 *   - the lease ran out: yes, unless fencing is required (then fence first);
 *   - the incumbent is alive (connected, renewing in time): no;
 *   - the incumbent is silent or gone: with fencing, fence it (gated on the
 *     arbiter's gateway) and grant on confirmation; without, wait for expiry.
 *
 * Offers: a lease written for a node that did not claim it carries
 * `offered: true` until its claim is granted. Such a node cannot serve with
 * it, so an offer that runs out unclaimed leaves the lease free; it is never
 * a silent holder to fence. Likewise a holder whose lease ran out and that,
 * heard from since, reports no VIP gave the lease up: no fence.
 *
 * Modes: `strict` and `failsafe` are served alike here but for one rule: in
 * `failsafe` a holder heard from after its lease ran out that still reports the
 * VIP kept it while no arbiter answered (failsafe.ts), and is alive. `off`
 * keeps no lease: requests are refused, split-brain is still reported.
 */
import type {
  ArbiterAction,
  ArbiterEventName,
  ArbiterRequest,
  ArbiterView,
  Decision,
  DecisionKind,
  EventAction,
  FenceNodeAction,
  FenceRecord,
  InstancePolicy,
  InstanceView,
  LeaseValue,
  WriteIntent,
  WriteLeaseAction,
  WriteOutcome,
} from './types.js';
import { renewalOverdueAt } from './timing.js';

/** The KV key of an instance's lease. */
export function leaseKey(cluster: string, instance: string): string {
  return `${cluster}.${instance}`;
}

export function decide(view: ArbiterView, request: ArbiterRequest, now: number): Decision {
  switch (request.type) {
    case 'claim':
      return onClaim(view, request.instance, request.node, now);
    case 'renew':
      return onRenew(view, request.instance, request.node, request.epoch, now);
    case 'release':
      return onRelease(view, request.instance, request.node, request.epoch, now);
    case 'failover':
      return onFailover(view, request.instance, request.to, request.by, now);
    case 'nodeGone':
      return onNodeGone(view, request.instance, request.node, now);
    case 'reconcile':
      return onReconcile(view, request.instance, now);
    case 'writeResult':
      return onWriteResult(view, request.write, request.outcome, now);
  }
}

/**
 * The earliest instant after `now` at which a reconcile of the instance may
 * decide differently by the passing of time alone (a lease runs out, a holder
 * becomes overdue), or null. The shell arms one timer on it.
 */
export function nextDeadline(view: ArbiterView, instance: string, now: number): number | null {
  const inst = view.instances[instance];
  const inc = inst ? incumbentOf(inst.lease?.value ?? null) : null;
  if (!inst || !inc) return null;
  const candidates = [inc.until];
  if (!inc.revoked && !inc.offered) candidates.push(renewalOverdueAt(inc.renewedAt, inst.policy.timing));
  const future = candidates.filter((t) => t > now);
  return future.length > 0 ? Math.min(...future) : null;
}

// ---------------------------------------------------------------------------
// Shared pieces

const ms = (n: number): string => `${Math.round(n)} ms`;
/** How long ago `t` was; replicas' clocks differ a little, so never a negative age. */
const ago = (now: number, t: number): string => ms(Math.max(0, now - t));

/** Everything about one instance that the rules read. */
interface Ctx {
  readonly view: ArbiterView;
  readonly name: string;
  readonly inst: InstanceView;
  readonly policy: InstancePolicy;
  readonly key: string;
  readonly value: LeaseValue | null;
  readonly revision: number;
  readonly now: number;
}

function contextOf(view: ArbiterView, name: string, now: number): Ctx | null {
  const inst = view.instances[name];
  if (!inst) return null;
  return {
    view,
    name,
    inst,
    policy: inst.policy,
    key: leaseKey(view.cluster, name),
    value: inst.lease?.value ?? null,
    revision: inst.lease?.revision ?? 0,
    now,
  };
}

function result(decision: DecisionKind, reason: string, actions: ArbiterAction[] = []): Decision {
  return { decision, reason, actions };
}

function event(name: ArbiterEventName, instance: string, reason: string, node?: string, data?: EventAction['data']): EventAction {
  const e: { -readonly [K in keyof EventAction]: EventAction[K] } = { type: 'event', name, instance, reason };
  if (node !== undefined) e.node = node;
  if (data !== undefined) e.data = data;
  return e;
}

function write(c: Ctx, value: LeaseValue, intent: WriteIntent): WriteLeaseAction {
  return { type: 'writeLease', instance: c.name, key: c.key, expectedRevision: c.revision, value, intent };
}

function describeIntent(intent: WriteIntent): string {
  switch (intent.kind) {
    case 'grant':
      return `grant of epoch ${intent.epoch} to ${intent.node}`;
    case 'renew':
      return `renewal of epoch ${intent.epoch} by ${intent.node}`;
    case 'release':
      return `release of epoch ${intent.epoch} by ${intent.node}`;
    case 'handover':
      return `handover from ${intent.from} to ${intent.to} (epoch ${intent.epoch})`;
    case 'revoke':
      return `forced failover from ${intent.from} to ${intent.to} (epoch ${intent.epoch})`;
  }
}

function pendingWhy(c: Ctx): string | null {
  const p = c.inst.pendingWrite;
  return p ? `a lease write is in flight (${describeIntent(p.intent)}, expecting revision ${p.expectedRevision})` : null;
}

function noWritePath(c: Ctx): string | null {
  const wp = c.view.writePath;
  if (wp.available) return null;
  return `no quorum evidence: the NATS KV write path is not available${wp.detail ? ` (${wp.detail})` : ''}, and the arbiter grants only through compare-and-set writes`;
}

/** The node that may still have the VIP up: the holder, or a forced failover's outgoing holder. */
interface Incumbent {
  readonly node: string;
  readonly epoch: number;
  readonly grantedAt: number;
  readonly renewedAt: number;
  readonly until: number;
  readonly revoked: boolean;
  /** Only offered, never claimed: it was never told it holds the lease, so it cannot serve with it. */
  readonly offered: boolean;
}

function incumbentOf(value: LeaseValue | null): Incumbent | null {
  if (!value) return null;
  if (value.holder !== null) {
    return { node: value.holder, epoch: value.epoch, grantedAt: value.grantedAt, renewedAt: value.renewedAt, until: value.expiresAt, revoked: false, offered: value.offered === true };
  }
  const o = value.outgoing;
  if (o) return { node: o.node, epoch: o.epoch, grantedAt: o.grantedAt, renewedAt: o.grantedAt, until: o.until, revoked: true, offered: false };
  return null;
}

/** A fence counts for an incumbent only if it was asked for during its current grant. */
function fenceFor(c: Ctx, inc: Incumbent): FenceRecord | undefined {
  const f = c.view.nodes[inc.node]?.fence;
  return f && f.requestedAt >= inc.grantedAt ? f : undefined;
}

/** Why `node` cannot take the lease over, or null when it can. */
function ineligibility(c: Ctx, node: string, forSuccession: boolean): string | null {
  const member = c.inst.members[node];
  if (!member) return `${node} is not a member of ${c.name}`;
  const n = c.view.nodes[node];
  if (!n || !n.connected) return `${node} is not connected`;
  if (n.gateway !== 'up') return `${node} ${n.gateway === 'down' ? 'does not reach its gateway' : 'has not reported its gateway'}`;
  if (n.reachableFromArbiter === 'down' && c.view.gateway === 'up') return `the arbiter cannot reach ${node} from its place`;
  if (forSuccession && member.state !== 'BACKUP' && member.state !== 'CLAIMING') return `${node} reports ${member.state}`;
  return null;
}

/**
 * The member to hand the lease to: highest priority first, one already
 * claiming before one that is not, then by name. `claimingOnly` when the old
 * holder is only presumed gone (its lease ran out): then VRRP must agree.
 */
function chooseSuccessor(c: Ctx, exclude: readonly string[], claimingOnly: boolean): string | null {
  const reserved = c.value?.reservedFor;
  if (reserved && !exclude.includes(reserved) && ineligibility(c, reserved, true) === null) return reserved;
  const candidates = Object.entries(c.inst.members)
    .filter(([node, m]) => !exclude.includes(node) && (!claimingOnly || m.state === 'CLAIMING') && ineligibility(c, node, true) === null)
    .sort(([an, a], [bn, b]) => b.priority - a.priority || Number(b.state === 'CLAIMING') - Number(a.state === 'CLAIMING') || (an < bn ? -1 : an > bn ? 1 : 0));
  return candidates[0]?.[0] ?? null;
}

type Assessment =
  /**
   * `certain`: the incumbent is known not to serve (fenced, itself, it said so);
   * otherwise only presumed (its lease ran out). `incumbentMay`: the incumbent
   * itself may get a new epoch (it gave the VIP up and is asking again).
   */
  | { kind: 'clear'; why: string; certain: boolean; incumbentMay?: boolean }
  | { kind: 'alive'; why: string; retryAfterMs: number }
  | { kind: 'wait'; why: string; retryAfterMs?: number }
  | { kind: 'fence'; why: string; fence: FenceNodeAction; retryAfterMs: number }
  | { kind: 'fencing'; why: string; retryAfterMs: number };

/** May `beneficiary` (null: nobody eligible) get the lease now? See the header. */
function assess(c: Ctx, beneficiary: string | null): Assessment {
  const inc = incumbentOf(c.value);
  const t = c.policy.timing;
  if (!inc) return { kind: 'clear', why: 'the lease is free', certain: true };
  if (inc.node === beneficiary) return { kind: 'clear', why: `${inc.node} is the incumbent itself`, certain: true };
  const fence = fenceFor(c, inc);
  if (fence?.status === 'confirmed') {
    const when = fence.finishedAt !== undefined ? ` ${ago(c.now, fence.finishedAt)} ago` : '';
    return { kind: 'clear', why: `${inc.node} (epoch ${inc.epoch}) was fenced and the fence confirmed${when}`, certain: true };
  }
  if (inc.offered) {
    // Never claimed: the node was never told it holds the lease, so it cannot serve with it.
    if (c.now >= inc.until) {
      return { kind: 'clear', why: `the offer of epoch ${inc.epoch} to ${inc.node} ran out unclaimed ${ms(c.now - inc.until)} ago (${inc.node} never held it)`, certain: true };
    }
    const left = inc.until - c.now;
    return { kind: 'wait', why: `the lease (epoch ${inc.epoch}) is offered to ${inc.node}, which has not claimed it yet; the offer stands ${ms(left)} more`, retryAfterMs: Math.min(left, t.requestTimeoutMs) };
  }
  const policy = c.policy.fencing;
  const heard = c.view.nodes[inc.node];
  const member = c.inst.members[inc.node];
  const heardSince = heard?.connected === true && heard.heardAt !== undefined && heard.heardAt >= inc.until && member !== undefined;
  if (c.now >= inc.until && !inc.revoked && heardSince && member.state !== 'MASTER' && !member.vip) {
    // Its agent is alive and says, since the lease ran out, that it holds no VIP: it demoted itself (ARCHITECTURE.md, self-fencing by time).
    return {
      kind: 'clear',
      why: `the lease of ${inc.node} (epoch ${inc.epoch}) ran out ${ms(c.now - inc.until)} ago and ${inc.node} reports ${member.state} without the VIP since: it gave the lease up`,
      certain: true,
      incumbentMay: true,
    };
  }
  if (c.now >= inc.until && !inc.revoked && heardSince && c.policy.mode === 'failsafe' && beneficiary !== null) {
    // failsafe: the holder kept the VIP while no arbiter answered (its gateway answering); it is alive and claims again.
    return {
      kind: 'alive',
      why: `holder ${inc.node} kept the VIP past its lease (epoch ${inc.epoch} ran out ${ms(c.now - inc.until)} ago, failsafe while no arbiter answered) and is heard from (${member.state}${member.vip ? ', VIP up' : ''}): it claims the lease again`,
      retryAfterMs: t.renewIntervalMs,
    };
  }
  if (c.now >= inc.until) {
    const ran = inc.revoked
      ? `${inc.node} never confirmed its demotion and its revoked lease (epoch ${inc.epoch}) ran out ${ms(c.now - inc.until)} ago`
      : `the lease of ${inc.node} (epoch ${inc.epoch}) ran out ${ms(c.now - inc.until)} ago`;
    if (policy !== 'required') return { kind: 'clear', why: ran, certain: false };
    return fenceStep(c, inc, beneficiary, `${ran}, but fencing is required`);
  }
  const left = inc.until - c.now;
  const node = c.view.nodes[inc.node];
  const connected = node?.connected ?? false;
  if (inc.revoked) {
    if (connected) {
      return {
        kind: 'wait',
        why: `waiting for ${inc.node} to confirm it removed the VIP (ordered to demote; its revoked lease runs ${ms(left)} more)`,
        retryAfterMs: t.requestTimeoutMs,
      };
    }
    const gone = `${inc.node} is not connected and has not confirmed its demotion`;
    if (policy === 'off') return { kind: 'wait', why: `${gone}; fencing is off, so its revoked lease must run out first (in ${ms(left)})`, retryAfterMs: left };
    return fenceStep(c, inc, beneficiary, gone);
  }
  const overdue = c.now >= renewalOverdueAt(inc.renewedAt, t);
  if (connected && !overdue) {
    if (node?.gateway === 'down') {
      return {
        kind: 'wait',
        why: `holder ${inc.node} reports its gateway down: waiting for it to release (its checks put it in FAULT) or for its lease to run out in ${ms(left)}`,
        retryAfterMs: t.renewIntervalMs,
      };
    }
    const gw = node?.gateway === 'up' ? 'its gateway answering' : 'its gateway not reported';
    return {
      kind: 'alive',
      why: `holder ${inc.node} is alive (renewed ${ago(c.now, inc.renewedAt)} ago, ${gw}); its lease (epoch ${inc.epoch}) runs ${ms(left)} more`,
      retryAfterMs: t.renewIntervalMs,
    };
  }
  const silence = connected
    ? `holder ${inc.node} is silent (last renewal ${ago(c.now, inc.renewedAt)} ago)`
    : `holder ${inc.node} is not connected`;
  if (policy === 'off') return { kind: 'wait', why: `${silence}; fencing is off, so its lease must run out first (in ${ms(left)})`, retryAfterMs: left };
  return fenceStep(c, inc, beneficiary, silence);
}

/** Fencing is on (best-effort or required) and the incumbent must be fenced before anyone else is granted. */
function fenceStep(c: Ctx, inc: Incumbent, beneficiary: string | null, why: string): Assessment {
  const t = c.policy.timing;
  const expired = c.now >= inc.until;
  const left = Math.max(0, inc.until - c.now);
  const bestEffort = c.policy.fencing === 'best-effort';
  const fallback = bestEffort && !expired ? `best-effort: waiting ${ms(left)} for its lease to run out` : 'fencing is required: no grant until a fence is confirmed';
  const waitMs = bestEffort && !expired ? left : t.renewIntervalMs;
  if (beneficiary === null) {
    return { kind: 'wait', why: `${why}; no member can take over (connected, gateway answering), so ${inc.node} is not fenced`, retryAfterMs: waitMs };
  }
  if (c.view.gateway !== 'up') {
    const gw = c.view.gateway === 'down' ? 'cannot reach its gateway' : 'has no gateway verdict';
    return {
      kind: 'wait',
      why: `${why}; not fencing: the arbiter ${gw}, and a node that cannot reach the gateway never fences anyone; ${fallback}`,
      retryAfterMs: waitMs,
    };
  }
  const fence = fenceFor(c, inc);
  if (!fence) {
    const reason = `${why}: fencing ${inc.node} (epoch ${inc.epoch}) before granting ${beneficiary}`;
    return { kind: 'fence', why: reason, fence: fenceAction(c, inc, 1, reason), retryAfterMs: t.requestTimeoutMs };
  }
  if (fence.status === 'inProgress') {
    return {
      kind: 'fencing',
      why: `${why}: the fence of ${inc.node} is in progress (attempt ${fence.attempt}, for ${ago(c.now, fence.requestedAt)})`,
      retryAfterMs: t.requestTimeoutMs,
    };
  }
  const failed = `the fence of ${inc.node} failed${fence.detail ? ` (${fence.detail})` : ''}`;
  if (bestEffort) return { kind: 'wait', why: `${why}: ${failed}; ${fallback}`, retryAfterMs: waitMs };
  const attempt = fence.attempt + 1;
  const reason = `${why}: ${failed}; fencing is required: retrying (attempt ${attempt}), no grant until a fence is confirmed`;
  return { kind: 'fence', why: reason, fence: fenceAction(c, inc, attempt, reason), retryAfterMs: t.requestTimeoutMs };
}

function fenceAction(c: Ctx, inc: Incumbent, attempt: number, reason: string): FenceNodeAction {
  return {
    type: 'fence',
    node: inc.node,
    instance: c.name,
    epoch: inc.epoch,
    attempt,
    idempotencyKey: `${c.key}:e${inc.epoch}:${inc.node}:off`,
    reason,
  };
}

function fenceEvent(c: Ctx, f: FenceNodeAction): EventAction {
  return event('fence.requested', c.name, f.reason, f.node, { epoch: f.epoch, attempt: f.attempt });
}

/** A new epoch for `node`; the verdict follows the write's result. */
function proposeGrant(c: Ctx, node: string, claimed: boolean, why: string): Decision {
  const epoch = (c.value?.epoch ?? 0) + 1;
  const value: LeaseValue = { holder: node, epoch, grantedAt: c.now, renewedAt: c.now, expiresAt: c.now + c.policy.timing.leaseTtlMs, reason: why, ...(claimed ? {} : { offered: true as const }) };
  return result('propose', `${why}: granting ${node} epoch ${epoch} once the write at revision ${c.revision} succeeds`, [
    write(c, value, { kind: 'grant', node, epoch, claimed }),
  ]);
}

function modeOff(c: Ctx): string | null {
  return c.policy.mode === 'off' ? `${c.name} runs in mode off: plain VRRP, the arbiter keeps no lease for it` : null;
}

// ---------------------------------------------------------------------------
// Claims

function onClaim(view: ArbiterView, name: string, node: string, now: number): Decision {
  const c = contextOf(view, name, now);
  const veto = (decision: DecisionKind, why: string, retryAfterMs?: number, extra: ArbiterAction[] = []): Decision => {
    const reason = `claim by ${node} vetoed: ${why}`;
    const base = { type: 'veto' as const, node, instance: name, reason };
    const answer = retryAfterMs === undefined ? base : { ...base, retryAfterMs: Math.max(0, Math.round(retryAfterMs)) };
    // Work first (a fence), then the answer, then what is only published.
    const work = extra.filter((a) => a.type !== 'event');
    const events = extra.filter((a) => a.type === 'event');
    return result(decision, reason, [...work, answer, ...events, event('claim.vetoed', name, reason, node)]);
  };
  if (!c) return veto('refuse', `unknown instance ${name}`);
  const off = modeOff(c);
  if (off) return veto('refuse', off);
  if (!c.inst.members[node]) return veto('refuse', `${node} is not a member of ${name}`);
  const mismatch = c.inst.timingMismatch?.[node];
  if (mismatch) {
    // It would renew on another schedule than the one this arbiter judges silence by.
    const reason = `claim by ${node} refused: its lease timing for ${name} disagrees with the arbiter's: ${mismatch}`;
    return result('refuse', reason, [{ type: 'refuse', node, instance: name, reason }, event('lease.refused', name, reason, node)]);
  }

  const n = view.nodes[node];
  if (n?.gateway !== 'up') {
    const state = n?.gateway === 'down' ? 'does not answer' : 'has not been reported';
    return veto('veto', `its own gateway ${state}, and a node without its gateway never claims`, c.policy.timing.renewIntervalMs);
  }
  if (n.reachableFromArbiter === 'down' && view.gateway === 'up') {
    return veto('veto', `the arbiter cannot reach ${node} from its place while its own gateway answers`, c.policy.timing.renewIntervalMs);
  }
  const nowp = noWritePath(c);
  if (nowp) {
    // Not a verdict on the claim: this replica cannot decide now. The claimant keeps what it has
    // (a failsafe holder serving without a lease keeps the VIP, a strict claimant stays without)
    // and asks again; the shell answers `wait`.
    return result('wait', `claim by ${node} must wait: ${nowp}`);
  }
  const pending = pendingWhy(c);
  if (pending) return veto('veto', pending, c.policy.timing.requestTimeoutMs);

  const v = c.value;
  if (v && v.holder === node && now < v.expiresAt) {
    // The holder asks again (an agent restarted mid-claim, or its grant was lost), or the offered node claims: same epoch, fresh expiry.
    const { offered: _claimed, ...rest } = v;
    const value: LeaseValue = { ...rest, renewedAt: now, expiresAt: now + c.policy.timing.leaseTtlMs };
    return result(
      'propose',
      v.offered
        ? `${node} claims epoch ${v.epoch}, which it was offered: granting it with a fresh expiry once the write at revision ${c.revision} succeeds`
        : `${node} already holds epoch ${v.epoch}: granting it again with a fresh expiry once the write at revision ${c.revision} succeeds`,
      [write(c, value, { kind: 'grant', node, epoch: v.epoch, claimed: true })],
    );
  }
  if (v?.reservedFor && v.reservedFor !== node) {
    return veto('veto', `the lease is reserved for ${v.reservedFor} by a forced failover`, c.policy.timing.renewIntervalMs);
  }

  const a = assess(c, node);
  switch (a.kind) {
    case 'clear':
      return proposeGrant(c, node, true, a.why);
    case 'alive':
    case 'wait':
      return veto('veto', a.why, a.retryAfterMs);
    case 'fence':
      return veto('fenceFirst', a.why, a.retryAfterMs, [a.fence, fenceEvent(c, a.fence)]);
    case 'fencing':
      return veto('fenceFirst', a.why, a.retryAfterMs);
  }
}

// ---------------------------------------------------------------------------
// Renewals and releases

function onRenew(view: ArbiterView, name: string, node: string, epoch: number, now: number): Decision {
  const c = contextOf(view, name, now);
  const refuse = (why: string, demote: boolean, withEvent = true): Decision => {
    const reason = `renewal of epoch ${epoch} by ${node} refused: ${why}`;
    const actions: ArbiterAction[] = demote
      ? [{ type: 'orderDemote', node, instance: name, epoch, reason }]
      : [{ type: 'refuse', node, instance: name, reason }];
    if (withEvent) actions.push(event('lease.refused', name, reason, node, { epoch }));
    return result('refuse', reason, actions);
  };
  if (!c) return refuse(`unknown instance ${name}`, false);
  const off = modeOff(c);
  if (off) return refuse(off, false);
  const v = c.value;
  const current = v?.epoch ?? 0;
  if (epoch > current) {
    return refuse(`the view knows epoch ${current} at most (is it behind the KV?); no order to demote, ask again`, false);
  }
  if (!v || v.holder !== node || epoch !== current) {
    const state = !v
      ? 'no lease at all'
      : v.holder !== null
        ? `the lease is at epoch ${current}, held by ${v.holder}`
        : v.reservedFor
          ? `the lease was revoked by a forced failover (now epoch ${current}, reserved for ${v.reservedFor})`
          : `the lease is free at epoch ${current}`;
    return refuse(`stale epoch: ${state}; ${node} must demote`, true);
  }
  if (now >= v.expiresAt) {
    return refuse(`its lease ran out ${ms(now - v.expiresAt)} ago, too late to renew; ${node} must demote and claim again`, true);
  }
  const nowp = noWritePath(c);
  if (nowp) return refuse(`${nowp}; the lease runs ${ms(v.expiresAt - now)} more, then the holder demotes itself`, false);
  const pending = pendingWhy(c);
  if (pending) return refuse(`${pending}; ask again`, false, false);
  // A renewal proves the holder was granted the lease (it knows the epoch from a grant): an `offered`
  // marker left by a write that raced its grant (nats-server#4320) must not outlive it.
  const { offered: _granted, ...held } = v;
  const value: LeaseValue = { ...held, renewedAt: now, expiresAt: now + c.policy.timing.leaseTtlMs };
  return result('propose', `renewing epoch ${epoch} for ${node} once the write at revision ${c.revision} succeeds`, [
    write(c, value, { kind: 'renew', node, epoch }),
  ]);
}

function onRelease(view: ArbiterView, name: string, node: string, epoch: number, now: number): Decision {
  const c = contextOf(view, name, now);
  const refuse = (why: string): Decision => {
    const reason = `release of epoch ${epoch} by ${node} not recorded: ${why}`;
    return result('refuse', reason, [{ type: 'refuse', node, instance: name, reason }, event('lease.refused', name, reason, node, { epoch })]);
  };
  if (!c) return refuse(`unknown instance ${name}`);
  const off = modeOff(c);
  if (off) return refuse(off);
  const v = c.value;
  const isHolder = v !== null && v.holder === node && v.epoch === epoch;
  const isOutgoing = v !== null && v.outgoing !== undefined && v.outgoing.node === node && v.outgoing.epoch === epoch;
  if (!isHolder && !isOutgoing) {
    const state = !v ? 'there is no lease' : v.holder !== null ? `the lease is at epoch ${v.epoch}, held by ${v.holder}` : `the lease is free at epoch ${v.epoch}`;
    return refuse(`${state}; nothing to release`);
  }
  const nowp = noWritePath(c);
  if (nowp) return refuse(nowp);
  const pending = pendingWhy(c);
  if (pending) return refuse(`${pending}; ask again`);
  const ttl = c.policy.timing.leaseTtlMs;
  // It released: it is known not to serve, so the best member gets the lease at once, claiming or not.
  const successor = chooseSuccessor(c, [node], false);
  const what = isHolder
    ? `${node} released epoch ${epoch}`
    : `${node} confirmed it removed the VIP (revoked epoch ${epoch}) after the forced failover`;
  if (successor) {
    const next = v.epoch + 1;
    const reason = `${what}: handing over to ${successor} at once (break-then-make)`;
    const value: LeaseValue = { holder: successor, epoch: next, grantedAt: now, renewedAt: now, expiresAt: now + ttl, reason, offered: true };
    // The successor is told while the write is in flight, not after it: its claim crosses the
    // write instead of following it (the shell holds a claim until the instance's write in flight
    // is answered, and a claim is only ever granted on what the KV holds). The offer that follows
    // the write's result (onWriteResult) is the one that counts if this one was early for a replica.
    const early: ArbiterAction = {
      type: 'offer',
      node: successor,
      instance: name,
      epoch: next,
      reason: `${reason}: epoch ${next} is being written in its name; its claim is answered once the write is in`,
    };
    return result('propose', `${reason}, epoch ${next}, once the write at revision ${c.revision} succeeds`, [
      write(c, value, { kind: 'handover', from: node, fromEpoch: epoch, to: successor, epoch: next }),
      early,
    ]);
  }
  const reason = `${what}; no member can take over (connected, gateway answering), so the lease is left free`;
  const value: LeaseValue = { holder: null, epoch: v.epoch, grantedAt: 0, renewedAt: now, expiresAt: 0, reason };
  return result('propose', `${reason} once the write at revision ${c.revision} succeeds`, [write(c, value, { kind: 'release', node, epoch })]);
}

// ---------------------------------------------------------------------------
// Forced failover

function onFailover(view: ArbiterView, name: string, to: string | undefined, by: string, now: number): Decision {
  const c = contextOf(view, name, now);
  const refuse = (why: string): Decision => {
    const reason = `forced failover of ${name}${to ? ` to ${to}` : ''} by ${by} refused: ${why}`;
    return result('refuse', reason, [event('failover.refused', name, reason, to)]);
  };
  if (!c) return refuse(`unknown instance ${name}`);
  const off = modeOff(c);
  if (off) return refuse(off);
  const nowp = noWritePath(c);
  if (nowp) return refuse(nowp);
  const pending = pendingWhy(c);
  if (pending) return refuse(`${pending}; ask again`);
  const v = c.value;
  if (v?.outgoing || v?.reservedFor) {
    return refuse(`a forced failover${v.reservedFor ? ` to ${v.reservedFor}` : ''} is already in progress`);
  }
  const holder = v?.holder ?? null;
  let target: string;
  if (to !== undefined) {
    if (to === holder) return refuse(`${to} already holds the lease (epoch ${v?.epoch})`);
    const why = ineligibility(c, to, true);
    if (why) return refuse(`${why}, so it cannot serve`);
    target = to;
  } else {
    const chosen = chooseSuccessor(c, holder ? [holder] : [], false);
    if (!chosen) return refuse(`no other member can serve (connected, gateway answering, BACKUP or CLAIMING)${holder ? `; ${holder} keeps the lease` : ''}`);
    target = chosen;
  }
  const asked = `forced failover by ${by}`;
  if (!v || holder === null) return proposeGrant(c, target, false, `${asked}: the lease is free`);
  const a = assess(c, target);
  if (a.kind === 'clear') return proposeGrant(c, target, false, `${asked}: ${a.why}`);
  // The holder may serve: revoke its epoch and keep the lease for the target until it confirms.
  const epoch = v.epoch + 1;
  const reason = `${asked}: revoking epoch ${v.epoch} of ${holder}, reserved for ${target}`;
  const value: LeaseValue = {
    holder: null,
    epoch,
    grantedAt: 0,
    renewedAt: now,
    expiresAt: 0,
    reason,
    outgoing: { node: holder, epoch: v.epoch, grantedAt: v.grantedAt, until: v.expiresAt },
    reservedFor: target,
  };
  return result('propose', `${reason} (epoch ${epoch}) once the write at revision ${c.revision} succeeds; then ${holder} is ordered to demote`, [
    write(c, value, { kind: 'revoke', from: holder, fromEpoch: v.epoch, to: target, epoch, by }),
  ]);
}

// ---------------------------------------------------------------------------
// A node went away, and reconciling an instance

function onNodeGone(view: ArbiterView, name: string, node: string, now: number): Decision {
  const known = view.nodes[node];
  // The shell may not have folded the disconnection yet: decide as if it had.
  const seen: ArbiterView =
    known && !known.connected ? view : { ...view, nodes: { ...view.nodes, [node]: { gateway: 'unknown', reachableFromArbiter: 'unknown', ...known, connected: false, since: now } } };
  const c = contextOf(seen, name, now);
  if (!c) return result('noop', `${node}'s connection closed; ${name} is unknown`);
  const inc = incumbentOf(c.value);
  if (!inc || inc.node !== node) return result('noop', `${node}'s connection closed; it holds no lease of ${name}`);
  const off = modeOff(c);
  if (off) return result('noop', `${node}'s connection closed; ${off}`);
  const d = progress(c);
  const reason = `${node}'s connection closed while it ${inc.revoked ? 'was being demoted' : `holds the lease (epoch ${inc.epoch})`}: ${d.reason}`;
  return result(d.decision, reason, [...d.actions, event('node.gone', name, reason, node, { epoch: inc.epoch })]);
}

function onReconcile(view: ArbiterView, name: string, now: number): Decision {
  const c = contextOf(view, name, now);
  if (!c) return result('refuse', `reconcile: unknown instance ${name}`);
  const split = splitBrain(c);
  if (split) return split;
  const off = modeOff(c);
  if (off) return result('noop', off);
  return progress(c);
}

/** Move the instance on if the incumbent is gone, fenced, out of time or demoted. */
function progress(c: Ctx): Decision {
  const pending = pendingWhy(c);
  if (pending) return result('noop', pending);
  const nowp = noWritePath(c);
  if (nowp) return result('wait', `${nowp}: neither fencing nor granting`);
  const inc = incumbentOf(c.value);
  if (!inc) {
    const claimant = chooseSuccessor(c, [], true);
    if (!claimant) return result('noop', 'the lease is free and no eligible member is claiming it');
    return proposeGrant(c, claimant, false, `the lease is free and ${claimant} is claiming it`);
  }
  const best = chooseSuccessor(c, [inc.node], false);
  const a = assess(c, best);
  switch (a.kind) {
    case 'clear': {
      // Presumed gone only (its lease ran out): grant someone VRRP also says should take over.
      // The incumbent that gave the VIP up competes again with whoever claims.
      const target = a.incumbentMay ? (chooseSuccessor(c, [], true) ?? best) : a.certain ? best : chooseSuccessor(c, [inc.node], true);
      if (!target && inc.offered && !inc.revoked) {
        // Nobody to offer it to next: the KV must not go on naming a node that never held it.
        const reason = `${a.why}; no member can take over (connected, gateway answering), so the lease is left free`;
        const value: LeaseValue = { holder: null, epoch: inc.epoch, grantedAt: 0, renewedAt: c.now, expiresAt: 0, reason };
        return result('propose', `${reason} once the write at revision ${c.revision} succeeds`, [write(c, value, { kind: 'release', node: inc.node, epoch: inc.epoch })]);
      }
      if (!target) return result('wait', `${a.why}; no eligible member ${a.certain ? 'can take over' : 'is claiming'}`);
      return proposeGrant(c, target, false, a.why);
    }
    case 'alive':
      return result('noop', a.why);
    case 'wait':
      return result('wait', a.why);
    case 'fence':
      return result('fenceFirst', a.why, [a.fence, fenceEvent(c, a.fence)]);
    case 'fencing':
      return result('fenceFirst', a.why);
  }
}

/** Two members reporting the VIP (or MASTER), or one that reports it while another holds the lease. */
function splitBrain(c: Ctx): Decision | null {
  const masters = Object.entries(c.inst.members)
    .filter(([, m]) => m.state === 'MASTER' || m.vip)
    .map(([node]) => node)
    .sort();
  if (masters.length === 0) return null;
  const v = c.value;
  const holder = v && v.holder !== null && c.now < v.expiresAt ? v.holder : null;
  const epoch = v?.epoch ?? 0;
  const off = c.policy.mode === 'off';
  if (masters.length >= 2) {
    const demote = masters.filter((m) => m !== holder);
    const who = holder ? `${holder} holds the lease (epoch ${epoch})` : 'nobody holds a live lease';
    const then = off ? 'mode off: reported only' : `ordering ${demote.join(', ')} to demote`;
    const reason = `split-brain: ${masters.join(' and ')} report the VIP of ${c.name}; ${who}; ${then}`;
    const orders: ArbiterAction[] = off ? [] : demote.map((node) => ({ type: 'orderDemote', node, instance: c.name, epoch, reason }));
    return result('splitBrain', reason, [...orders, event('splitbrain.detected', c.name, reason, undefined, { nodes: masters, holder })]);
  }
  const only = masters[0]!;
  if (holder && only !== holder && !off) {
    const reason = `${only} reports the VIP of ${c.name} while ${holder} holds the lease (epoch ${epoch}): ordering ${only} to demote`;
    return result('demote', reason, [
      { type: 'orderDemote', node: only, instance: c.name, epoch, reason },
      event('vip.without_lease', c.name, reason, only, { holder }),
    ]);
  }
  return null;
}

// ---------------------------------------------------------------------------
// Write results

function onWriteResult(view: ArbiterView, w: WriteLeaseAction, outcome: WriteOutcome, now: number): Decision {
  const intent = w.intent;
  const name = w.instance;
  if (outcome.ok) {
    const rev = outcome.revision;
    const validForMs = w.value.expiresAt - now;
    switch (intent.kind) {
      case 'grant': {
        if (!intent.claimed) {
          const reason = `${intent.node} is offered ${name} at epoch ${intent.epoch} (revision ${rev}); its claim starts its clock: ${w.value.reason}`;
          return result('offer', reason, [
            { type: 'offer', node: intent.node, instance: name, epoch: intent.epoch, reason },
            event('lease.granted', name, reason, intent.node, { epoch: intent.epoch, revision: rev, claimed: false }),
          ]);
        }
        const margin = view.instances[name]?.policy.timing.safetyMarginMs ?? 0;
        if (validForMs <= margin) {
          const reason = `the grant of epoch ${intent.epoch} to ${intent.node} was written (revision ${rev}) but would be valid for ${ms(validForMs)} only, within the safety margin of ${ms(margin)}: ${intent.node} is not told and may claim again`;
          return result('writeFailed', reason, [
            { type: 'veto', node: intent.node, instance: name, reason, retryAfterMs: 0 },
            event('lease.write_failed', name, reason, intent.node, { revision: rev }),
          ]);
        }
        const reason = `${intent.node} holds ${name} at epoch ${intent.epoch} (revision ${rev}) for ${ms(validForMs)}: ${w.value.reason}`;
        return result('grant', reason, [
          { type: 'grant', node: intent.node, instance: name, epoch: intent.epoch, expiresAt: w.value.expiresAt, validForMs, reason },
          event('lease.granted', name, reason, intent.node, { epoch: intent.epoch, revision: rev, claimed: true }),
        ]);
      }
      case 'renew':
        return result('renew', `${intent.node} renewed epoch ${intent.epoch} of ${name} (revision ${rev}) for ${ms(validForMs)}`, [
          { type: 'renewed', node: intent.node, instance: name, epoch: intent.epoch, expiresAt: w.value.expiresAt, validForMs },
        ]);
      case 'release': {
        const reason = `${intent.node} gave up epoch ${intent.epoch} of ${name} (revision ${rev}): ${w.value.reason}`;
        return result('release', reason, [
          { type: 'released', node: intent.node, instance: name, epoch: intent.epoch },
          event('lease.released', name, reason, intent.node, { epoch: intent.epoch, revision: rev }),
        ]);
      }
      case 'handover': {
        const reason = `${intent.to} is offered ${name} at epoch ${intent.epoch} (revision ${rev}); its claim starts its clock: ${w.value.reason}`;
        return result('offer', reason, [
          // The target's offer first: it is on the client's critical path, the acknowledgement is not.
          { type: 'offer', node: intent.to, instance: name, epoch: intent.epoch, reason },
          { type: 'released', node: intent.from, instance: name, epoch: intent.fromEpoch },
          event('lease.released', name, reason, intent.from, { epoch: intent.fromEpoch, revision: rev }),
          event('lease.granted', name, reason, intent.to, { epoch: intent.epoch, revision: rev, claimed: false }),
        ]);
      }
      case 'revoke': {
        const reason = `forced failover by ${intent.by}: epoch ${intent.fromEpoch} of ${intent.from} revoked (revision ${rev}); ${intent.from} is ordered to demote, ${intent.to} is granted once it confirms`;
        return result('failover', reason, [
          { type: 'orderDemote', node: intent.from, instance: name, epoch: intent.fromEpoch, reason },
          event('failover.started', name, reason, intent.to, { from: intent.from, epoch: intent.epoch, by: intent.by }),
        ]);
      }
    }
  }
  const why =
    outcome.error === 'conflict'
      ? `compare-and-set on ${w.key} failed: expected revision ${w.expectedRevision}, the KV is at ${outcome.currentRevision ?? 'another revision'} (another replica or an earlier write got there first)`
      : `the write to ${w.key} ${outcome.error === 'timeout' ? 'timed out' : 'failed'}${outcome.detail ? ` (${outcome.detail})` : ''}: its outcome is unknown, so nobody is told anything it may not hold`;
  const what = describeIntent(intent);
  const reason = `${what} not done: ${why}`;
  const actions: ArbiterAction[] = [];
  switch (intent.kind) {
    case 'grant':
      if (intent.claimed) actions.push({ type: 'veto', node: intent.node, instance: name, reason, retryAfterMs: 0 });
      break;
    case 'renew':
      actions.push({ type: 'refuse', node: intent.node, instance: name, reason });
      break;
    case 'release':
      actions.push({ type: 'refuse', node: intent.node, instance: name, reason });
      break;
    case 'handover':
      actions.push({ type: 'refuse', node: intent.from, instance: name, reason });
      break;
    case 'revoke':
      break;
  }
  const node = intent.kind === 'handover' || intent.kind === 'revoke' ? intent.from : intent.node;
  actions.push(event('lease.write_failed', name, reason, node, { expectedRevision: w.expectedRevision, error: outcome.error }));
  return result('writeFailed', reason, actions);
}
