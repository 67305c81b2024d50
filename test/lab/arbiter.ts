/**
 * keepquorum's arbiter (bin/ha-arbiter) as replicas in the lab's arb1/arb2
 * namespaces, each with a configuration generated here (written as JSON, which
 * the arbiter reads as YAML), read through its JSON log (decisions, fence
 * results, readiness) and its HTTP API (curl from a lab namespace).
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError, type LabHost, type LabProcess } from './lab.js';

export const HA_ARBITER = fileURLToPath(new URL('../../../bin/ha-arbiter', import.meta.url));
export const ARBITER_HTTP_PORT = 8440;

export interface ArbiterInstanceSpec {
  name: string;
  mode?: 'strict' | 'failsafe' | 'off';
  fencing?: 'off' | 'best-effort' | 'required';
  /** Must be the agents' advert interval: both sides derive the lease timing from it. */
  advertIntervalMs: number;
  members?: string[];
  timing?: Record<string, number>;
}

export interface ArbiterNodeSpec {
  address?: string;
  fencing?: Record<string, unknown>;
}

export interface ArbiterLabConfig {
  cluster: string;
  natsUrls: readonly string[];
  instances: ArbiterInstanceSpec[];
  /** Pinged by the arbiter; required for fencing. */
  gateway?: string;
  nodes?: Record<string, ArbiterNodeSpec>;
  /** Bearer tokens of the HTTP API, NAME -> TOKEN; the API listens on the replica's address. */
  tokens?: Record<string, string>;
  warmupMs?: number;
  missed?: number;
  writeTimeoutMs?: number;
  /** Raw overrides merged into the document last. */
  extra?: Record<string, unknown>;
}

export interface ArbiterDecision {
  request: string;
  instance: string;
  node?: string;
  decision: string;
  reason: string;
  /** CLOCK_MONOTONIC ns when the test read the line. */
  seenNs: bigint;
}

export interface ArbiterHandle {
  readonly host: LabHost;
  readonly replica: string;
  readonly process: LabProcess;
  readonly confPath: string;
  /** http://<address>:8440, or undefined without tokens. */
  readonly apiUrl: string | undefined;
  readonly decisions: ArbiterDecision[];
  /** Every parsed JSON log record. */
  readonly records: Record<string, unknown>[];
  waitForDecision(pred: (d: ArbiterDecision) => boolean, timeoutMs: number, what?: string): Promise<ArbiterDecision>;
  waitForRecord(pred: (r: Record<string, unknown>) => boolean, timeoutMs: number, what?: string): Promise<Record<string, unknown>>;
  stop(graceMs?: number): Promise<void>;
  kill(): Promise<void>;
}

/** The document startArbiter writes for one replica (exported for tests of the generator). */
export function arbiterConfigDocument(host: LabHost, replica: string, c: ArbiterLabConfig): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    cluster: c.cluster,
    replica,
    stateDir: join(host.lab.dir, `${host.name}-${replica}-state`),
    nats: { servers: [...c.natsUrls] },
    leases: { replicas: c.natsUrls.length >= 3 ? 3 : 1, ...(c.writeTimeoutMs ? { writeTimeoutMs: c.writeTimeoutMs } : {}) },
    heartbeats: { missed: c.missed ?? 3, warmupMs: c.warmupMs ?? 1000 },
    nodes: c.nodes ?? {},
    instances: c.instances,
  };
  if (c.gateway) doc['gateway'] = { address: c.gateway, intervalMs: 200, timeoutMs: 150 };
  return { ...doc, ...(c.extra ?? {}) };
}

/** Start one replica in `host`; resolves once it answers requests ("arbiter ready"). */
export async function startArbiter(host: LabHost, replica: string, c: ArbiterLabConfig, opts: { logLevel?: string; readyTimeoutMs?: number; name?: string } = {}): Promise<ArbiterHandle> {
  const doc = arbiterConfigDocument(host, replica, c);
  let apiUrl: string | undefined;
  if (c.tokens) {
    const tokensFile = join(host.lab.dir, `${host.name}-${replica}.tokens`);
    writeFileSync(tokensFile, Object.entries(c.tokens).map(([n, t]) => `${n} ${t}\n`).join(''), { mode: 0o600 });
    chmodSync(tokensFile, 0o600);
    doc['http'] = { listen: `${host.ipv4}:${ARBITER_HTTP_PORT}`, tokensFile };
    apiUrl = `http://${host.ipv4}:${ARBITER_HTTP_PORT}`;
  }
  mkdirSync(doc['stateDir'] as string, { recursive: true });
  const name = opts.name ?? replica;
  const confPath = join(host.lab.dir, `${host.name}-${name}.json`);
  writeFileSync(confPath, JSON.stringify(doc, null, 2));
  const proc = host.spawnNode(name, HA_ARBITER, ['--config', confPath, '--log-level', opts.logLevel ?? 'info'], { captureStdout: true });
  const decisions: ArbiterDecision[] = [];
  const records: Record<string, unknown>[] = [];
  const listeners = new Set<() => void>();
  proc.onLine((line) => {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    records.push(rec);
    if (rec['msg'] === 'decision') {
      decisions.push({
        request: String(rec['request']),
        instance: String(rec['instance']),
        ...(typeof rec['node'] === 'string' ? { node: rec['node'] } : {}),
        decision: String(rec['decision']),
        reason: String(rec['reason']),
        seenNs: process.hrtime.bigint(),
      });
    }
    for (const l of [...listeners]) l();
  });
  const waitOn = <T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> => {
    const now = probe();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v === undefined) return;
        clearTimeout(timer);
        listeners.delete(check);
        resolve(v);
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new LabError(`${proc.name}: ${what} not within ${timeoutMs} ms (log: ${proc.logFile})`));
      }, timeoutMs);
      listeners.add(check);
    });
  };
  await proc.waitForLine((l) => l.includes('"arbiter ready'), opts.readyTimeoutMs ?? 20_000);
  return {
    host,
    replica,
    process: proc,
    confPath,
    apiUrl,
    decisions,
    records,
    waitForDecision: (pred, timeoutMs, what = 'a matching decision') => waitOn(what, () => decisions.find(pred), timeoutMs),
    waitForRecord: (pred, timeoutMs, what = 'a matching log line') => waitOn(what, () => records.find(pred), timeoutMs),
    stop: (graceMs = 5000) => proc.stop(graceMs),
    async kill() {
      proc.signal('SIGKILL');
      await proc.exited;
    },
  };
}

export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** An HTTP request to an arbiter's API from inside `from` (curl in that namespace). */
export async function arbiterApi(from: LabHost, url: string, method: 'GET' | 'POST', path: string, opts: { token?: string; body?: unknown; timeoutMs?: number } = {}): Promise<ApiAnswer> {
  const args = ['-s', '--max-time', String((opts.timeoutMs ?? 10_000) / 1000), '-w', '\n%{http_code}', '-X', method];
  if (opts.token) args.push('-H', `Authorization: Bearer ${opts.token}`);
  if (opts.body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(opts.body));
  args.push(`${url}${path}`);
  const out = await from.exec('curl', args, { allowFail: true });
  const nl = out.lastIndexOf('\n');
  const status = nl >= 0 ? Number.parseInt(out.slice(nl + 1), 10) : 0;
  let body: unknown = out.slice(0, Math.max(0, nl));
  try {
    body = JSON.parse(body as string);
  } catch {
    // not JSON: kept as text
  }
  return { status: Number.isInteger(status) ? status : 0, body };
}
