/**
 * One Node timer for every instance of the agent. Each wakeup of the event
 * loop costs user time whatever it does (measured: 16 idle timers at 100 ms
 * cost a bare Node process 0.8% of a core), so timers that fall due within a
 * few milliseconds of each other are run on one wakeup: a master's advert may
 * leave up to `slackMs` early (harmless: it only refreshes the backups' down
 * timers sooner), a backup's takeover deadline has no slack.
 */
import { monotonicMs } from '../../../libs/common/src/clock.js';

export interface PooledTimer {
  deadline: number;
  slackMs: number;
  fire: () => void;
}

export class TimerPool {
  private readonly timers = new Set<PooledTimer>();
  private handle: NodeJS.Timeout | null = null;
  private armedFor = Infinity;
  /** Inside wake(): timers added by the callbacks are armed once, at the end. */
  private waking = false;
  /** Wakeups and timers fired: their ratio is how well timers share wakeups. */
  readonly counters = { wakeups: 0, fired: 0 };

  constructor(private readonly now: () => number = monotonicMs) {}

  /** Schedule `fire` at `deadline` (monotonic ms); returns the handle to cancel it. */
  add(deadline: number, slackMs: number, fire: () => void): PooledTimer {
    const timer: PooledTimer = { deadline, slackMs, fire };
    this.timers.add(timer);
    if (!this.waking && deadline - slackMs < this.armedFor) this.rearm();
    return timer;
  }

  cancel(timer: PooledTimer | null): void {
    if (timer) this.timers.delete(timer);
  }

  private rearm(): void {
    if (this.handle) clearTimeout(this.handle);
    this.handle = null;
    let earliest = Infinity;
    for (const t of this.timers) earliest = Math.min(earliest, t.deadline - t.slackMs);
    this.armedFor = earliest;
    if (earliest === Infinity) return;
    // Whole milliseconds, rounded up: a timer never wakes before its slack allows.
    this.handle = setTimeout(() => this.wake(), Math.max(0, Math.ceil(earliest - this.now())));
  }

  private wake(): void {
    this.handle = null;
    this.armedFor = Infinity;
    const now = this.now();
    this.counters.wakeups++;
    const due: PooledTimer[] = [];
    for (const t of this.timers) if (t.deadline - t.slackMs <= now) due.push(t);
    for (const t of due) this.timers.delete(t);
    this.counters.fired += due.length;
    this.waking = true;
    try {
      for (const t of due) t.fire();
    } finally {
      this.waking = false;
      this.rearm();
    }
  }
}
