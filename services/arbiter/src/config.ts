/**
 * The arbiter's configuration: YAML (.yaml/.yml) or JSON (.json), validated
 * with zod, every problem reported at once with file:line, key, what was found
 * and what was expected (as libs/config does for the agent).
 *
 * What it says:
 * - who this replica is (cluster, replica id, state dir for its event journal);
 * - how to reach NATS (the agent's NATS model, libs/config NatsSchema);
 * - the lease bucket: R1 or R3, chosen deliberately (leases.replicas), history;
 * - the instances it arbitrates, each with mode, fencing policy and lease
 *   timing (defaults from the advert interval, checked with validateLeaseTiming);
 * - the fencing backend of each node (webhook with a secret file, or a fence agent);
 * - the gateway it pings (no gateway, no fence) and the HTTP API's listen address
 *   and where its bearer tokens are (a file or an environment variable, never
 *   the config itself, never logged).
 *
 * Secrets are not read here: loading stays pure (the file in, a frozen config
 * out); main.ts reads token and secret files at start (and --check).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { extname } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, DiagnosticSink, show, sortDiagnostics, suggest, type Diagnostic } from '../../../libs/config/src/diagnostics.js';
import { NatsSchema } from '../../../libs/config/src/model.js';
import { documentToJs, locateInYaml } from '../../../libs/config/src/load.js';
import type { Location } from '../../../libs/config/src/validate.js';
import { defaultLeaseTiming, validateLeaseTiming, DEFAULT_MAX_CLOCK_SKEW_MS } from '../../../libs/arbiter/src/timing.js';
import type { ArbiterMode, FencingPolicy, InstancePolicy, LeaseTiming } from '../../../libs/arbiter/src/types.js';

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const token = (what: string) => z.string({ error: what }).regex(TOKEN, { error: `${what}: letters, digits, "-" and "_", 1 to 64 characters (it becomes a NATS subject token)` });
const wholeMs = (what: string, min = 1) => z.number({ error: `${what} in milliseconds` }).int({ error: `a whole number of milliseconds` }).min(min, { error: `at least ${min} ms` });
const ipAddress = z.string({ error: 'an IP address' }).refine((s) => isIP(s) !== 0, { error: 'an IPv4 or IPv6 address' });

const WebhookFencingSchema = z.strictObject({
  type: z.literal('webhook'),
  /** http(s)://host[:port]/path of the receiver. */
  url: z.string({ error: 'a URL' }).regex(/^https?:\/\/[^\s]+$/, { error: 'an http:// or https:// URL' }),
  /** The HMAC key, in a file only this user can read (never inline in the config). */
  secretFile: z.string({ error: 'the path of a file holding the HMAC secret' }).min(1),
  timeoutMs: wholeMs('a timeout').optional(),
  retries: z.number().int().min(0).max(20).optional(),
  backoffMs: wholeMs('a backoff', 0).optional(),
  maxBackoffMs: wholeMs('a backoff ceiling', 0).optional(),
  totalTimeoutMs: wholeMs('a total timeout').optional(),
  pollIntervalMs: wholeMs('a poll interval', 0).optional(),
  caFile: z.string().min(1).optional(),
});

const AgentFencingSchema = z.strictObject({
  type: z.literal('agent'),
  /** Absolute path of a Pacemaker fence agent: /usr/sbin/fence_ipmilan. */
  agent: z.string({ error: 'the absolute path of a fence_* program' }).regex(/^\//, { error: 'an absolute path such as /usr/sbin/fence_ipmilan' }),
  /** Its stonith attributes (ip, username, password, lanplus, ...), key=value on its stdin. */
  options: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]), { error: 'a map of option to string, number or boolean' }).optional(),
  timeoutMs: wholeMs('a timeout').optional(),
  killGraceMs: wholeMs('a grace period', 0).optional(),
  retries: z.number().int().min(0).max(20).optional(),
  confirm: z.boolean().optional(),
  hostArgument: z.string().min(1).optional(),
  hostMap: z.record(z.string(), z.string()).optional(),
});

export const FencingBackendSchema = z.discriminatedUnion('type', [WebhookFencingSchema, AgentFencingSchema], {
  error: "a fencing backend: {type: webhook, url, secretFile} or {type: agent, agent: /usr/sbin/fence_...}",
});
export type FencingBackendConfig = z.output<typeof FencingBackendSchema>;

const TimingSchema = z.strictObject({
  leaseTtlMs: wholeMs('a lease TTL').optional(),
  renewIntervalMs: wholeMs('a renewal interval').optional(),
  requestTimeoutMs: wholeMs('a request timeout').optional(),
  safetyMarginMs: wholeMs('a safety margin').optional(),
});

const InstanceSchema = z.strictObject({
  /** The VRRP instance's name, as the agents report it. */
  name: token('an instance name'),
  mode: z.enum(['strict', 'failsafe', 'off'], { error: "'strict', 'failsafe' or 'off'" }).default('failsafe'),
  fencing: z.enum(['off', 'best-effort', 'required'], { error: "'off', 'best-effort' or 'required'" }).default('off'),
  /** The instance's VRRP advert interval: the lease timing defaults follow from it (libs/arbiter timing.ts). */
  advertIntervalMs: wholeMs('an advert interval', 10).max(40_950, { error: 'at most 40950 ms (VRRP max_adver_int)' }).default(1000),
  /** Overrides of the defaults, each checked against the rule R + 2Q + M <= T. */
  timing: TimingSchema.optional(),
  /** The nodes allowed to hold it; when absent, any node whose heartbeat reports the instance. */
  members: z.array(token('a node name'), { error: 'a list of node names' }).min(1).optional(),
});

const NodeSchema = z.strictObject({
  /** Pinged from the arbiter's place as evidence (ARCHITECTURE: the arbiter pings claimant and holder). */
  address: ipAddress.optional(),
  fencing: FencingBackendSchema.optional(),
});

const ListenSchema = z
  .string({ error: 'HOST:PORT, e.g. 127.0.0.1:8440' })
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[0-9.]+|localhost):\d{1,5}$/, { error: 'HOST:PORT with an IP address, e.g. 127.0.0.1:8440 or [::1]:8440' });

export const ArbiterConfigSchema = z.strictObject({
  /** First token of every subject: ha.<cluster>.arb.req. */
  cluster: token('a cluster name'),
  /** This replica's name: the node of its events, its journal's owner. */
  replica: token('a replica id'),
  /** Where the replica's event journal lives. */
  stateDir: z.string({ error: 'a directory' }).min(1).default('/var/lib/keepquorum/arbiter'),
  nats: NatsSchema,
  leases: z.strictObject({
    /**
     * Replicas of the HA_LEASES bucket when it is created: 1 on a single
     * server, 3 on a 3-server cluster (a minority partition cannot write, so
     * it cannot grant). Required: this is the quorum, chosen on purpose.
     */
    replicas: z.union([z.literal(1), z.literal(3)], { error: '1 (a single NATS server) or 3 (a 3-server JetStream cluster)' }),
    /** Revisions kept per key: 1 keeps the current value only; more keep an audit of recent writes. */
    history: z.number({ error: 'a number of revisions' }).int().min(1, { error: 'at least 1' }).max(64, { error: 'at most 64 (JetStream KV limit)' }).default(5),
    /** Create the bucket when it is missing (an existing one is never changed). */
    create: z.boolean().default(true),
    /** A compare-and-set not acknowledged by then counts as timed out (its outcome unknown). */
    writeTimeoutMs: wholeMs('a write timeout').default(1000),
    /** Worst wall-clock skew between arbiter replicas; every safety margin must exceed it. */
    maxClockSkewMs: wholeMs('a clock skew', 0).default(DEFAULT_MAX_CLOCK_SKEW_MS),
  }),
  heartbeats: z
    .strictObject({
      /** A node is gone after this many heartbeat intervals (its own, from its heartbeats) without one. */
      missed: z.number().int().min(2, { error: 'at least 2' }).max(100).default(3),
      /**
       * After a start, the replica listens this long before it answers or
       * reconciles, so that a live holder is not judged gone (and fenced)
       * because its first heartbeat has not arrived yet.
       */
      warmupMs: wholeMs('a warm-up', 0).default(3000),
    })
    .prefault({}),
  /**
   * The fast path for an agent that dies while its host stays up (liveness.ts):
   * holders of instances with fencing on are probed through their NATS reply
   * inbox; a connection closed for `confirmMs` makes the node gone at once
   * (fenced, its backup granted) instead of after missed heartbeats.
   */
  liveness: z
    .strictObject({
      /** Time between two probes of a holder, ms; 0 turns the fast path off. */
      probeMs: z.number({ error: 'a number of milliseconds' }).int().min(0).max(10_000).default(50),
      /** No subscriber on its inbox for this long (two probes at least) and the node is gone, ms. */
      confirmMs: wholeMs('a confirmation time', 0).default(100),
    })
    .prefault({}),
  /** The arbiter's gateway: pinged; while it does not answer this replica fences nobody. */
  gateway: z
    .strictObject({
      address: ipAddress,
      intervalMs: wholeMs('a ping interval', 50).default(1000),
      timeoutMs: wholeMs('a ping timeout').default(500),
    })
    .optional(),
  http: z
    .strictObject({
      listen: ListenSchema,
      /** Bearer tokens, one per line: `NAME TOKEN` (NAME is the audit trail's `by`) or `TOKEN`. */
      tokensFile: z.string().min(1).optional(),
      /** Or an environment variable holding `NAME:TOKEN,NAME:TOKEN` (or bare tokens). */
      tokensEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'an environment variable name' }).optional(),
    })
    .optional(),
  /** The backend that fences a node without one of its own. */
  defaultFencing: FencingBackendSchema.optional(),
  nodes: z.record(z.string(), NodeSchema, { error: 'a map of node name to {address, fencing}' }).default({}),
  instances: z.array(InstanceSchema, { error: 'a list of instances' }).min(1, { error: 'at least one instance to arbitrate' }),
});

type RawConfig = z.output<typeof ArbiterConfigSchema>;

export interface ArbiterInstanceConfig {
  readonly name: string;
  readonly policy: InstancePolicy;
  readonly advertIntervalMs: number;
  readonly members?: readonly string[];
}

export interface ArbiterConfig extends Omit<RawConfig, 'instances'> {
  readonly instances: readonly ArbiterInstanceConfig[];
}

export interface ArbiterLoadResult {
  readonly config: ArbiterConfig;
  /** Warnings; with any error the loader throws a ConfigError listing every one. */
  readonly diagnostics: Diagnostic[];
}

/** Reads and validates an arbiter configuration file. Throws ConfigError listing every error. */
export function loadArbiterConfig(path: string): ArbiterLoadResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const sink = new DiagnosticSink();
    sink.error('KQ_ERR_CONFIG_FILE', { file: path }, `cannot read the configuration file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    throw new ConfigError(path, sink.items);
  }
  const ext = extname(path).toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    const sink = new DiagnosticSink();
    sink.error('KQ_ERR_CONFIG_FILE', { file: path }, `found the extension '${ext || '(none)'}'; expected .yaml, .yml or .json`);
    throw new ConfigError(path, sink.items);
  }
  return parseArbiterConfig(text, path);
}

type Path = readonly PropertyKey[];

/** As loadArbiterConfig, from text (`file` names it in messages). JSON is read as YAML, which it is. */
export function parseArbiterConfig(text: string, file: string): ArbiterLoadResult {
  const sink = new DiagnosticSink();
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  for (const err of doc.errors) {
    const pos = err.linePos?.[0] ?? lines.linePos(err.pos[0]);
    sink.error('KQ_ERR_CONFIG_SYNTAX', { file, line: pos.line, column: pos.col }, `invalid YAML/JSON: ${err.message.split('\n')[0] ?? err.message}`);
  }
  if (sink.errorCount > 0) throw new ConfigError(file, sink.items);
  const raw = documentToJs(doc, lines, file, sink);
  const where = (path: Path) => locateInYaml(doc, lines, file, path.map((seg) => (typeof seg === 'number' ? seg : String(seg))));

  const parsed = ArbiterConfigSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path;
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const allowed = allowedKeys(path);
          const hint = suggest(key, allowed);
          sink.error(
            'KQ_ERR_CONFIG_UNKNOWN_KEY',
            where([...path, key]),
            `unknown key ${show(key)}${hint ? ` (did you mean '${hint}'?)` : ''}${allowed.length > 0 ? `; expected one of ${allowed.join(', ')}` : ''}`,
          );
        }
        continue;
      }
      const input = 'input' in issue ? issue.input : undefined;
      const found = input === undefined ? 'nothing (the key is missing)' : show(input);
      sink.error(input === undefined ? 'KQ_ERR_CONFIG_SCHEMA' : 'KQ_ERR_CONFIG_VALUE', where(path), `found ${found}; expected ${issue.message}`);
    }
    throw new ConfigError(file, sink.items);
  }
  const c = parsed.data;
  const instances = crossCheck(c, where, sink);
  if (sink.errorCount > 0) throw new ConfigError(file, sink.items);
  const config: ArbiterConfig = deepFreeze({ ...c, instances });
  return { config, diagnostics: sortDiagnostics(sink.items) };
}

/** What spans keys: duplicates, lease timing, fencing that could never happen. */
function crossCheck(c: RawConfig, where: (path: Path) => Location, sink: DiagnosticSink): ArbiterInstanceConfig[] {
  const out: ArbiterInstanceConfig[] = [];
  const seen = new Map<string, number>();
  c.instances.forEach((inst, i) => {
    const first = seen.get(inst.name);
    if (first !== undefined) {
      sink.error('KQ_ERR_CONFIG_DUPLICATE', where(['instances', i, 'name']), `instance '${inst.name}' is already defined at instances[${first}]; each instance has one lease`);
      return;
    }
    seen.set(inst.name, i);
    const timing: LeaseTiming = { ...defaultLeaseTiming(inst.advertIntervalMs), ...stripUndefined(inst.timing ?? {}) };
    const masterDownIntervalMs = 3 * inst.advertIntervalMs;
    for (const issue of validateLeaseTiming(timing, { maxClockSkewMs: c.leases.maxClockSkewMs, masterDownIntervalMs, fencing: inst.fencing })) {
      const explicit = inst.timing?.[issue.key] !== undefined;
      const path = explicit ? ['instances', i, 'timing', issue.key] : ['instances', i, 'advertIntervalMs'];
      const origin = explicit ? '' : ` (the default for advertIntervalMs ${inst.advertIntervalMs} gives ${issue.key} ${timing[issue.key]} ms; set instances[${i}].timing.${issue.key} to change it)`;
      if (issue.severity === 'error') sink.error(issue.code, where(path), `${issue.message}${origin}`);
      else sink.warn(issue.code, where(path), `${issue.message}${origin}`);
    }
    if (inst.fencing !== 'off' && inst.mode !== 'off') {
      if (!c.gateway) {
        const msg = `fencing '${inst.fencing}' needs gateway.address: an arbiter without a gateway verdict never fences anyone`;
        if (inst.fencing === 'required') sink.error('KQ_ERR_CONFIG_REFERENCE', where(['instances', i, 'fencing']), `${msg}, so after a holder goes silent nobody would be granted; add gateway: {address: ...}`);
        else sink.warn('KQ_WARN_CONFIG_SUSPICIOUS', where(['instances', i, 'fencing']), `${msg}; a silent holder's lease is waited out instead`);
      }
      const unfenceable = (inst.members ?? []).filter((m) => !c.nodes[m]?.fencing && !c.defaultFencing);
      if (unfenceable.length > 0) {
        sink.error(
          'KQ_ERR_CONFIG_REFERENCE',
          where(['instances', i, 'members']),
          `fencing '${inst.fencing}' but no fencing backend for ${unfenceable.join(', ')}; expected nodes.<name>.fencing or defaultFencing`,
        );
      } else if (!inst.members && !c.defaultFencing && !Object.values(c.nodes).some((n) => n.fencing)) {
        sink.error('KQ_ERR_CONFIG_REFERENCE', where(['instances', i, 'fencing']), `fencing '${inst.fencing}' but no fencing backend is configured; expected nodes.<name>.fencing or defaultFencing`);
      }
    }
    const policy: InstancePolicy = { mode: inst.mode as ArbiterMode, fencing: inst.fencing as FencingPolicy, timing };
    out.push({ name: inst.name, policy, advertIntervalMs: inst.advertIntervalMs, ...(inst.members ? { members: inst.members } : {}) });
  });
  for (const name of Object.keys(c.nodes)) {
    if (!TOKEN.test(name)) sink.error('KQ_ERR_CONFIG_VALUE', where(['nodes', name]), `found node name ${show(name)}; expected letters, digits, "-" and "_", 1 to 64 characters`);
  }
  if (c.http && !c.http.tokensFile && !c.http.tokensEnv) {
    sink.warn('KQ_WARN_CONFIG_SUSPICIOUS', where(['http']), 'no tokensFile or tokensEnv: every POST (failover, fence) will be refused with 401');
  }
  return out;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

interface AnyDef {
  type: string;
  [k: string]: unknown;
}
const defOf = (schema: unknown): AnyDef | undefined => (schema as { _zod?: { def?: AnyDef } } | undefined)?._zod?.def;
function unwrap(schema: unknown): unknown {
  for (let i = 0; i < 20; i++) {
    const def = defOf(schema);
    if (!def) return schema;
    if (['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch'].includes(def.type)) schema = def.innerType;
    else if (def.type === 'pipe') schema = def.in;
    else return schema;
  }
  return schema;
}

/** The keys an object at `path` accepts, for an unknown key's message. */
function allowedKeys(path: Path): string[] {
  let schema: unknown = unwrap(ArbiterConfigSchema);
  for (const seg of path) {
    const def = defOf(schema);
    if (!def) return [];
    if (def.type === 'object' && typeof seg === 'string') schema = unwrap((def.shape as Record<string, unknown>)[seg]);
    else if (def.type === 'array') schema = unwrap(def.element);
    else if (def.type === 'record') schema = unwrap(def.valueType);
    else return [];
  }
  const def = defOf(schema);
  return def?.type === 'object' ? Object.keys(def.shape as object) : [];
}
