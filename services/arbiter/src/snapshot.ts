/**
 * Snapshots of the folded event stream (replay.ts), so that a restarting
 * replica reads one KV value and the stream's tail after it instead of the
 * whole stream.
 *
 *   bucket HA_ARBITER, key snapshot.<cluster>: the ReplayState as JSON
 *   (gzip when it is large), with the stream sequence it covers (`seq`) and
 *   the stream's creation time (a recreated stream makes it void).
 *
 * Every replica keeps its own fold going (SnapshotKeeper): it looks at the
 * stream every `checkMs`, and when `everyEvents` messages were stored since
 * its state, or `everyMs` passed with any, it reads the tail, folds it, and
 * writes the snapshot by compare-and-set, never over a newer one (the fold is
 * deterministic, so two replicas' snapshots at one sequence are the same).
 * The encoding, the decoding and the policy are pure; the store and the keeper
 * do the I/O.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { KV, NatsConnection } from 'nats';
import { z } from 'zod';
import type { Logger } from '../../../libs/common/src/log.js';
import { coldStart, emptyReplayState, foldRecords, readStreamTail, REPLAY_VERSION, type ColdStartResult, type ReplayState, type SnapshotSource } from './replay.js';

export const SNAPSHOT_BUCKET = 'HA_ARBITER';

export function snapshotKey(cluster: string): string {
  return `snapshot.${cluster}`;
}

export interface SnapshotPolicy {
  /** Write when this many stream messages were stored since the last snapshot. */
  readonly everyEvents: number;
  /** Write when this long passed since the last snapshot and anything was stored, ms. */
  readonly everyMs: number;
  /** How often the stream is looked at, ms. */
  readonly checkMs: number;
}

export const DEFAULT_SNAPSHOT_POLICY: SnapshotPolicy = Object.freeze({ everyEvents: 10_000, everyMs: 60_000, checkMs: 5_000 });

/** Is a snapshot due, with `pending` stream messages after the state and `sinceMs` since the last write? */
export function snapshotDue(policy: SnapshotPolicy, pending: number, sinceMs: number): boolean {
  if (pending <= 0) return false;
  return pending >= policy.everyEvents || sinceMs >= policy.everyMs;
}

/** Above this a snapshot is gzipped (a KV value must stay under the server's max_payload, 1 MB by default). */
const GZIP_ABOVE = 256 * 1024;

const memberSchema = z.object({ state: z.enum(['INIT', 'BACKUP', 'MASTER', 'FAULT', 'CLAIMING']), priority: z.number().int().min(0).max(255), vip: z.boolean() });
const fenceSchema = z.object({
  status: z.enum(['inProgress', 'confirmed', 'failed']),
  instance: z.string().max(128),
  epoch: z.number().int().nonnegative(),
  attempt: z.number().int().nonnegative(),
  requestedAt: z.number().nonnegative(),
  finishedAt: z.number().nonnegative().optional(),
  detail: z.string().max(1024).optional(),
  manual: z.boolean().optional(),
});
const nodeSchema = z.object({
  bootId: z.string().max(64).nullable(),
  lastAt: z.number(),
  gone: z.boolean(),
  members: z.record(z.string().max(128), memberSchema),
  fence: fenceSchema.optional(),
});
const snapshotSchema = z.object({
  v: z.literal(REPLAY_VERSION),
  cluster: z.string().min(1).max(64),
  stream: z.object({ name: z.string(), created: z.string() }).nullable(),
  seq: z.number().int().nonnegative(),
  folded: z.number().int().nonnegative(),
  nodes: z.record(z.string().max(64), nodeSchema),
  writtenAt: z.string().optional(),
  writtenBy: z.string().optional(),
});

export function encodeSnapshot(state: ReplayState, meta: { writtenAt: Date; writtenBy: string }): Uint8Array {
  const json = Buffer.from(JSON.stringify({ ...state, writtenAt: meta.writtenAt.toISOString(), writtenBy: meta.writtenBy }));
  return json.length > GZIP_ABOVE ? gzipSync(json) : json;
}

/** Bytes to a state, or why they are not one (the start then reads the whole stream). */
export function decodeSnapshot(bytes: Uint8Array, cluster: string): ReplayState | string {
  let text: string;
  try {
    const raw = bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    text = raw.toString('utf8');
  } catch (e) {
    return `not gzip: ${(e as Error).message}`;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  const p = snapshotSchema.safeParse(json);
  if (!p.success) {
    const i = p.error.issues[0];
    return `not a snapshot: ${i ? `${i.path.join('.') || '(value)'}: ${i.message}` : 'invalid'}`;
  }
  if (p.data.cluster !== cluster) return `the snapshot is of cluster ${p.data.cluster}, not ${cluster}`;
  const { writtenAt: _a, writtenBy: _b, ...rest } = p.data;
  const nodes: ReplayState['nodes'] = {};
  for (const [name, n] of Object.entries(rest.nodes)) {
    nodes[name] = {
      bootId: n.bootId,
      lastAt: n.lastAt,
      gone: n.gone,
      members: { ...n.members },
      ...(n.fence ? { fence: { ...n.fence } as NonNullable<ReplayState['nodes'][string]['fence']> } : {}),
    };
  }
  return { v: REPLAY_VERSION, cluster: rest.cluster, stream: rest.stream, seq: rest.seq, folded: rest.folded, nodes };
}

// ---------------------------------------------------------------------------
// I/O

export interface SnapshotStoreOptions {
  readonly nc: NatsConnection;
  /** Bucket replicas at creation (as the lease bucket: 1 or 3). */
  readonly replicas: number;
  readonly create?: boolean;
  readonly bucket?: string;
  readonly timeoutMs?: number;
  readonly log?: Logger;
}

export class SnapshotStore implements SnapshotSource {
  private constructor(
    private readonly kv: KV,
    private readonly log: Logger | undefined,
  ) {}

  static async open(opts: SnapshotStoreOptions): Promise<SnapshotStore> {
    const js = opts.nc.jetstream({ timeout: opts.timeoutMs ?? 5000 });
    const kv = await js.views.kv(opts.bucket ?? SNAPSHOT_BUCKET, { history: 1, replicas: opts.replicas, bindOnly: opts.create === false, timeout: opts.timeoutMs ?? 5000 });
    return new SnapshotStore(kv, opts.log);
  }

  /** The latest snapshot of `cluster`; null when there is none or it does not decode (logged). */
  async read(cluster: string): Promise<ReplayState | null> {
    return (await this.entry(cluster))?.state ?? null;
  }

  private async entry(cluster: string): Promise<{ state: ReplayState | null; revision: number } | null> {
    const e = await this.kv.get(snapshotKey(cluster));
    if (!e || e.operation !== 'PUT') return null;
    const s = decodeSnapshot(e.value, cluster);
    if (typeof s === 'string') {
      this.log?.warn({ key: snapshotKey(cluster), revision: e.revision, problem: s }, 'arbiter snapshot does not decode; the start reads the whole stream');
      return { state: null, revision: e.revision };
    }
    return { state: s, revision: e.revision };
  }

  /**
   * Writes `state` unless the stored snapshot is as new or newer; a
   * compare-and-set, so a concurrent writer wins and this one skips.
   */
  async write(state: ReplayState, by: string): Promise<{ written: boolean; bytes: number; reason?: string }> {
    const key = snapshotKey(state.cluster);
    const current = await this.entry(state.cluster);
    if (current?.state && current.state.seq >= state.seq && current.state.stream?.created === state.stream?.created) {
      return { written: false, bytes: 0, reason: `the stored snapshot covers sequence ${current.state.seq}` };
    }
    const data = encodeSnapshot(state, { writtenAt: new Date(), writtenBy: by });
    try {
      if (current) await this.kv.update(key, data, current.revision);
      else await this.kv.create(key, data);
      return { written: true, bytes: data.length };
    } catch (e) {
      return { written: false, bytes: data.length, reason: (e as Error).message };
    }
  }

  async delete(cluster: string): Promise<void> {
    await this.kv.purge(snapshotKey(cluster));
  }
}

export interface KeeperOptions {
  readonly nc: NatsConnection;
  readonly store: SnapshotStore;
  readonly state: ReplayState;
  readonly replica: string;
  readonly policy?: Partial<SnapshotPolicy>;
  readonly log: Logger;
  readonly stream?: string;
}

/** Folds the stream as it grows and writes a snapshot when one is due (see the header). */
export class SnapshotKeeper {
  private readonly policy: SnapshotPolicy;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private lastWrite = Date.now();
  private stopped = false;
  private state: ReplayState;
  readonly stats = { checks: 0, reads: 0, written: 0, skipped: 0, failed: 0, lastBytes: 0 };

  constructor(private readonly opts: KeeperOptions) {
    this.policy = { ...DEFAULT_SNAPSHOT_POLICY, ...opts.policy };
    this.state = opts.state;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => void this.tick(), this.policy.checkMs);
    this.timer.unref();
  }

  /** Folds what the stream holds now and writes a snapshot if anything was stored since the state (or `force`). */
  async checkNow(force = false): Promise<void> {
    await this.tick(force);
  }

  private async tick(force = false): Promise<void> {
    if (this.stopped) return;
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        this.stats.checks++;
        const jsm = await this.opts.nc.jetstreamManager();
        const info = await jsm.streams.info(this.opts.stream ?? 'HA_EVENTS').catch(() => null);
        if (!info) return;
        if (this.state.stream && this.state.stream.created !== info.created) {
          this.opts.log.warn({ was: this.state.stream.created, now: info.created }, 'the event stream was recreated: folding it from its start');
          this.state = emptyReplayState(this.state.cluster);
        }
        const pending = info.state.last_seq - this.state.seq;
        if (!force && !snapshotDue(this.policy, pending, Date.now() - this.lastWrite)) return;
        if (pending > 0) {
          this.stats.reads++;
          const tail = await readStreamTail({ nc: this.opts.nc, cluster: this.state.cluster, after: this.state.seq, ...(this.opts.stream ? { stream: this.opts.stream } : {}) });
          if (tail.stream) this.state.stream = tail.stream;
          foldRecords(this.state, tail.records, tail.upTo);
        }
        if (this.stopped) return;
        const w = await this.opts.store.write(this.state, this.opts.replica);
        this.lastWrite = Date.now();
        if (w.written) {
          this.stats.written++;
          this.stats.lastBytes = w.bytes;
          this.opts.log.debug({ seq: this.state.seq, nodes: Object.keys(this.state.nodes).length, bytes: w.bytes }, 'arbiter snapshot written');
        } else {
          this.stats.skipped++;
          this.opts.log.debug({ seq: this.state.seq, reason: w.reason }, 'arbiter snapshot not written');
        }
      } catch (e) {
        this.stats.failed++;
        this.opts.log.warn({ err: (e as Error).message }, 'arbiter snapshot: folding or writing failed; tried again later');
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}

export interface ReplayAtStart {
  readonly state: ReplayState;
  readonly result: ColdStartResult;
  /** Keeps the fold going and writes snapshots; null without a snapshot bucket. */
  readonly keeper: SnapshotKeeper | null;
}

/**
 * A replica's start: the snapshot bucket (created when missing and allowed),
 * the latest snapshot plus the stream after it, and the keeper that goes on
 * from there. Never throws: without a bucket the whole stream is read; without
 * a stream the state is empty.
 */
export async function replayAtStart(opts: {
  nc: NatsConnection;
  cluster: string;
  replica: string;
  replicas: number;
  create: boolean;
  log: Logger;
  policy?: Partial<SnapshotPolicy>;
}): Promise<ReplayAtStart> {
  let store: SnapshotStore | null = null;
  try {
    store = await SnapshotStore.open({ nc: opts.nc, replicas: opts.replicas, create: opts.create, log: opts.log });
  } catch (e) {
    opts.log.warn({ bucket: SNAPSHOT_BUCKET, err: (e as Error).message }, 'snapshot bucket not available: the start reads the whole event stream, and no snapshot is written');
  }
  const result = await coldStart({ nc: opts.nc, cluster: opts.cluster, snapshots: store, log: opts.log });
  opts.log.info(
    {
      snapshotSeq: result.snapshotSeq,
      ...(result.snapshotSkipped ? { snapshotSkipped: result.snapshotSkipped } : {}),
      seq: result.state.seq,
      tailRecords: result.tailRecords,
      nodes: Object.keys(result.state.nodes).length,
      ms: result.ms,
    },
    'event stream folded',
  );
  const keeper = store
    ? new SnapshotKeeper({ nc: opts.nc, store, state: result.state, replica: opts.replica, log: opts.log, ...(opts.policy ? { policy: opts.policy } : {}) })
    : null;
  return { state: result.state, result, keeper };
}
