/**
 * hactl's arbiter commands: failover, fence and status. failover and fence ask
 * an arbiter's HTTP API (services/arbiter/src/http-api.ts); status reads an
 * arbiter's /v1/status, or the KV bucket HA_LEASES straight from NATS.
 *
 * Argument parsing is pure (parse*Args) and tested on its own; the run*
 * functions do the I/O and return the exit code (EXIT in arbiter-client.ts).
 */
import { parseArgs } from 'node:util';
import { connect, type KV, type NatsConnection } from 'nats';
import { LEASE_BUCKET } from '../../../libs/arbiter/src/protocol.js';
import { natsConnectOptions, type NatsSettings } from '../../../libs/events/src/mod.js';
import { arbiterUrls, call, callFirst, EXIT, loadToken, UsageError, type Attempt } from './arbiter-client.js';
import { parseAge } from './events-commands.js';
import { NATS_USAGE, takeNatsFlags } from './nats-options.js';
import { formatDuration, headerLine, rowsFromKv, rowsFromStatus, statusJsonLines, statusTable, type KvEntry, type StatusRow } from './status-view.js';

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const NAME_RULE = 'letters, digits, "-" and "_", 1 to 64 characters';

const ARBITER_USAGE = `Arbiter:
  --arbiter URL[,URL...]   the arbiters' HTTP API (http.listen), tried in order; default $KQ_ARBITER_URL.
                           The next one is asked only when the previous could not be connected to.
  --token-file FILE        the bearer token, alone on one line (mode 0600); default $KQ_ARBITER_TOKEN.
                           It is sent in the Authorization header and never printed.
  --cluster NAME           only an arbiter of this cluster (one that serves another is passed over)`;

export const EXIT_USAGE = `Exit codes:
  0  accepted (failover --wait: the target holds the lease)
  1  no usable answer (HTTP 5xx, not JSON, no answer once asked, NATS unreadable):
     the outcome is unknown, look with 'hactl status'
  2  usage: a flag or value is wrong, no token, the token file cannot be read
  3  refused by the arbiter (HTTP 409); its reason is printed
  4  unauthorized (HTTP 401): the arbiter did not accept the token
  5  bad request (HTTP 400) or unknown instance / node without fencing (HTTP 404)
  6  no arbiter reachable (or none serves --cluster)
  7  failover --wait: accepted, but the target did not hold the lease within --timeout
  8  fence: the fence failed or was not confirmed (HTTP 502)`;

export const FAILOVER_USAGE = `hactl failover INSTANCE [--to NODE] [--cluster NAME] [--wait [--timeout AGE]] [--json]

Asks an arbiter to move INSTANCE's lease away from its holder: the holder's
epoch is revoked, it is ordered to demote, and the target (--to NODE, or the
best other member the arbiter finds) is granted once the holder confirms.
Prints the arbiter's decision and its reason.

  --to NODE        the node to move to (default: the arbiter chooses)
  --wait           follow until the target holds the lease, and print how long it took.
                   Reads HA_LEASES through NATS when a NATS flag (or $KQ_NATS_URL) is given,
                   else polls the arbiter's /v1/status
  --timeout AGE    how long --wait follows (default 30s); AGE: 500ms, 30s, 2m
  --json           one JSON object on stdout: {command, outcome, exit, status, decision, reason, ...}
  --request-timeout AGE   how long the arbiter's answer may take once asked (default 30s)

${ARBITER_USAGE}

${NATS_USAGE.replace('--token T', '--nats-token T')}

${EXIT_USAGE}`;

export const FENCE_USAGE = `hactl fence NODE [--cluster NAME] [--json]

Asks an arbiter to fence NODE now (power it off or isolate it through the
node's fencing backend: a signed webhook or a fence agent), and waits for the
result. A confirmed fence counts for whatever lease NODE holds.

  --json           one JSON object on stdout: {command, outcome, exit, status, node, ok, confirmed, reason, ...}
  --request-timeout AGE   how long the answer may take once asked (default 120s: a fence takes a while)

${ARBITER_USAGE}

${EXIT_USAGE}`;

export const STATUS_USAGE = `hactl status [--cluster NAME] [--arbiter URL[,URL...] | --kv] [--json]

Every instance with its lease holder, epoch and expiry (relative to now).
With an arbiter (--arbiter, or $KQ_ARBITER_URL): the first arbiter that answers
(of --cluster, when given), with each instance's mode, fencing, members (state,
priority, VIP, connection) as it sees them. Without one (or with --kv): straight
from the KV bucket HA_LEASES through NATS, every cluster unless --cluster; the
expiry is then counted on this host's clock.

  --kv             read HA_LEASES even when $KQ_ARBITER_URL is set
  --json           one object per instance per line (NDJSON)
  --request-timeout AGE   how long an answer may take (default 10s)

${ARBITER_USAGE.split('\n').filter((l) => !l.includes('--token-file') && !l.includes('Authorization')).join('\n')}

${NATS_USAGE}

Exit codes: 0 shown, 1 cannot read (NATS, no bucket HA_LEASES, a bad answer), 2 usage,
6 no arbiter reachable (or none serves --cluster).`;

/** The NATS flags takeNatsFlags knows (to tell whether any was given). */
const NATS_FLAGS = new Set(['--nats', '--user', '--password', '--token', '--creds', '--nkey', '--tls-ca', '--tls-cert', '--tls-key']);

function checkName(value: string, what: string): string {
  if (!NAME.test(value)) throw new UsageError(`${what} '${value}': ${NAME_RULE}`);
  return value;
}

function age(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  let ms: number;
  try {
    ms = parseAge(value, flag);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (ms <= 0) throw new UsageError(`${flag} '${value}': must be more than 0`);
  return ms;
}

interface Common {
  readonly urls: URL[] | null;
  readonly cluster?: string;
  readonly tokenFile?: string;
  readonly requestTimeoutMs: number;
  readonly json: boolean;
  readonly nats: NatsSettings;
  /** A NATS flag or $KQ_NATS_URL was given. */
  readonly natsGiven: boolean;
}

export interface FailoverArgs extends Common {
  readonly instance: string;
  readonly to?: string;
  readonly wait: boolean;
  readonly timeoutMs: number;
}
export interface FenceArgs extends Common {
  readonly node: string;
}
export interface StatusArgs extends Common {
  readonly kv: boolean;
}

const COMMON_OPTIONS = {
  arbiter: { type: 'string' },
  'token-file': { type: 'string' },
  cluster: { type: 'string' },
  'request-timeout': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parseCommon(
  command: string,
  args: string[],
  extra: Record<string, { type: 'string' | 'boolean'; default?: boolean }>,
  env: NodeJS.ProcessEnv,
): { values: Record<string, string | boolean | undefined>; positionals: string[]; common: Omit<Common, 'urls' | 'requestTimeoutMs'>; help: boolean } {
  const given = args.filter((a) => NATS_FLAGS.has(a) || a === '--nats-token');
  if (given.includes('--token') && command !== 'status') {
    throw new UsageError(`--token is the NATS token (--nats-token here); the arbiter's bearer token comes from --token-file FILE or $KQ_ARBITER_TOKEN (never the command line, where ps shows it)`);
  }
  let taken: { settings: NatsSettings; rest: string[] };
  try {
    // --nats-token: NATS's token where --token would be taken for the arbiter's.
    taken = takeNatsFlags(args.map((a) => (a === '--nats-token' ? '--token' : a)));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: taken.rest, options: { ...COMMON_OPTIONS, ...extra }, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (e) {
    throw new UsageError((e as Error).message.split('. To specify a positional')[0]!);
  }
  const { values, positionals } = parsed;
  const cluster = typeof values['cluster'] === 'string' ? checkName(values['cluster'], '--cluster') : undefined;
  return {
    values,
    positionals,
    help: values['help'] === true,
    common: {
      ...(cluster !== undefined ? { cluster } : {}),
      ...(typeof values['token-file'] === 'string' ? { tokenFile: values['token-file'] } : {}),
      json: values['json'] === true,
      nats: taken.settings,
      natsGiven: given.length > 0 || (env['KQ_NATS_URL'] ?? '').trim() !== '',
    },
  };
}

function onePositional(positionals: string[], what: string, command: string): string {
  if (positionals.length === 0) throw new UsageError(`${command} needs ${what}`);
  if (positionals.length > 1) throw new UsageError(`${command} takes one ${what}, found ${positionals.length}: ${positionals.join(' ')}`);
  return checkName(positionals[0]!, what);
}

function needArbiters(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): URL[] {
  const urls = arbiterUrls(values['arbiter'] as string | undefined, env);
  if (!urls) throw new UsageError('no arbiter: give --arbiter URL[,URL...] or set $KQ_ARBITER_URL');
  return urls;
}

/** `hactl failover` arguments; null means --help. Throws UsageError naming the flag or value. */
export function parseFailoverArgs(args: string[], env: NodeJS.ProcessEnv = process.env): FailoverArgs | null {
  const p = parseCommon('failover', args, { to: { type: 'string' }, wait: { type: 'boolean', default: false }, timeout: { type: 'string' } }, env);
  if (p.help) return null;
  const instance = onePositional(p.positionals, 'INSTANCE', 'failover');
  const wait = p.values['wait'] === true;
  if (p.values['timeout'] !== undefined && !wait) throw new UsageError('--timeout is how long --wait follows; give --wait too');
  const natsFlag = args.find((a) => NATS_FLAGS.has(a) || a === '--nats-token');
  if (!wait && natsFlag) throw new UsageError(`${natsFlag}: NATS is only read with --wait`);
  const to = typeof p.values['to'] === 'string' ? checkName(p.values['to'], '--to') : undefined;
  return {
    ...p.common,
    urls: needArbiters(p.values, env),
    requestTimeoutMs: age(p.values['request-timeout'] as string | undefined, '--request-timeout', 30_000),
    instance,
    ...(to !== undefined ? { to } : {}),
    wait,
    timeoutMs: age(p.values['timeout'] as string | undefined, '--timeout', 30_000),
  };
}

export function parseFenceArgs(args: string[], env: NodeJS.ProcessEnv = process.env): FenceArgs | null {
  const p = parseCommon('fence', args, {}, env);
  if (p.help) return null;
  const node = onePositional(p.positionals, 'NODE', 'fence');
  const nats = args.find((a) => NATS_FLAGS.has(a) || a === '--nats-token');
  if (nats) throw new UsageError(`${nats}: fence does not read NATS`);
  return { ...p.common, urls: needArbiters(p.values, env), requestTimeoutMs: age(p.values['request-timeout'] as string | undefined, '--request-timeout', 120_000), node };
}

export function parseStatusArgs(args: string[], env: NodeJS.ProcessEnv = process.env): StatusArgs | null {
  const p = parseCommon('status', args, { kv: { type: 'boolean', default: false } }, env);
  if (p.help) return null;
  if (p.positionals.length > 0) throw new UsageError(`status takes no arguments, found ${p.positionals.join(' ')}; use --cluster NAME`);
  if (p.common.tokenFile !== undefined) throw new UsageError('--token-file: status needs no token (GET /v1/status is open)');
  const kv = p.values['kv'] === true;
  if (kv && p.values['arbiter'] !== undefined) throw new UsageError('--kv and --arbiter: choose one source');
  const urls = kv ? null : arbiterUrls(p.values['arbiter'] as string | undefined, env);
  const nats = args.find((a) => NATS_FLAGS.has(a));
  if (urls && nats) throw new UsageError(`${nats}: NATS is read only without an arbiter (no --arbiter and no $KQ_ARBITER_URL, or --kv)`);
  return { ...p.common, urls, requestTimeoutMs: age(p.values['request-timeout'] as string | undefined, '--request-timeout', 10_000), kv };
}

// ---------------------------------------------------------------------------
// Running them

type Out = { stdout: (s: string) => void; stderr: (s: string) => void };
const STD: Out = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };

function usageFailure(command: string, e: unknown, usage: string, out: Out): number {
  if (!(e instanceof UsageError)) throw e;
  out.stderr(`hactl ${command}: ${e.message}\n\nUsage: ${usage.split('\n')[0]}\n('hactl ${command} --help' for every option)\n`);
  return EXIT.usage;
}

/** How an arbiter's answer to a POST maps to an outcome and an exit code. */
export function classify(status: number, command: 'failover' | 'fence'): { outcome: string; exit: number } {
  if (status === 200) return { outcome: command === 'fence' ? 'confirmed' : 'accepted', exit: EXIT.ok };
  if (status === 409) return { outcome: 'refused', exit: EXIT.refused };
  if (status === 401) return { outcome: 'unauthorized', exit: EXIT.unauthorized };
  if (status === 400 || status === 404) return { outcome: 'badRequest', exit: EXIT.badRequest };
  if (status === 502 && command === 'fence') return { outcome: 'fenceFailed', exit: EXIT.fenceFailed };
  return { outcome: 'failed', exit: EXIT.failed };
}

interface Lease {
  holder: string | null;
  epoch: number | null;
  reservedFor?: string;
}

function statusAccept(cluster: string | undefined) {
  return (a: Extract<Attempt, { kind: 'answer' }>): string | null => {
    if (a.status !== 200) return `GET /v1/status answered HTTP ${a.status}${typeof a.body['error'] === 'string' ? `: ${a.body['error']}` : ''}`;
    const c = a.body['cluster'];
    if (cluster !== undefined && c !== cluster) return `serves cluster ${String(c)}, not ${cluster}`;
    return null;
  };
}

/**
 * POSTs to the arbiters in order. With `cluster` (or when the current lease is
 * wanted) each is first asked for /v1/status: one of another cluster is passed
 * over; the POST goes to the first that fits.
 */
async function post(
  urls: readonly URL[],
  path: string,
  body: unknown,
  token: string,
  timeoutMs: number,
  opts: { cluster?: string; wantStatus: boolean },
): Promise<{ attempt: Attempt | null; passed: string[]; status?: Record<string, unknown>; base?: URL }> {
  const passed: string[] = [];
  const accept = statusAccept(opts.cluster);
  for (const u of urls) {
    let status: Record<string, unknown> | undefined;
    if (opts.cluster !== undefined || opts.wantStatus) {
      const s = await call(u, { method: 'GET', path: '/v1/status', timeoutMs });
      if (s.kind !== 'answer') {
        passed.push(`${s.url}: ${s.kind === 'unreachable' ? 'unreachable' : 'no status'}: ${s.detail}`);
        continue;
      }
      const why = accept(s);
      if (why !== null) {
        passed.push(`${s.url}: ${why}`);
        continue;
      }
      status = s.body;
    }
    const a = await call(u, { method: 'POST', path, body, token, timeoutMs });
    if (a.kind === 'unreachable') {
      passed.push(`${a.url}: unreachable: ${a.detail}`);
      continue;
    }
    return { attempt: a, passed, ...(status ? { status } : {}), base: u };
  }
  return { attempt: null, passed };
}

function leaseOf(status: Record<string, unknown> | undefined, instance: string): Lease | null {
  if (!status) return null;
  const row = rowsFromStatus(status, '').rows.find((r) => r.instance === instance);
  return row ? { holder: row.holder, epoch: row.epoch, ...(row.reservedFor ? { reservedFor: row.reservedFor } : {}) } : null;
}

function describeLease(l: Lease | null): string {
  if (!l) return 'no lease seen';
  return `holder ${l.holder ?? '-'}, epoch ${l.epoch ?? '-'}${l.reservedFor ? `, reserved for ${l.reservedFor}` : ''}`;
}

/** The failover is done: someone other than the old holder (the target, when named) holds a later epoch. */
export function failoverDone(prior: Lease | null, now: Lease | null, to: string | undefined): boolean {
  if (!now || now.holder === null || now.epoch === null) return false;
  if (prior && prior.epoch !== null && now.epoch <= prior.epoch) return false;
  if (to !== undefined) return now.holder === to;
  return !prior || now.holder !== prior.holder;
}

function unreachableReport(command: string, passed: string[], cluster: string | undefined, out: Out): void {
  out.stderr(`hactl ${command}: no arbiter reachable${cluster ? ` for cluster ${cluster}` : ''}:\n${passed.map((p) => `  ${p}\n`).join('')}`);
}

async function waitWithNats(settings: NatsSettings, key: string, prior: Lease | null, to: string | undefined, timeoutMs: number): Promise<{ done: Lease | null; last: Lease | null }> {
  let nc: NatsConnection;
  try {
    nc = await connect({ ...natsConnectOptions(settings), maxReconnectAttempts: 0, timeout: Math.min(timeoutMs, 5000) });
  } catch (e) {
    throw new Error(`--wait: cannot connect to NATS ${settings.servers.join(',')}: ${(e as Error).message}`);
  }
  try {
    let watch: Awaited<ReturnType<KV['watch']>>;
    try {
      const kv = await nc.jetstream().views.kv(LEASE_BUCKET, { bindOnly: true });
      watch = await kv.watch({ key });
    } catch (e) {
      throw new Error(`--wait: the KV bucket ${LEASE_BUCKET} cannot be read on ${settings.servers.join(',')}: ${(e as Error).message}`);
    }
    let last: Lease | null = null;
    const timer = setTimeout(() => watch.stop(), timeoutMs);
    try {
      for await (const e of watch) {
        if (e.operation !== 'PUT') continue;
        const [row] = rowsFromKv([{ key: e.key, revision: e.revision, value: safeJson(e.value) }], Date.now());
        if (!row) continue;
        last = { holder: row.holder, epoch: row.epoch, ...(row.reservedFor ? { reservedFor: row.reservedFor } : {}) };
        if (failoverDone(prior, last, to)) {
          watch.stop();
          return { done: last, last };
        }
      }
    } finally {
      clearTimeout(timer);
    }
    return { done: null, last };
  } finally {
    await nc.close().catch(() => undefined);
  }
}

async function waitWithApi(urls: readonly URL[], instance: string, cluster: string, prior: Lease | null, to: string | undefined, timeoutMs: number, requestTimeoutMs: number): Promise<{ done: Lease | null; last: Lease | null }> {
  const deadline = Date.now() + timeoutMs;
  let last: Lease | null = null;
  for (;;) {
    const { attempt } = await callFirst(urls, { method: 'GET', path: '/v1/status', timeoutMs: Math.min(requestTimeoutMs, Math.max(100, deadline - Date.now())) }, statusAccept(cluster));
    if (attempt?.kind === 'answer') {
      last = leaseOf(attempt.body, instance);
      if (failoverDone(prior, last, to)) return { done: last, last };
    }
    if (Date.now() >= deadline) return { done: null, last };
    await new Promise((r) => setTimeout(r, Math.min(100, Math.max(0, deadline - Date.now()))));
  }
}

function safeJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

export async function runFailover(argv: string[], env: NodeJS.ProcessEnv = process.env, out: Out = STD): Promise<number> {
  let a: FailoverArgs | null;
  let token: string;
  try {
    a = parseFailoverArgs(argv, env);
    if (a === null) {
      out.stdout(`${FAILOVER_USAGE}\n`);
      return EXIT.ok;
    }
    const t = loadToken(a.tokenFile, env);
    if (t.warning) out.stderr(`hactl failover: warning: ${t.warning}\n`);
    token = t.token;
  } catch (e) {
    return usageFailure('failover', e, FAILOVER_USAGE, out);
  }
  const askedAt = Date.now();
  const body = { instance: a.instance, ...(a.to !== undefined ? { to: a.to } : {}) };
  const r = await post(a.urls!, '/v1/failover', body, token, a.requestTimeoutMs, { ...(a.cluster !== undefined ? { cluster: a.cluster } : {}), wantStatus: a.wait });
  const answeredAt = Date.now();
  const base = { command: 'failover', instance: a.instance, ...(a.to !== undefined ? { to: a.to } : {}) };
  const json = (o: Record<string, unknown>) => out.stdout(`${JSON.stringify({ ...base, ...o })}\n`);
  if (!r.attempt) {
    if (a.json) json({ outcome: 'unreachable', exit: EXIT.unreachable, passed: r.passed });
    unreachableReport('failover', r.passed, a.cluster, out);
    return EXIT.unreachable;
  }
  const at = r.attempt;
  if (at.kind !== 'answer') {
    if (a.json) json({ outcome: 'failed', exit: EXIT.failed, arbiter: at.url, error: at.detail });
    out.stderr(`hactl failover: asked ${at.url}, but ${at.detail}; the failover may or may not have been carried out: look with 'hactl status'\n`);
    return EXIT.failed;
  }
  const { outcome, exit } = classify(at.status, 'failover');
  const decision = typeof at.body['decision'] === 'string' ? at.body['decision'] : undefined;
  const reason = typeof at.body['reason'] === 'string' ? at.body['reason'] : undefined;
  const error = typeof at.body['error'] === 'string' ? at.body['error'] : undefined;
  const fields = { arbiter: at.url, status: at.status, ...(decision ? { decision } : {}), ...(reason ? { reason } : {}), ...(error ? { error } : {}) };
  if (exit !== EXIT.ok) {
    if (a.json) json({ outcome, exit, ...fields });
    if (a.json && exit === EXIT.refused) return exit;
    if (exit === EXIT.refused) out.stdout(`failover of ${a.instance}: REFUSED by ${at.url} (${decision ?? 'refuse'}): ${reason ?? error ?? '(no reason given)'}\n`);
    else if (exit === EXIT.unauthorized) out.stderr(`hactl failover: ${at.url} did not accept the token (HTTP 401): ${error ?? ''}; nothing was done\n`);
    else if (exit === EXIT.badRequest) out.stderr(`hactl failover: ${at.url} refused the request (HTTP ${at.status}): ${error ?? reason ?? ''}; nothing was done\n`);
    else out.stderr(`hactl failover: ${at.url} answered HTTP ${at.status}: ${reason ?? error ?? JSON.stringify(at.body)}; the outcome is unknown: look with 'hactl status'\n`);
    return exit;
  }
  if (!a.json) out.stdout(`failover of ${a.instance}: accepted by ${at.url} (${decision ?? '?'}): ${reason ?? ''}\n`);
  if (!a.wait) {
    if (a.json) json({ outcome, exit, ...fields });
    return EXIT.ok;
  }

  // --wait: until the target holds the lease.
  const prior = leaseOf(r.status, a.instance);
  const cluster = String(r.status?.['cluster'] ?? a.cluster ?? '');
  let result: { done: Lease | null; last: Lease | null };
  const remaining = Math.max(0, a.timeoutMs);
  try {
    result = a.natsGiven
      ? await waitWithNats(a.nats, `${cluster}.${a.instance}`, prior, a.to, remaining)
      : await waitWithApi([r.base!, ...a.urls!.filter((u) => u.href !== r.base!.href)], a.instance, cluster, prior, a.to, remaining, a.requestTimeoutMs);
  } catch (e) {
    if (a.json) json({ outcome: 'failed', exit: EXIT.failed, ...fields, error: (e as Error).message });
    out.stderr(`hactl failover: the failover was accepted, but ${(e as Error).message}\n`);
    return EXIT.failed;
  }
  const tookMs = Date.now() - askedAt;
  if (!result.done) {
    if (a.json) json({ outcome: 'waitTimeout', exit: EXIT.waitTimeout, ...fields, waitedMs: tookMs, last: result.last });
    out.stderr(`hactl failover: ${a.to ?? 'another node'} does not hold ${a.instance} after ${formatDuration(tookMs)} (--timeout ${formatDuration(a.timeoutMs)}); last seen: ${describeLease(result.last)}\n`);
    return EXIT.waitTimeout;
  }
  const via = a.natsGiven ? `${LEASE_BUCKET} through NATS` : '/v1/status';
  if (a.json) json({ outcome, exit, ...fields, holder: result.done.holder, epoch: result.done.epoch, tookMs, acceptedAfterMs: answeredAt - askedAt, seenIn: via });
  else out.stdout(`${result.done.holder} holds ${a.instance} at epoch ${result.done.epoch}: ${tookMs} ms after the failover was asked (accepted after ${answeredAt - askedAt} ms; seen in ${via})\n`);
  return EXIT.ok;
}

export async function runFence(argv: string[], env: NodeJS.ProcessEnv = process.env, out: Out = STD): Promise<number> {
  let a: FenceArgs | null;
  let token: string;
  try {
    a = parseFenceArgs(argv, env);
    if (a === null) {
      out.stdout(`${FENCE_USAGE}\n`);
      return EXIT.ok;
    }
    const t = loadToken(a.tokenFile, env);
    if (t.warning) out.stderr(`hactl fence: warning: ${t.warning}\n`);
    token = t.token;
  } catch (e) {
    return usageFailure('fence', e, FENCE_USAGE, out);
  }
  const r = await post(a.urls!, '/v1/fence', { node: a.node }, token, a.requestTimeoutMs, { ...(a.cluster !== undefined ? { cluster: a.cluster } : {}), wantStatus: false });
  const json = (o: Record<string, unknown>) => out.stdout(`${JSON.stringify({ command: 'fence', node: a!.node, ...o })}\n`);
  if (!r.attempt) {
    if (a.json) json({ outcome: 'unreachable', exit: EXIT.unreachable, passed: r.passed });
    unreachableReport('fence', r.passed, a.cluster, out);
    return EXIT.unreachable;
  }
  const at = r.attempt;
  if (at.kind !== 'answer') {
    if (a.json) json({ outcome: 'failed', exit: EXIT.failed, arbiter: at.url, error: at.detail });
    out.stderr(`hactl fence: asked ${at.url}, but ${at.detail}; the fence may or may not have run: look at the event log (hactl history --type 'fence.>')\n`);
    return EXIT.failed;
  }
  const { outcome, exit } = classify(at.status, 'fence');
  const reason = typeof at.body['reason'] === 'string' ? at.body['reason'] : undefined;
  const error = typeof at.body['error'] === 'string' ? at.body['error'] : undefined;
  if (a.json) {
    json({ outcome, exit, arbiter: at.url, status: at.status, ...(typeof at.body['ok'] === 'boolean' ? { ok: at.body['ok'], confirmed: at.body['confirmed'] } : {}), ...(reason ? { reason } : {}), ...(error ? { error } : {}) });
  }
  if (exit === EXIT.ok) {
    if (!a.json) out.stdout(`fence of ${a.node}: CONFIRMED by ${at.url}: ${reason ?? ''}\n`);
  } else if (exit === EXIT.fenceFailed) {
    if (!a.json) out.stdout(`fence of ${a.node}: ${at.body['ok'] === true ? 'NOT CONFIRMED' : 'FAILED'} (${at.url}): ${reason ?? error ?? ''}\n`);
  } else if (exit === EXIT.unauthorized) out.stderr(`hactl fence: ${at.url} did not accept the token (HTTP 401): ${error ?? ''}; nothing was done\n`);
  else if (exit === EXIT.badRequest) out.stderr(`hactl fence: ${at.url} refused the request (HTTP ${at.status}): ${error ?? reason ?? ''}; nothing was done\n`);
  else if (exit === EXIT.refused) out.stderr(`hactl fence: ${at.url} refused (HTTP 409): ${reason ?? error ?? ''}\n`);
  else out.stderr(`hactl fence: ${at.url} answered HTTP ${at.status}: ${reason ?? error ?? JSON.stringify(at.body)}; the outcome is unknown\n`);
  return exit;
}

async function readKv(settings: NatsSettings, cluster: string | undefined, timeoutMs: number): Promise<KvEntry[]> {
  let nc: NatsConnection;
  try {
    nc = await connect({ ...natsConnectOptions(settings), maxReconnectAttempts: 0, timeout: Math.min(timeoutMs, 5000) });
  } catch (e) {
    throw new Error(`cannot connect to NATS ${settings.servers.join(',')}: ${(e as Error).message}`);
  }
  try {
    let kv: KV;
    const keys: string[] = [];
    try {
      kv = await nc.jetstream().views.kv(LEASE_BUCKET, { bindOnly: true });
      for await (const k of await kv.keys(cluster !== undefined ? `${cluster}.>` : undefined)) keys.push(k);
    } catch (e) {
      throw new Error(`the KV bucket ${LEASE_BUCKET} cannot be read on ${settings.servers.join(',')} (${(e as Error).message}); has an arbiter run on this NATS?`);
    }
    const entries: KvEntry[] = [];
    for (const k of keys) {
      const e = await kv.get(k);
      if (e && e.operation === 'PUT') entries.push({ key: k, revision: e.revision, value: safeJson(e.value) });
    }
    return entries;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

export async function runStatus(argv: string[], env: NodeJS.ProcessEnv = process.env, out: Out = STD): Promise<number> {
  let a: StatusArgs | null;
  try {
    a = parseStatusArgs(argv, env);
    if (a === null) {
      out.stdout(`${STATUS_USAGE}\n`);
      return EXIT.ok;
    }
  } catch (e) {
    return usageFailure('status', e, STATUS_USAGE, out);
  }
  let rows: StatusRow[];
  if (a.urls) {
    const { attempt, passed } = await callFirst(a.urls, { method: 'GET', path: '/v1/status', timeoutMs: a.requestTimeoutMs }, statusAccept(a.cluster));
    if (!attempt || attempt.kind !== 'answer') {
      if (attempt) passed.push(`${attempt.url}: ${attempt.detail}`);
      unreachableReport('status', passed, a.cluster, out);
      return EXIT.unreachable;
    }
    const view = rowsFromStatus(attempt.body, attempt.url);
    rows = view.rows;
    if (a.json) out.stdout(statusJsonLines(rows, { arbiter: attempt.url, replica: view.header.replica }));
    else out.stdout(`${headerLine(view.header)}\n\n${statusTable(rows)}\n`);
  } else {
    try {
      rows = rowsFromKv(await readKv(a.nats, a.cluster, a.requestTimeoutMs), Date.now(), a.cluster);
    } catch (e) {
      out.stderr(`hactl status: ${(e as Error).message}\n`);
      return EXIT.failed;
    }
    if (a.json) out.stdout(statusJsonLines(rows));
    else out.stdout(`${statusTable(rows)}\n`);
  }
  if (rows.length === 0) out.stderr(`hactl status: no instances${a.cluster ? ` in cluster ${a.cluster}` : ''}\n`);
  return EXIT.ok;
}
