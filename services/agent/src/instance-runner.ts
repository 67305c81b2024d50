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
  private readonly queue: VrrpEvent[] = [];
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

  /** Handle an event; resolves when it (and everything queued before it) is handled. */
  handle(event: VrrpEvent): Promise<void> {
    return this.handleAt(event, undefined);
  }

  /**
   * As handle; a pooled timer that fired within its slack, a little before its
   * deadline, is handled as of the deadline (the advert leaves early on purpose).
   */
  private handleAt(event: VrrpEvent, at: number | undefined): Promise<void> {
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
  private process(event: VrrpEvent, at?: number): Promise<void> | undefined {
    const now = Math.max(this.ports.now(), at ?? -Infinity);
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
    return this.perform(result.actions, now, 0);
  }

  /** Runs actions[from..] in order, synchronously until one answers with a promise. */
  private perform(actions: readonly VrrpAction[], now: number, from: number): Promise<void> | undefined {
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
    return undefined;
  }

  private failed(action: VrrpAction, err: unknown): void {
    // An action that fails (netlink refused, interface gone) must not stop the
    // instance: log it; the state machine's view stays, the next event retries.
    this.log.error({ action: action.type, err }, 'action failed');
  }

  private execute(action: VrrpAction, now: number): Promise<void> | undefined {
    switch (action.type) {
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
