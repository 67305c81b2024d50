/**
 * The arbiter's cold start from the event stream (HA_EVENTS): what the agents
 * last said about themselves and what the arbiter replicas did about fencing,
 * folded into a compact state that a restarting replica puts into its view
 * before the first heartbeat, beside the leases it reads from the KV.
 *
 * What is folded (everything else on the stream is skipped by the server:
 * check.result, lease.*, garp.sent… never reach the arbiter):
 *   ha.<cluster>.evt.*.vrrp.transition   a member's state and effective priority
 *   ha.<cluster>.evt.*.vip.*             a member's VIP (added / removed)
 *   ha.<cluster>.evt.*.fence.*           a replica's fence of a node: requested
 *                                        (in progress), result (confirmed or failed)
 *   ha.<cluster>.evt.*.node.gone         a replica judged a node gone: its
 *                                        reports no longer stand
 * One consumer per filter (nats-server 2.9 takes one filter subject per
 * consumer), each reading up to the stream's last sequence as it was when the
 * read began; the records are merged back into stream order before the fold.
 *
 * The fold is plain code over plain data, no I/O, and deterministic: the same
 * events give the same state, whichever replica folds them, so any replica's
 * snapshot (snapshot.ts) is as good as another's. For speed over a million
 * events it updates the state in place; `seq` says which stream sequence it
 * covers, so a start reads a snapshot and only the stream after it.
 *
 * From state to view (`applyReplay`): a node is not connected and its gateway
 * unknown until it heartbeats (decide() grants nobody on events alone); its
 * members are there at once; a fence in progress stays in progress (nobody is
 * granted past it) and the replica takes it up again once it is ready (the
 * receiver's idempotency key makes the retry safe); an operator's manual fence
 * in progress is recorded as failed (its key cannot be rebuilt, and a manual
 * fence holds no lease back). A node that a replica judged gone, and that has
 * said nothing since, is not a member of anything.
 */
import { randomBytes } from 'node:crypto';
import { AckPolicy, DeliverPolicy, nanos, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import type { Logger } from '../../../libs/common/src/log.js';
import { leaseKey } from '../../../libs/arbiter/src/decide.js';
import type { AgentState, ArbiterView, FenceNodeAction, FenceRecord, InstanceView, MemberView, NodeView } from '../../../libs/arbiter/src/types.js';
import { STREAM_NAME } from '../../../libs/events/src/subjects.js';

export const REPLAY_VERSION = 1;

/** A fence as the stream tells it. */
export interface ReplayFence {
  readonly status: FenceRecord['status'];
  /** '' for an operator's manual fence. */
  readonly instance: string;
  readonly epoch: number;
  readonly attempt: number;
  readonly requestedAt: number;
  readonly finishedAt?: number;
  readonly detail?: string;
  readonly manual?: boolean;
}

export interface ReplayNode {
  /** The agent run (bootId of its event ids) the members were reported by; null when unknown. */
  bootId: string | null;
  /** Epoch ms of the last event about the node. */
  lastAt: number;
  /** A replica judged it gone (node.gone) and it has said nothing since. */
  gone: boolean;
  /** instance -> what the node last reported as a member. */
  members: Record<string, MemberView>;
  fence?: ReplayFence;
}

/** The folded stream: JSON as it is (the snapshot's body). */
export interface ReplayState {
  v: typeof REPLAY_VERSION;
  cluster: string;
  /** The stream this state was folded from: its creation time tells a recreated stream apart. */
  stream: { name: string; created: string } | null;
  /** The last stream sequence the state covers (every message up to it, relevant or not). */
  seq: number;
  /** Relevant events folded in total, across snapshots. */
  folded: number;
  nodes: Record<string, ReplayNode>;
}

export function emptyReplayState(cluster: string): ReplayState {
  return { v: REPLAY_VERSION, cluster, stream: null, seq: 0, folded: 0, nodes: {} };
}

// ---------------------------------------------------------------------------
// Records: the few fields of an envelope the fold needs

export type ReplayRecord =
  | { kind: 'transition'; seq: number; at: number; node: string; bootId: string | null; instance: string; state: AgentState; priority: number }
  | { kind: 'vip'; seq: number; at: number; node: string; bootId: string | null; instance: string; vip: boolean }
  | { kind: 'gone'; seq: number; at: number; subject: string }
  | { kind: 'fenceRequested'; seq: number; at: number; subject: string; instance: string; epoch: number; attempt: number; manual: boolean }
  | { kind: 'fenceResult'; seq: number; at: number; subject: string; instance: string; epoch: number; attempt: number; confirmed: boolean; durationMs: number; detail: string; manual: boolean };

/** The types folded, and the filter subject of each consumer. */
export const REPLAY_TYPES = ['vrrp.transition', 'vip.added', 'vip.removed', 'fence.requested', 'fence.result', 'node.gone'] as const;

export function replayFilterSubjects(cluster: string): string[] {
  return [`ha.${cluster}.evt.*.vrrp.transition`, `ha.${cluster}.evt.*.vip.*`, `ha.${cluster}.evt.*.fence.*`, `ha.${cluster}.evt.*.node.gone`];
}

const STATES: ReadonlySet<string> = new Set(['INIT', 'BACKUP', 'MASTER', 'FAULT', 'CLAIMING']);
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isNat = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

/** The bootId part of an event id `<node>-<bootId>-<seq>`, or null for an id of another shape. */
export function bootIdOf(id: string, node: string, seq: number): string | null {
  const suffix = `-${seq}`;
  if (!id.startsWith(`${node}-`) || !id.endsWith(suffix)) return null;
  const boot = id.slice(node.length + 1, id.length - suffix.length);
  return boot.length > 0 ? boot : null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * One stored message to a record, or the reason it is skipped. A light check
 * of the fields the fold reads (the publishers validated the whole envelope
 * with its schema; a replay must not spend a zod parse per event on a million).
 * The envelope must agree with its subject (cluster, node, type).
 */
export function parseReplayMessage(cluster: string, subject: string, data: Uint8Array | string, seq: number): ReplayRecord | string {
  let e: unknown;
  try {
    e = JSON.parse(typeof data === 'string' ? data : utf8.decode(data));
  } catch {
    return 'not JSON';
  }
  if (!isObj(e)) return 'not an envelope';
  const { type, node, at, data: d, instance, id } = e;
  if (e['cluster'] !== cluster) return 'another cluster';
  if (typeof type !== 'string' || typeof node !== 'string' || !NAME.test(node) || typeof id !== 'string' || !isNat(e['seq'])) return 'envelope: id, type, node or seq';
  if (subject !== `ha.${cluster}.evt.${node}.${type}`) return 'subject does not match the envelope';
  const atMs = typeof at === 'string' ? Date.parse(at) : NaN;
  if (!Number.isFinite(atMs)) return 'envelope: at';
  if (!isObj(d)) return 'data';
  const inst = typeof instance === 'string' && instance.length > 0 && instance.length <= 128 ? instance : null;
  switch (type) {
    case 'vrrp.transition': {
      if (inst === null) return 'vrrp.transition without an instance';
      const to = d['to'];
      const prio = d['effectivePriority'];
      if (typeof to !== 'string' || !STATES.has(to) || !isNat(prio) || prio > 255) return 'vrrp.transition data';
      return { kind: 'transition', seq, at: atMs, node, bootId: bootIdOf(id, node, e['seq']), instance: inst, state: to as AgentState, priority: prio };
    }
    case 'vip.added':
    case 'vip.removed':
      if (inst === null) return `${type} without an instance`;
      return { kind: 'vip', seq, at: atMs, node, bootId: bootIdOf(id, node, e['seq']), instance: inst, vip: type === 'vip.added' };
    case 'node.gone': {
      const s = d['subject'];
      if (typeof s !== 'string' || !NAME.test(s)) return 'node.gone data: subject';
      return { kind: 'gone', seq, at: atMs, subject: s };
    }
    case 'fence.requested': {
      const s = d['subject'];
      if (typeof s !== 'string' || !NAME.test(s)) return 'fence.requested data: subject';
      const facts = isObj(d['facts']) ? d['facts'] : {};
      const manual = facts['manual'] === true || inst === null;
      const epoch = isNat(d['epoch']) ? d['epoch'] : 0;
      const attempt = isNat(facts['attempt']) ? facts['attempt'] : 1;
      return { kind: 'fenceRequested', seq, at: atMs, subject: s, instance: inst ?? '', epoch, attempt, manual };
    }
    case 'fence.result': {
      const s = d['subject'];
      if (typeof s !== 'string' || !NAME.test(s) || !isNat(d['epoch']) || !isNat(d['attempt']) || typeof d['ok'] !== 'boolean' || typeof d['confirmed'] !== 'boolean') {
        return 'fence.result data';
      }
      const key = typeof d['idempotencyKey'] === 'string' ? d['idempotencyKey'] : '';
      const durationMs = typeof d['durationMs'] === 'number' && d['durationMs'] >= 0 ? d['durationMs'] : 0;
      return {
        kind: 'fenceResult',
        seq,
        at: atMs,
        subject: s,
        instance: inst ?? '',
        epoch: d['epoch'],
        attempt: d['attempt'],
        confirmed: d['ok'] === true && d['confirmed'] === true,
        durationMs,
        detail: typeof d['reason'] === 'string' ? d['reason'].slice(0, 1024) : '',
        manual: inst === null || key.includes(':manual:'),
      };
    }
    default:
      return `type ${type} is not folded`;
  }
}

// ---------------------------------------------------------------------------
// The fold

function nodeOf(state: ReplayState, name: string, at: number): ReplayNode {
  let n = state.nodes[name];
  if (!n) {
    n = { bootId: null, lastAt: at, gone: false, members: {} };
    state.nodes[name] = n;
  }
  return n;
}

/**
 * An agent's own event: a new run of the agent (another bootId) is a new
 * incarnation: what the old one reported, and a fence of it, no longer stand
 * (as recordConnection does for a node that connects again).
 */
function agentSays(state: ReplayState, r: { node: string; bootId: string | null; at: number }): ReplayNode {
  const n = nodeOf(state, r.node, r.at);
  if (r.bootId !== null && n.bootId !== null && r.bootId !== n.bootId) {
    n.members = {};
    delete n.fence;
  }
  if (r.bootId !== null) n.bootId = r.bootId;
  n.gone = false;
  n.lastAt = Math.max(n.lastAt, r.at);
  return n;
}

/** Folds one record into `state` (in place) and returns it. Records must come in stream order. */
export function foldRecord(state: ReplayState, r: ReplayRecord): ReplayState {
  if (r.seq <= state.seq) return state; // already covered (a snapshot, or a message read twice)
  state.seq = r.seq;
  state.folded++;
  switch (r.kind) {
    case 'transition': {
      const n = agentSays(state, r);
      const before = n.members[r.instance];
      n.members[r.instance] = { state: r.state, priority: r.priority, vip: before?.vip ?? false };
      break;
    }
    case 'vip': {
      const n = agentSays(state, r);
      const before = n.members[r.instance];
      // As the live fold: a VIP change of an instance the node has not reported a state for tells nothing to build on.
      if (before) n.members[r.instance] = { ...before, vip: r.vip };
      break;
    }
    case 'gone': {
      const n = nodeOf(state, r.subject, r.at);
      n.gone = true;
      n.members = {};
      n.lastAt = Math.max(n.lastAt, r.at);
      break;
    }
    case 'fenceRequested': {
      const n = nodeOf(state, r.subject, r.at);
      const f = n.fence;
      // A fence without a backend ends before its request is published: its result is already here.
      if (f && f.status !== 'inProgress' && f.instance === r.instance && f.epoch === r.epoch && f.attempt === r.attempt) break;
      n.fence = { status: 'inProgress', instance: r.instance, epoch: r.epoch, attempt: r.attempt, requestedAt: r.at, ...(r.manual ? { manual: true } : {}) };
      break;
    }
    case 'fenceResult': {
      const n = nodeOf(state, r.subject, r.at);
      const f = n.fence;
      const requestedAt = f && f.status === 'inProgress' ? f.requestedAt : Math.max(0, r.at - r.durationMs);
      n.fence = {
        status: r.confirmed ? 'confirmed' : 'failed',
        instance: r.instance,
        epoch: r.epoch,
        attempt: r.attempt,
        requestedAt,
        finishedAt: r.at,
        ...(r.confirmed ? {} : { detail: r.detail }),
        ...(r.manual ? { manual: true } : {}),
      };
      break;
    }
  }
  return state;
}

/** Folds records (in stream order) and marks the state as covering the stream up to `upTo`. */
export function foldRecords(state: ReplayState, records: Iterable<ReplayRecord>, upTo?: number): ReplayState {
  for (const r of records) foldRecord(state, r);
  if (upTo !== undefined && upTo > state.seq) state.seq = upTo;
  return state;
}

/** Merges per-consumer record lists (each in stream order) into one list in stream order. */
export function mergeBySeq(lists: readonly (readonly ReplayRecord[])[]): ReplayRecord[] {
  const nonEmpty = lists.filter((l) => l.length > 0);
  if (nonEmpty.length === 0) return [];
  if (nonEmpty.length === 1) return [...nonEmpty[0]!];
  const all = nonEmpty.flat();
  all.sort((a, b) => a.seq - b.seq);
  return all;
}

// ---------------------------------------------------------------------------
// From the folded state to the view

/** A node known from the stream whose heartbeats are awaited (Membership.seed). */
export interface ReplaySeed {
  readonly node: string;
  readonly bootId: string | null;
  readonly instances: readonly string[];
}

export interface AppliedReplay {
  readonly view: ArbiterView;
  readonly seeds: readonly ReplaySeed[];
  /** Fences in progress to take up again once the replica is ready. */
  readonly resume: readonly FenceNodeAction[];
}

const MANUAL_UNKNOWN = 'the replica that ran this manual fence stopped before its result; its outcome is unknown';

/**
 * The replayed state into a fresh view (members and fences; leases come from
 * the KV). `allowed`: instance -> its allowed members (undefined: anyone).
 */
export function applyReplay(view: ArbiterView, state: ReplayState, allowed: ReadonlyMap<string, ReadonlySet<string> | undefined>): AppliedReplay {
  if (state.cluster !== view.cluster) return { view, seeds: [], resume: [] };
  const nodes: Record<string, NodeView> = { ...view.nodes };
  const instances: Record<string, InstanceView> = { ...view.instances };
  const seeds: ReplaySeed[] = [];
  const resume: FenceNodeAction[] = [];
  const names = Object.keys(state.nodes).sort();
  for (const name of names) {
    const n = state.nodes[name]!;
    const reported: string[] = [];
    if (!n.gone) {
      for (const [instance, member] of Object.entries(n.members)) {
        const inst = instances[instance];
        if (!inst || !allowed.has(instance)) continue;
        const only = allowed.get(instance);
        if (only && !only.has(name)) continue;
        instances[instance] = { ...inst, members: { ...inst.members, [name]: { ...member } } };
        reported.push(instance);
      }
    }
    let fence: FenceRecord | undefined;
    if (n.fence) {
      const f = n.fence;
      if (f.status === 'inProgress' && f.manual) {
        fence = { status: 'failed', attempt: f.attempt, requestedAt: f.requestedAt, finishedAt: f.requestedAt, detail: MANUAL_UNKNOWN };
      } else {
        fence = {
          status: f.status,
          attempt: f.attempt,
          requestedAt: f.requestedAt,
          ...(f.finishedAt !== undefined ? { finishedAt: f.finishedAt } : {}),
          ...(f.detail !== undefined ? { detail: f.detail } : {}),
        };
        if (f.status === 'inProgress' && f.instance in instances) {
          resume.push({
            type: 'fence',
            node: name,
            instance: f.instance,
            epoch: f.epoch,
            attempt: f.attempt,
            idempotencyKey: `${leaseKey(view.cluster, f.instance)}:e${f.epoch}:${name}:off`,
            reason: `taking up the fence of ${name} (epoch ${f.epoch}, attempt ${f.attempt}) that was in progress when this replica last stopped (event stream)`,
          });
        }
      }
    }
    if (reported.length === 0 && !fence) continue;
    const before = nodes[name];
    nodes[name] = {
      connected: false,
      since: n.lastAt,
      gateway: before?.gateway ?? 'unknown',
      reachableFromArbiter: before?.reachableFromArbiter ?? 'unknown',
      ...(fence ? { fence } : {}),
    };
    if (reported.length > 0) seeds.push({ node: name, bootId: n.bootId, instances: reported });
  }
  return { view: { ...view, nodes, instances }, seeds, resume };
}

// ---------------------------------------------------------------------------
// I/O: reading the stream after a sequence

export interface TailRead {
  readonly records: ReplayRecord[];
  /** The stream's last sequence when the read began: the state covers up to it. */
  readonly upTo: number;
  readonly stream: { name: string; created: string } | null;
  /** Messages received (relevant by subject) and skipped as invalid. */
  readonly received: number;
  readonly invalid: number;
  readonly invalidReasons: Record<string, number>;
}

export interface ReadTailOptions {
  readonly nc: NatsConnection;
  readonly cluster: string;
  /** Read what comes after this sequence. */
  readonly after: number;
  readonly stream?: string;
  /** Messages per pull. Default 5000. */
  readonly batch?: number;
  /** Give up after this long, ms. Default 120 s. */
  readonly timeoutMs?: number;
}

function isStreamNotFound(e: unknown): boolean {
  const err = e as { api_error?: { err_code?: number }; message?: string } | undefined;
  return err?.api_error?.err_code === 10059 || /stream not found/i.test(err?.message ?? '');
}

/**
 * The relevant messages stored after `after`, up to the stream's last sequence
 * at the start of the read, in stream order. A missing stream is an empty read.
 */
export async function readStreamTail(opts: ReadTailOptions): Promise<TailRead> {
  const stream = opts.stream ?? STREAM_NAME;
  const jsm = await opts.nc.jetstreamManager();
  let info;
  try {
    info = await jsm.streams.info(stream);
  } catch (e) {
    if (isStreamNotFound(e)) return { records: [], upTo: opts.after, stream: null, received: 0, invalid: 0, invalidReasons: {} };
    throw e;
  }
  const upTo = info.state.last_seq;
  const id = { name: stream, created: info.created };
  const empty = { records: [], upTo: Math.max(upTo, opts.after), stream: id, received: 0, invalid: 0, invalidReasons: {} };
  if (upTo <= opts.after || info.state.messages === 0) return empty;
  const js = opts.nc.jetstream();
  const invalidReasons: Record<string, number> = {};
  let received = 0;
  let invalid = 0;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  const lists = await Promise.all(
    replayFilterSubjects(opts.cluster).map(async (filter) => {
      const out: ReplayRecord[] = [];
      const r = await readOne(jsm, js, stream, filter, opts.after + 1, upTo, opts.batch ?? 5000, deadline, (subject, data, seq) => {
        received++;
        const rec = parseReplayMessage(opts.cluster, subject, data, seq);
        if (typeof rec === 'string') {
          invalid++;
          invalidReasons[rec] = (invalidReasons[rec] ?? 0) + 1;
        } else {
          out.push(rec);
        }
      });
      if (!r) throw new Error(`reading ${filter} from ${stream} did not finish in time`);
      return out;
    }),
  );
  return { records: mergeBySeq(lists), upTo, stream: id, received, invalid, invalidReasons };
}

/** One filtered consumer from `start` until `upTo` (or nothing more pending). false on timeout. */
async function readOne(
  jsm: JetStreamManager,
  js: JetStreamClient,
  stream: string,
  filter: string,
  start: number,
  upTo: number,
  batch: number,
  deadline: number,
  onMessage: (subject: string, data: Uint8Array, seq: number) => void,
): Promise<boolean> {
  const name = `kq_replay_${randomBytes(6).toString('hex')}`;
  const ci = await jsm.consumers.add(stream, {
    name,
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: start,
    filter_subject: filter,
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: nanos(60_000),
  });
  try {
    if (ci.num_pending === 0) return true;
    const consumer = await js.consumers.get(stream, name);
    const messages = await consumer.consume({ max_messages: batch, expires: 5000 });
    const timer = setTimeout(() => messages.stop(), Math.max(0, deadline - Date.now()));
    let done = false;
    try {
      for await (const m of messages) {
        const seq = m.seq;
        if (seq > upTo) {
          done = true;
          break;
        }
        onMessage(m.subject, m.data, seq);
        if (seq >= upTo || m.info.pending === 0) {
          done = true;
          break;
        }
      }
    } finally {
      clearTimeout(timer);
      messages.stop();
    }
    return done;
  } finally {
    await jsm.consumers.delete(stream, name).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------
// The cold start: snapshot + tail

export interface ColdStartResult {
  readonly state: ReplayState;
  /** The snapshot the start began from (its sequence), or null. */
  readonly snapshotSeq: number | null;
  /** Why no snapshot was used, when none was. */
  readonly snapshotSkipped?: string;
  readonly tailRecords: number;
  readonly tailInvalid: number;
  readonly ms: { snapshot: number; tail: number; fold: number; total: number };
}

/** Where a start finds its latest snapshot: snapshot.ts's store, or nothing. */
export interface SnapshotSource {
  read(cluster: string): Promise<ReplayState | null>;
}

/**
 * The state a starting replica folds into its view: the latest snapshot that
 * belongs to this stream, plus the stream after it. Never throws: a failed
 * read leaves what was read so far (the heartbeats fill the view in anyway).
 */
export async function coldStart(opts: { nc: NatsConnection; cluster: string; snapshots: SnapshotSource | null; log: Logger; stream?: string }): Promise<ColdStartResult> {
  const t0 = performance.now();
  let state = emptyReplayState(opts.cluster);
  let snapshotSeq: number | null = null;
  let skipped: string | undefined;
  const stream = opts.stream ?? STREAM_NAME;
  try {
    const snap = opts.snapshots ? await opts.snapshots.read(opts.cluster) : null;
    if (snap) {
      const info = await (await opts.nc.jetstreamManager()).streams.info(stream).catch(() => null);
      if (!info) skipped = `stream ${stream} not found`;
      else if (snap.stream?.created !== info.created) skipped = `the snapshot is of another ${stream} (created ${snap.stream?.created ?? '?'}, now ${info.created})`;
      else if (snap.seq > info.state.last_seq) skipped = `the snapshot covers sequence ${snap.seq}, past the stream's last ${info.state.last_seq}`;
      else {
        state = snap;
        snapshotSeq = snap.seq;
      }
    } else {
      skipped = 'no snapshot';
    }
  } catch (e) {
    skipped = `reading the snapshot failed: ${(e as Error).message}`;
  }
  const t1 = performance.now();
  let tailRecords = 0;
  let tailInvalid = 0;
  let t2 = t1;
  try {
    const tail = await readStreamTail({ nc: opts.nc, cluster: opts.cluster, after: state.seq, stream });
    t2 = performance.now();
    tailRecords = tail.records.length;
    tailInvalid = tail.invalid;
    if (tail.stream) state.stream = tail.stream;
    foldRecords(state, tail.records, tail.upTo);
    if (tail.invalid > 0) opts.log.warn({ invalid: tail.invalid, reasons: tail.invalidReasons }, 'event replay: messages skipped');
  } catch (e) {
    t2 = performance.now();
    opts.log.warn({ err: (e as Error).message }, 'event replay: reading the stream failed; the view starts from what was read (heartbeats fill it in)');
  }
  const t3 = performance.now();
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    state,
    snapshotSeq,
    ...(skipped !== undefined ? { snapshotSkipped: skipped } : {}),
    tailRecords,
    tailInvalid,
    ms: { snapshot: round(t1 - t0), tail: round(t2 - t1), fold: round(t3 - t2), total: round(t3 - t0) },
  };
}
