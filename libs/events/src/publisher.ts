/**
 * EventPublisher: the agent's side of the audit trail.
 *
 * publish() is synchronous: it validates, numbers, journals (queued for the next
 * group commit) and returns the envelope. It never waits for the disk or the
 * network and never throws on NATS or disk trouble. A background loop sends
 * durable events in seq order through JetStream with `Nats-Msg-Id = id`, keeps a
 * bounded window of acks in flight, and marks acknowledged events in the journal.
 *
 * When anything fails (timeout, no stream, disconnect) everything not yet
 * acknowledged is sent again in order, after a backoff or at reconnect; copies
 * already stored are dropped by the stream's duplicate window. On start, whatever
 * the journal holds unacknowledged is replayed the same way.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { JetStreamClient, NatsConnection } from 'nats';
import { KqError } from '../../common/src/errors.js';
import type { Logger } from '../../common/src/log.js';
import { AckLatency, type LatencyHistogram } from './ack-latency.js';
import { makeEnvelope, type Envelope } from './envelope.js';
import { Journal, type DegradedReport, type JournalEntry, type JournalOptions, type JournalRecovery, type JournalStats } from './journal.js';
import { isKnownEventType, type EventInput, type EventType } from './schemas.js';
import { ensureStream, replicasFor, streamConfig, type StreamSettings } from './stream.js';
import { assertToken, SUBJECT_PREFIX } from './subjects.js';

export interface EventPublisherOptions {
  cluster: string;
  node: string;
  /** Where the journal lives (`--state-dir`). */
  stateDir: string;
  /** Makes a NATS connection: the caller owns servers, credentials and TLS (see natsConnector). */
  connect: () => Promise<NatsConnection>;
  log?: Logger;
  journal?: Omit<JournalOptions, 'dir' | 'log' | 'onDurable' | 'onFull' | 'onDegradedEnd'>;
  /** Publishes awaiting their ack at once. Default 256. */
  maxInFlight?: number;
  /** How long one ack is awaited, ms. Default 5000. */
  publishTimeoutMs?: number;
  /** Backoff between retries while NATS refuses or is away, ms. Default 100 → 5000. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Durable events kept in memory for sending; past it they are read back from the journal. Default 4096. */
  memoryWindow?: number;
  /** Create the stream at connect when it is missing (never changes an existing one). */
  provision?: StreamSettings | false;
}

export interface PublishOptions {
  instance?: string | undefined;
  /** The event's time; now by default. */
  at?: Date;
}

export interface Backlog {
  /** Durable in the journal, not yet acknowledged by JetStream. */
  unacknowledged: number;
  /** Appended, waiting for the disk. */
  notDurable: number;
  inFlight: number;
  connected: boolean;
  /** The last NATS error of the current streak of failures, if any. */
  lastError: string | null;
  journal: JournalStats;
}

export interface PublisherCounters {
  published: number;
  acknowledged: number;
  /** Acks that said the stream already had the message (a replay). */
  duplicates: number;
  /** Failed publishes or lost connections that caused a resend. */
  failures: number;
  resent: number;
  connects: number;
}

export interface PublisherStats extends PublisherCounters {
  /** From publish() to the JetStream ack, this run's events (ack-latency.ts). */
  ackLatency: LatencyHistogram;
}

interface SentSlot {
  entry: JournalEntry;
  acked: boolean;
}

export class EventPublisher {
  readonly cluster: string;
  readonly node: string;
  /** Part of every event id of this run. */
  readonly bootId: string;
  readonly recovery: JournalRecovery;
  private readonly opts: EventPublisherOptions;
  private readonly log: Logger | undefined;
  private readonly journal: Journal;
  private readonly subjectPrefix: string;
  private readonly maxInFlight: number;
  private readonly publishTimeoutMs: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly memoryWindow: number;

  /** Durable, not yet sent, in seq order. */
  private queue: JournalEntry[] = [];
  private queueHead = 0;
  /** Durable events from this seq on that are not in `queue` are only on disk. */
  private spillFrom: number | null = null;
  private reading = false;
  /** Sent, in seq order, until acknowledged as a prefix. */
  private sent: SentSlot[] = [];
  private sentHead = 0;
  private inFlight = 0;
  private epoch = 0;
  private unacked = 0;

  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private paused = true;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private lastError: string | null = null;
  private stopping = false;
  private stopped = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private progressWaiters = new Set<() => void>();
  private readonly ackLatency = new AckLatency();
  private readonly counters: PublisherCounters = { published: 0, acknowledged: 0, duplicates: 0, failures: 0, resent: 0, connects: 0 };

  private constructor(opts: EventPublisherOptions, journal: Journal, bootId: string) {
    this.opts = opts;
    this.cluster = opts.cluster;
    this.node = opts.node;
    this.bootId = bootId;
    this.log = opts.log;
    this.journal = journal;
    this.recovery = journal.recovery;
    this.subjectPrefix = `${SUBJECT_PREFIX}.${opts.cluster}.evt.${opts.node}.`;
    this.maxInFlight = opts.maxInFlight ?? 256;
    this.publishTimeoutMs = opts.publishTimeoutMs ?? 5000;
    this.retryInitialMs = opts.retryInitialMs ?? 100;
    this.retryMaxMs = opts.retryMaxMs ?? 5000;
    this.retryDelay = this.retryInitialMs;
    this.memoryWindow = Math.max(16, opts.memoryWindow ?? 4096);
    this.unacked = journal.recovery.unacknowledged;
    if (this.unacked > 0) this.spillFrom = journal.recovery.ackedThrough + 1;
  }

  /**
   * Opens the journal in stateDir (recovering it), and starts the background loop
   * that connects and publishes. Resolves without waiting for NATS.
   */
  static async open(opts: EventPublisherOptions): Promise<EventPublisher> {
    assertToken('cluster', opts.cluster);
    assertToken('node', opts.node);
    const bootId = randomBytes(4).toString('hex');
    let publisher: EventPublisher | null = null;
    const journal = await Journal.open({
      ...opts.journal,
      dir: opts.stateDir,
      ...(opts.log ? { log: opts.log } : {}),
      onDurable: (entries) => publisher?.onDurable(entries),
      onFull: (info) => publisher?.onJournalFull(info),
      onDegradedEnd: (report) => publisher?.onJournalDegradedEnd(report),
    });
    publisher = new EventPublisher(opts, journal, bootId);
    const r = journal.recovery;
    if (r.tornTails > 0 || r.corruptEntries > 0) {
      publisher.publish('journal.recovered', {
        tornTails: r.tornTails,
        tornBytes: r.tornBytes,
        corruptEntries: r.corruptEntries,
        replaying: r.unacknowledged,
        segments: r.segments,
      });
    }
    publisher.loop = publisher.connectLoop();
    return publisher;
  }

  /**
   * Journals an event and returns its envelope at once. Throws only for a
   * programming error (unknown type, data its schema refuses: KQ_ERR_EVENT_INVALID)
   * or after stop() (KQ_ERR_EVENTS_CLOSED); never for NATS or the disk.
   */
  publish<T extends EventType>(type: T, data: EventInput<T>, options: PublishOptions = {}): Envelope<T> {
    if (this.stopping) throw new KqError('KQ_ERR_EVENTS_CLOSED', `event ${type} published after the publisher was stopped`);
    if (!isKnownEventType(type)) throw new KqError('KQ_ERR_EVENT_INVALID', `unknown event type ${JSON.stringify(type)}`);
    const instance = options.instance;
    if (instance !== undefined && (typeof instance !== 'string' || instance.length === 0 || instance.length > 128)) {
      throw new KqError('KQ_ERR_EVENT_INVALID', `instance name ${JSON.stringify(instance)} must be 1..128 characters`);
    }
    const seq = this.journal.nextSeq;
    const envelope = makeEnvelope(type, data, {
      cluster: this.cluster,
      node: this.node,
      bootId: this.bootId,
      seq,
      instance,
      ...(options.at ? { at: options.at } : {}),
    });
    this.journal.allocateSeq();
    this.journal.append(seq, envelope.id, this.subjectPrefix + type, JSON.stringify(envelope));
    this.ackLatency.published(seq, performance.now());
    this.counters.published++;
    return envelope;
  }

  /** The seq the next event will get. */
  get nextSeq(): number {
    return this.journal.nextSeq;
  }

  backlog(): Backlog {
    const journal = this.journal.stats();
    return {
      unacknowledged: this.unacked,
      notDurable: journal.pendingWrites,
      inFlight: this.inFlight,
      connected: this.nc !== null && !this.paused,
      lastError: this.lastError,
      journal,
    };
  }

  stats(): PublisherStats {
    return { ...this.counters, ackLatency: this.ackLatency.snapshot() };
  }

  /** Resolves true once everything published so far is acknowledged, false after timeoutMs. */
  async flush(timeoutMs = 5000): Promise<boolean> {
    // Done when nothing waits for the disk and nothing durable waits for an ack
    // (an event dropped while the disk was refusing is neither: it is lost).
    const done = () => this.unacked === 0 && this.journal.stats().pendingWrites === 0;
    if (done()) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.progressWaiters.delete(check);
        resolve(false);
      }, timeoutMs);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.progressWaiters.delete(check);
        resolve(true);
      };
      this.progressWaiters.add(check);
    });
  }

  /**
   * Stops: waits up to timeoutMs for everything to be acknowledged, then closes the
   * journal (what is left is replayed at the next start) and the NATS connection.
   */
  async stop(timeoutMs = 5000): Promise<{ flushed: boolean; backlog: Backlog }> {
    if (this.stopping) return { flushed: false, backlog: this.backlog() };
    const flushed = await this.flush(timeoutMs);
    this.stopping = true;
    this.epoch++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.journal.close();
    const backlog = this.backlog();
    const nc = this.nc;
    this.nc = null;
    this.js = null;
    this.wake?.();
    if (nc) await nc.close().catch(() => undefined);
    await this.loop;
    this.stopped = true;
    this.log?.info({ flushed, unacknowledged: backlog.unacknowledged, ...this.counters }, 'event publisher stopped');
    return { flushed, backlog };
  }

  // -------------------------------------------------------------------------
  // Journal side

  private onDurable(entries: JournalEntry[]): void {
    this.unacked += entries.length;
    if (this.spillFrom === null) {
      for (const e of entries) this.queue.push(e);
      const queued = this.queue.length - this.queueHead;
      if (queued > this.memoryWindow) {
        // NATS is slower than the events (or away): keep the oldest in memory, the rest stay on disk.
        const cut = this.queue.splice(this.queueHead + this.memoryWindow);
        this.spillFrom = cut[0]!.seq;
      }
    }
    this.pump();
    this.notifyProgress();
  }

  private onJournalFull(info: { maxBytes: number; bytes: number }): void {
    if (this.stopping) return;
    this.publish('journal.full', { maxBytes: info.maxBytes, bytes: info.bytes, unacknowledged: this.unacked });
  }

  private onJournalDegradedEnd(report: DegradedReport): void {
    if (this.stopping) return;
    this.publish('journal.degraded', {
      reason: report.reason,
      error: report.error,
      ...(report.code ? { code: report.code } : {}),
      since: report.since.toISOString(),
      durationMs: report.durationMs,
      heldMax: report.heldMax,
      dropped: report.dropped,
      ...(report.droppedSeqs ? { droppedSeqs: report.droppedSeqs } : {}),
    });
  }

  /** Reads the next stretch of events that are only on disk. */
  private refill(): void {
    if (this.reading || this.spillFrom === null || this.stopping) return;
    this.reading = true;
    const from = this.spillFrom;
    const through = this.journal.durableThrough;
    const limit = Math.max(16, this.memoryWindow >> 1);
    this.journal
      .read(from, { limit, through })
      .then(
        (entries) => {
          if (this.spillFrom !== from) return;
          for (const e of entries) this.queue.push(e);
          const next = entries.length === limit ? entries[entries.length - 1]!.seq + 1 : through + 1;
          this.spillFrom = next > this.journal.durableThrough ? null : next;
        },
        (e: unknown) => {
          this.log?.error({ err: e }, 'events: reading the journal back failed; retrying');
          this.scheduleRetry();
        },
      )
      .finally(() => {
        this.reading = false;
        this.pump();
      });
  }

  // -------------------------------------------------------------------------
  // NATS side

  private async connectLoop(): Promise<void> {
    let delay = this.retryInitialMs;
    let failures = 0;
    while (!this.stopping) {
      let nc: NatsConnection;
      try {
        nc = await this.opts.connect();
      } catch (e) {
        failures++;
        this.lastError = (e as Error).message;
        if (failures === 1) this.log?.warn({ err: e, backlog: this.unacked }, 'events: cannot connect to NATS; events wait in the journal, retrying');
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.retryMaxMs);
        continue;
      }
      if (this.stopping) {
        await nc.close().catch(() => undefined);
        break;
      }
      delay = this.retryInitialMs;
      failures = 0;
      this.counters.connects++;
      this.nc = nc;
      this.js = nc.jetstream({ timeout: this.publishTimeoutMs });
      this.log?.info({ server: nc.getServer(), backlog: this.unacked }, 'events: connected to NATS');
      void this.watchStatus(nc);
      if (this.opts.provision) await this.provision(nc);
      this.resume();
      const err = await nc.closed();
      if (this.nc === nc) {
        this.nc = null;
        this.js = null;
        this.pause();
      }
      if (!this.stopping) {
        this.log?.warn({ err, backlog: this.unacked }, 'events: NATS connection closed; connecting again');
        await this.sleep(delay);
      }
    }
  }

  private async provision(nc: NatsConnection): Promise<void> {
    const settings = this.opts.provision || {};
    try {
      const jsm = await nc.jetstreamManager();
      const plan = await ensureStream(jsm, streamConfig({ ...settings, replicas: settings.replicas ?? replicasFor(nc.info) }), { mode: 'create' });
      if (plan.action !== 'none') this.log?.info({ plan: plan.lines }, 'events: stream provisioning');
    } catch (e) {
      this.log?.warn({ err: e }, 'events: stream provisioning failed; publishing anyway');
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    try {
      for await (const s of nc.status()) {
        if (this.nc !== nc) break;
        if (s.type === 'disconnect') {
          this.log?.warn({ server: s.data, backlog: this.unacked }, 'events: NATS disconnected; events wait in the journal');
          this.pause();
        } else if (s.type === 'reconnect') {
          this.log?.info({ server: s.data, backlog: this.unacked }, 'events: NATS reconnected; replaying');
          this.resume();
        }
      }
    } catch {
      /* the connection closed */
    }
  }

  private pause(): void {
    this.paused = true;
    // Acks for what was in flight may never come: send it all again at reconnect.
    this.requeueUnacked();
  }

  private resume(): void {
    this.paused = false;
    this.lastError = null;
    this.retryDelay = this.retryInitialMs;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.pump();
  }

  private pump(): void {
    const js = this.js;
    if (!js || this.paused || this.retryTimer !== null || this.stopping) return;
    while (this.inFlight < this.maxInFlight) {
      if (this.queueHead >= this.queue.length) {
        this.queue = [];
        this.queueHead = 0;
        if (this.spillFrom !== null) this.refill();
        return;
      }
      const entry = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as unknown as JournalEntry;
      this.send(js, entry);
    }
    if (this.queueHead > 4096) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private send(js: JetStreamClient, entry: JournalEntry): void {
    const epoch = this.epoch;
    const slot: SentSlot = { entry, acked: false };
    this.sent.push(slot);
    this.inFlight++;
    js.publish(entry.subject, entry.payload, { msgID: entry.id, timeout: this.publishTimeoutMs }).then(
      (ack) => {
        if (epoch !== this.epoch) return;
        this.inFlight--;
        slot.acked = true;
        if (ack.duplicate) this.counters.duplicates++;
        this.advance();
        this.pump();
      },
      (err: unknown) => {
        if (epoch !== this.epoch) return;
        this.fail(err);
      },
    );
  }

  /** Pops the acknowledged prefix of what was sent and moves the journal's pointer. */
  private advance(): void {
    let last = 0;
    const now = performance.now();
    while (this.sentHead < this.sent.length && this.sent[this.sentHead]!.acked) {
      last = this.sent[this.sentHead]!.entry.seq;
      this.ackLatency.acknowledged(last, now);
      this.sent[this.sentHead++] = undefined as unknown as SentSlot;
      this.unacked--;
      this.counters.acknowledged++;
    }
    if (this.sentHead >= this.sent.length) {
      this.sent = [];
      this.sentHead = 0;
    } else if (this.sentHead > 4096) {
      this.sent = this.sent.slice(this.sentHead);
      this.sentHead = 0;
    }
    if (last > 0) {
      this.journal.ack(last);
      this.lastError = null;
      this.retryDelay = this.retryInitialMs;
      this.notifyProgress();
    }
  }

  private fail(err: unknown): void {
    const message = (err as Error)?.message ?? String(err);
    this.counters.failures++;
    if (this.lastError === null) this.log?.warn({ err, backlog: this.unacked }, 'events: publish failed; resending in order after a pause');
    else this.log?.debug({ err: message }, 'events: publish failed again');
    this.lastError = message;
    this.requeueUnacked();
    this.scheduleRetry();
  }

  /** Everything sent and not acknowledged goes back to the front of the queue, in order. */
  private requeueUnacked(): void {
    this.epoch++;
    this.inFlight = 0;
    const back = this.sent.slice(this.sentHead).map((s) => s.entry);
    this.sent = [];
    this.sentHead = 0;
    if (back.length === 0) return;
    this.counters.resent += back.length;
    this.queue = back.concat(this.queue.slice(this.queueHead));
    this.queueHead = 0;
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== null || this.stopping) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.pump();
    }, this.retryDelay);
    this.retryTimer.unref();
    this.retryDelay = Math.min(this.retryDelay * 2, this.retryMaxMs);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  private notifyProgress(): void {
    for (const check of [...this.progressWaiters]) check();
  }
}
