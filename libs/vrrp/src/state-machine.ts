/**
 * The VRRP state machine of RFC 5798 §6.4 (RFC 9568 §6.4, RFC 3768 §6.4) as one
 * pure function: `step(params, state, event, now) -> {state, actions, reason}`.
 *
 * It never touches a socket, a timer or a clock. Time comes in as `now`
 * (monotonic milliseconds), timers go out as absolute deadlines in the state
 * (`nextDeadline(state)`), and everything that must happen in the world goes out
 * as actions, in the order they must happen. Every result carries a reason a
 * person can read: it is logged, published and asserted in tests.
 *
 * Where the RFC leaves a choice, this follows keepalived 2.2 so that mixed pairs
 * behave the same on both sides (noted at each place).
 */
import type { Advertisement, VrrpVersion } from './types.js';
import { compareAddresses } from './address.js';
import { PRIORITY_OWNER, PRIORITY_STOP, masterDownIntervalMs, skewTimeMs } from './timers.js';

export type VrrpStateName = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT';

/** What the state machine needs to know about its instance; fixed while it runs. */
export interface InstanceParams {
  vrid: number;
  version: VrrpVersion;
  /** Configured priority 1..255; 255 means this node owns the addresses. */
  priority: number;
  /** Our own advertisement interval, in centiseconds. */
  advertIntervalCs: number;
  /** false = keepalived's `nopreempt`. */
  preempt: boolean;
  /** keepalived's `preempt_delay`: how long a lower-priority master is tolerated, ms. */
  preemptDelayMs: number;
  /** Our primary address on the interface: the source of our adverts and the tie-breaker. */
  primaryAddress: string;
  /**
   * Put a new master's adverts on a grid of its interval (multiples of the
   * interval on the monotonic clock) instead of one interval after the
   * takeover: every instance of an agent with the same interval then
   * advertises at the same instants and shares one wakeup of the process. The
   * first advert after a takeover still leaves at once; the second comes at
   * the next grid point, up to one interval later.
   */
  alignAdverts?: boolean;
}

/** The first multiple of the interval strictly after `now`. */
export function nextAdvertAt(params: Pick<InstanceParams, 'advertIntervalCs' | 'alignAdverts'>, now: number): number {
  const interval = params.advertIntervalCs * 10;
  if (!params.alignAdverts) return now + interval;
  return (Math.floor(now / interval) + 1) * interval;
}

export interface MasterSeen {
  address: string;
  priority: number;
}

export interface InstanceState {
  readonly name: VrrpStateName;
  /** The priority we advertise: configured priority adjusted by tracking. */
  readonly effectivePriority: number;
  /** The interval the current master advertises (v3 backups adopt it). */
  readonly masterAdvertIntervalCs: number;
  /** BACKUP: when the master is declared down. */
  readonly masterDownAt: number | null;
  /** MASTER: when the next advert is due. */
  readonly advertAt: number | null;
  /** BACKUP with preempt_delay: until when a lower-priority master is still accepted. */
  readonly preemptUntil: number | null;
  /** The master this node last accepted adverts from. */
  readonly master: MasterSeen | null;
  /** Active fault sources (interface down, a tracked check with weight 0…). Any → FAULT. */
  readonly faults: readonly string[];
  /** When this state was entered. */
  readonly since: number;
}

export type VrrpEvent =
  | { type: 'start' }
  /** A packet that passed the codec and the per-instance checks. */
  | { type: 'advert'; advert: Advertisement; source: string }
  /** The shell calls this when now >= nextDeadline(state). */
  | { type: 'timer' }
  /** A fault source became active (active: true) or cleared (active: false). */
  | { type: 'fault'; source: string; active: boolean; detail?: string }
  /** The effective priority changed (tracked scripts/interfaces with weight). */
  | { type: 'priority'; priority: number; detail?: string }
  /**
   * Another member of this instance's sync group changed state: follow it
   * (keepalived's vrrp_sync_group). MASTER is followed from BACKUP only,
   * BACKUP from MASTER only; FAULT travels as a fault source instead.
   */
  | { type: 'follow'; to: 'MASTER' | 'BACKUP'; detail: string }
  | { type: 'shutdown' };

export type VrrpAction =
  | { type: 'sendAdvert'; priority: number }
  | { type: 'addVips' }
  | { type: 'removeVips' }
  /** Start announcing the VIPs: gratuitous ARP / unsolicited NA, on the configured schedule. */
  | { type: 'announceVips' }
  | { type: 'transition'; from: VrrpStateName; to: VrrpStateName; reason: string };

export interface StepResult {
  state: InstanceState;
  actions: VrrpAction[];
  reason: string;
}

export function initialState(params: InstanceParams, now: number): InstanceState {
  return {
    name: 'INIT',
    effectivePriority: params.priority,
    masterAdvertIntervalCs: params.advertIntervalCs,
    masterDownAt: null,
    advertAt: null,
    preemptUntil: null,
    master: null,
    faults: [],
    since: now,
  };
}

/** The earliest deadline the shell must wake up for, or null when none is armed. */
export function nextDeadline(state: InstanceState): number | null {
  if (state.name === 'BACKUP') return state.masterDownAt;
  if (state.name === 'MASTER') return state.advertAt;
  return null;
}

const fmtMs = (ms: number): string => `${Math.round(ms * 10) / 10} ms`;

export function step(params: InstanceParams, state: InstanceState, event: VrrpEvent, now: number): StepResult {
  switch (event.type) {
    case 'start':
      return onStart(params, state, now);
    case 'advert':
      return onAdvert(params, state, event.advert, event.source, now);
    case 'timer':
      return onTimer(params, state, now);
    case 'fault':
      return onFault(params, state, event.source, event.active, event.detail, now);
    case 'priority':
      return onPriority(state, event.priority, event.detail);
    case 'follow':
      return onFollow(params, state, event.to, event.detail, now);
    case 'shutdown':
      return onShutdown(state, now);
  }
}

function unchanged(state: InstanceState, reason: string, actions: VrrpAction[] = []): StepResult {
  return { state, actions, reason };
}

/** Enter BACKUP, waiting `waitMs` for a master before taking over. */
function enterBackup(
  params: InstanceParams,
  state: InstanceState,
  now: number,
  reason: string,
  opts: { waitMs?: number; master?: MasterSeen | null; masterAdvertIntervalCs?: number; leaving?: VrrpAction[] } = {},
): StepResult {
  const masterAdvertIntervalCs = opts.masterAdvertIntervalCs ?? params.advertIntervalCs;
  const waitMs = opts.waitMs ?? masterDownIntervalMs(params.version, state.effectivePriority, masterAdvertIntervalCs);
  const next: InstanceState = {
    ...state,
    name: 'BACKUP',
    masterAdvertIntervalCs,
    masterDownAt: now + waitMs,
    advertAt: null,
    preemptUntil: null,
    master: opts.master ?? null,
    since: state.name === 'BACKUP' ? state.since : now,
  };
  const actions: VrrpAction[] = [...(opts.leaving ?? [])];
  if (state.name !== 'BACKUP') actions.push({ type: 'transition', from: state.name, to: 'BACKUP', reason });
  return { state: next, actions, reason };
}

/** Enter MASTER: announce ourselves first, then take the addresses and tell the segment. */
function enterMaster(params: InstanceParams, state: InstanceState, now: number, reason: string): StepResult {
  const next: InstanceState = {
    ...state,
    name: 'MASTER',
    masterAdvertIntervalCs: params.advertIntervalCs,
    masterDownAt: null,
    advertAt: nextAdvertAt(params, now),
    preemptUntil: null,
    master: null,
    since: now,
  };
  return {
    state: next,
    actions: [
      // The advert goes first so a lower-priority master steps down as early as possible.
      { type: 'sendAdvert', priority: state.effectivePriority },
      { type: 'addVips' },
      { type: 'announceVips' },
      // Last: what it triggers (log, notify_master, events) is off the failover's critical path.
      { type: 'transition', from: state.name, to: 'MASTER', reason },
    ],
    reason,
  };
}

/** Leaving MASTER: the VIP goes first, then the priority-0 advert (never two holders). */
const RELINQUISH: VrrpAction[] = [{ type: 'removeVips' }, { type: 'sendAdvert', priority: PRIORITY_STOP }];

function onStart(params: InstanceParams, state: InstanceState, now: number): StepResult {
  if (state.name !== 'INIT') return unchanged(state, `start ignored: already ${state.name}`);
  if (state.faults.length > 0) return enterFault(state, now, `starting in FAULT: ${state.faults.join(', ')}`);
  if (params.priority === PRIORITY_OWNER) {
    return enterMaster(params, state, now, 'startup as address owner (priority 255)');
  }
  const mdi = masterDownIntervalMs(params.version, state.effectivePriority, params.advertIntervalCs);
  return enterBackup(params, state, now, `startup: waiting ${fmtMs(mdi)} (Master_Down_Interval) for a master`);
}

function onTimer(params: InstanceParams, state: InstanceState, now: number): StepResult {
  if (state.name === 'BACKUP' && state.masterDownAt !== null && now >= state.masterDownAt) {
    if (state.master?.priority === PRIORITY_STOP) {
      const skew = skewTimeMs(params.version, state.effectivePriority, state.masterAdvertIntervalCs);
      return enterMaster(params, state, now, `master ${state.master.address} gave up (priority 0) and Skew_Time (${fmtMs(skew)}) elapsed`);
    }
    if (params.preempt && state.master && state.master.priority < state.effectivePriority) {
      return enterMaster(params, state, now, `preempting master ${state.master.address} (priority ${state.master.priority} < ours ${state.effectivePriority})`);
    }
    const from = state.master ? `master ${state.master.address} (priority ${state.master.priority})` : 'any master';
    const mdi = masterDownIntervalMs(params.version, state.effectivePriority, state.masterAdvertIntervalCs);
    return enterMaster(params, state, now, `no advertisement from ${from} within Master_Down_Interval (${fmtMs(mdi)})`);
  }
  if (state.name === 'MASTER' && state.advertAt !== null && now >= state.advertAt) {
    const interval = params.advertIntervalCs * 10;
    // Keep the cadence anchored to the schedule, not to when we woke up, so timer
    // lateness does not accumulate; after a stall, restart from now.
    let advertAt = state.advertAt + interval;
    if (advertAt <= now) advertAt = nextAdvertAt(params, now);
    return {
      state: { ...state, advertAt },
      actions: [{ type: 'sendAdvert', priority: state.effectivePriority }],
      reason: 'advertisement interval elapsed',
    };
  }
  return unchanged(state, 'timer: nothing due');
}

function onAdvert(params: InstanceParams, state: InstanceState, advert: Advertisement, source: string, now: number): StepResult {
  if (state.name === 'INIT' || state.name === 'FAULT') {
    // keepalived ignores adverts while in FAULT or not yet started; so do we.
    return unchanged(state, `advert from ${source} ignored in ${state.name}`);
  }
  const prio = advert.priority;
  const ours = state.effectivePriority;
  if (state.name === 'BACKUP') return onAdvertInBackup(params, state, advert, source, now);

  // MASTER
  if (prio === PRIORITY_STOP) {
    return {
      state: { ...state, advertAt: nextAdvertAt(params, now) },
      actions: [{ type: 'sendAdvert', priority: ours }],
      reason: `priority 0 advert from ${source}: answering with an advert so backups keep us as master`,
    };
  }
  const cmp = compareAddresses(source, params.primaryAddress);
  if (prio > ours || (prio === ours && cmp > 0)) {
    const why =
      prio > ours
        ? `higher priority advert from ${source} (${prio} > ours ${ours})`
        : `equal priority advert from ${source} with a higher primary address than ours (${params.primaryAddress})`;
    const masterAdvertIntervalCs = params.version === 3 ? advert.advertIntervalCs : params.advertIntervalCs;
    return enterBackup(params, state, now, why, {
      master: { address: source, priority: prio },
      masterAdvertIntervalCs,
      leaving: [{ type: 'removeVips' }],
    });
  }
  if (prio === ours && cmp === 0) {
    return unchanged(state, `equal priority advert carrying our own primary address ${source}: misconfiguration, ignored`);
  }
  // A lower-priority master is on the segment: assert ourselves at once (keepalived
  // does the same unless lower_prio_no_advert) so it steps down without waiting.
  return {
    state,
    actions: [{ type: 'sendAdvert', priority: ours }],
    reason: `lower priority advert from ${source} (${prio} < ours ${ours}): re-asserting with an advert`,
  };
}

function onAdvertInBackup(params: InstanceParams, state: InstanceState, advert: Advertisement, source: string, now: number): StepResult {
  const prio = advert.priority;
  const ours = state.effectivePriority;
  if (prio === PRIORITY_STOP) {
    const skew = skewTimeMs(params.version, ours, state.masterAdvertIntervalCs);
    return {
      // Remembering the master with priority 0 lets the takeover say why it happened.
      state: { ...state, masterDownAt: now + skew, master: { address: source, priority: PRIORITY_STOP } },
      actions: [],
      reason: `master ${source} gave up (priority 0): taking over after Skew_Time (${fmtMs(skew)})`,
    };
  }
  const delaying = params.preemptDelayMs > 0 && (state.preemptUntil === null || state.preemptUntil > now);
  if (!params.preempt || prio >= ours || delaying) {
    // A master we accept: adopt its interval (v3) and restart the down timer.
    const masterAdvertIntervalCs = params.version === 3 ? advert.advertIntervalCs : state.masterAdvertIntervalCs;
    const mdi = masterDownIntervalMs(params.version, ours, masterAdvertIntervalCs);
    let preemptUntil = state.preemptUntil;
    let why: string;
    if (params.preemptDelayMs > 0 && prio < ours) {
      if (preemptUntil === null) preemptUntil = now + params.preemptDelayMs;
      why = `lower priority master ${source} (${prio} < ours ${ours}) tolerated until preempt_delay ends in ${fmtMs(preemptUntil - now)}`;
    } else {
      if (prio >= ours) preemptUntil = null;
      why = !params.preempt && prio < ours
        ? `master ${source} (priority ${prio}) accepted: nopreempt`
        : `master ${source} alive (priority ${prio} >= ours ${ours})`;
    }
    return {
      state: {
        ...state,
        masterAdvertIntervalCs,
        masterDownAt: now + mdi,
        preemptUntil,
        master: { address: source, priority: prio },
      },
      actions: [],
      reason: why,
    };
  }
  // Lower priority and we preempt: ignore it, so the down timer runs out and we
  // take over. Remembering who it was lets the takeover say it preempted.
  return unchanged(
    state.master?.address === source && state.master.priority === prio ? state : { ...state, master: { address: source, priority: prio } },
    `lower priority advert from ${source} (${prio} < ours ${ours}) discarded: preempting`,
  );
}

function enterFault(state: InstanceState, now: number, reason: string): StepResult {
  const leaving = state.name === 'MASTER' ? RELINQUISH : [];
  const next: InstanceState = {
    ...state,
    name: 'FAULT',
    masterDownAt: null,
    advertAt: null,
    preemptUntil: null,
    master: null,
    since: state.name === 'FAULT' ? state.since : now,
  };
  const actions: VrrpAction[] = [...leaving];
  if (state.name !== 'FAULT') actions.push({ type: 'transition', from: state.name, to: 'FAULT', reason });
  return { state: next, actions, reason };
}

function onFault(params: InstanceParams, state: InstanceState, source: string, active: boolean, detail: string | undefined, now: number): StepResult {
  const has = state.faults.includes(source);
  const what = detail ? `${source}: ${detail}` : source;
  if (active === has) return unchanged(state, `fault ${what} already ${active ? 'active' : 'clear'}`);
  const faults = active ? [...state.faults, source] : state.faults.filter((f) => f !== source);
  const withFaults: InstanceState = { ...state, faults };
  if (state.name === 'INIT') return unchanged(withFaults, `fault ${what} ${active ? 'noted' : 'cleared'} before start`);
  if (active) {
    if (state.name === 'FAULT') return unchanged(withFaults, `another fault: ${what}`);
    return enterFault(withFaults, now, `fault: ${what}`);
  }
  if (faults.length > 0) return unchanged(withFaults, `fault ${what} cleared; still faulty: ${faults.join(', ')}`);
  if (params.priority === PRIORITY_OWNER) return enterMaster(params, withFaults, now, `recovered from fault (${what}); address owner`);
  return enterBackup(params, withFaults, now, `recovered from fault (${what}): back to election`);
}

function onPriority(state: InstanceState, priority: number, detail?: string): StepResult {
  if (!Number.isInteger(priority) || priority < 1 || priority > PRIORITY_OWNER) {
    return unchanged(state, `effective priority ${priority} refused: outside 1..255`);
  }
  if (priority === state.effectivePriority) return unchanged(state, `effective priority stays ${priority}`);
  const why = `effective priority ${state.effectivePriority} -> ${priority}${detail ? ` (${detail})` : ''}`;
  // The new priority travels in the next advert; the election follows from it
  // (a higher-priority backup ignores our lower adverts and takes over).
  return unchanged({ ...state, effectivePriority: priority }, why);
}

function onFollow(params: InstanceParams, state: InstanceState, to: 'MASTER' | 'BACKUP', detail: string, now: number): StepResult {
  if (to === 'MASTER' && state.name === 'BACKUP') return enterMaster(params, state, now, `sync group: ${detail}`);
  if (to === 'BACKUP' && state.name === 'MASTER') {
    return enterBackup(params, state, now, `sync group: ${detail}`, { leaving: [{ type: 'removeVips' }] });
  }
  return unchanged(state, `sync group: ${detail}; already ${state.name}, nothing to follow`);
}

function onShutdown(state: InstanceState, now: number): StepResult {
  if (state.name === 'INIT') return unchanged(state, 'shutdown: not running');
  const reason = 'shutdown requested';
  const actions: VrrpAction[] = state.name === 'MASTER' ? [...RELINQUISH] : [];
  actions.push({ type: 'transition', from: state.name, to: 'INIT', reason });
  return {
    state: { ...state, name: 'INIT', masterDownAt: null, advertAt: null, preemptUntil: null, master: null, since: now },
    actions,
    reason: state.name === 'MASTER' ? 'shutdown: releasing the VIPs and sending priority 0 so a backup takes over after Skew_Time' : reason,
  };
}
