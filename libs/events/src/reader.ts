/**
 * Readers of the event log: readHistory (what the stream holds, then done) and
 * tail (following live). Both read through a consumer of their own with the
 * tightest filter subject the filters allow (cluster, node, type); instance and
 * time are filtered here. Like nats.js's ordered consumer, a consumer lost on the
 * way (its server died, a message missed) is replaced by one that goes on after
 * the last message seen; unlike it, a creation that gets no answer is tried again
 * under a new name within seconds (see createConsumer). Both report gaps in each
 * node's seq, and skip and count messages that do not decode or do not match
 * their schema.
 *
 * The bookkeeping (EventSieve) is pure: it is fed bytes and a subject, and tested
 * without a server.
 */
import { randomBytes } from 'node:crypto';
import { AckPolicy, ConsumerEvents, DeliverPolicy, nanos, type ConsumerConfig, type ConsumerInfo, type ConsumerMessages, type JetStreamClient, type JetStreamManager } from 'nats';
import { KqError } from '../../common/src/errors.js';
import { decodeEvent, type AnyEnvelope } from './envelope.js';
import { isStreamNotFound } from './stream.js';
import { filterSubject, isEventTypeName, STREAM_NAME, SUBJECT_PREFIX } from './subjects.js';

export interface ReadFilter {
  cluster?: string | undefined;
  node?: string | undefined;
  /** An exact type or a family (`vrrp.>`); hides other types, so no gap is reported then. */
  type?: string | undefined;
  instance?: string | undefined;
  /** Events whose `at` is at or after this time. */
  since?: Date | string | undefined;
  /** Events whose `at` is at or before this time. */
  until?: Date | string | undefined;
}

export interface Gap {
  cluster: string;
  node: string;
  /** Missing seqs, inclusive. */
  from: number;
  to: number;
}

export interface ReadItem {
  event: AnyEnvelope;
  subject: string;
  /** The message's sequence in the stream. */
  streamSeq: number;
  /** When the stream stored it. */
  storedAt: Date;
}

export interface InvalidSample {
  subject: string;
  streamSeq: number;
  reason: string;
}

export interface ReadSummary {
  /** Messages received from the stream. */
  read: number;
  /** Events handed to the caller. */
  delivered: number;
  /** Messages skipped because they do not decode or match their schema. */
  invalid: number;
  invalidReasons: Record<string, number>;
  /** The first few invalid messages, to show where they are. */
  invalidSamples: InvalidSample[];
  /** An event seen twice (same node, seq and id): a replay stored after the duplicate window; skipped. */
  duplicates: number;
  /** Events that arrived after a later seq of their node, filling a gap. */
  late: number;
  /** A node's seq went back with a different id: its state dir was lost. Counting starts over. */
  resets: number;
  /** Seqs still missing per node (only seqs after the first seen of each node). */
  gaps: Gap[];
  /** false when a type filter hides part of every node's events, so gaps mean nothing. */
  gapsTracked: boolean;
}

interface NodeTrack {
  cluster: string;
  node: string;
  highest: number;
  /** Missing ranges, sorted, inclusive. */
  missing: [number, number][];
  /** Recent seq -> id, to tell a replay stored twice from a restart with a lost state dir. */
  recent: Map<number, string>;
  /** The runs (bootIds) of this node seen so far. */
  boots: Set<string>;
}

const RECENT_IDS = 8192;
/**
 * How long one pull waits on the server, ms. Heartbeats come at half of it, so a
 * consumer lost with its server is noticed after two missed ones: 5 s, where
 * nats.js's default (30 s) would hold an operator's `hactl history` that long.
 */
const PULL_EXPIRES_MS = 5000;
const MAX_REASONS = 64;
const MAX_SAMPLES = 10;

/** Decodes, checks, deduplicates, tracks gaps and filters: the pure core of both readers. */
export class EventSieve {
  private readonly nodes = new Map<string, NodeTrack>();
  private readonly counts: Omit<ReadSummary, 'gaps' | 'gapsTracked'> = {
    read: 0,
    delivered: 0,
    invalid: 0,
    invalidReasons: {},
    invalidSamples: [],
    duplicates: 0,
    late: 0,
    resets: 0,
  };
  private readonly sinceMs: number;
  private readonly untilMs: number;
  readonly gapsTracked: boolean;

  constructor(
    private readonly filter: ReadFilter = {},
    private readonly onGap?: (gap: Gap) => void,
  ) {
    this.sinceMs = toMs(filter.since, -Infinity);
    this.untilMs = toMs(filter.until, Infinity);
    this.gapsTracked = filter.type === undefined;
  }

  /** One message: the event to hand out, or null (invalid, duplicate or filtered out). */
  accept(subject: string, data: Uint8Array | string, streamSeq = 0): AnyEnvelope | null {
    this.counts.read++;
    const decoded = decodeEvent(data, { subject });
    if (!decoded.ok) {
      this.invalid(subject, streamSeq, decoded.reason);
      return null;
    }
    const event = decoded.event;
    if (this.gapsTracked && !this.track(event)) return null;
    const f = this.filter;
    if (f.cluster !== undefined && event.cluster !== f.cluster) return null;
    if (f.node !== undefined && event.node !== f.node) return null;
    if (f.instance !== undefined && event.instance !== f.instance) return null;
    if (f.type !== undefined && isEventTypeName(f.type) && event.type !== f.type) return null;
    if (this.sinceMs !== -Infinity || this.untilMs !== Infinity) {
      const at = Date.parse(event.at);
      if (at < this.sinceMs || at > this.untilMs) return null;
    }
    this.counts.delivered++;
    return event;
  }

  summary(): ReadSummary {
    const gaps: Gap[] = [];
    for (const t of this.nodes.values()) for (const [from, to] of t.missing) gaps.push({ cluster: t.cluster, node: t.node, from, to });
    return {
      ...this.counts,
      invalidReasons: { ...this.counts.invalidReasons },
      invalidSamples: [...this.counts.invalidSamples],
      gaps,
      gapsTracked: this.gapsTracked,
    };
  }

  private invalid(subject: string, streamSeq: number, reason: string): void {
    this.counts.invalid++;
    const reasons = this.counts.invalidReasons;
    const key = reason in reasons || Object.keys(reasons).length < MAX_REASONS ? reason : 'other';
    reasons[key] = (reasons[key] ?? 0) + 1;
    if (this.counts.invalidSamples.length < MAX_SAMPLES) this.counts.invalidSamples.push({ subject, streamSeq, reason });
  }

  /** false: a duplicate, to skip. */
  private track(event: AnyEnvelope): boolean {
    const key = `${event.cluster}.${event.node}`;
    let t = this.nodes.get(key);
    if (!t) {
      t = { cluster: event.cluster, node: event.node, highest: 0, missing: [], recent: new Map(), boots: new Set() };
      this.nodes.set(key, t);
    }
    const seq = event.seq;
    if (t.highest === 0 || seq > t.highest) {
      if (t.highest > 0 && seq > t.highest + 1) {
        const gap: [number, number] = [t.highest + 1, seq - 1];
        t.missing.push(gap);
        this.onGap?.({ cluster: t.cluster, node: t.node, from: gap[0], to: gap[1] });
      }
      t.highest = seq;
      remember(t, seq, event.id, bootOf(event));
      return true;
    }
    const i = t.missing.findIndex(([from, to]) => seq >= from && seq <= to);
    if (i >= 0) {
      const [from, to] = t.missing[i]!;
      const parts: [number, number][] = [];
      if (from < seq) parts.push([from, seq - 1]);
      if (seq < to) parts.push([seq + 1, to]);
      t.missing.splice(i, 1, ...parts);
      this.counts.late++;
      remember(t, seq, event.id, bootOf(event));
      return true;
    }
    const boot = bootOf(event);
    if (t.recent.get(seq) === event.id || (boot !== null && t.boots.has(boot))) {
      // This run of the node already gave this seq: a copy stored twice.
      this.counts.duplicates++;
      return false;
    }
    // The seq went back in a run not seen before: the node started over (state dir lost).
    this.counts.resets++;
    t.highest = seq;
    t.missing = [];
    t.recent.clear();
    remember(t, seq, event.id, boot);
    return true;
  }
}

/** The bootId part of an id `<node>-<bootId>-<seq>`, or null for an id of another shape. */
function bootOf(event: AnyEnvelope): string | null {
  const suffix = `-${event.seq}`;
  if (!event.id.startsWith(`${event.node}-`) || !event.id.endsWith(suffix)) return null;
  const boot = event.id.slice(event.node.length + 1, event.id.length - suffix.length);
  return boot.length > 0 ? boot : null;
}

function remember(t: NodeTrack, seq: number, id: string, boot: string | null): void {
  if (boot !== null) t.boots.add(boot);
  t.recent.set(seq, id);
  if (t.recent.size > RECENT_IDS) t.recent.delete(t.recent.keys().next().value!);
}

function toMs(v: Date | string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const ms = v instanceof Date ? v.getTime() : Date.parse(v);
  if (Number.isNaN(ms)) throw new KqError('KQ_ERR_USAGE', `not a time: ${String(v)} (use ISO 8601, e.g. 2024-05-01T03:12:00Z)`);
  return ms;
}

export interface ReaderOptions {
  stream?: string;
  /**
   * Events may be stored a while after their `at` (a replay after an outage) and
   * clocks differ: the consumer starts this long before `since`. Default 5 min.
   */
  startSlackMs?: number;
  /** Told of each gap as it appears (tail). */
  onGap?: (gap: Gap) => void;
  /** Messages per pull. Default 1000. */
  batch?: number;
  /** How long creating the reader's consumer is tried (NATS failing over) before the read fails, ms. Default 60 s. */
  createTimeoutMs?: number;
}

/**
 * An iterable of events from the stream. `summary()` holds the counts (invalid,
 * duplicates, gaps) so far, and in full once iteration ended.
 */
export class EventReader implements AsyncIterable<ReadItem> {
  private readonly sieve: EventSieve;
  private messages: ConsumerMessages | null = null;
  private stopped = false;

  constructor(
    private readonly js: JetStreamClient,
    private readonly filter: ReadFilter,
    private readonly mode: 'history' | 'tail',
    private readonly options: ReaderOptions = {},
  ) {
    filterSubject(filter); // validates names early
    this.sieve = new EventSieve(filter, options.onGap);
  }

  summary(): ReadSummary {
    return this.sieve.summary();
  }

  /** Ends the iteration (tail runs until this). */
  stop(): void {
    this.stopped = true;
    this.messages?.stop();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ReadItem> {
    const stream = this.options.stream ?? STREAM_NAME;
    try {
      await this.js.streams.get(stream);
    } catch (e) {
      if (isStreamNotFound(e)) throw noStream(stream);
      // No answer (JetStream electing a leader): creating the consumer is retried below.
    }
    const jsm = await this.js.jetstreamManager(false);
    try {
      yield* this.read(jsm, stream);
    } finally {
      this.stopped = true;
    }
  }

  private async *read(jsm: JetStreamManager, stream: string): AsyncGenerator<ReadItem> {
    if (this.mode === 'history' && this.filter.instance !== undefined && this.filter.node === undefined) {
      const subjects = await instanceSubjects(jsm, stream, this.filter).catch(() => null);
      if (subjects !== null) {
        // Node by node (each in stream order, so gaps are still found), then merged into stream order.
        const items: ReadItem[] = [];
        for (const subject of subjects) {
          for await (const item of this.readSubject(jsm, stream, subject)) items.push(item);
          if (this.stopped) break;
        }
        items.sort((a, b) => a.streamSeq - b.streamSeq);
        for (const item of items) {
          yield item;
          if (this.stopped) return;
        }
        return;
      }
    }
    yield* this.readSubject(jsm, stream, filterSubject(this.filter));
  }

  /** Everything on `subject` (history) or as it comes (tail), through the reader's sieve. */
  private async *readSubject(jsm: JetStreamManager, stream: string, subject: string): AsyncGenerator<ReadItem> {
    const batch = this.options.batch ?? 1000;
    /** The stream sequence to go on from after the consumer was lost; null: from where the filter starts. */
    let resumeAt: number | null = null;
    let name: string | null = null;
    try {
      while (!this.stopped) {
        const info = await this.createConsumer(jsm, stream, resumeAt, subject);
        name = info.name;
        if (this.mode === 'history' && info.num_pending === 0) return;
        // Tail from "now": later copies of the consumer go on after what the stream held then.
        if (resumeAt === null && this.mode === 'tail' && this.filter.since === undefined) resumeAt = info.delivered.stream_seq + 1;
        const consumer = await this.js.consumers.get(stream, name);
        const messages = await consumer.consume({ max_messages: batch, expires: PULL_EXPIRES_MS });
        this.messages = messages;
        let lost = false;
        void (async () => {
          for await (const s of await messages.status()) {
            const missed = s.type === ConsumerEvents.HeartbeatsMissed && Number(s.data) >= 2;
            if (missed || s.type === ConsumerEvents.ConsumerNotFound || s.type === ConsumerEvents.ConsumerDeleted || s.type === ConsumerEvents.NoResponders) {
              lost = true;
              messages.stop();
              break;
            }
          }
        })().catch(() => undefined);
        let delivered = 0;
        for await (const m of messages) {
          if (m.info.deliverySequence !== delivered + 1) {
            // A message lost on the way: a new consumer goes on after the last one seen.
            lost = true;
            break;
          }
          delivered = m.info.deliverySequence;
          resumeAt = m.info.streamSequence + 1;
          const event = this.sieve.accept(m.subject, m.data, m.info.streamSequence);
          if (event !== null) {
            yield { event, subject: m.subject, streamSeq: m.info.streamSequence, storedAt: new Date(Math.floor(m.info.timestampNanos / 1e6)) };
          }
          if (this.stopped) return;
          if (this.mode === 'history' && m.info.pending === 0) return;
        }
        // stop(), not close(): close() waits for an iteration that has ended already.
        messages.stop();
        this.messages = null;
        await jsm.consumers.delete(stream, name).catch(() => undefined);
        name = null;
        if (!lost) return;
      }
    } finally {
      this.messages?.stop();
      if (name !== null) await jsm.consumers.delete(stream, name).catch(() => undefined);
    }
  }

  /**
   * The reader's consumer: in memory, one replica, no acks, deleted after the read
   * (or by the server when the reader vanished). An attempt that gets no answer is
   * made again under a new name: with a NATS server down, JetStream (2.9) may place
   * the consumer on it, and the same name would then never be created.
   */
  private async createConsumer(jsm: JetStreamManager, stream: string, resumeAt: number | null, subject: string): Promise<ConsumerInfo> {
    const config = { ...readerConsumerConfig(this.filter, this.mode, resumeAt, this.options.startSlackMs), filter_subject: subject };
    const deadline = Date.now() + (this.options.createTimeoutMs ?? 60_000);
    let delay = 100;
    for (;;) {
      try {
        return await jsm.consumers.add(stream, { ...config, name: `kq_read_${randomBytes(8).toString('hex')}` });
      } catch (e) {
        if (isStreamNotFound(e)) throw noStream(stream);
        if (this.stopped || Date.now() + delay >= deadline) throw e;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }
}

/**
 * The configuration of a reader's consumer (without its name): in memory, one
 * replica, no acks, gone 5 min after its reader. It starts after `resumeAt - 1`
 * when it replaces a lost one, else where the read starts: at `since` less the
 * slack, at the stream's end for a tail, at its start for a history.
 */
export function readerConsumerConfig(filter: ReadFilter, mode: 'history' | 'tail', resumeAt: number | null, startSlackMs = 5 * 60_000): Partial<ConsumerConfig> {
  const config: Partial<ConsumerConfig> = {
    ack_policy: AckPolicy.None,
    max_deliver: 1,
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: nanos(5 * 60_000),
    filter_subject: filterSubject(filter),
  };
  if (resumeAt !== null) {
    config.deliver_policy = DeliverPolicy.StartSequence;
    config.opt_start_seq = resumeAt;
  } else if (filter.since !== undefined) {
    config.deliver_policy = DeliverPolicy.StartTime;
    config.opt_start_time = new Date(Math.max(0, toMs(filter.since, 0) - startSlackMs)).toISOString();
  } else {
    config.deliver_policy = mode === 'tail' ? DeliverPolicy.New : DeliverPolicy.All;
  }
  return config;
}

/** Past this many nodes a history of one instance reads the stream in one pass. */
const MAX_NARROWED_NODES = 256;
/** A node that announced more often than this (many reloads) is read in full. */
const MAX_ANNOUNCEMENTS = 64;

interface DirectGets {
  getMessage(stream: string, q: { seq: number; next_by_subj: string }): Promise<{ seq: number; subject: string; data: Uint8Array }>;
}

/**
 * The subjects a history of one instance must read, or null to read the whole
 * filter subject. The instance is not in the subject, so the server cannot
 * filter on it; but every agent announces its instances (config.loaded) as the
 * first event of each run. A node whose first stored message is such an
 * announcement, and none of whose announcements names the instance, has no
 * event of it: its subjects are skipped. Any other node (an arbiter, a node
 * whose early events aged out mid-run) is read in full. So a history of one
 * pair among many reads that pair's events, not the datacenter's.
 */
async function instanceSubjects(jsm: JetStreamManager, stream: string, filter: ReadFilter): Promise<string[] | null> {
  const cluster = filter.cluster ?? '*';
  const info = await jsm.streams.info(stream, { subjects_filter: `${SUBJECT_PREFIX}.${cluster}.evt.>` });
  const counts = info.state.subjects ?? {};
  const nodes = new Map<string, { cluster: string; node: string }>();
  for (const subject of Object.keys(counts)) {
    const parts = subject.split('.');
    if (parts.length < 5 || parts[0] !== SUBJECT_PREFIX || parts[2] !== 'evt') continue;
    nodes.set(`${parts[1]}.${parts[3]}`, { cluster: parts[1]!, node: parts[3]! });
  }
  if (nodes.size === 0 || nodes.size > MAX_NARROWED_NODES) return null;

  // Direct gets (the stream allows them as `hactl stream init` makes it): by
  // literal subject they are answered from the server's per-subject index,
  // where a consumer over `*.config.loaded` would scan the whole stream.
  const direct = (jsm as JetStreamManager & { direct?: DirectGets }).direct;
  if (!direct) return null;
  const decoder = new TextDecoder();
  const subjects: string[] = [];
  const skippable = await Promise.all(
    [...nodes.values()].map(async (n) => {
      const announcements = `${SUBJECT_PREFIX}.${n.cluster}.evt.${n.node}.config.loaded`;
      const count = counts[announcements] ?? 0;
      if (count === 0 || count > MAX_ANNOUNCEMENTS) return false;
      try {
        const first = await direct.getMessage(stream, { seq: info.state.first_seq, next_by_subj: `${SUBJECT_PREFIX}.${n.cluster}.evt.${n.node}.>` });
        if (first.subject !== announcements) return false; // the run's start aged out: its instances are unknown
        let seq = first.seq;
        for (let i = 0; i < count; i++) {
          const m = i === 0 ? first : await direct.getMessage(stream, { seq, next_by_subj: announcements });
          seq = m.seq + 1;
          const decoded = decodeEvent(decoder.decode(m.data), { subject: m.subject });
          if (!decoded.ok) return false;
          if ((decoded.event.data as { instances: string[] }).instances.includes(filter.instance!)) return false;
        }
        return true;
      } catch {
        return false;
      }
    }),
  );
  [...nodes.values()].forEach((n, i) => {
    if (!skippable[i]) subjects.push(`${SUBJECT_PREFIX}.${n.cluster}.evt.${n.node}.${filter.type ?? '>'}`);
  });
  // Nothing skipped: one pass over the filter subject does the same work.
  return subjects.length === nodes.size ? null : subjects;
}

function noStream(stream: string): KqError {
  return new KqError('KQ_ERR_STREAM_CONFIG', `stream ${stream} does not exist: create it with \`hactl stream init\` (or let an agent provision it)`);
}

/** The events the stream holds that match `filter`, in stream order, then done. */
export function readHistory(js: JetStreamClient, filter: ReadFilter = {}, options: ReaderOptions = {}): EventReader {
  return new EventReader(js, filter, 'history', options);
}

/** Events as they are stored (from `since`, or from now on), until stop(). */
export function tail(js: JetStreamClient, filter: ReadFilter = {}, options: ReaderOptions = {}): EventReader {
  return new EventReader(js, filter, 'tail', options);
}

/** readHistory gathered in memory: for tests and small ranges. */
export async function collectHistory(js: JetStreamClient, filter: ReadFilter = {}, options: ReaderOptions = {}): Promise<ReadSummary & { events: AnyEnvelope[] }> {
  const reader = readHistory(js, filter, options);
  const events: AnyEnvelope[] = [];
  for await (const item of reader) events.push(item.event);
  return { ...reader.summary(), events };
}
