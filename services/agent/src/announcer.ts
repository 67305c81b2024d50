/**
 * Gratuitous ARP / unsolicited NA after becoming MASTER, on keepalived's schedule
 * (vrrp_garp_master_delay/repeat/refresh/refresh_repeat, vrrp_garp_interval):
 * the timing comes from libs/net's pure garpSchedule, this only runs it.
 */
import type { Logger } from 'pino';
import { garpSchedule, type GarpOptions, type GarpSend } from '../../../libs/net/src/mod.js';

export interface AnnounceTarget {
  interface: string;
  address: string;
}

/** Sends one announcement: at once when it can (returns nothing), or later (returns a promise). */
export type SendAnnouncement = (target: AnnounceTarget) => void | Promise<void>;

export class Announcer {
  private timers = new Set<NodeJS.Timeout>();
  private refresh: NodeJS.Timeout | null = null;
  private generation = 0;

  constructor(
    private readonly targets: readonly AnnounceTarget[],
    private readonly options: GarpOptions,
    private readonly send: SendAnnouncement,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stop();
    if (this.targets.length === 0) return;
    const gen = this.generation;
    const schedule = garpSchedule({ ...this.options, addressCount: this.targets.length });
    this.run(schedule.onMaster, gen);
    if (schedule.refresh) {
      const { everyMs, sends } = schedule.refresh;
      this.refresh = setInterval(() => this.run(sends, gen), everyMs);
      this.refresh.unref();
    }
  }

  stop(): void {
    this.generation++;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.refresh) clearInterval(this.refresh);
    this.refresh = null;
  }

  private run(sends: readonly GarpSend[], gen: number): void {
    for (const s of sends) {
      const target = this.targets[s.addressIndex];
      if (!target) continue;
      if (s.atMs === 0) {
        this.fire(target, gen);
        continue;
      }
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.fire(target, gen);
      }, s.atMs);
      t.unref();
      this.timers.add(t);
    }
  }

  private fire(target: AnnounceTarget, gen: number): void {
    // A stop() since this was scheduled means we are no longer master: stay quiet.
    if (gen !== this.generation) return;
    const failed = (err: unknown) => this.log.warn({ interface: target.interface, address: target.address, err }, 'gratuitous ARP/NA not sent');
    try {
      this.send(target)?.catch(failed);
    } catch (err) {
      failed(err);
    }
  }
}
