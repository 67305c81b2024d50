/**
 * The lease KV (`HA_LEASES`): the only place a lease changes, and only by
 * compare-and-set on the key's revision, so any number of arbiter replicas may
 * write without electing a leader (ARCHITECTURE.md, Leases).
 *
 * - The bucket is created when missing with the replicas the config chose (R1 on
 *   one server, R3 on a cluster: a minority partition cannot write, so it cannot
 *   grant) and never changed afterwards; a bucket that differs is reported.
 * - The chain rule (lease-chain.ts) makes the compare-and-set exact even where
 *   the server is not (nats-server before 2.9.21 on a replicated bucket may
 *   store two writes naming the same revision, nats-server#4320): every value
 *   written carries a link (`chain: { id, prev, n }`) naming the record it
 *   builds on, and a record that does not build on the key's last valid
 *   record is void. Every read below (watch, read, readAll) sees only valid
 *   records.
 * - write(): a publish expecting the key's last record (its head, normally
 *   the revision it builds on; void records after that are stepped over).
 *   On a server with the bug and a replicated bucket, the write is then
 *   checked: the key's records after the one the server expected, up to the
 *   new one, are read from the stream leader, and the write counts only if
 *   it is valid. The result is a WriteOutcome: ok with the new revision, `conflict`
 *   (another writer got there first, refused by the server or void by the
 *   rule; the key's current valid entry is read back so the view can follow
 *   at once), or `unavailable` / `timeout` (the write may or may not have
 *   happened, or won). When the server refuses the compare-and-set, or a
 *   conflict shows the leader's last record is not the head this store knew,
 *   its knowledge of the key is dropped and learnt again from the stream
 *   leader, a lower head included (relearn()): knowledge ahead of the leader
 *   (replicas numbering records otherwise after server kills, a recreated
 *   stream) would otherwise make every later write expect a revision the
 *   leader refuses.
 * - watch(): every valid change of the cluster's keys, ours and the other
 *   replicas', so the view follows the KV; void records are skipped, logged
 *   and counted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { KvWatchInclude, type JetStreamClient, type JetStreamManager, type KV, type KvEntry, type MsgRequest, type NatsConnection, type StoredMsg } from 'nats';
import { z } from 'zod';
import { KqError } from '../../../libs/common/src/errors.js';
import type { Logger } from '../../../libs/common/src/log.js';
import { LEASE_BUCKET } from '../../../libs/arbiter/src/protocol.js';
import type { LeaseEntry, LeaseValue, WriteLeaseAction, WriteOutcome } from '../../../libs/arbiter/src/types.js';
import { judgeChain, judgeRecord, type ChainLink, type ChainRecord, type ChainStart, type LastValid } from './lease-chain.js';

const epochMs = z.number().finite().nonnegative();
const outgoingSchema = z.object({ node: z.string(), epoch: z.number().int().nonnegative(), grantedAt: epochMs, until: epochMs });
/** Lenient on unknown keys: a newer arbiter may add fields an older one must carry through. */
export const leaseValueSchema = z.object({
  holder: z.string().nullable(),
  epoch: z.number().int().nonnegative(),
  grantedAt: epochMs,
  renewedAt: epochMs,
  expiresAt: epochMs,
  reason: z.string(),
  outgoing: outgoingSchema.optional(),
  reservedFor: z.string().optional(),
  offered: z.literal(true).optional(),
});

export interface LeaseStoreOptions {
  nc: NatsConnection;
  cluster: string;
  /** Bucket replicas at creation: 1 or 3. */
  replicas: number;
  /** Revisions kept per key. */
  history: number;
  /** Create the bucket when missing (else fail). */
  create: boolean;
  writeTimeoutMs: number;
  log?: Logger;
  /** Default LEASE_BUCKET; tests may use their own. */
  bucket?: string;
  /**
   * Tests only. `auto` (default): the chain rule is applied by every read, and
   * writes are checked when the server has nats-server#4320 and the bucket is
   * replicated. `always`: writes are checked on any server. `off`: the
   * compare-and-set as it was before the rule (no link written, no check,
   * every record read as it is), to show what the rule prevents.
   */
  chainRule?: 'auto' | 'always' | 'off';
  /** Called after every checked write: how many msg gets the check took and how long (measurement). */
  onVerify?: (info: { key: string; revision: number; valid: boolean | null; gets: number; ms: number }) => void;
}

/** What the store counted since it opened. */
export interface LeaseStoreStats {
  /** Writes checked against the chain rule after the server stored them. */
  checked: number;
  /** Of those, stored but void (another write on the same revision came first): answered as a conflict. */
  voidWritten: number;
  /** Of those, stored but not provable either way: answered as unavailable. */
  unproven: number;
  /** Msg gets the checks made. */
  checkGets: number;
  /** Void records the watch skipped (anyone's). */
  voidSkipped: number;
}

export type WriteResult = { outcome: WriteOutcome; current?: LeaseEntry | null };

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

/** A KV value that does not decode: counted and logged, folded as a free lease that keeps its epoch. */
export function decodeLease(bytes: Uint8Array, revision: number, log?: Logger, key?: string): LeaseEntry {
  return leaseFromJson(parseJson(bytes), revision, log, key);
}

function leaseFromJson(json: unknown, revision: number, log?: Logger, key?: string): LeaseEntry {
  const parsed = leaseValueSchema.safeParse(json);
  if (parsed.success) {
    const v = parsed.data;
    const value: LeaseValue = {
      holder: v.holder,
      epoch: v.epoch,
      grantedAt: v.grantedAt,
      renewedAt: v.renewedAt,
      expiresAt: v.expiresAt,
      reason: v.reason,
      ...(v.outgoing ? { outgoing: v.outgoing } : {}),
      ...(v.reservedFor !== undefined ? { reservedFor: v.reservedFor } : {}),
      ...(v.offered ? { offered: true as const } : {}),
    };
    return { revision, value };
  }
  // Keep the epoch if one is there: epochs only grow, even past a bad write.
  const epoch = typeof (json as { epoch?: unknown } | undefined)?.epoch === 'number' ? Math.max(0, Math.floor((json as { epoch: number }).epoch)) : 0;
  log?.error({ key, revision, problem: parsed.error.issues[0]?.message }, 'lease value in the KV does not decode; treated as free (its next write replaces it)');
  return { revision, value: { holder: null, epoch, grantedAt: 0, renewedAt: 0, expiresAt: 0, reason: `undecodable value at revision ${revision}` } };
}

/** One record of a key: its place in the chain and what it says (null: a delete or purge marker). */
export interface LeaseRecord extends ChainRecord {
  readonly key: string;
  readonly entry: LeaseEntry | null;
}

const linkId = z.string().min(1).max(64);
const linkSchema = z.object({ id: linkId, prev: linkId.nullable(), n: z.number().int().min(1) });

/** A fresh record id for a write's link. */
export function newRecordId(): string {
  return randomBytes(9).toString('base64url');
}

/**
 * A record as stored: `operation` is the KV operation (PUT, DEL, PURGE). The
 * link is read leniently: a value without a well-formed `chain` is unlinked
 * (valid, as an older arbiter's), its id derived from its bytes.
 */
export function decodeRecord(key: string, seq: number, operation: string, bytes: Uint8Array, log?: Logger): LeaseRecord {
  if (operation === 'DEL' || operation === 'PURGE') return { key, seq, id: `marker@${seq}`, link: 'deleted', entry: null };
  const json = parseJson(bytes);
  const entry = leaseFromJson(json, seq, log, key);
  const chain = linkSchema.safeParse((json as { chain?: unknown } | undefined)?.chain);
  if (chain.success) return { key, seq, id: chain.data.id, link: { prev: chain.data.prev, n: chain.data.n }, entry };
  return { key, seq, id: `h:${createHash('sha256').update(bytes).digest('base64url').slice(0, 22)}`, link: 'unlinked', entry };
}

/** The value as stored, with its link when given (the chain rule). */
export function encodeLease(value: LeaseValue, chain?: { id: string } & ChainLink): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(chain === undefined ? value : { ...value, chain }));
}

/** Is `version` ("2.9.10", "v2.10.4-beta") below `min`? An unparsable version is not. */
export function versionBelow(version: string, min: readonly [number, number, number]): boolean {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const v = [Number(m[1]), Number(m[2]), Number(m[3])];
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i]! < min[i]!;
  return false;
}

/** nats.js's error for a compare-and-set whose expected revision is not the key's last. */
function isWrongLastSequence(e: unknown): boolean {
  const err = e as { api_error?: { err_code?: number }; message?: string } | undefined;
  return err?.api_error?.err_code === 10071 || /wrong last sequence/i.test(err?.message ?? '');
}

/** A valid record as a write builds on it: where it is, its id and generation, what it says (null: a delete marker). */
export interface ValidRecord {
  readonly seq: number;
  readonly id: string;
  /** Its generation (0 when unlinked or a marker). */
  readonly n: number;
  readonly deleted: boolean;
  readonly entry: LeaseEntry | null;
}

/** What is known of a key: every record up to `head` (id `headId`) judged; `valid` its last valid record. */
export interface KeyState {
  readonly head: number;
  readonly headId: string;
  readonly valid: ValidRecord | null;
}

export function validRecord(r: LeaseRecord): ValidRecord {
  return { seq: r.seq, id: r.id, n: typeof r.link === 'object' ? r.link.n : 0, deleted: r.link === 'deleted', entry: r.entry };
}

const lastOf = (v: ValidRecord | null): LastValid => (v ? { id: v.id, deleted: v.deleted } : null);

/**
 * A key's records judged by the chain rule: its head and last valid record
 * (`prior` when none of the records is valid in `after` mode), and the void
 * records with their reason.
 */
export function keyStateOf(records: readonly LeaseRecord[], start: ChainStart, prior: ValidRecord | null = null): KeyState & { voids: { seq: number; id: string; reason: string }[] } {
  const j = judgeChain(records, start);
  const voids = j.verdicts.flatMap((v, i) => (v.valid ? [] : [{ seq: v.seq, id: records[i]!.id, reason: v.reason }]));
  const last = records[records.length - 1];
  const valid = j.lastValid >= 0 ? validRecord(records[j.lastValid]!) : 'after' in start ? prior : null;
  return { head: last?.seq ?? 0, headId: last?.id ?? '', valid, voids };
}

/**
 * Where a compare-and-set expecting `expectedRevision` (0: the key has no live
 * value) stands, from what is known of the key:
 * - `anchor`: the revision it builds on: the expected revision, or for 0 the
 *   key's delete marker when that is its last valid record (else 0);
 * - `expected`: the key's last record the server must see: the head when
 *   everything after the anchor is known to be void, else the anchor itself.
 */
export function casPlan(expectedRevision: number, known: KeyState | undefined): { anchor: number; expected: number } {
  const anchor = expectedRevision > 0 ? expectedRevision : known?.valid?.deleted ? known.valid.seq : 0;
  const expected = known && known.head > anchor && (known.valid?.seq ?? 0) === anchor ? known.head : anchor;
  return { anchor, expected };
}

/** What a write builds on: the record (null: no live value) and its own link. */
export function linkOnto(on: ValidRecord | null, id: string): { id: string } & ChainLink {
  return on === null || on.deleted ? { id, prev: null, n: 1 } : { id, prev: on.id, n: on.n + 1 };
}

type Proof = { valid: true } | { valid: false; detail: string } | { valid: null; detail: string };

/** Buffered history is delivered at the latest after this long, even if the watch never said it was done. */
const INITIAL_FLUSH_MS = 5000;
/** Records remembered per key (id and generation by revision), for the writes building on them. */
const REMEMBERED_PER_KEY = 64;

export class LeaseStore {
  readonly bucket: string;
  readonly cluster: string;
  readonly prefix: string;
  /** Writes are checked against the chain rule (nats-server#4320 and a replicated bucket, or `chainRule: 'always'`). */
  readonly checksWrites: boolean;
  readonly stats: LeaseStoreStats = { checked: 0, voidWritten: 0, unproven: 0, checkGets: 0, voidSkipped: 0 };
  private readonly kv: KV;
  private readonly jsm: JetStreamManager;
  private readonly log: Logger | undefined;
  private readonly rule: boolean;
  private readonly writeTimeoutMs: number;
  private readonly onVerify: LeaseStoreOptions['onVerify'];
  /**
   * Per key, the latest complete knowledge (from the watch, the checks, the reads); replaced by a later
   * head, or dropped and learnt again from the stream leader when the server refuses a write planned
   * from it or a conflict shows the leader's last record is not the head it names (relearn()).
   */
  private readonly known = new Map<string, KeyState>();
  /** Per key, the records seen lately by revision: what a write building on one of them needs. */
  private readonly seen = new Map<string, Map<number, ValidRecord>>();
  private watching = true;
  private watcher: { stop(): void } | null = null;

  private constructor(kv: KV, jsm: JetStreamManager, opts: LeaseStoreOptions, checksWrites: boolean) {
    this.kv = kv;
    this.jsm = jsm;
    this.cluster = opts.cluster;
    this.bucket = opts.bucket ?? LEASE_BUCKET;
    this.prefix = `${opts.cluster}.`;
    this.log = opts.log;
    this.rule = opts.chainRule !== 'off';
    this.checksWrites = checksWrites;
    this.writeTimeoutMs = opts.writeTimeoutMs;
    this.onVerify = opts.onVerify;
  }

  /** Binds the bucket, creating it first when missing and allowed. Throws KqError with what to do. */
  static async open(opts: LeaseStoreOptions): Promise<LeaseStore> {
    const bucket = opts.bucket ?? LEASE_BUCKET;
    const jsm = await opts.nc.jetstreamManager({ timeout: Math.max(opts.writeTimeoutMs, 2000) });
    const js: JetStreamClient = opts.nc.jetstream({ timeout: opts.writeTimeoutMs });
    let exists = true;
    let replicas = opts.replicas;
    let history = opts.history;
    try {
      const info = await jsm.streams.info(`KV_${bucket}`);
      replicas = info.config.num_replicas;
      history = info.config.max_msgs_per_subject;
      if (replicas !== opts.replicas || history !== opts.history) {
        opts.log?.warn(
          { bucket, replicas, history, configured: { replicas: opts.replicas, history: opts.history } },
          `lease bucket ${bucket} exists with replicas ${replicas} and history ${history}; the configuration says ${opts.replicas} and ${opts.history}; it is used as it is (change it with nats kv or by recreating it)`,
        );
      }
    } catch (e) {
      if ((e as Error).message !== 'stream not found') {
        throw new KqError('KQ_ERR_STREAM_CONFIG', `lease bucket ${bucket}: cannot read its stream KV_${bucket}: ${(e as Error).message}`, undefined, { cause: e });
      }
      exists = false;
    }
    if (!exists && !opts.create) {
      throw new KqError('KQ_ERR_STREAM_CONFIG', `lease bucket ${bucket} does not exist and leases.create is false; create it (nats kv add ${bucket} --replicas ${opts.replicas} --history ${opts.history}) or set leases.create: true`);
    }
    let kv: KV;
    try {
      kv = await js.views.kv(bucket, { history: opts.history, replicas: opts.replicas, bindOnly: exists, timeout: opts.writeTimeoutMs });
    } catch (e) {
      throw new KqError(
        'KQ_ERR_STREAM_CONFIG',
        `lease bucket ${bucket}: cannot ${exists ? 'bind' : `create it with ${opts.replicas} replica(s)`}: ${(e as Error).message}` +
          (opts.replicas > 1 ? ' (R3 needs a JetStream cluster of at least 3 servers)' : ''),
        undefined,
        { cause: e },
      );
    }
    if (!exists) opts.log?.info({ bucket, replicas: opts.replicas, history: opts.history }, 'lease bucket created');
    const version = opts.nc.info?.version;
    const buggy = replicas > 1 && version !== undefined && versionBelow(version, [2, 9, 21]);
    const rule = opts.chainRule ?? 'auto';
    const checksWrites = rule === 'always' || (rule === 'auto' && buggy);
    if (buggy && rule !== 'off') {
      // nats-server#4320: before 2.9.21 a clustered stream checked Nats-Expected-Last-Subject-Sequence
      // before proposing, not in the replicated apply, so two concurrent compare-and-sets naming the
      // same revision could both be stored (measured: both stored in most of the races on 2.9.10).
      opts.log?.warn(
        { bucket, serverVersion: version, replicas, history },
        `nats-server ${version} may store two compare-and-sets on the same revision of a replicated stream (nats-server#4320, fixed in 2.9.21): the chain rule is in force, every lease write is checked on the stream leader after it is stored and counts only if it builds on the key's last valid record (two msg gets more per write); upgrading the NATS servers removes the check`,
      );
    }
    if (rule !== 'off' && history < 2) {
      opts.log?.error(
        { bucket, history },
        `lease bucket ${bucket} keeps ${history} revision per key: a replica that starts after two writes raced cannot tell the void one from the valid one; keep more revisions than there are arbiter replicas (leases.history, default 5)`,
      );
    }
    return new LeaseStore(kv, jsm, opts, checksWrites);
  }

  instanceOf(key: string): string | null {
    return key.startsWith(this.prefix) ? key.slice(this.prefix.length) : null;
  }

  private subjectOf(key: string): string {
    return `$KV.${this.bucket}.${key}`;
  }

  private learn(key: string, state: KeyState): void {
    const cur = this.known.get(key);
    if (!cur || state.head > cur.head) this.known.set(key, { head: state.head, headId: state.headId, valid: state.valid });
  }

  private remember(r: LeaseRecord): LeaseRecord {
    let m = this.seen.get(r.key);
    if (!m) this.seen.set(r.key, (m = new Map()));
    m.set(r.seq, validRecord(r));
    if (m.size > REMEMBERED_PER_KEY) m.delete(m.keys().next().value!);
    return r;
  }

  private decode(key: string, seq: number, operation: string, bytes: Uint8Array): LeaseRecord {
    return this.remember(decodeRecord(key, seq, operation, bytes, this.log));
  }

  /**
   * Drops what this store knew of `key` (`known` and `seen`) and learns it
   * again from the stream leader: its last record (by the leader's numbering,
   * the one its compare-and-set checks) and the key's retained history up to
   * that record, judged as a window. The head may be lower than the one known
   * before: knowledge that ran ahead of the leader (a watch on a replica that
   * numbers records otherwise, a stream recreated, replicas that diverged
   * after server kills) is never kept, or every write planned from it would
   * be refused. When the history does not reach the leader's last record,
   * nothing is known of the key (the next write expects the revision it
   * builds on).
   */
  private async relearn(key: string, why: string): Promise<void> {
    const was = this.known.get(key);
    this.known.delete(key);
    this.seen.delete(key);
    const last = await this.getMsg({ last_by_subj: this.subjectOf(key) });
    if (last === null) {
      this.log?.info({ key, was: was?.head, why }, 'lease key re-learnt from the stream leader: it has no record');
      return;
    }
    const rec = this.recordOf(key, last);
    let valid: ValidRecord | null;
    if (typeof rec.link !== 'object') valid = validRecord(rec);
    else {
      const records = await this.history(key, false);
      const upTo = records.findIndex((r) => r.id === rec.id);
      if (upTo < 0) {
        this.log?.warn({ key, was: was?.head, leader: rec.seq, why }, "lease key re-learnt from the stream leader: the key's history does not show its last record yet; nothing is known of the key until it is read again");
        return;
      }
      const judged = keyStateOf(records.slice(0, upTo + 1), { window: true });
      valid = judged.valid?.id === rec.id ? validRecord(rec) : judged.valid;
    }
    this.known.set(key, { head: rec.seq, headId: rec.id, valid });
    this.log?.info({ key, was: was ? { head: was.head, id: was.headId } : null, now: { head: rec.seq, id: rec.id, valid: valid?.seq ?? null }, why }, 'lease key re-learnt from the stream leader');
  }

  /** The record of `key` at `revision`: remembered, else read from the stream leader; null when it is not one of the key's. */
  private async recordAt(key: string, revision: number): Promise<ValidRecord | null> {
    const mine = this.seen.get(key)?.get(revision);
    if (mine) return mine;
    const m = await this.nextOf(key, revision);
    return m && m.seq === revision ? validRecord(this.recordOf(key, m)) : null;
  }

  /** One compare-and-set. Never throws. */
  async write(w: WriteLeaseAction): Promise<WriteResult> {
    try {
      return await this.writeOnce(w);
    } catch (e) {
      return { outcome: { ok: false, error: 'unavailable', detail: `lease write failed: ${(e as Error).message}` } };
    }
  }

  private async writeOnce(w: WriteLeaseAction): Promise<WriteResult> {
    const known = this.rule ? this.known.get(w.key) : undefined;
    const { anchor, expected } = casPlan(w.expectedRevision, known);
    let on: ValidRecord | null = null;
    if (this.rule && w.expectedRevision > 0) {
      on = await this.recordAt(w.key, w.expectedRevision);
      if (on === null) return this.conflict(w.key, `revision ${w.expectedRevision} is not a record of ${w.key}`);
    } else if (this.rule && known?.valid?.deleted && known.valid.seq === anchor) {
      on = known.valid;
    }
    const link = this.rule ? linkOnto(on, newRecordId()) : undefined;
    let revision: number;
    try {
      revision = await this.kv.put(w.key, encodeLease(w.value, link), { previousSeq: expected });
    } catch (e) {
      if (isWrongLastSequence(e)) {
        // The leader's last record is not the one this store planned on: what it knew of the key is wrong
        // (behind, after another writer, or ahead, numbered otherwise): learnt again before the conflict is answered.
        await this.relearn(w.key, `the server refused the compare-and-set expecting revision ${expected}: ${(e as Error).message}`).catch((err) =>
          this.log?.warn({ key: w.key, err: (err as Error).message }, 'lease key could not be re-learnt from the stream leader'),
        );
        return this.conflict(w.key, (e as Error).message, (e as Error).message);
      }
      const code = (e as { code?: string }).code;
      if (code === 'TIMEOUT' || /timeout/i.test((e as Error).message ?? '')) return { outcome: { ok: false, error: 'timeout', detail: (e as Error).message } };
      return { outcome: { ok: false, error: 'unavailable', detail: `${code ? `${code} ` : ''}${(e as Error).message}` } };
    }
    if (!link) return { outcome: { ok: true, revision } };
    const ours = this.remember({ key: w.key, seq: revision, id: link.id, link: { prev: link.prev, n: link.n }, entry: { revision, value: w.value } });
    if (!this.checksWrites) {
      // The server refused anything but `expected` as the last record: all up to `revision` is known when all up to `expected` was.
      if (known ? known.head === expected : expected === 0) this.learn(w.key, { head: revision, headId: ours.id, valid: validRecord(ours) });
      return { outcome: { ok: true, revision } };
    }
    const proof = await this.prove(w.key, on, expected, ours);
    if (proof.valid === true) return { outcome: { ok: true, revision } };
    if (proof.valid === false) {
      this.stats.voidWritten++;
      this.log?.warn({ key: w.key, revision, builtOn: w.expectedRevision, detail: proof.detail }, 'lease write stored but void by the chain rule (nats-server#4320): answered as a conflict');
      return this.conflict(w.key, `revision ${revision} stored but void: ${proof.detail}`);
    }
    this.stats.unproven++;
    this.log?.warn({ key: w.key, revision, builtOn: w.expectedRevision, detail: proof.detail }, 'lease write stored but not proven valid or void: answered as unavailable');
    return { outcome: { ok: false, error: 'unavailable', detail: `revision ${revision} stored, but whether it won its compare-and-set is unknown: ${proof.detail}` } };
  }

  /** Another writer got there first: the key's current valid entry, for the view to follow. */
  private async conflict(key: string, detail: string, serverMessage?: string): Promise<WriteResult> {
    if (this.rule) {
      // What this store believed the key's head was must be the leader's last record, or be behind it.
      const known = this.known.get(key);
      const last = known ? await this.getMsg({ last_by_subj: this.subjectOf(key) }).catch(() => undefined) : undefined;
      if (known && last !== undefined) {
        const lastId = last === null ? null : this.recordOf(key, last).id;
        const lastSeq = last?.seq ?? 0;
        if (known.head > lastSeq || (known.head === lastSeq && known.headId !== lastId)) {
          await this.relearn(key, `after a conflict, the stream leader's last record is ${last === null ? 'none' : `${lastId} at revision ${lastSeq}`}, not the head this store knew (${known.headId} at revision ${known.head})`).catch(
            (err) => this.log?.warn({ key, err: (err as Error).message }, 'lease key could not be re-learnt from the stream leader'),
          );
        }
      }
    }
    const current = await this.read(key).catch(() => undefined);
    const said = serverMessage ? /last sequence: (\d+)/i.exec(serverMessage) : null;
    const currentRevision = current?.revision ?? (said ? Number(said[1]) : undefined);
    return {
      outcome: { ok: false, error: 'conflict', ...(currentRevision !== undefined ? { currentRevision } : {}), detail },
      ...(current !== undefined ? { current } : {}),
    };
  }

  /** The stored message of `key` at or after `seq` (next_by_subj), from the stream leader; null when there is none. */
  private async nextOf(key: string, seq: number): Promise<StoredMsg | null> {
    return this.getMsg({ seq, next_by_subj: this.subjectOf(key) });
  }

  private async getMsg(query: { seq: number; next_by_subj: string } | { last_by_subj: string }): Promise<StoredMsg | null> {
    try {
      // STREAM.MSG.GET is answered by the stream leader (a direct get could come from a lagging follower).
      return await this.jsm.streams.getMessage(`KV_${this.bucket}`, query as unknown as MsgRequest);
    } catch (e) {
      if ((e as { code?: string }).code === '404' || /no message found/i.test((e as Error).message ?? '')) return null;
      throw e;
    }
  }

  private recordOf(key: string, m: StoredMsg): LeaseRecord {
    return this.decode(key, m.seq, m.header?.get('KV-Operation') || 'PUT', m.data);
  }

  /**
   * Is `ours` (just stored) valid? The server took `expected` as the key's
   * last record, so the records that may have beaten it are those after
   * `expected`: they are read from the stream leader up to ours, and the rule
   * applied from `on`, the record ours builds on (the key's last valid one
   * at `expected`, every record between them being known void). Unproven
   * (null) when they cannot all be read: `expected` is gone from the bucket
   * afterwards (history or purge; then records after it may have gone too)
   * or is another record than the one expected, or ours is not there in time.
   */
  private async prove(key: string, on: ValidRecord | null, expected: number, ours: LeaseRecord): Promise<Proof> {
    const started = performance.now();
    const revision = ours.seq;
    let gets = 0;
    let result: Proof;
    try {
      result = await (async (): Promise<Proof> => {
        const deadline = Date.now() + this.writeTimeoutMs;
        const records: LeaseRecord[] = [];
        for (let from = expected + 1; ; ) {
          gets++;
          const m = await this.nextOf(key, from);
          if (m === null) {
            if (Date.now() < deadline) {
              await new Promise((r) => setTimeout(r, 20));
              continue;
            }
            return { valid: null, detail: `revision ${revision} is not on the stream leader after ${this.writeTimeoutMs} ms` };
          }
          if (m.seq > revision) return { valid: null, detail: `revision ${revision} is no longer in the bucket (history or purge)` };
          records.push(m.seq === revision ? ours : this.recordOf(key, m));
          if (m.seq === revision) break;
          from = m.seq + 1;
        }
        // Read after the records: the bucket drops a key's records oldest first, so while `expected`
        // is still there, none after it was gone when they were read.
        if (expected > 0) {
          gets++;
          const m = await this.nextOf(key, expected);
          if (m === null || m.seq !== expected) return { valid: null, detail: `revision ${expected} is no longer in the bucket (history or purge), so records after it may have gone unread` };
          const was = this.seen.get(key)?.get(expected);
          const is = this.recordOf(key, m);
          if (was && was.id !== is.id) return this.proveByHistory(key, on, ours, deadline, `revision ${expected} on the stream leader is another record (${is.id}) than the one expected (${was.id})`);
        }
        const state = keyStateOf(records, { after: lastOf(on) }, on);
        if (state.valid && state.valid.seq !== on?.seq) this.learn(key, state);
        if (state.valid?.id === ours.id) return { valid: true };
        const winner = records.find((r) => r.id !== ours.id && state.voids.every((v) => v.id !== r.id));
        return {
          valid: false,
          detail: winner ? `revision ${winner.seq} was stored first on the same record (nats-server#4320)` : (state.voids.find((v) => v.id === ours.id)?.reason ?? 'void'),
        };
      })();
    } catch (e) {
      result = { valid: null, detail: `the records after revision ${expected} could not be read: ${(e as Error).message}` };
    }
    this.stats.checked++;
    this.stats.checkGets += gets;
    this.onVerify?.({ key, revision, valid: result.valid, gets, ms: performance.now() - started });
    return result;
  }

  /**
   * The check when the stream's replicas number the records differently (seen
   * on 2.9.10 after server crashes): the revision the server expected is not
   * the record this store knew by it, so the records between cannot be named
   * by revision. The key's retained history is judged instead, by ids alone,
   * from the record ours builds on to ours (waiting for ours to show up).
   */
  private async proveByHistory(key: string, on: ValidRecord | null, ours: LeaseRecord, deadline: number, why: string): Promise<Proof> {
    for (;;) {
      const records = await this.history(key);
      const mine = records.findIndex((r) => r.id === ours.id);
      const from = on === null ? -1 : records.findIndex((r) => r.id === on.id);
      if (mine >= 0) {
        if (on !== null && (from < 0 || from > mine)) return { valid: null, detail: `${why}, and the record it builds on (${on.id}) is not in the key's history before it` };
        if (on === null && mine > 0 && records.slice(0, mine).some((r) => typeof r.link === 'object')) {
          return { valid: null, detail: `${why}, and a create cannot be judged from a history with records before it` };
        }
        const state = keyStateOf(records.slice(from + 1, mine + 1), { after: lastOf(on) }, on);
        if (state.valid?.id === ours.id) return { valid: true };
        return { valid: false, detail: `${why}; by the key's history: ${state.voids.find((v) => v.id === ours.id)?.reason ?? 'void'}` };
      }
      if (Date.now() >= deadline) return { valid: null, detail: `${why}, and the key's history does not show revision ${ours.seq} yet` };
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The key's retained records, oldest first. */
  private async history(key: string, remember = true): Promise<LeaseRecord[]> {
    const out: LeaseRecord[] = [];
    for await (const e of await this.kv.history({ key })) {
      out.push(remember ? this.decode(e.key, e.revision, e.operation, e.value) : decodeRecord(e.key, e.revision, e.operation, e.value, this.log));
    }
    return out;
  }

  /** A key's retained records judged as a window (helped by what is known), learnt. */
  private judgeHistory(key: string, records: LeaseRecord[]): KeyState & { voids: { seq: number; id: string; reason: string }[] } {
    const knownValid = this.known.get(key)?.valid?.id;
    const state = keyStateOf(records, { window: true, ...(knownValid !== undefined ? { knownValid } : {}) });
    this.learn(key, state);
    return state;
  }

  /** The key's current valid entry; null when it has none (never written, deleted or purged). */
  async read(key: string): Promise<LeaseEntry | null> {
    if (!this.rule) {
      const e = await this.kv.get(key);
      if (!e || e.operation !== 'PUT') return null;
      return decodeLease(e.value, e.revision, this.log, key);
    }
    const last = await this.getMsg({ last_by_subj: this.subjectOf(key) });
    if (last === null) return null;
    const rec = this.recordOf(key, last);
    const known = this.known.get(key);
    // The key's last record is valid: it is returned as the stream leader numbers it, the numbering the
    // server's compare-and-set checks (a watch placed on a follower may number records otherwise).
    let lastValid: ValidRecord | null;
    if (known && known.headId === rec.id && known.valid) lastValid = known.valid;
    else if (typeof rec.link !== 'object') lastValid = validRecord(rec);
    else lastValid = this.judgeHistory(key, await this.history(key)).valid;
    if (lastValid?.id === rec.id) {
      this.known.set(key, { head: rec.seq, headId: rec.id, valid: validRecord(rec) });
      return rec.entry;
    }
    return lastValid?.entry ?? null;
  }

  /** Every lease of the cluster, by instance: the valid entries of one pass over the retained history. */
  async readAll(): Promise<Map<string, LeaseEntry>> {
    const byKey = new Map<string, LeaseRecord[]>();
    for await (const e of await this.kv.history({ key: `${this.prefix}>` })) {
      const list = byKey.get(e.key) ?? [];
      list.push(this.decode(e.key, e.revision, e.operation, e.value));
      byKey.set(e.key, list);
    }
    const out = new Map<string, LeaseEntry>();
    for (const [key, records] of byKey) {
      const instance = this.instanceOf(key);
      if (instance === null) continue;
      const entry = this.rule ? this.judgeHistory(key, records).valid?.entry : records[records.length - 1]!.entry;
      if (entry) out.set(instance, entry);
    }
    return out;
  }

  /** Can the bucket be reached (its stream answers)? The write path's evidence between writes. */
  async probe(): Promise<{ ok: true } | { ok: false; detail: string }> {
    try {
      await this.jsm.streams.info(`KV_${this.bucket}`);
      return { ok: true };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }

  /**
   * Calls `onEntry` for the current valid value of every key of the cluster,
   * then for every valid change (null: deleted or purged); void records are
   * skipped, logged and counted. Restarts itself if the watch ends while the
   * store is open.
   *
   * The watch reads the retained history first (the last record of a key may
   * be void, and only its history tells which one is valid), holds it until
   * the history is read, then delivers each key's last valid record.
   */
  watch(onEntry: (instance: string, entry: LeaseEntry | null) => void, onInitialized?: () => void): void {
    const run = async (): Promise<void> => {
      /** This watch's own judgement, record by record. */
      const chains = new Map<string, KeyState>();
      let buffered: Map<string, LeaseRecord[]> | null = new Map();
      /** The history was read to its end (not cut short by the timer): a key seen later is a new key. */
      let complete = false;
      let iterReady = false;
      let natsDone = false;
      const flush = (whole: boolean): void => {
        if (buffered === null) return;
        const held = buffered;
        buffered = null;
        complete = whole;
        clearTimeout(timer);
        for (const [key, records] of held) {
          const instance = this.instanceOf(key);
          if (instance === null) continue;
          const lastRec = records[records.length - 1]!;
          if (!this.rule) {
            chains.set(key, { head: lastRec.seq, headId: lastRec.id, valid: null });
            onEntry(instance, lastRec.entry);
            continue;
          }
          const state = this.judgeHistory(key, records);
          chains.set(key, state);
          if (state.voids.length > 0) this.log?.info({ key, voids: state.voids.map((v) => v.seq) }, 'void lease records in the history (nats-server#4320 races); not read');
          if (state.valid) onEntry(instance, state.valid.entry);
          else this.log?.error({ key, records: records.map((r) => r.seq) }, "no valid lease record in the key's retained history; the key is ignored until its next valid write");
        }
        onInitialized?.();
      };
      const timer = setTimeout(() => {
        if (buffered === null) return;
        this.log?.warn({ bucket: this.bucket }, `the lease watch did not finish reading the history in ${INITIAL_FLUSH_MS} ms; delivering what it has`);
        flush(false);
      }, INITIAL_FLUSH_MS);
      timer.unref();
      const live = (rec: LeaseRecord): void => {
        const instance = this.instanceOf(rec.key);
        if (instance === null) return;
        if (!this.rule) {
          onEntry(instance, rec.entry);
          return;
        }
        const chain = chains.get(rec.key);
        const start: ChainStart = chain?.valid ? { after: lastOf(chain.valid) } : chain || !complete ? { window: true } : { after: null };
        const verdict = 'after' in start ? judgeRecord(start.after, rec) : judgeChain([rec], start).verdicts[0]!;
        if (verdict.valid) {
          const state = { head: rec.seq, headId: rec.id, valid: validRecord(rec) };
          chains.set(rec.key, state);
          this.learn(rec.key, state);
          onEntry(instance, rec.entry);
        } else {
          const state = { head: rec.seq, headId: rec.id, valid: chain?.valid ?? null };
          chains.set(rec.key, state);
          this.learn(rec.key, state);
          this.stats.voidSkipped++;
          this.log?.warn({ key: rec.key, revision: rec.seq, id: rec.id, reason: verdict.reason }, 'void lease record skipped (a compare-and-set the server should have refused, nats-server#4320)');
        }
      };
      try {
        const iter = await this.kv.watch({
          key: `${this.prefix}>`,
          include: KvWatchInclude.AllHistory,
          initializedFn: () => {
            natsDone = true;
            // Called in order after the records before it, except when the history was empty or already
            // queued while the watch was being set up: then the first record with nothing pending ends it.
            if (iterReady) flush(true);
          },
        });
        this.watcher = iter;
        iterReady = true;
        if (natsDone && iter.getReceived() === 0) flush(true);
        for await (const e of iter as AsyncIterable<KvEntry>) {
          const rec = this.decode(e.key, e.revision, e.operation, e.value);
          if (buffered !== null) {
            const list = buffered.get(rec.key) ?? [];
            list.push(rec);
            buffered.set(rec.key, list);
            if (e.delta === 0) flush(true);
            continue;
          }
          live(rec);
        }
      } finally {
        clearTimeout(timer);
      }
      flush(false);
    };
    const loop = async (): Promise<void> => {
      while (this.watching) {
        try {
          await run();
        } catch (e) {
          this.log?.warn({ err: (e as Error).message }, 'lease watch ended; starting it again');
        }
        if (this.watching) await new Promise((r) => setTimeout(r, 250));
      }
    };
    void loop();
  }

  /**
   * Ends the current watch so that the loop starts a new one, which delivers
   * every key's current value again. After NATS reconnected, the old watch's
   * consumer may be gone with the servers (a full restart): nothing would
   * come through it any more.
   */
  restartWatch(): void {
    if (!this.watching) return;
    this.log?.info({ bucket: this.bucket }, 'lease watch restarted after a reconnect');
    this.watcher?.stop();
  }

  close(): void {
    this.watching = false;
    this.watcher?.stop();
  }
}
