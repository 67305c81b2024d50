/**
 * The imperative shell around one VRRP instance: feeds events to the pure
 * `step`, runs the actions it returns through small ports, and keeps one timer
 * armed at the state's next deadline. Knows nothing about sockets or netlink.
 *
 * Events are handled one at a time, actions in the order `step` returned them
 * and each finished before the next starts: "VIP removed, then priority 0" must
 * hold on the wire, not only in the list.
 */
import type { Logger } from 'pino';
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

export interface Transition {
  instance: string;
  from: VrrpStateName;
  to: VrrpStateName;
  reason: string;
  priority: number;
  master: string | null;
  at: number;
  /** For a timer-driven transition: how late the timer fired, ms (0 = on time). */
  lateMs?: number;
}

/** What an instance needs from the world. */
export interface InstancePorts {
  now(): number;
  /** Hands the advert to the kernel before it returns. */
  sendAdvert(priority: number): void;
  /** Resolves true when an address was actually added. */
  addVips(): Promise<boolean>;
  removeVips(): Promise<boolean>;
  startAnnouncing(): void;
  stopAnnouncing(): void;
  onTransition(t: Transition): void;
}

const RESOLVED: Promise<void> = Promise.resolve();

interface Decided {
  actions: readonly VrrpAction[];
  now: number;
}

/** Whether any action must be awaited (netlink work); the rest run synchronously. */
function needsAwait(actions: readonly VrrpAction[]): boolean {
  for (const a of actions) if (a.type === 'addVips' || a.type === 'removeVips') return true;
  return false;
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

export class InstanceRunner {
  private current: InstanceState;
  private queue: VrrpEvent[] = [];
  private draining: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  /** Inside actNow: an event arriving now is queued, not handled in the middle. */
  private acting = false;
  /** How late the timer being handled fired (ms), reported with the transition it causes. */
  private lateMs: number | undefined;
  private stopped = false;
  readonly counters: InstanceCounters = {
    advertsSent: 0,
    advertsReceived: 0,
    priorityZeroSent: 0,
    priorityZeroReceived: 0,
    becameMaster: 0,
    rejected: {},
    transitions: 0,
  };

  private parameters: InstanceParams;

  constructor(
    readonly name: string,
    params: InstanceParams,
    private readonly ports: InstancePorts,
    /** A logger already bound to this instance (the agent's child logger). */
    private readonly log: Logger,
  ) {
    this.parameters = params;
    this.current = initialState(params, ports.now());
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

  /**
   * Handle an event; resolves when it (and everything queued before it) is
   * handled. Events are handled one at a time; one whose actions are all
   * synchronous (an advert to send, a timer that changes nothing) is handled
   * on the spot when nothing is queued: that is every advert of a steady
   * master and backup, and it costs no promise.
   */
  handle(event: VrrpEvent): Promise<void> {
    if (this.stopped && event.type !== 'shutdown') return RESOLVED;
    if (!this.draining && this.queue.length === 0 && !this.acting) {
      const decided = this.decide(event);
      if (!needsAwait(decided.actions)) {
        this.actNow(decided.actions, decided.now);
        return RESOLVED;
      }
      this.draining = this.drain(decided);
      return this.draining;
    }
    this.queue.push(event);
    if (!this.draining) this.draining = this.drain();
    return this.draining;
  }

  advertReceived(advert: Advertisement, source: string): void {
    this.counters.advertsReceived++;
    if (advert.priority === 0) this.counters.priorityZeroReceived++;
    void this.handle({ type: 'advert', advert, source });
  }

  countRejected(reason: string): void {
    this.counters.rejected[reason] = (this.counters.rejected[reason] ?? 0) + 1;
  }

  async shutdown(): Promise<void> {
    await this.handle({ type: 'shutdown' });
    this.stopped = true;
    this.clearTimer();
  }

  private async drain(first?: Decided): Promise<void> {
    try {
      // Queued from inside an action (a transition's listener reaching back):
      // start after the current action list, never in the middle of it.
      if (!first) await RESOLVED;
      if (first) await this.act(first.actions, first.now);
      while (this.queue.length > 0) {
        const decided = this.decide(this.queue.shift()!);
        await this.act(decided.actions, decided.now);
      }
    } finally {
      this.draining = null;
    }
  }

  /** The pure step, and the log line it deserves. */
  private decide(event: VrrpEvent): Decided {
    const now = this.ports.now();
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
    return { actions: result.actions, now };
  }

  private actNow(actions: readonly VrrpAction[], now: number): void {
    this.acting = true;
    try {
      for (const action of actions) {
        try {
          this.executeSync(action, now);
        } catch (err) {
          this.log.error({ action: action.type, err }, 'action failed');
        }
      }
    } finally {
      this.acting = false;
    }
    if (!this.stopped) this.arm();
  }

  private async act(actions: readonly VrrpAction[], now: number): Promise<void> {
    for (const action of actions) {
      try {
        if (action.type === 'addVips' || action.type === 'removeVips') await this.executeAsync(action);
        else this.executeSync(action, now);
      } catch (err) {
        // An action that fails (netlink refused, interface gone) must not stop the
        // instance: log it; the state machine's view stays, the next event retries.
        this.log.error({ action: action.type, err }, 'action failed');
      }
    }
    if (!this.stopped) this.arm();
  }

  private async executeAsync(action: VrrpAction & { type: 'addVips' | 'removeVips' }): Promise<void> {
    if (action.type === 'addVips') {
      const changed = await this.ports.addVips();
      this.log.info({ changed }, 'VIPs added');
      return;
    }
    this.ports.stopAnnouncing();
    const changed = await this.ports.removeVips();
    this.log.info({ changed }, 'VIPs removed');
  }

  private executeSync(action: VrrpAction, now: number): void {
    switch (action.type) {
      case 'sendAdvert':
        // Synchronous: the advert is with the kernel before the next action (the
        // VIP work of a takeover) starts.
        this.ports.sendAdvert(action.priority);
        this.counters.advertsSent++;
        if (action.priority === 0) this.counters.priorityZeroSent++;
        return;
      case 'announceVips':
        this.ports.startAnnouncing();
        return;
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
        return;
      }
      case 'addVips':
      case 'removeVips':
        throw new Error(`${action.type} is asynchronous`);
    }
  }

  private arm(): void {
    this.clearTimer();
    const deadline = nextDeadline(this.current);
    if (deadline === null) return;
    const delay = Math.max(0, deadline - this.ports.now());
    const fire = () => {
      this.timer = null;
      this.immediate = null;
      void this.handle({ type: 'timer' });
    };
    if (this.current.name === 'BACKUP') {
      // The takeover deadline is where failover time is won or lost: wake up to a
      // millisecond early (setTimeout has whole-millisecond granularity) and
      // finish on setImmediate turns, so it is met within the loop's latency.
      // Only BACKUP does this: it happens once per takeover, not once per advert.
      if (delay < 1) this.immediate = setImmediate(fire);
      else this.timer = setTimeout(fire, Math.floor(delay));
      return;
    }
    // An advert a fraction of a millisecond late is harmless (the schedule stays
    // anchored): ceil so the timer never fires early and wakes us twice.
    this.timer = setTimeout(fire, Math.ceil(delay));
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }
}
