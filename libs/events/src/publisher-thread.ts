/**
 * The agent's event publisher in a worker thread of its own.
 *
 * An EventPublisher on the agent's thread costs that thread JSON and schema
 * work per event, the NATS client's protocol parsing per ack, and above all
 * the garbage this makes: at thousands of events per second the collector's
 * pauses (up to 20 ms, measured by `npm run bench -- --only events`) land on
 * the thread that sends adverts. Here the agent's thread only hands each
 * event's data over (one structured-clone message per turn of its loop); the
 * worker validates, journals, publishes and collects its own garbage.
 *
 * Same contract as EventPublisher, with two differences: `publish` returns
 * nothing (the envelope is made in the worker; an event its schema refuses is
 * logged there as a bug, never thrown at the caller), and `backlog()` /
 * `stats()` are the worker's last report (at most REPORT_MS old).
 *
 * Durability is unchanged: an event is durable once the worker's journal has
 * synced it; one still in the message queue when the process is killed is lost
 * like one waiting for its group commit (journal.ts).
 */
import { Worker } from 'node:worker_threads';
import { KqError } from '../../common/src/errors.js';
import type { NatsSettings } from './connect.js';
import type { JournalRecovery } from './journal.js';
import type { Backlog, PublisherStats, PublishOptions } from './publisher.js';
import type { EventInput, EventType } from './schemas.js';
import type { StreamSettings } from './stream.js';

/** How often the worker reports its backlog and counters, ms. */
export const REPORT_MS = 250;

/** What the worker needs to open the publisher: plain data only (it crosses a thread). */
export interface PublisherThreadSetup {
  cluster: string;
  node: string;
  stateDir: string;
  nats: NatsSettings;
  /** The worker's own pino logger: name and level, written to stdout like the agent's. */
  logName: string;
  logLevel: string;
  /** Bound attached to the worker's log lines (e.g. {component: 'events'}). */
  logBindings?: Record<string, string>;
  provision?: StreamSettings | false;
  maxInFlight?: number;
  memoryWindow?: number;
}

export interface PublishedItem {
  type: EventType;
  data: unknown;
  instance?: string;
  at?: Date;
}

export type ToWorker =
  | { t: 'events'; items: PublishedItem[] }
  | { t: 'flush'; id: number; timeoutMs: number }
  | { t: 'stop'; id: number; timeoutMs: number };

export interface WorkerReport {
  stats: PublisherStats;
  backlog: Backlog;
  nextSeq: number;
}

export type FromWorker =
  | ({ t: 'ready'; bootId: string; recovery: JournalRecovery } & WorkerReport)
  | { t: 'openFailed'; code: string; message: string }
  | ({ t: 'report' } & WorkerReport)
  | ({ t: 'done'; id: number; flushed: boolean } & WorkerReport);

/** The publishing side the agent needs, whichever thread it runs on. */
export interface EventPublishing {
  readonly bootId: string;
  readonly recovery: JournalRecovery;
  publish<T extends EventType>(type: T, data: EventInput<T>, options?: PublishOptions): void;
  readonly nextSeq: number;
  backlog(): Backlog;
  stats(): PublisherStats;
  flush(timeoutMs?: number): Promise<boolean>;
  stop(timeoutMs?: number): Promise<{ flushed: boolean; backlog: Backlog }>;
}

export class ThreadedEventPublisher implements EventPublishing {
  private outbox: PublishedItem[] = [];
  private posting = false;
  private stopping = false;
  private report: WorkerReport;
  private nextId = 1;
  private readonly waiting = new Map<number, (r: { flushed: boolean } & WorkerReport) => void>();
  private exited = false;
  /** Why the thread ended before stop(), if it did. */
  private failure: string | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly bootId: string,
    readonly recovery: JournalRecovery,
    first: WorkerReport,
  ) {
    this.report = first;
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    // An exception in the thread ends it; it must never reach the agent's thread as
    // an unhandled 'error' event (that would end the agent). publish() says why from then on.
    worker.on('error', (err) => {
      this.failure = err.message;
    });
    worker.on('exit', () => {
      this.exited = true;
      for (const [, resolve] of this.waiting) resolve({ flushed: false, ...this.report });
      this.waiting.clear();
    });
    // The thread must not keep the agent alive by itself; stop() ends it.
    worker.unref();
  }

  /** Starts the worker and resolves once it has opened (and recovered) the journal. */
  static open(setup: PublisherThreadSetup): Promise<ThreadedEventPublisher> {
    const worker = new Worker(new URL('./publisher-worker.js', import.meta.url), { workerData: setup });
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new KqError('KQ_ERR_JOURNAL_IO', `event publisher thread: ${err.message}`));
      const onExit = (code: number) => reject(new KqError('KQ_ERR_JOURNAL_IO', `event publisher thread exited (code ${code}) before it opened`));
      worker.once('error', onError);
      worker.once('exit', onExit);
      worker.once('message', (m: FromWorker) => {
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (m.t === 'ready') {
          resolve(new ThreadedEventPublisher(worker, m.bootId, m.recovery, { stats: m.stats, backlog: m.backlog, nextSeq: m.nextSeq }));
        } else if (m.t === 'openFailed') {
          void worker.terminate();
          reject(new KqError(m.code as ConstructorParameters<typeof KqError>[0], m.message));
        } else {
          void worker.terminate();
          reject(new KqError('KQ_ERR_JOURNAL_IO', `event publisher thread: unexpected first message ${m.t}`));
        }
      });
    });
  }

  /**
   * Hands the event to the worker (batched per turn of the loop). Throws
   * KQ_ERR_EVENTS_CLOSED after stop(); nothing else.
   */
  publish<T extends EventType>(type: T, data: EventInput<T>, options: PublishOptions = {}): void {
    if (this.stopping || this.exited) {
      const why = this.failure !== null ? `the publisher thread failed: ${this.failure}` : 'the publisher was stopped';
      throw new KqError('KQ_ERR_EVENTS_CLOSED', `event ${type} not published: ${why}`);
    }
    const item: PublishedItem = { type, data, at: options.at ?? new Date() };
    if (options.instance !== undefined) item.instance = options.instance;
    this.outbox.push(item);
    if (!this.posting) {
      this.posting = true;
      queueMicrotask(() => this.post());
    }
  }

  private post(): void {
    this.posting = false;
    if (this.outbox.length === 0 || this.exited) return;
    const items = this.outbox;
    this.outbox = [];
    this.worker.postMessage({ t: 'events', items } satisfies ToWorker);
  }

  get nextSeq(): number {
    return this.report.nextSeq + this.outbox.length;
  }

  backlog(): Backlog {
    return this.report.backlog;
  }

  stats(): PublisherStats {
    return this.report.stats;
  }

  flush(timeoutMs = 5000): Promise<boolean> {
    return this.ask('flush', timeoutMs).then((r) => r.flushed);
  }

  async stop(timeoutMs = 5000): Promise<{ flushed: boolean; backlog: Backlog }> {
    if (this.stopping) return { flushed: false, backlog: this.report.backlog };
    // Events published while the worker flushes are still taken (as EventPublisher.stop does).
    const r = await this.ask('stop', timeoutMs);
    this.stopping = true;
    await this.worker.terminate().catch(() => undefined);
    return { flushed: r.flushed, backlog: r.backlog };
  }

  private ask(t: 'flush' | 'stop', timeoutMs: number): Promise<{ flushed: boolean } & WorkerReport> {
    this.post();
    if (this.exited) return Promise.resolve({ flushed: false, ...this.report });
    const id = this.nextId++;
    // Held while an answer is awaited: at the end of a stop nothing else may keep the process alive.
    this.worker.ref();
    return new Promise<{ flushed: boolean } & WorkerReport>((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage({ t, id, timeoutMs } satisfies ToWorker);
    }).finally(() => {
      if (this.waiting.size === 0 && !this.exited) this.worker.unref();
    });
  }

  private onMessage(m: FromWorker): void {
    if (m.t === 'report' || m.t === 'done') this.report = { stats: m.stats, backlog: m.backlog, nextSeq: m.nextSeq };
    if (m.t === 'done') {
      const resolve = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      resolve?.(m);
    }
  }
}
