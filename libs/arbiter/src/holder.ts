/**
 * The agent's side of a lease, pure: `holderStep(params, state, event, now) ->
 * {state, actions, reason}`, one machine per VRRP instance. It never touches
 * NATS, the VIP or a clock; the agent's shell (services/agent) feeds it events
 * and carries out its actions, as it does for the VRRP state machine.
 *
 * Phases:
 * - BACKUP: no lease, no VIP.
 * - CLAIMING: VRRP says "become master" (or the arbiter offered the lease); a
 *   claim is in flight or planned; no VIP until a grant arrives.
 * - MASTER: the VIP is ours, with a lease (or, in failsafe mode while no
 *   arbiter answers, without one).
 *
 * Time is the agent's monotonic clock (ms). A grant or renewal is counted from
 * the instant its request was SENT (selfDemotionAt), so a late answer shortens
 * the hold, never lengthens it. At most one claim or renewal is in flight; its
 * answer is matched by request id, and a grant nobody waits for any more is
 * released at once (else the arbiter would keep vetoing everyone else).
 *
 * Modes (types.ts ArbiterMode, failsafe.ts for the no-arbiter rule):
 * - strict: no VIP without a valid lease, ever.
 * - failsafe: as strict while an arbiter answers; when none does, failsafeVerdict
 *   decides (a backup takes over only when the master is silent on VRRP and its
 *   gateway answers; a holder keeps the VIP while its gateway answers).
 * - off: plain VRRP; wantMaster is always carried out, nothing is sent.
 */
import { failsafeVerdict } from './failsafe.js';
import type { ArbiterReply } from './protocol.js';
import { nextRenewalAt, selfDemotionAt } from './timing.js';
import type { ArbiterMode, LeaseTiming, Reachability } from './types.js';

export interface HolderParams {
  readonly mode: ArbiterMode;
  readonly timing: LeaseTiming;
  /**
   * The node pings a gateway. Without one, failsafe counts the gateway as
   * answering: when no arbiter answers it falls back to plain VRRP.
   */
  readonly gatewayConfigured: boolean;
}

export type HolderPhase = 'BACKUP' | 'CLAIMING' | 'MASTER';

export interface HeldLease {
  readonly epoch: number;
  /** When the request this validity answers was sent (monotonic ms). */
  readonly anchorAt: number;
  readonly validForMs: number;
  /** The VIP must be gone by then unless a renewal was confirmed (selfDemotionAt). */
  readonly demoteAt: number;
  /** When the next renewal is due. */
  readonly renewAt: number;
}

export interface PendingRequest {
  readonly id: number;
  readonly kind: 'claim' | 'renew';
  readonly sentAt: number;
  /** renew: the epoch renewed. */
  readonly epoch?: number;
  /**
   * claim sent again after claims that went unanswered: the first of them (its
   * id and when it was sent). A late grant of any claim from `firstId` on is
   * taken as the grant of this one, counted from `firstSentAt` (the earliest,
   * so the hold is never longer than the arbiter meant).
   */
  readonly firstId?: number;
  readonly firstSentAt?: number;
}

export interface HolderState {
  readonly phase: HolderPhase;
  /** CLAIMING: VRRP asked for MASTER (true) or only the arbiter's offer did (false). */
  readonly vrrpWants: boolean;
  /** MASTER with a lease; null in the other phases and for a failsafe MASTER without one. */
  readonly lease: HeldLease | null;
  readonly request: PendingRequest | null;
  /** When to send the next claim (after a wait, a failure, or as a leaseless MASTER); null: none planned. */
  readonly claimAt: number | null;
  /** Requests in a row that got no answer. */
  readonly failures: number;
  /** up: the last request was answered; down: no arbiter answers (two misses, no responders, NATS disconnected). */
  readonly arbiter: Reachability;
  readonly gateway: Reachability;
  /** The highest epoch given up (released, demoted from): a grant at or below it is never used. */
  readonly givenUpEpoch: number;
  readonly nextRequestId: number;
  /** What VRRP said when it last asked for MASTER: failsafe's "is the master silent?" rests on it. */
  readonly lastMasterAdvertAt: number | null;
  readonly masterDownIntervalMs: number;
  /**
   * CLAIMING on the arbiter's offer alone: until when the offer stands (the
   * lease's TTL from when it came). A claim of it that is vetoed or refused is
   * sent again after the answer's retryAfterMs while it stands; optional, so
   * that states saved without it read as "no offer".
   */
  readonly offerUntil?: number | null;
  /**
   * A veto episode: VRRP's claims vetoed or refused in a row (0 or absent:
   * none). While above 0 the instance stays BACKUP and claims again only when
   * VRRP asks at or after `retryAt` (the backoff, doubling per veto) or on new
   * evidence (VRRP asking earlier: the master's priority-0 advert, its
   * silence after an advert; an offer): a retry is quiet, the shell reports no
   * transition for it. Optional, as offerUntil.
   */
  readonly vetoes?: number;
  /** The backoff's end: VRRP asking for MASTER at or after it is the retry of a vetoed claim. */
  readonly retryAt?: number | null;
}

export type HolderEvent =
  /** VRRP's election says "become master". */
  | { readonly type: 'wantMaster'; readonly reason: string; readonly lastMasterAdvertAt: number | null; readonly masterDownIntervalMs: number }
  /** VRRP left MASTER or no longer wants it (advert, fault, shutdown); the VIP is already gone when MASTER. */
  | { readonly type: 'leaveMaster'; readonly reason: string }
  | { readonly type: 'reply'; readonly requestId: number; readonly reply: ArbiterReply }
  /** No answer (timeout), or none possible: `definitive` when NATS says nobody listens or is disconnected. */
  | { readonly type: 'requestFailed'; readonly requestId: number; readonly reason: string; readonly definitive: boolean }
  /** `eligible`: the instance may serve (not FAULT, not stopped); `why` says why not. */
  | { readonly type: 'offer'; readonly epoch: number; readonly reason: string; readonly eligible: boolean; readonly why?: string }
  | { readonly type: 'orderDemote'; readonly epoch: number; readonly reason: string }
  /** The NATS connection's state: disconnected means no arbiter answers. */
  | { readonly type: 'arbiterReachable'; readonly reachable: boolean; readonly detail: string }
  | { readonly type: 'gateway'; readonly status: Reachability }
  /** The shell calls this when now >= nextHolderDeadline(state). */
  | { readonly type: 'tick' };

export type HolderLeaseEvent =
  | { readonly name: 'lease.renewal_failed'; readonly data: { epoch: number; reason: string; remainingMs: number; attempts: number } }
  | { readonly name: 'lease.self_demoted'; readonly data: { epoch: number; reason: string } };

export type HolderAction =
  | { readonly type: 'sendClaim'; readonly requestId: number }
  | { readonly type: 'sendRenew'; readonly requestId: number; readonly epoch: number }
  /** Sent after the VIP is gone; its answer only confirms. */
  | { readonly type: 'sendRelease'; readonly requestId: number; readonly epoch: number }
  /** Carry out VRRP's MASTER entry now (advert, VIP, gratuitous ARP). `epoch` null: failsafe, without a lease. */
  | { readonly type: 'becomeMaster'; readonly epoch: number | null; readonly reason: string }
  /** Not MASTER after all: back to BACKUP, VRRP's down timer waiting until `retryAt` (null: a normal Master_Down_Interval). */
  | { readonly type: 'backOff'; readonly retryAt: number | null; readonly reason: string }
  /** Leave MASTER: remove the VIP first, then send the priority-0 advert; BACKUP. */
  | { readonly type: 'demote'; readonly reason: string }
  | ({ readonly type: 'publishEvent' } & HolderLeaseEvent);

export interface HolderResult {
  readonly state: HolderState;
  readonly actions: readonly HolderAction[];
  readonly reason: string;
}

export function initialHolderState(): HolderState {
  return {
    phase: 'BACKUP',
    vrrpWants: false,
    lease: null,
    request: null,
    claimAt: null,
    failures: 0,
    arbiter: 'unknown',
    gateway: 'unknown',
    givenUpEpoch: -1,
    nextRequestId: 1,
    lastMasterAdvertAt: null,
    masterDownIntervalMs: 0,
  };
}

/** The earliest instant the shell must call `tick` at, or null. */
export function nextHolderDeadline(params: HolderParams, state: HolderState): number | null {
  const candidates: number[] = [];
  if (state.request) candidates.push(state.request.sentAt + params.timing.requestTimeoutMs);
  if (state.lease) {
    candidates.push(state.lease.demoteAt);
    if (!state.request) candidates.push(state.lease.renewAt);
  }
  if (!state.request && state.claimAt !== null) candidates.push(state.claimAt);
  return candidates.length > 0 ? Math.min(...candidates) : null;
}

const NOTHING_DUE = 'tick: nothing due';
const ms = (n: number): string => `${Math.round(n)} ms`;

export function holderStep(params: HolderParams, state: HolderState, event: HolderEvent, now: number): HolderResult {
  if (params.mode === 'off') return offMode(state, event);
  switch (event.type) {
    case 'wantMaster':
      return onWantMaster(params, { ...state, lastMasterAdvertAt: event.lastMasterAdvertAt, masterDownIntervalMs: event.masterDownIntervalMs }, event.reason, now);
    case 'leaveMaster':
      return onLeaveMaster(state, event.reason);
    case 'reply':
      return onReply(params, state, event.requestId, event.reply, now);
    case 'requestFailed':
      if (state.request?.id !== event.requestId) return same(state, `failure of request ${event.requestId} ignored: not the request in flight`);
      return onFailure(params, state, event.reason, event.definitive, now);
    case 'offer':
      return onOffer(params, state, event, now);
    case 'orderDemote':
      return onOrderDemote(state, event.epoch, event.reason);
    case 'arbiterReachable':
      return onReachability(params, state, event.reachable, event.detail, now);
    case 'gateway':
      return onGateway(params, { ...state, gateway: event.status }, event.status, now);
    case 'tick':
      return onTick(params, state, now);
  }
}

function same(state: HolderState, reason: string, actions: HolderAction[] = []): HolderResult {
  return { state, actions, reason };
}

/** Mode off: VRRP alone decides; nothing is ever sent to an arbiter. */
function offMode(state: HolderState, event: HolderEvent): HolderResult {
  if (event.type === 'wantMaster') {
    return { state: { ...state, phase: 'MASTER' }, actions: [{ type: 'becomeMaster', epoch: null, reason: 'mode off: plain VRRP decides' }], reason: 'mode off: plain VRRP decides' };
  }
  if (event.type === 'leaveMaster') return same({ ...state, phase: 'BACKUP' }, 'mode off: plain VRRP decides');
  return same(state, `mode off: ${event.type} ignored`);
}

function gatewayUp(params: HolderParams, state: HolderState): boolean {
  return !params.gatewayConfigured || state.gateway === 'up';
}

function claim(state: HolderState, now: number): { state: HolderState; action: HolderAction } {
  const id = state.nextRequestId;
  return {
    state: { ...state, request: { id, kind: 'claim', sentAt: now }, claimAt: null, nextRequestId: id + 1 },
    action: { type: 'sendClaim', requestId: id },
  };
}

/** A claim sent again at once after `unanswered` got no answer: the series' first claim is kept. */
function claimAgain(state: HolderState, unanswered: PendingRequest, now: number): { state: HolderState; action: HolderAction } {
  const c = claim(state, now);
  const request: PendingRequest = { ...c.state.request!, firstId: unanswered.firstId ?? unanswered.id, firstSentAt: unanswered.firstSentAt ?? unanswered.sentAt };
  return { state: { ...c.state, request }, action: c.action };
}

function release(state: HolderState, epoch: number): { state: HolderState; action: HolderAction } {
  const id = state.nextRequestId;
  return {
    state: { ...state, nextRequestId: id + 1, givenUpEpoch: Math.max(state.givenUpEpoch, epoch) },
    action: { type: 'sendRelease', requestId: id, epoch },
  };
}

function toBackup(state: HolderState): HolderState {
  return { ...state, phase: 'BACKUP', vrrpWants: false, lease: null, request: null, claimAt: null, offerUntil: null };
}

/** The veto episode is over (a grant, an offer, a master heard, new evidence). */
function endEpisode(state: HolderState): HolderState {
  return (state.vetoes ?? 0) === 0 && (state.retryAt ?? null) === null ? state : { ...state, vetoes: 0, retryAt: null };
}

/**
 * How long a claim vetoed `vetoes` times in a row waits before VRRP asks again:
 * the arbiter's retryAfterMs the first time, then doubling from at least the
 * renewal interval, never more than twice max(lease TTL, Master_Down_Interval):
 * the holder may die meanwhile, and VRRP would want the VIP back by then.
 */
export function vetoBackoffMs(timing: LeaseTiming, masterDownIntervalMs: number, retryAfterMs: number, vetoes: number): number {
  if (vetoes <= 1) return retryAfterMs;
  const cap = 2 * Math.max(timing.leaseTtlMs, masterDownIntervalMs);
  const grown = Math.max(retryAfterMs, timing.renewIntervalMs) * 2 ** Math.min(vetoes - 1, 20);
  return Math.max(retryAfterMs, Math.min(cap, grown));
}

/** CLAIMING as the quiet retry of a vetoed claim (the shell reports it as BACKUP). */
export function isVetoRetry(state: HolderState): boolean {
  return state.phase === 'CLAIMING' && state.vrrpWants && (state.vetoes ?? 0) > 0;
}

/** CLAIMING -> BACKUP without VRRP having asked: VRRP's timer waits until retryAt (when it asked). */
function backOff(state: HolderState, reason: string, retryAt: number | null): HolderResult {
  return { state: toBackup(state), actions: [{ type: 'backOff', retryAt: state.vrrpWants ? retryAt : null, reason }], reason };
}

/** MASTER -> BACKUP on our own decision: VIP, priority 0, then the release of what we held. */
function demote(state: HolderState, reason: string, releaseEpoch: number | null): HolderResult {
  const heldEpoch = state.lease?.epoch ?? 0;
  let next = toBackup(state);
  const actions: HolderAction[] = [
    { type: 'demote', reason },
    { type: 'publishEvent', name: 'lease.self_demoted', data: { epoch: releaseEpoch ?? heldEpoch, reason } },
  ];
  if (releaseEpoch !== null) {
    const r = release(next, releaseEpoch);
    next = r.state;
    actions.push(r.action);
  }
  return { state: next, actions, reason };
}

function backupVerdict(params: HolderParams, state: HolderState, now: number) {
  return failsafeVerdict(
    {
      mode: params.mode,
      role: 'backup',
      arbiterReachable: false,
      gatewayUp: gatewayUp(params, state),
      selfDemotionAt: null,
      higherPriorityAdvertSeen: false,
      lastMasterAdvertAt: state.lastMasterAdvertAt,
      masterDownIntervalMs: state.masterDownIntervalMs,
    },
    now,
  );
}

function holderVerdict(params: HolderParams, state: HolderState, now: number) {
  return failsafeVerdict(
    {
      mode: params.mode,
      role: 'holder',
      arbiterReachable: false,
      gatewayUp: gatewayUp(params, state),
      selfDemotionAt: state.lease?.demoteAt ?? null,
      // A higher-priority advert makes VRRP itself leave MASTER (leaveMaster); we never hold on against one.
      higherPriorityAdvertSeen: false,
      lastMasterAdvertAt: null,
      masterDownIntervalMs: state.masterDownIntervalMs,
    },
    now,
  );
}

/** Failsafe with no arbiter, a claim pending: take over without a lease, or keep asking. */
function failsafeClaim(params: HolderParams, state: HolderState, why: string, now: number): HolderResult {
  const retryAt = now + params.timing.renewIntervalMs;
  if (!state.vrrpWants) return backOff(state, `${why}; the arbiter's offer lapses with no arbiter to confirm it`, null);
  const v = backupVerdict(params, state, now);
  if (v.verdict === 'takeOver') {
    // A leaseless MASTER keeps claiming, so the lease is taken as soon as an arbiter answers.
    const next: HolderState = { ...state, phase: 'MASTER', vrrpWants: false, lease: null, request: null, claimAt: retryAt };
    return { state: next, actions: [{ type: 'becomeMaster', epoch: null, reason: v.reason }], reason: `${why}; ${v.reason}` };
  }
  return same({ ...state, request: null, claimAt: retryAt }, `${why}; ${v.reason}; claiming again in ${ms(retryAt - now)}`);
}

function onWantMaster(params: HolderParams, state: HolderState, vrrpReason: string, now: number): HolderResult {
  if (state.phase === 'MASTER') {
    return { state, actions: [{ type: 'becomeMaster', epoch: state.lease?.epoch ?? null, reason: 'already holding' }], reason: 'VRRP asks for MASTER while already holding' };
  }
  if (state.phase === 'CLAIMING') return same({ ...state, vrrpWants: true }, `VRRP asks for MASTER (${vrrpReason}); already claiming`);
  if (params.gatewayConfigured && state.gateway === 'down') {
    return backOff({ ...state, vrrpWants: true }, 'our gateway does not answer: a node without its gateway never claims', now + state.masterDownIntervalMs);
  }
  const vetoes = state.vetoes ?? 0;
  const retryAt = state.retryAt ?? null;
  const retrying = vetoes > 0 && retryAt !== null && now >= retryAt;
  // VRRP asking before the backoff ran out is new evidence (the master's priority-0 advert, or its
  // silence after an advert heard since the veto): a fresh claim, not a retry.
  const base: HolderState = retrying ? state : endEpisode(state);
  const claiming: HolderState = { ...base, phase: 'CLAIMING', vrrpWants: true, failures: 0 };
  if (state.arbiter === 'down' && params.mode === 'failsafe') {
    const v = backupVerdict(params, claiming, now);
    if (v.verdict === 'takeOver') return failsafeClaim(params, endEpisode(claiming), 'no arbiter answers', now);
  }
  const c = claim(claiming, now);
  const why = retrying
    ? `VRRP asks for MASTER again after ${vetoes} veto${vetoes > 1 ? 'es' : ''} in a row (backoff over): claiming the lease again`
    : `VRRP asks for MASTER (${vrrpReason}): claiming the lease${vetoes > 0 ? ` (new evidence before the backoff ran out: the veto episode is over)` : ''}`;
  return { state: c.state, actions: [c.action], reason: why };
}

function onLeaveMaster(state: HolderState, reason: string): HolderResult {
  if (state.phase === 'BACKUP') return same(state, `${reason}; not holding`);
  if (state.phase === 'CLAIMING') return same(endEpisode(toBackup(state)), `claim abandoned: ${reason}`);
  const epoch = state.lease?.epoch;
  if (epoch === undefined) return same(toBackup(state), `${reason}; served without a lease, nothing to release`);
  const r = release(toBackup(state), epoch);
  return { state: r.state, actions: [r.action], reason: `${reason}; releasing epoch ${epoch}` };
}

function onReply(params: HolderParams, state: HolderState, id: number, reply: ArbiterReply, now: number): HolderResult {
  // Any answer proves an arbiter answers.
  const s: HolderState = { ...state, arbiter: 'up' };
  const current = s.request?.id === id ? s.request : null;
  const inFlight = s.request;
  if (!current && reply.type === 'grant' && s.phase === 'CLAIMING' && inFlight?.kind === 'claim' && inFlight.firstId !== undefined && inFlight.firstSentAt !== undefined && id >= inFlight.firstId && id < inFlight.id) {
    // The grant of an earlier claim of this series, late: as good as the one in flight, counted from
    // the series' first claim. The answer to the one in flight (the same epoch again) is then ignored.
    const r = onClaimReply(params, { ...s, request: null, failures: 0 }, { id, kind: 'claim', sentAt: inFlight.firstSentAt }, reply, now);
    return { ...r, reason: `late answer to claim ${id} (claim ${inFlight.id} in flight): ${r.reason}` };
  }
  if (!current) {
    if (reply.type === 'grant' && s.phase === 'MASTER' && s.lease === null && reply.epoch > s.givenUpEpoch) {
      // A failsafe MASTER serving without a lease: the late grant is for the VIP it serves; releasing
      // it would hand the lease to a backup and demote us. Its clock is unknown, so it is not used:
      // the next claim (planned already) is granted the same epoch again.
      return same(s, `grant of epoch ${reply.epoch} answers request ${id}, which nobody waits for any more, while serving without a lease: kept, not released; the next claim asks for it again`);
    }
    if (reply.type === 'grant' && !(s.phase === 'MASTER' && s.lease?.epoch === reply.epoch)) {
      const r = release(s, reply.epoch);
      return { state: r.state, actions: [r.action], reason: `grant of epoch ${reply.epoch} answers request ${id}, which nobody waits for any more: released` };
    }
    return same(s, `${reply.type} for request ${id} ignored: not the request in flight`);
  }
  const answered: HolderState = { ...s, request: null, failures: 0 };
  return current.kind === 'claim' ? onClaimReply(params, answered, current, reply, now) : onRenewReply(params, answered, current, reply, now);
}

function onClaimReply(params: HolderParams, state: HolderState, request: PendingRequest, reply: ArbiterReply, now: number): HolderResult {
  const t = params.timing;
  switch (reply.type) {
    case 'grant': {
      if (reply.epoch <= state.givenUpEpoch) {
        const r = release({ ...state, claimAt: now + t.renewIntervalMs }, reply.epoch);
        return { state: r.state, actions: [r.action], reason: `grant of epoch ${reply.epoch}, which we gave up already: released; claiming again later` };
      }
      const demoteAt = selfDemotionAt(request.sentAt, reply.validForMs, t);
      if (demoteAt <= now) {
        const c = claim(state, now);
        return { state: c.state, actions: [c.action], reason: `grant of epoch ${reply.epoch} came ${ms(now - request.sentAt)} after the claim, too late to use (valid ${ms(reply.validForMs)} minus margin ${ms(t.safetyMarginMs)}): claiming again` };
      }
      const lease: HeldLease = { epoch: reply.epoch, anchorAt: request.sentAt, validForMs: reply.validForMs, demoteAt, renewAt: nextRenewalAt(request.sentAt, t) };
      const held: HolderState = { ...endEpisode(state), phase: 'MASTER', vrrpWants: false, lease, claimAt: null, offerUntil: null };
      if (state.phase === 'MASTER') return same(held, `lease granted (epoch ${reply.epoch}) while serving without one: back under the arbiter`);
      const reason = `lease granted (epoch ${reply.epoch}, valid ${ms(demoteAt - now)} more): ${reply.reason}`;
      return { state: held, actions: [{ type: 'becomeMaster', epoch: reply.epoch, reason }], reason };
    }
    case 'wait': {
      const next = { ...state, claimAt: now + reply.retryAfterMs };
      return same(next, `the arbiter asks to wait (${reply.reason}): claiming again in ${ms(reply.retryAfterMs)}`);
    }
    case 'veto':
    case 'refuse':
    case 'renewed':
    case 'released': {
      const what = reply.type === 'veto' ? 'vetoed' : reply.type === 'refuse' ? 'refused' : `answered with ${reply.type}`;
      const why = 'reason' in reply ? reply.reason : 'not an answer to a claim';
      if (state.phase === 'MASTER') {
        // A failsafe MASTER without a lease, and an arbiter answers: strict rules again.
        return demote(state, `the arbiter answers and our claim was ${what} (${why}): no VIP without a lease`, null);
      }
      const retryAfter = (reply.type === 'veto' ? reply.retryAfterMs : undefined) ?? Math.max(t.renewIntervalMs, state.masterDownIntervalMs);
      const offerUntil = state.offerUntil ?? null;
      if (offerUntil !== null && now + retryAfter < offerUntil) {
        // Claiming on an offer (also when VRRP asked too: the offer came while VRRP's claim was in
        // flight, and this veto answers that older claim): the offered lease waits for this claim, so
        // ask again (the veto may come from a replica that has not seen the offer, or from a write
        // that did not land).
        const next: HolderState = { ...state, claimAt: now + retryAfter };
        return same(next, `claim of the offered lease ${what}: ${why}; claiming again in ${ms(retryAfter)} (the offer stands ${ms(offerUntil - now)} more)`);
      }
      if (!state.vrrpWants) return backOff(state, `claim ${what}: ${why}`, now + retryAfter);
      // VRRP's claim: BACKUP until the backoff runs out or new evidence comes (one transition per episode).
      const vetoes = (state.vetoes ?? 0) + 1;
      const delay = vetoBackoffMs(t, state.masterDownIntervalMs, retryAfter, vetoes);
      const retryAt = now + delay;
      const episode = vetoes > 1 ? `${vetoes} in a row` : 'staying BACKUP';
      return backOff({ ...state, vetoes, retryAt }, `claim ${what}: ${why}; ${episode}, claiming again in ${ms(delay)} or at once on new evidence (the master's priority-0 advert, its silence, an offer)`, retryAt);
    }
  }
}

function onRenewReply(params: HolderParams, state: HolderState, request: PendingRequest, reply: ArbiterReply, now: number): HolderResult {
  const t = params.timing;
  const lease = state.lease;
  if (!lease) return same(state, `${reply.type} for a renewal of a lease no longer held: ignored`);
  if (reply.type === 'renewed' && reply.epoch === lease.epoch) {
    const demoteAt = selfDemotionAt(request.sentAt, reply.validForMs, t);
    const renewed: HeldLease = { ...lease, anchorAt: request.sentAt, validForMs: reply.validForMs, demoteAt: Math.max(demoteAt, lease.demoteAt), renewAt: nextRenewalAt(request.sentAt, t) };
    return same({ ...state, lease: renewed }, `lease renewed (epoch ${lease.epoch}, valid ${ms(renewed.demoteAt - now)} more)`);
  }
  const why = reply.type === 'renewed' ? `renewed epoch ${reply.epoch}, not ours (${lease.epoch})` : 'reason' in reply ? `${reply.type}: ${reply.reason}` : reply.type;
  // Not renewed: try again (no sooner than a request timeout after the last), demote at the deadline.
  return renewalFailed(params, { ...state, failures: state.failures + 1 }, request, `renewal not carried out (${why})`, now);
}

function renewalFailed(params: HolderParams, state: HolderState, request: PendingRequest, why: string, now: number): HolderResult {
  const lease = state.lease!;
  const retryAt = Math.max(now, request.sentAt + params.timing.requestTimeoutMs);
  const next: HolderState = { ...state, request: null, lease: { ...lease, renewAt: retryAt } };
  const actions: HolderAction[] = [];
  if (state.failures === 1) {
    actions.push({ type: 'publishEvent', name: 'lease.renewal_failed', data: { epoch: lease.epoch, reason: why, remainingMs: Math.max(0, lease.demoteAt - now), attempts: state.failures } });
  }
  return { state: next, actions, reason: `${why}; ${ms(lease.demoteAt - now)} left before self-demotion, retrying` };
}

function onFailure(params: HolderParams, state: HolderState, reason: string, definitive: boolean, now: number): HolderResult {
  const request = state.request!;
  const failures = state.failures + 1;
  const arbiter: Reachability = definitive || failures >= 2 ? 'down' : state.arbiter;
  const s: HolderState = { ...state, failures, arbiter, request: null };
  if (request.kind === 'renew') return renewalFailed(params, s, request, `renewal unanswered (${reason})`, now);
  if (s.phase === 'MASTER') {
    // A failsafe MASTER without a lease, asking for one.
    const next = { ...s, claimAt: now + params.timing.renewIntervalMs };
    if (arbiter === 'down') {
      const v = holderVerdict(params, next, now);
      if (v.verdict === 'demote') return demote(next, v.reason, null);
    }
    return same(next, `claim unanswered (${reason}); serving without a lease, claiming again in ${ms(params.timing.renewIntervalMs)}`);
  }
  const offerUntil = s.offerUntil ?? null;
  if (!definitive && offerUntil !== null && now + params.timing.requestTimeoutMs < offerUntil) {
    // The offered lease waits for our claim: a slow answer (a loaded replica) is no reason to let the
    // offer lapse, so the claim goes again while it stands. NATS saying nobody listens is (below).
    const c = claimAgain(s, request, now);
    return { state: c.state, actions: [c.action], reason: `claim of the offered lease unanswered (${reason}): claiming again (the offer stands ${ms(offerUntil - now)} more)` };
  }
  if (arbiter !== 'down') {
    // One miss: ask again at once (a second miss says no arbiter answers).
    const c = claimAgain(s, request, now);
    return { state: c.state, actions: [c.action], reason: `claim unanswered (${reason}): claiming again` };
  }
  if (params.mode === 'failsafe') return failsafeClaim(params, s, `no arbiter answers (${reason})`, now);
  const retryAt = now + params.timing.renewIntervalMs;
  if (!s.vrrpWants) return backOff(s, `no arbiter answers (${reason}); the offer lapses`, null);
  return same({ ...s, claimAt: retryAt }, `strict: no arbiter answers (${reason}); no VIP without a lease, claiming again in ${ms(retryAt - now)}`);
}

function onOffer(params: HolderParams, state: HolderState, event: Extract<HolderEvent, { type: 'offer' }>, now: number): HolderResult {
  if (event.epoch <= state.givenUpEpoch) return same(state, `offer of epoch ${event.epoch} ignored: we gave up epoch ${state.givenUpEpoch}`);
  if (!event.eligible) return same(state, `offer of epoch ${event.epoch} ignored: ${event.why ?? 'this instance cannot serve'}`);
  if (state.gateway === 'down') return same(state, `offer of epoch ${event.epoch} ignored: our gateway does not answer`);
  if (state.phase === 'MASTER') {
    if (state.lease && state.lease.epoch >= event.epoch) return same(state, `offer of epoch ${event.epoch} ignored: holding epoch ${state.lease.epoch}`);
    if (state.request) return same(state, `offer of epoch ${event.epoch}: a request is in flight already`);
    const c = claim(state, now);
    return { state: c.state, actions: [c.action], reason: `offered epoch ${event.epoch} while serving: claiming it` };
  }
  const offerUntil = now + params.timing.leaseTtlMs;
  state = endEpisode(state);
  if (state.phase === 'CLAIMING') {
    if (state.request) return same({ ...state, offerUntil }, `offer of epoch ${event.epoch}: our claim is in flight already`);
    const c = claim({ ...state, offerUntil }, now);
    return { state: c.state, actions: [c.action], reason: `offered epoch ${event.epoch} (${event.reason}): claiming now` };
  }
  const c = claim({ ...state, phase: 'CLAIMING', vrrpWants: false, failures: 0, offerUntil }, now);
  return { state: c.state, actions: [c.action], reason: `the arbiter offers epoch ${event.epoch} (${event.reason}): claiming it` };
}

function onOrderDemote(state: HolderState, epoch: number, reason: string): HolderResult {
  const held = state.lease?.epoch;
  if (state.phase === 'MASTER') {
    if (held !== undefined && held > epoch) return same(state, `order to demote at epoch ${epoch} ignored: holding the newer epoch ${held}`);
    return demote(state, `ordered by the arbiter (epoch ${epoch}): ${reason}`, epoch);
  }
  // Not serving: confirm, so the arbiter need not wait for a lease to run out, and never use that epoch.
  const r = release(state, epoch);
  return { state: r.state, actions: [r.action], reason: `order to demote at epoch ${epoch} while ${state.phase}: confirming with a release (${reason})` };
}

function onReachability(params: HolderParams, state: HolderState, reachable: boolean, detail: string, now: number): HolderResult {
  if (!reachable) {
    const s: HolderState = { ...state, arbiter: 'down' };
    if (s.request) return onFailure(params, { ...s, failures: Math.max(s.failures, 1) }, detail, true, now);
    if (s.phase === 'CLAIMING' && params.mode === 'failsafe') return failsafeClaim(params, s, `no arbiter answers (${detail})`, now);
    return same(s, `no arbiter answers (${detail})`);
  }
  const s: HolderState = { ...state, arbiter: state.arbiter === 'down' ? 'unknown' : state.arbiter };
  if (!s.request && (s.phase === 'CLAIMING' || (s.phase === 'MASTER' && !s.lease))) {
    const c = claim(s, now);
    return { state: c.state, actions: [c.action], reason: `NATS is back (${detail}): claiming now` };
  }
  return same(s, `NATS is back (${detail})`);
}

function onGateway(params: HolderParams, state: HolderState, status: Reachability, now: number): HolderResult {
  if (state.phase === 'MASTER' && !state.lease && state.arbiter === 'down') {
    const v = holderVerdict(params, state, now);
    if (v.verdict === 'demote') return demote(state, v.reason, null);
  }
  return same(state, `gateway ${status}`);
}

function onTick(params: HolderParams, state: HolderState, now: number): HolderResult {
  const t = params.timing;
  if (state.request && now >= state.request.sentAt + t.requestTimeoutMs) {
    const r = onFailure(params, state, `no answer within ${ms(t.requestTimeoutMs)}`, false, now);
    // The deadline and a due renewal may fall on the same tick.
    if (r.state.phase === state.phase && !r.state.request) {
      const more = onTick(params, r.state, now);
      return { state: more.state, actions: [...r.actions, ...more.actions], reason: more.reason === NOTHING_DUE ? r.reason : `${r.reason}; ${more.reason}` };
    }
    return r;
  }
  const lease = state.lease;
  if (state.phase === 'MASTER' && lease && now >= lease.demoteAt) {
    if (params.mode === 'strict' || state.arbiter !== 'down') {
      return demote(state, `lease epoch ${lease.epoch} could not be renewed before its deadline (safety margin ${ms(t.safetyMarginMs)})`, lease.epoch);
    }
    const v = holderVerdict(params, state, now);
    if (v.verdict === 'demote') return demote(state, v.reason, lease.epoch);
    // Keep serving past the lease; claim when an arbiter answers again.
    return same({ ...state, lease: null, request: null, claimAt: now }, v.reason);
  }
  if (state.phase === 'MASTER' && lease && !state.request && now >= lease.renewAt) {
    const id = state.nextRequestId;
    const next: HolderState = { ...state, request: { id, kind: 'renew', sentAt: now, epoch: lease.epoch }, nextRequestId: id + 1 };
    return { state: next, actions: [{ type: 'sendRenew', requestId: id, epoch: lease.epoch }], reason: `renewing epoch ${lease.epoch}` };
  }
  if (!state.request && state.claimAt !== null && now >= state.claimAt && state.phase !== 'BACKUP') {
    if (state.phase === 'MASTER' && state.arbiter === 'down') {
      const v = holderVerdict(params, state, now);
      if (v.verdict === 'demote') return demote(state, v.reason, null);
    }
    const c = claim(state, now);
    return { state: c.state, actions: [c.action], reason: state.phase === 'MASTER' ? 'serving without a lease: claiming it' : 'claiming again' };
  }
  return same(state, NOTHING_DUE);
}
