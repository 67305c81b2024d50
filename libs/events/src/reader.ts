/**
 * Readers of the event log: readHistory (what the stream holds, then done) and
 * tail (following live). Both use an ordered consumer with the tightest filter
 * subject the filters allow (cluster, node, type); instance and time are filtered
 * here. Both report gaps in each node's seq, and skip and count messages that do
 * not decode or do not match their schema.
 *
 * The bookkeeping (EventSieve) is pure: it is fed bytes and a subject, and tested
 * without a server.
 */
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient } from 'nats';
import { KqError } from '../../common/src/errors.js';
import { decodeEvent, type AnyEnvelope } from './envelope.js';
import { isStreamNotFound } from './stream.js';
import { filterSubject, isEventTypeName, STREAM_NAME } from './subjects.js';

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
    void this.messages?.close().catch(() => undefined);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ReadItem> {
    const stream = this.options.stream ?? STREAM_NAME;
    try {
      await this.js.streams.get(stream);
    } catch (e) {
      if (isStreamNotFound(e)) throw new KqError('KQ_ERR_STREAM_CONFIG', `stream ${stream} does not exist: create it with \`hactl stream init\` (or let an agent provision it)`);
      throw e;
    }
    const since = this.filter.since !== undefined ? toMs(this.filter.since, 0) - (this.options.startSlackMs ?? 5 * 60_000) : undefined;
    const consumer = await this.js.consumers.get(stream, {
      filterSubjects: filterSubject(this.filter),
      ...(since !== undefined
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(Math.max(0, since)).toISOString() }
        : this.mode === 'tail'
          ? { deliver_policy: DeliverPolicy.New }
          : {}), // from the first message: nats.js 2.29 would send DeliverPolicy.All with a start seq, which the server refuses
    });
    try {
      if (this.mode === 'history') {
        const info = await consumer.info();
        if (info.num_pending === 0) return;
      }
      if (this.stopped) return;
      this.messages = await consumer.consume({ max_messages: this.options.batch ?? 1000 });
      for await (const m of this.messages) {
        const event = this.sieve.accept(m.subject, m.data, m.info.streamSequence);
        if (event !== null) {
          yield { event, subject: m.subject, streamSeq: m.info.streamSequence, storedAt: new Date(Math.floor(m.info.timestampNanos / 1e6)) };
        }
        if (this.stopped) break;
        if (this.mode === 'history' && m.info.pending === 0) break;
      }
    } finally {
      this.stopped = true;
      await this.messages?.close().catch(() => undefined);
      await consumer.delete().catch(() => undefined);
    }
  }
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
