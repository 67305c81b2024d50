/**
 * The imperative shell around one VRRP instance: feeds events to the pure
 * `step`, runs the actions it returns through small ports, and keeps one timer
 * armed at the state's next deadline. Knows nothing about sockets or netlink.
 *
 * Events are handled one at a time, actions in the order `step` returned them
 * and each finished before the next starts: "VIP removed, then priority 0" must
 * hold on the wire, not only in the list. Actions run synchronously until one
 * answers with a promise (a port that has to wait); only then does the rest of
 * the list wait for it, and later events queue behind. A steady advert, and a
 * whole takeover when the ports can work synchronously, costs no promise.
 */
import type { Logger } from 'pino';
import { TimerPool, type PooledTimer } from './timer-pool.js';
import {
  holderStep,
  initialHolderState,
  isVetoRetry,
  nextHolderDeadline,
  type HolderAction,
  type HolderEvent,
  type HolderLeaseEvent,
  type HolderParams,
  type HolderResult,
  type HolderState,
} from '../../../libs/arbiter/src/holder.js';
import { masterDownIntervalMs } from '../../../libs/vrrp/src/timers.js';
import {
  initialState,
  nextDeadline,
  step,
  type Advertisement,
  type InstanceParams,
  type InstanceState,
  type VrrpAction,
  type VrrpEvent,
  type VrrpStateName,
} from '../../../libs/vrrp/src/mod.js';

/** VRRP's states and CLAIMING: VRRP said "become master", the lease is asked for, no VIP yet. */
export type AgentStateName = VrrpStateName | 'CLAIMING';

export interface Transition {
  instance: string;
  from: AgentStateName;
  to: AgentStateName;
  reason: string;
  priority: number;
  master: string | null;
  at: number;
  /** For a timer-driven transition: how late the timer fired, ms (0 = on time). */
  lateMs?: number;
}

/** What an instance needs from the world. A port may answer at once or with a promise. */
export interface InstancePorts {
  now(): number;
  /** Hands the advert to the kernel before it returns. */
  sendAdvert(priority: number): void;
  /** True when an address was actually added. */
  addVips(): boolean | Promise<boolean>;
  removeVips(): boolean | Promise<boolean>;
  startAnnouncing(): void;
  stopAnnouncing(): void;
  onTransition(t: Transition): void;
}

/**
 * The arbiter, for an instance whose mode is not off: requests go out through
 * `send` (answers come back through InstanceRunner.leaseEvent), lease events
 * through `publish`. Without it the runner is plain VRRP, as before.
 */
export interface LeasePort {
  readonly params: HolderParams;
  send(action: Extract<HolderAction, { type: 'sendClaim' | 'sendRenew' | 'sendRelease' }>): void;
  publish(event: HolderLeaseEvent): void;
}

/** What the runner does: VRRP's actions, and the lease's requests and events in their place among them. */
type RunnerAction = VrrpAction | { type: 'lease'; action: Extract<HolderAction, { type: 'sendClaim' | 'sendRenew' | 'sendRelease' | 'publishEvent' }> };

type RunnerEvent = VrrpEvent | { type: 'holder'; event: HolderEvent } | { type: 'entryCheck' };

/** Why the VRRP state is parked in BACKUP while the holder claims. */
interface Parked {
  cause: 'vrrp' | 'offer';
  /** What VRRP said when it asked for MASTER (kept for the transition's reason on the grant). */
  vrrpReason: string | null;
  /** The retry of a vetoed claim: reported as BACKUP, no transition in or out (holder.ts isVetoRetry). */
  quiet?: boolean;
  /**
   * Granted, but another node still advertises as master (it holds the VIP):
   * MASTER's entry waits for its priority-0 advert or its silence for
   * Master_Down_Interval, so that two nodes never hold the VIP at once.
   */
  pending?: { reason: string; since: number };
}

/** What a peer last said: an advert with priority above 0 means it is master and holds the VIP. */
interface PeerAdvert {
  at: number;
  priority: number;
  /** Its advert interval, ms. */
  intervalMs: number;
}

/**
 * The grant's reason (decide.ts's words, carried in the grant) says the
 * previous holder was fenced and the fence confirmed: its host is powered off.
 * A protocol field would be better than the words; if they change, this is
 * false and the grant waits for silence as for any other (the safe side).
 */
export function grantAfterConfirmedFence(reason: string): boolean {
  return /was fenced and the fence confirmed/.test(reason);
}

export interface InstanceCounters {
  advertsSent: number;
  advertsReceived: number;
  priorityZeroSent: number;
  priorityZeroReceived: number;
  becameMaster: number;
  rejected: Record<string, number>;
  transitions: number;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** How early a master's advert may leave to share a wakeup: 5% of the interval, at most 5 ms. */
export function advertSlackMs(advertIntervalCs: number): number {
  return Math.min(5, advertIntervalCs * 10 * 0.05);
}

export class InstanceRunner {
  private current: InstanceState;
  private parameters: InstanceParams;
  private readonly queue: RunnerEvent[] = [];
  /** The lease (null in mode off). */
  private holder: HolderState | null;
  /** Non-null while CLAIMING: VRRP's MASTER is held back until the grant. */
  private parked: Parked | null = null;
  private holderTimer: NodeJS.Timeout | null = null;
  /** When the last advert with a priority above 0 arrived: failsafe's "is the master silent?". */
  private lastMasterAdvertAt: number | null = null;
  /** Each peer's last advert (with a holder only): who is a live master now. */
  private readonly peers = new Map<string, PeerAdvert>();
  private entryTimer: NodeJS.Timeout | null = null;
  /** Set while an action waits or queued events remain: new events queue behind it. */
  private busy: Promise<void> | null = null;
  /** Inside the synchronous part of an action list: an event arriving now (a listener reaching back) queues. */
  private acting = false;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private pooled: PooledTimer | null = null;
  private stopped = false;
  /** How late the timer being handled fired (ms), reported with the transition it causes. */
  private lateMs: number | undefined;
  readonly counters: InstanceCounters = {
    advertsSent: 0,
    advertsReceived: 0,
    priorityZeroSent: 0,
    priorityZeroReceived: 0,
    becameMaster: 0,
    rejected: {},
    transitions: 0,
  };

  constructor(
    readonly name: string,
    params: InstanceParams,
    private readonly ports: InstancePorts,
    /** A logger already bound to this instance (the agent's child logger). */
    private readonly log: Logger,
    /** Shared with the agent's other instances, so their adverts share wakeups. */
    private readonly pool: TimerPool = new TimerPool(ports.now),
    private readonly lease: LeasePort | null = null,
  ) {
    this.parameters = params;
    this.current = initialState(params, ports.now());
    this.holder = lease && lease.params.mode !== 'off' ? initialHolderState() : null;
  }

  /** VRRP's state, or CLAIMING while the lease is asked for. */
  get agentState(): AgentStateName {
    return this.parked && !this.parked.quiet ? 'CLAIMING' : this.current.name;
  }

  get holderState(): HolderState | null {
    return this.holder;
  }

  /** An answer, an order, the gateway's or NATS's state: handled in turn with VRRP's events. */
  leaseEvent(event: HolderEvent): Promise<void> {
    if (!this.holder) return RESOLVED;
    return this.handleAt({ type: 'holder', event }, undefined);
  }

  get params(): InstanceParams {
    return this.parameters;
  }

  /** The primary address is known once the socket is open (or changes with the interface's). */
  setPrimaryAddress(address: string): void {
    this.parameters = { ...this.parameters, primaryAddress: address };
  }

  get state(): InstanceState {
    return this.current;
  }

  /** Handle an event; resolves when it (and everything queued before it) is handled. */
  handle(event: VrrpEvent): Promise<void> {
    return this.handleAt(event, undefined);
  }

  /**
   * As handle; a pooled timer that fired within its slack, a little before its
   * deadline, is handled as of the deadline (the advert leaves early on purpose).
   */
  private handleAt(event: RunnerEvent, at: number | undefined): Promise<void> {
    if (this.stopped && event.type !== 'shutdown') return RESOLVED;
    if (this.busy || this.acting) {
      this.queue.push(event);
      // Queued from inside an action list: start after it, never in the middle.
      if (!this.busy) this.busy = this.settle(RESOLVED);
      return this.busy;
    }
    const pending = this.process(event, at);
    if (!pending) return RESOLVED;
    this.busy = this.settle(pending);
    return this.busy;
  }

  advertReceived(advert: Advertisement, source: string): void {
    this.counters.advertsReceived++;
    if (advert.priority === 0) this.counters.priorityZeroReceived++;
    else if (this.holder) this.lastMasterAdvertAt = this.ports.now();
    if (this.holder) this.peers.set(source, { at: this.ports.now(), priority: advert.priority, intervalMs: advert.advertIntervalCs * 10 });
    void this.handle({ type: 'advert', advert, source });
  }

  countRejected(reason: string): void {
    this.counters.rejected[reason] = (this.counters.rejected[reason] ?? 0) + 1;
  }

  async shutdown(): Promise<void> {
    await this.handle({ type: 'shutdown' });
    this.stopped = true;
    this.clearTimer();
    if (this.holderTimer) clearTimeout(this.holderTimer);
    this.holderTimer = null;
    if (this.entryTimer) clearTimeout(this.entryTimer);
    this.entryTimer = null;
  }

  /** Waits for `pending`, then handles what queued meanwhile; clears `busy` at the end. */
  private async settle(pending: Promise<void>): Promise<void> {
    try {
      await pending;
      while (this.queue.length > 0) {
        const next = this.process(this.queue.shift()!);
        if (next) await next;
      }
    } finally {
      this.busy = null;
    }
  }

  /** Step and act; a promise only when an action had to wait. */
  private process(event: RunnerEvent, at?: number): Promise<void> | undefined {
    const now = Math.max(this.ports.now(), at ?? -Infinity);
    if (event.type === 'holder') return this.perform(this.processHolder(event.event, now), now, 0);
    if (event.type === 'entryCheck') return this.perform(this.enterIfClear(now), now, 0);
    const due = event.type === 'timer' ? nextDeadline(this.current) : null;
    const result = step(this.parameters, this.current, event, now);
    const before = this.current;
    this.lateMs = due !== null ? Math.max(0, now - due) : undefined;
    this.current = result.state;
    if (event.type === 'priority' || event.type === 'fault' || event.type === 'follow') {
      // What tracking and the group did to the instance is worth a line even when
      // it is no transition (a priority that changed, a second fault).
      if (result.state !== before) this.log.info({ event: event.type, reason: result.reason }, result.reason);
      else this.log.debug({ event: event.type, reason: result.reason }, 'event');
    } else if (event.type !== 'timer' && event.type !== 'advert') {
      this.log.debug({ event: event.type, reason: result.reason }, 'event');
    }
    // Mode off: VRRP's actions as they are, nothing else on the path.
    if (!this.holder) return this.perform(result.actions, now, 0);
    return this.perform(this.gate(before, result.state, result.actions, result.reason, now), now, 0);
  }

  // -------------------------------------------------------------------------
  // The lease between VRRP and the world (only with a holder)

  private holderDo(event: HolderEvent, now: number): HolderResult {
    const before = this.holder!;
    const r = holderStep(this.lease!.params, before, event, now);
    this.holder = r.state;
    // A veto episode's retries (and their vetoes) are at debug: its first veto was said at info.
    const retrying = (before.vetoes ?? 0) > 0 && (r.state.vetoes ?? 0) > 0;
    const quiet = retrying || (r.state.phase === before.phase && r.actions.every((a) => a.type === 'sendRenew' || a.type === 'sendClaim'));
    if (quiet) this.log.debug({ lease: event.type, phase: r.state.phase, reason: r.reason }, 'lease');
    else this.log.info({ lease: event.type, phase: r.state.phase, reason: r.reason }, r.reason);
    return r;
  }

  private masterDownMs(state: InstanceState): number {
    return masterDownIntervalMs(this.parameters.version, state.effectivePriority, state.masterAdvertIntervalCs);
  }

  /** BACKUP with no down timer: VRRP waits for the holder's verdict, hearing adverts meanwhile. */
  private park(before: InstanceState, after: InstanceState, now: number): InstanceState {
    return {
      ...before,
      effectivePriority: after.effectivePriority,
      faults: after.faults,
      name: 'BACKUP',
      masterDownAt: null,
      advertAt: null,
      preemptUntil: null,
      since: before.name === 'BACKUP' ? before.since : now,
    };
  }

  private transition(from: AgentStateName, to: AgentStateName, reason: string): VrrpAction {
    return { type: 'transition', from: from as VrrpStateName, to: to as VrrpStateName, reason };
  }

  private leaseActions(actions: readonly HolderAction[]): RunnerAction[] {
    const out: RunnerAction[] = [];
    for (const a of actions) {
      if (a.type === 'sendClaim' || a.type === 'sendRenew' || a.type === 'sendRelease' || a.type === 'publishEvent') out.push({ type: 'lease', action: a });
    }
    return out;
  }

  /**
   * VRRP stepped from `before` to `after`: where the lease says otherwise, its
   * word wins. Becoming MASTER is held back (CLAIMING) until the grant; leaving
   * MASTER releases the lease after VRRP's own actions removed the VIP.
   */
  private gate(before: InstanceState, after: InstanceState, actions: readonly VrrpAction[], reason: string, now: number): RunnerAction[] {
    const parked = this.parked;
    if (parked) {
      if (after.name === 'MASTER') {
        // VRRP asks again (its timer, a follower): the claim is already out.
        this.current = this.park(before, after, now);
        const r = this.holderDo({ type: 'wantMaster', reason, lastMasterAdvertAt: this.lastMasterAdvertAt, masterDownIntervalMs: this.masterDownMs(before) }, now);
        if (parked.cause === 'offer') this.parked = { ...parked, cause: 'vrrp', vrrpReason: reason };
        return parked.pending ? [...this.leaseActions(r.actions), ...this.enterIfClear(now)] : this.leaseActions(r.actions);
      }
      const stillWants = after.name === 'BACKUP' && (after.masterDownAt === null || after.master?.priority === 0 || parked.cause === 'offer');
      if (stillWants) return parked.pending ? [...actions, ...this.enterIfClear(now)] : [...actions];
      // A live master (VRRP withdraws), a fault, or the stop: the claim is abandoned.
      this.parked = null;
      const r = this.holderDo({ type: 'leaveMaster', reason }, now);
      const from: AgentStateName = parked.quiet ? 'BACKUP' : 'CLAIMING';
      const out: RunnerAction[] = actions.map((a) => (a.type === 'transition' ? this.transition(from, a.to, a.reason) : a));
      if (!actions.some((a) => a.type === 'transition') && from !== after.name) out.push(this.transition(from, after.name, reason));
      return [...out, ...this.leaseActions(r.actions)];
    }
    if (before.name !== 'MASTER' && after.name === 'MASTER') {
      const r = this.holderDo({ type: 'wantMaster', reason, lastMasterAdvertAt: this.lastMasterAdvertAt, masterDownIntervalMs: this.masterDownMs(before) }, now);
      const become = r.actions.find((a) => a.type === 'becomeMaster');
      if (become) {
        // Held already, failsafe without an arbiter, or mode off: VRRP's takeover as it is.
        const why = become.epoch === null && become.reason !== 'mode off: plain VRRP decides' ? `${reason}; ${become.reason}` : reason;
        return [...actions.map((a) => (a.type === 'transition' ? { ...a, reason: why } : a)), ...this.leaseActions(r.actions)];
      }
      const backOff = r.actions.find((a) => a.type === 'backOff');
      if (backOff) {
        this.current = { ...this.park(before, after, now), masterDownAt: backOff.retryAt ?? now + this.masterDownMs(before) };
        const out: RunnerAction[] = before.name === 'BACKUP' ? [] : [this.transition(before.name, 'BACKUP', backOff.reason)];
        return [...out, ...this.leaseActions(r.actions)];
      }
      // CLAIMING: no advert, no VIP until the grant.
      this.current = this.park(before, after, now);
      if (isVetoRetry(r.state) && before.name === 'BACKUP') {
        // The retry of a vetoed claim: still BACKUP as far as anyone can tell, until a grant.
        this.parked = { cause: 'vrrp', vrrpReason: reason, quiet: true };
        return this.leaseActions(r.actions);
      }
      this.parked = { cause: 'vrrp', vrrpReason: reason };
      return [this.transition(before.name, 'CLAIMING', r.reason), ...this.leaseActions(r.actions)];
    }
    if (before.name === 'MASTER' && after.name !== 'MASTER') {
      const r = this.holderDo({ type: 'leaveMaster', reason }, now);
      return [...actions, ...this.leaseActions(r.actions)];
    }
    return [...actions];
  }

  /** An event of the lease's own (answer, order, offer, tick...): what it means for VRRP. */
  private processHolder(event: HolderEvent, now: number): RunnerAction[] {
    if (event.type === 'offer') {
      const name = this.current.name;
      const eligible = name === 'BACKUP' || name === 'MASTER';
      event = eligible ? event : { ...event, eligible: false, why: `instance in ${name}` };
    }
    const wasClaiming = this.holder!.phase === 'CLAIMING';
    const r = this.holderDo(event, now);
    const out: RunnerAction[] = [];
    for (const a of r.actions) {
      switch (a.type) {
        case 'becomeMaster': {
          if (this.current.name === 'MASTER' || this.current.name === 'INIT' || this.current.name === 'FAULT') break;
          const live = this.liveMaster(now, a.reason);
          if (live) {
            // Granted while another node still advertises as master: it holds the VIP (a failsafe
            // master kept by VRRP while no arbiter answered, one not yet told to demote). Our VIP
            // waits for its priority-0 advert or its silence; the lease is renewed meanwhile.
            const parked: Parked = this.parked ?? { cause: 'offer', vrrpReason: null };
            this.parked = { ...parked, quiet: false, pending: { reason: a.reason, since: now } };
            if (parked.quiet) out.push(this.transition('BACKUP', 'CLAIMING', a.reason));
            this.log.info(
              { master: live.source, priority: live.priority, heardMsAgo: Math.round((now - live.at) * 10) / 10 },
              `${a.reason}; ${live.source} still advertises as master (priority ${live.priority}): the VIP waits for its priority-0 advert or its silence for Master_Down_Interval`,
            );
            this.armEntryCheck(this.liveUntil(live, a.reason), now);
            break;
          }
          out.push(...this.enterMaster(a.reason, now));
          break;
        }
        case 'backOff': {
          if (!this.parked) break;
          const quiet = this.parked.quiet === true;
          this.parked = null;
          this.current = { ...this.current, name: 'BACKUP', masterDownAt: a.retryAt ?? now + this.masterDownMs(this.current) };
          if (!quiet) out.push(this.transition('CLAIMING', 'BACKUP', a.reason));
          break;
        }
        case 'demote': {
          if (this.current.name !== 'MASTER') break;
          // VIP first, then priority 0 (the backup takes over after Skew_Time), then BACKUP.
          const left = step(this.parameters, this.current, { type: 'follow', to: 'BACKUP', detail: a.reason }, now);
          this.current = left.state;
          for (const v of left.actions) {
            if (v.type === 'transition') out.push({ ...v, reason: a.reason });
            else out.push(v);
            if (v.type === 'removeVips') out.push({ type: 'sendAdvert', priority: 0 });
          }
          break;
        }
        default:
          out.push(...this.leaseActions([a]));
      }
    }
    // An offer (or a retry) made a BACKUP claim: park VRRP while it does.
    if (!wasClaiming && r.state.phase === 'CLAIMING' && !this.parked && this.current.name === 'BACKUP') {
      this.parked = { cause: 'offer', vrrpReason: null };
      out.unshift(this.transition('BACKUP', 'CLAIMING', r.reason));
    }
    // A quiet retry that is now a claim in its own right (an offer came): CLAIMING for everyone.
    if (this.parked?.quiet && r.state.phase === 'CLAIMING' && !isVetoRetry(r.state)) {
      this.parked = { ...this.parked, quiet: false };
      out.unshift(this.transition('BACKUP', 'CLAIMING', r.reason));
    }
    // Left CLAIMING without a verdict for VRRP (e.g. the offer lapsed while VRRP never asked).
    if (this.parked && r.state.phase === 'BACKUP') {
      const quiet = this.parked.quiet === true;
      this.parked = null;
      if (this.current.masterDownAt === null) this.current = { ...this.current, masterDownAt: now + this.masterDownMs(this.current) };
      if (!quiet) out.push(this.transition('CLAIMING', 'BACKUP', r.reason));
    }
    return out;
  }

  /** VRRP's own MASTER entry (advert, VIP, gratuitous ARP), as its down timer would run it now. */
  private enterMaster(reason: string, now: number): RunnerAction[] {
    const parked = this.parked;
    const entered = step(this.parameters, { ...this.current, name: 'BACKUP', masterDownAt: now }, { type: 'timer' }, now);
    this.current = entered.state;
    this.parked = null;
    const why = parked?.vrrpReason ? `${reason}; ${parked.vrrpReason}` : reason;
    const from = (v: AgentStateName): AgentStateName => (parked && !parked.quiet ? 'CLAIMING' : v);
    return entered.actions.map((v) => (v.type === 'transition' ? this.transition(from(v.from), 'MASTER', why) : v));
  }

  /**
   * A peer whose last advert (priority above 0) came within Master_Down_Interval:
   * a VRRP master, holding the VIP. Its priority-0 advert or its silence ends that.
   * After a confirmed fence (the grant's reason), a peer already silent for two
   * of its advert intervals is the fenced host, not a live master: a live one
   * advertises every interval, a powered-off one has stopped.
   */
  private liveMaster(now: number, grantReason: string): (PeerAdvert & { source: string }) | null {
    const mdi = this.masterDownMs(this.current);
    const fenced = grantAfterConfirmedFence(grantReason);
    let live: (PeerAdvert & { source: string }) | null = null;
    for (const [source, p] of this.peers) {
      if (p.priority === 0 || now - p.at >= mdi) continue;
      if (fenced && now - p.at >= 2 * p.intervalMs) continue;
      if (!live || p.at > live.at) live = { ...p, source };
    }
    return live;
  }

  /** A grant held back by a live master: MASTER's entry now if that master is gone. */
  private enterIfClear(now: number): RunnerAction[] {
    const pending = this.parked?.pending;
    if (!pending || this.holder?.phase !== 'MASTER' || this.current.name !== 'BACKUP') return [];
    const live = this.liveMaster(now, pending.reason);
    if (live) {
      this.armEntryCheck(this.liveUntil(live, pending.reason), now);
      return [];
    }
    const waited = `${pending.reason}; the other master gave the VIP up (priority-0 advert or silence) ${Math.round((now - pending.since) * 10) / 10} ms after the grant`;
    return this.enterMaster(waited, now);
  }

  /** When `live` stops counting as a live master if it stays silent. */
  private liveUntil(live: PeerAdvert, grantReason: string): number {
    const mdi = live.at + this.masterDownMs(this.current);
    return grantAfterConfirmedFence(grantReason) ? Math.min(mdi, live.at + 2 * live.intervalMs) : mdi;
  }

  private armEntryCheck(at: number, now: number): void {
    if (this.entryTimer) clearTimeout(this.entryTimer);
    this.entryTimer = setTimeout(() => {
      this.entryTimer = null;
      void this.handleAt({ type: 'entryCheck' }, undefined);
    }, Math.max(0, Math.ceil(at - now)) + 1);
  }

  /** Runs actions[from..] in order, synchronously until one answers with a promise. */
  private perform(actions: readonly RunnerAction[], now: number, from: number): Promise<void> | undefined {
    this.acting = true;
    try {
      for (let i = from; i < actions.length; i++) {
        const action = actions[i]!;
        let waiting: Promise<void> | undefined;
        try {
          waiting = this.execute(action, now);
        } catch (err) {
          this.failed(action, err);
          continue;
        }
        if (waiting) {
          return waiting.then(
            () => this.perform(actions, now, i + 1),
            (err: unknown) => {
              this.failed(action, err);
              return this.perform(actions, now, i + 1);
            },
          );
        }
      }
    } finally {
      this.acting = false;
    }
    if (!this.stopped) this.arm();
    if (this.holder) this.armHolder();
    return undefined;
  }

  private armHolder(): void {
    if (this.holderTimer) clearTimeout(this.holderTimer);
    this.holderTimer = null;
    if (this.stopped && !this.holder?.request) return;
    const deadline = nextHolderDeadline(this.lease!.params, this.holder!);
    if (deadline === null) return;
    const delay = Math.max(0, deadline - this.ports.now());
    this.holderTimer = setTimeout(() => {
      this.holderTimer = null;
      void this.leaseEvent({ type: 'tick' });
    }, Math.ceil(delay));
  }

  private failed(action: RunnerAction, err: unknown): void {
    // An action that fails (netlink refused, interface gone) must not stop the
    // instance: log it; the state machine's view stays, the next event retries.
    this.log.error({ action: action.type, err }, 'action failed');
  }

  private execute(action: RunnerAction, now: number): Promise<void> | undefined {
    switch (action.type) {
      case 'lease': {
        const a = action.action;
        if (a.type === 'publishEvent') this.lease!.publish(a);
        else this.lease!.send(a);
        return undefined;
      }
      case 'sendAdvert':
        // Synchronous: the advert is with the kernel before the VIP work of a takeover starts.
        this.ports.sendAdvert(action.priority);
        this.counters.advertsSent++;
        if (action.priority === 0) this.counters.priorityZeroSent++;
        return undefined;
      case 'addVips':
        return this.vipsDone('VIPs added', this.ports.addVips());
      case 'removeVips':
        this.ports.stopAnnouncing();
        return this.vipsDone('VIPs removed', this.ports.removeVips());
      case 'announceVips':
        this.ports.startAnnouncing();
        return undefined;
      case 'transition': {
        this.counters.transitions++;
        if (action.to === 'MASTER') this.counters.becameMaster++;
        const t: Transition = {
          instance: this.name,
          from: action.from,
          to: action.to,
          reason: action.reason,
          priority: this.current.effectivePriority,
          master: this.current.master?.address ?? null,
          at: now,
        };
        if (this.lateMs !== undefined) t.lateMs = Math.round(this.lateMs * 1000) / 1000;
        const { instance: _instance, ...fields } = t;
        this.log.info(fields, `${action.from} -> ${action.to}`);
        this.ports.onTransition(t);
        return undefined;
      }
    }
  }

  private vipsDone(message: string, changed: boolean | Promise<boolean>): Promise<void> | undefined {
    if (typeof changed === 'boolean') {
      this.log.info({ changed }, message);
      return undefined;
    }
    return changed.then((c) => {
      this.log.info({ changed: c }, message);
    });
  }

  private arm(): void {
    this.clearTimer();
    const deadline = nextDeadline(this.current);
    if (deadline === null) return;
    const delay = Math.max(0, deadline - this.ports.now());
    const fire = () => {
      this.timer = null;
      this.immediate = null;
      this.pooled = null;
      void this.handle({ type: 'timer' });
    };
    if (this.current.name === 'BACKUP') {
      // The takeover deadline is where failover time is won or lost: wake up a
      // little early (setTimeout has whole-millisecond granularity) and finish
      // on setImmediate turns, so it is met within the loop's latency.
      // Only BACKUP does this, and it spins only when no advert came to re-arm
      // it: once per takeover. Two milliseconds of margin, because epoll's
      // millisecond timeout can wake the loop a millisecond late.
      if (delay < 2) this.immediate = setImmediate(fire);
      else this.timer = setTimeout(fire, Math.floor(delay) - 2);
      return;
    }
    // A master's advert: the schedule stays anchored, so one sent a little early
    // or late does not drift; it shares a wakeup with the other instances'
    // adverts due within the slack.
    this.pooled = this.pool.add(deadline, advertSlackMs(this.parameters.advertIntervalCs), () => {
      this.pooled = null;
      void this.handleAt({ type: 'timer' }, deadline);
    });
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.pool.cancel(this.pooled);
    this.timer = null;
    this.immediate = null;
    this.pooled = null;
  }
}
