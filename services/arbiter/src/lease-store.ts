/**
 * The lease KV (`HA_LEASES`): the only place a lease changes, and only by
 * compare-and-set on the key's revision, so any number of arbiter replicas may
 * write without electing a leader (ARCHITECTURE.md, Leases).
 *
 * - The bucket is created when missing with the replicas the config chose (R1 on
 *   one server, R3 on a cluster: a minority partition cannot write, so it cannot
 *   grant) and never changed afterwards; a bucket that differs is reported.
 * - write(): `kv.create` for expectedRevision 0 (the key must not exist),
 *   `kv.update(key, value, revision)` otherwise; the result is a WriteOutcome:
 *   ok with the new revision, `conflict` (another writer got there first; the
 *   current entry is read back so the view can follow at once), or
 *   `unavailable` / `timeout` (the write may or may not have happened).
 * - watch(): every change of the cluster's keys, ours and the other replicas',
 *   so the view follows the KV.
 */
import type { JetStreamClient, JetStreamManager, KV, KvEntry, NatsConnection } from 'nats';
import { z } from 'zod';
import { KqError } from '../../../libs/common/src/errors.js';
import type { Logger } from '../../../libs/common/src/log.js';
import { LEASE_BUCKET } from '../../../libs/arbiter/src/protocol.js';
import type { LeaseEntry, LeaseValue, WriteLeaseAction, WriteOutcome } from '../../../libs/arbiter/src/types.js';

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
}

export type WriteResult = { outcome: WriteOutcome; current?: LeaseEntry | null };

/** A KV value that does not decode: counted and logged, folded as a free lease that keeps its epoch. */
export function decodeLease(bytes: Uint8Array, revision: number, log?: Logger, key?: string): LeaseEntry {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    json = undefined;
  }
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

export function encodeLease(value: LeaseValue): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
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

export class LeaseStore {
  readonly bucket: string;
  readonly cluster: string;
  readonly prefix: string;
  private readonly kv: KV;
  private readonly jsm: JetStreamManager;
  private readonly log: Logger | undefined;
  private watching = true;
  private watcher: { stop(): void } | null = null;

  private constructor(kv: KV, jsm: JetStreamManager, opts: LeaseStoreOptions) {
    this.kv = kv;
    this.jsm = jsm;
    this.cluster = opts.cluster;
    this.bucket = opts.bucket ?? LEASE_BUCKET;
    this.prefix = `${opts.cluster}.`;
    this.log = opts.log;
  }

  /** Binds the bucket, creating it first when missing and allowed. Throws KqError with what to do. */
  static async open(opts: LeaseStoreOptions): Promise<LeaseStore> {
    const bucket = opts.bucket ?? LEASE_BUCKET;
    const jsm = await opts.nc.jetstreamManager({ timeout: Math.max(opts.writeTimeoutMs, 2000) });
    const js: JetStreamClient = opts.nc.jetstream({ timeout: opts.writeTimeoutMs });
    let exists = true;
    try {
      const info = await jsm.streams.info(`KV_${bucket}`);
      const replicas = info.config.num_replicas;
      const history = info.config.max_msgs_per_subject;
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
    if (opts.replicas > 1 && version !== undefined && versionBelow(version, [2, 9, 21])) {
      // nats-server#4320: before 2.9.21 a clustered stream checked Nats-Expected-Last-Subject-Sequence
      // before proposing, not in the replicated apply, so two concurrent compare-and-sets naming the
      // same revision could both be stored (seen in the lab: a renewal stored on top of a release).
      opts.log?.error(
        { bucket, serverVersion: version },
        `nats-server ${version} may accept two compare-and-sets on the same revision of a replicated stream (nats-server#4320, fixed in 2.9.21): the lease is not safe from two replicas writing at once; upgrade the NATS servers`,
      );
    }
    return new LeaseStore(kv, jsm, opts);
  }

  instanceOf(key: string): string | null {
    return key.startsWith(this.prefix) ? key.slice(this.prefix.length) : null;
  }

  /** One compare-and-set. Never throws. */
  async write(w: WriteLeaseAction): Promise<WriteResult> {
    const data = encodeLease(w.value);
    try {
      const revision = w.expectedRevision === 0 ? await this.kv.create(w.key, data) : await this.kv.update(w.key, data, w.expectedRevision);
      return { outcome: { ok: true, revision } };
    } catch (e) {
      if (isWrongLastSequence(e)) {
        const current = await this.read(w.key).catch(() => undefined);
        const said = /last sequence: (\d+)/i.exec((e as Error).message ?? '');
        const currentRevision = current?.revision ?? (said ? Number(said[1]) : undefined);
        return {
          outcome: { ok: false, error: 'conflict', ...(currentRevision !== undefined ? { currentRevision } : {}), detail: (e as Error).message },
          ...(current !== undefined ? { current } : {}),
        };
      }
      const code = (e as { code?: string }).code;
      if (code === 'TIMEOUT' || /timeout/i.test((e as Error).message ?? '')) return { outcome: { ok: false, error: 'timeout', detail: (e as Error).message } };
      return { outcome: { ok: false, error: 'unavailable', detail: `${code ? `${code} ` : ''}${(e as Error).message}` } };
    }
  }

  /** The key's current entry; null when it does not exist (or was deleted). */
  async read(key: string): Promise<LeaseEntry | null> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT') return null;
    return decodeLease(e.value, e.revision, this.log, key);
  }

  /** Every lease of the cluster, by instance. */
  async readAll(): Promise<Map<string, LeaseEntry>> {
    const out = new Map<string, LeaseEntry>();
    const keys: string[] = [];
    for await (const k of await this.kv.keys(`${this.prefix}>`)) keys.push(k);
    for (const k of keys) {
      const instance = this.instanceOf(k);
      const entry = await this.read(k);
      if (instance !== null && entry) out.set(instance, entry);
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
   * Calls `onEntry` for the current value of every key of the cluster, then for
   * every change (null: deleted or purged). Restarts itself if the watch ends
   * while the store is open.
   */
  watch(onEntry: (instance: string, entry: LeaseEntry | null) => void, onInitialized?: () => void): void {
    const run = async (): Promise<void> => {
      let initialized = false;
      const iter = await this.kv.watch({
        key: `${this.prefix}>`,
        initializedFn: () => {
          initialized = true;
          onInitialized?.();
        },
      });
      this.watcher = iter;
      for await (const e of iter as AsyncIterable<KvEntry>) {
        const instance = this.instanceOf(e.key);
        if (instance === null) continue;
        onEntry(instance, e.operation === 'PUT' ? decodeLease(e.value, e.revision, this.log, e.key) : null);
      }
      if (!initialized) onInitialized?.();
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
