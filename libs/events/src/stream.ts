/**
 * Provisioning of the stream HA_EVENTS: what it should look like, and a plan
 * that says what exists, what will be created or changed, and what cannot be.
 * `hactl stream init` prints the plan; the agent may create a missing stream.
 */
import { DiscardPolicy, nanos, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig, type StreamInfo } from 'nats';
import { KqError } from '../../common/src/errors.js';
import { STREAM_NAME, STREAM_SUBJECTS } from './subjects.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface StreamSettings {
  /** 1 on a single server, 3 on a cluster (see replicasFor). */
  replicas?: number;
  /** How long events are kept, ms. Default 30 days. */
  maxAgeMs?: number;
  /** Size cap of the stream, bytes; the oldest events go first. Default 1 GiB. */
  maxBytes?: number;
  /** Window in which a Nats-Msg-Id is remembered and a replay dropped, ms. Default 2 h. */
  duplicateWindowMs?: number;
  /** Largest event accepted, bytes. Default 64 KiB. */
  maxMsgSize?: number;
  name?: string;
}

export const DEFAULT_STREAM_SETTINGS = Object.freeze({
  replicas: 1,
  // An audit trail is read weeks later ("why did the VIP move last Tuesday?");
  // the size cap keeps a noisy cluster from filling the servers' disks first.
  maxAgeMs: 30 * DAY,
  maxBytes: 1024 * 1024 * 1024,
  // The window must cover the longest time between the first attempt to store an
  // event and its last retry: an event whose ack was lost when NATS went away (or
  // that was stored just before the agent died, before its ack reached the
  // journal) is published again when NATS is back or the agent restarts. NATS's
  // default of 2 minutes covers a reconnect, not an outage, a NATS maintenance
  // window or a host reboot. Two hours covers those; its cost is one remembered id
  // per event published in the window on each server (~100 bytes: 36 MB at a
  // sustained 50 events/s). Past the window a replay may be stored twice; readers
  // still drop a second copy of a (node, seq) and count it.
  duplicateWindowMs: 2 * HOUR,
  maxMsgSize: 64 * 1024,
  name: STREAM_NAME,
});

/** The JetStream configuration of the event stream. */
export function streamConfig(settings: StreamSettings = {}): Partial<StreamConfig> & { name: string } {
  const s = { ...DEFAULT_STREAM_SETTINGS, ...settings };
  const problems: string[] = [];
  if (!Number.isInteger(s.replicas) || s.replicas < 1 || s.replicas > 5) problems.push(`replicas ${s.replicas} is not 1..5 (1 on one server, 3 on a cluster)`);
  if (!(s.maxAgeMs > 0)) problems.push('maxAge must be positive');
  if (!(s.maxBytes > 0)) problems.push('maxBytes must be positive');
  if (!(s.duplicateWindowMs > 0)) problems.push('duplicateWindow must be positive');
  if (s.duplicateWindowMs > s.maxAgeMs) problems.push('duplicateWindow cannot be longer than maxAge (JetStream refuses it)');
  if (problems.length > 0) throw new KqError('KQ_ERR_STREAM_CONFIG', `stream ${s.name}: ${problems.join('; ')}`);
  return {
    name: s.name,
    description: 'keepquorum audit trail: every transition, check result, VIP change and arbiter decision',
    subjects: [...STREAM_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: s.replicas,
    max_age: nanos(s.maxAgeMs),
    max_bytes: s.maxBytes,
    max_msgs: -1,
    max_msgs_per_subject: -1,
    max_msg_size: s.maxMsgSize,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(s.duplicateWindowMs),
    // An audit trail: no one deletes a single event; age and size retire them.
    deny_delete: true,
    allow_direct: true,
  };
}

/** R3 when the server we talk to is part of a cluster, R1 on a single server. */
export function replicasFor(serverInfo: { cluster?: string | undefined } | undefined): number {
  return serverInfo?.cluster ? 3 : 1;
}

export interface StreamChange {
  field: string;
  current: unknown;
  wanted: unknown;
  /** JetStream cannot change it in place: the stream must be recreated. */
  fixed: boolean;
}

export interface StreamPlan {
  stream: string;
  /** create: missing; update: differs; none: as wanted; conflict: differs in what cannot change. */
  action: 'create' | 'update' | 'none' | 'conflict';
  changes: StreamChange[];
  /** Whether ensureStream carried the action out. */
  applied: boolean;
  /** Lines for a person, e.g. for `hactl stream init`. */
  lines: string[];
}

/** Fields compared between an existing stream and the wanted one; `fixed` ones cannot be updated. */
const COMPARED: { field: keyof StreamConfig; fixed: boolean; show: (v: unknown) => string }[] = [
  { field: 'subjects', fixed: false, show: (v) => (Array.isArray(v) ? v.join(', ') : String(v)) },
  { field: 'storage', fixed: true, show: String },
  { field: 'retention', fixed: true, show: String },
  { field: 'num_replicas', fixed: false, show: (v) => `R${String(v)}` },
  { field: 'max_age', fixed: false, show: (v) => duration(Number(v) / 1e6) },
  { field: 'max_bytes', fixed: false, show: (v) => bytes(Number(v)) },
  { field: 'max_msg_size', fixed: false, show: (v) => bytes(Number(v)) },
  { field: 'discard', fixed: false, show: String },
  { field: 'duplicate_window', fixed: false, show: (v) => duration(Number(v) / 1e6) },
  { field: 'deny_delete', fixed: false, show: String },
  { field: 'allow_direct', fixed: false, show: String },
];

/** Compares an existing stream's configuration (or none) with the wanted one. */
export function planStream(existing: Partial<StreamConfig> | null, wanted: Partial<StreamConfig> & { name: string }): StreamPlan {
  if (existing === null) {
    return {
      stream: wanted.name,
      action: 'create',
      changes: [],
      applied: false,
      lines: [`stream ${wanted.name}: create`, ...describe(wanted).map((l) => `  ${l}`)],
    };
  }
  const changes: StreamChange[] = [];
  for (const c of COMPARED) {
    const current = existing[c.field];
    const want = wanted[c.field];
    if (want === undefined) continue;
    if (JSON.stringify(current) !== JSON.stringify(want)) changes.push({ field: c.field, current, wanted: want, fixed: c.fixed });
  }
  const fixed = changes.some((c) => c.fixed);
  const action = changes.length === 0 ? 'none' : fixed ? 'conflict' : 'update';
  const lines = [
    action === 'none'
      ? `stream ${wanted.name}: exists as wanted`
      : action === 'update'
        ? `stream ${wanted.name}: update ${changes.length} setting(s)`
        : `stream ${wanted.name}: exists with settings JetStream cannot change in place; delete and recreate it to change them`,
  ];
  for (const ch of changes) {
    const show = COMPARED.find((c) => c.field === ch.field)!.show;
    lines.push(`  ${ch.field}: ${show(ch.current)} -> ${show(ch.wanted)}${ch.fixed ? ' (cannot change in place)' : ''}`);
  }
  return { stream: wanted.name, action, changes, applied: false, lines };
}

export interface EnsureOptions {
  /**
   * plan: change nothing; create: create a missing stream, never touch an existing
   * one (what the agent does); apply: create or update (`hactl stream init`).
   */
  mode?: 'plan' | 'create' | 'apply';
}

/** Creates the stream or checks (and with mode apply, updates) an existing one. */
export async function ensureStream(jsm: JetStreamManager, wanted: Partial<StreamConfig> & { name: string }, options: EnsureOptions = {}): Promise<StreamPlan> {
  const mode = options.mode ?? 'apply';
  let info: StreamInfo | null = null;
  try {
    info = await jsm.streams.info(wanted.name);
  } catch (e) {
    if (!isStreamNotFound(e)) throw e;
  }
  const plan = planStream(info?.config ?? null, wanted);
  if (plan.action === 'create' && mode !== 'plan') {
    await jsm.streams.add(wanted);
    plan.applied = true;
    plan.lines[0] = `stream ${wanted.name}: created`;
  } else if (plan.action === 'update' && mode === 'apply') {
    const { name: _name, storage: _s, retention: _r, ...update } = wanted;
    await jsm.streams.update(wanted.name, update);
    plan.applied = true;
    plan.lines[0] = `stream ${wanted.name}: updated ${plan.changes.length} setting(s)`;
  }
  return plan;
}

export function isStreamNotFound(e: unknown): boolean {
  const err = e as { api_error?: { err_code?: number }; message?: string } | null;
  return err?.api_error?.err_code === 10059 || /stream not found/i.test(err?.message ?? '');
}

function describe(c: Partial<StreamConfig>): string[] {
  return COMPARED.filter((f) => c[f.field] !== undefined).map((f) => `${f.field}: ${f.show(c[f.field])}`);
}

function duration(ms: number): string {
  if (ms % DAY === 0) return `${ms / DAY}d`;
  if (ms % HOUR === 0) return `${ms / HOUR}h`;
  if (ms % MINUTE === 0) return `${ms / MINUTE}m`;
  return `${ms / 1000}s`;
}

function bytes(n: number): string {
  if (n < 0) return 'unlimited';
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} B`;
}
