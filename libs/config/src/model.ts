/**
 * The agent's configuration model: one set of zod schemas that both the native
 * YAML/JSON format and keepalived.conf are turned into. Names are camelCase and
 * every duration carries its unit in its name (`advertIntervalCs`, `timeoutS`).
 * Defaults are keepalived's, so a keepalived.conf and its YAML translation mean
 * the same thing.
 */
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';

// ---------------------------------------------------------------------------
// Value helpers. Each schema carries an "expected" phrase as its error, so a
// diagnostic reads "found X; expected <phrase>" whatever went wrong.

function int(min: number, max: number, what?: string) {
  const expected = what ?? `an integer from ${min} to ${max}`;
  return z
    .number({ error: expected })
    .int({ error: expected })
    .min(min, { error: expected })
    .max(max, { error: expected });
}

function num(min: number, max: number, what: string) {
  return z.number({ error: what }).min(min, { error: what }).max(max, { error: what });
}

const name = (what: string) =>
  z
    .string({ error: what })
    .min(1, { error: what })
    .refine((s) => !/\s/.test(s), { error: `${what} without whitespace` });

export const IpAddressSchema = z
  .string({ error: 'an IPv4 or IPv6 address' })
  .refine((s) => isIP(s) !== 0, { error: 'an IPv4 or IPv6 address' });

export const Ipv4MulticastSchema = z
  .string({ error: 'an IPv4 multicast address (224.0.0.0/4)' })
  .refine((s) => isIP(s) === 4 && isIpv4Multicast(s), { error: 'an IPv4 multicast address (224.0.0.0/4)' });

export const Ipv6MulticastSchema = z
  .string({ error: 'an IPv6 multicast address (ff00::/8)' })
  .refine((s) => isIP(s) === 6 && /^ff/i.test(s), { error: 'an IPv6 multicast address (ff00::/8)' });

export function isIpv4Multicast(address: string): boolean {
  const first = Number(address.split('.')[0]);
  return first >= 224 && first <= 239;
}

export type IpFamily = 4 | 6;

export function familyOf(address: string): IpFamily | undefined {
  // Also called on raw input before zod has checked it (validate.ts): a value that is not a string has no family.
  const f = typeof address === 'string' ? isIP(address) : 0;
  return f === 4 || f === 6 ? f : undefined;
}

// ---------------------------------------------------------------------------
// Node and global settings

/**
 * The node's gateway: pinged as a built-in ICMP check (tracked with weight 0 by
 * every instance that uses the arbiter), its verdict reported in heartbeats.
 * A node without its gateway never claims a lease. `IP` is the shorthand.
 */
const GatewayObject = z.strictObject(
  {
    address: IpAddressSchema,
    /** How often to ping. */
    intervalMs: int(100, 60_000, 'a number of milliseconds from 100 to 60000').default(500),
    /** How long to wait for the echo reply; default 80% of the interval. */
    timeoutMs: int(10, 60_000, 'a number of milliseconds from 10 to 60000').optional(),
    /** Failures in a row before the gateway counts as down. */
    fall: int(1, 100, 'an integer from 1 to 100').default(2),
    /** Successes in a row before it counts as up again. */
    rise: int(1, 100, 'an integer from 1 to 100').default(2),
  },
  { error: "an address, or {address, intervalMs, timeoutMs, fall, rise}" },
);

export const GatewaySchema = z
  .preprocess((v) => (typeof v === 'string' ? { address: v } : v), GatewayObject)
  .transform((g) => ({ ...g, timeoutMs: g.timeoutMs ?? Math.max(10, Math.floor(g.intervalMs * 0.8)) }));

export const NodeSchema = z.strictObject({
  /** keepalived's `router_id`; identifies this host in events and leases. Default: the hostname. */
  id: z
    .string({ error: 'a node id (keepalived router_id)' })
    .min(1, { error: 'a non-empty node id (keepalived router_id)' })
    .default(() => hostname()),
  /** The gateway this node pings (`--gateway IP`); needed by the arbiter's modes strict and failsafe. */
  gateway: GatewaySchema.optional(),
});

export const GarpSchema = z.strictObject({
  /** vrrp_garp_master_delay: second burst of GARP/NA after becoming master, 0 = none. */
  masterDelayS: int(0, 4294).default(5),
  /** vrrp_garp_master_repeat: GARP/NA messages per burst. */
  masterRepeat: int(1, 2 ** 31 - 1, 'an integer of at least 1').default(5),
  /** vrrp_garp_master_refresh: periodic GARP/NA while master, 0 = never. */
  masterRefreshS: int(0, 2 ** 31 - 1, 'a whole number of seconds (0 = no refresh)').default(0),
  /** vrrp_garp_master_refresh_repeat: messages per refresh. */
  masterRefreshRepeat: int(1, 2 ** 31 - 1, 'an integer of at least 1').default(1),
  /** vrrp_garp_interval: delay between gratuitous ARPs on one interface. */
  intervalS: num(0, 4294.967295, 'a number of seconds from 0 to 4294.967295').default(0),
  /** vrrp_gna_interval: delay between unsolicited neighbour advertisements. */
  naIntervalS: num(0, 4294.967295, 'a number of seconds from 0 to 4294.967295').default(0),
});

export const ScriptUserSchema = z.strictObject({
  user: name('a user name'),
  group: name('a group name').optional(),
});

export const GlobalSchema = z.strictObject({
  /** Default VRRP version of the instances (keepalived `vrrp_version`, default 2; IPv6 instances default to 3). */
  vrrpVersion: z.union([z.literal(2), z.literal(3)], { error: 'VRRP version 2 or 3' }).default(2),
  mcastGroup4: Ipv4MulticastSchema.default('224.0.0.18'),
  mcastGroup6: Ipv6MulticastSchema.default('ff02::12'),
  garp: GarpSchema.prefault({}),
  /** Default user (and group) scripts run as; keepalived: keepalived_script if it exists, else root. */
  scriptUser: ScriptUserSchema.optional(),
  /** Refuse to run scripts as root when a non-root user can modify them. */
  enableScriptSecurity: z.boolean({ error: 'true or false' }).default(false),
  vrrpStrict: z.boolean({ error: 'true or false' }).default(false),
  skipCheckAdvAddr: z.boolean({ error: 'true or false' }).default(false),
  /**
   * Nice value of the agent's VRRP thread (keepalived `vrrp_priority`): the
   * thread that sends adverts and runs the state machine is raised above the
   * event publisher's thread and other processes, so a busy machine does not
   * delay adverts. An absolute value, as keepalived's; going below the starting
   * value needs root or CAP_SYS_NICE (without it: a warning, no change).
   */
  vrrpNice: z.number({ error: 'a nice value from -20 to 19' }).int({ error: 'a nice value from -20 to 19' }).min(-20, { error: 'a nice value from -20 to 19' }).max(19, { error: 'a nice value from -20 to 19' }).default(-10),
});

// ---------------------------------------------------------------------------
// Tracked scripts (keepalived vrrp_script)

export const SourceRefSchema = z.strictObject({
  file: z.string(),
  line: z.number().int(),
});

// ---------------------------------------------------------------------------
// The arbiter (libs/arbiter): per instance, with defaults for all at the top level

export const ARBITER_MODES = ['strict', 'failsafe', 'off'] as const;
export const FENCING_POLICIES = ['off', 'best-effort', 'required'] as const;

const leaseMs = (what: string) => int(1, 3_600_000, `${what}: a number of milliseconds from 1 to 3600000`).optional();

/** Lease timing; each value left out follows from the advert interval (libs/arbiter timing.ts defaultLeaseTiming). */
export const LeaseTimingSchema = z.strictObject({
  leaseTtlMs: leaseMs('the lease TTL'),
  renewIntervalMs: leaseMs('the renewal interval'),
  requestTimeoutMs: leaseMs('the request timeout'),
  safetyMarginMs: leaseMs('the safety margin'),
  source: SourceRefSchema.optional(),
});

export const ArbiterSettingsSchema = z.strictObject({
  /** strict: no VIP without a lease; failsafe (default): as strict while an arbiter answers; off: plain VRRP. */
  mode: z.enum(ARBITER_MODES, { error: 'strict, failsafe or off' }).optional(),
  /** What the arbiter may do to a silent holder before granting: off, best-effort, required. */
  fencing: z.enum(FENCING_POLICIES, { error: 'off, best-effort or required' }).optional(),
  timing: LeaseTimingSchema.optional(),
  source: SourceRefSchema.optional(),
});

/** The top-level `arbiter` section: the defaults of every instance, and what only the node knows. */
export const ArbiterDefaultsSchema = ArbiterSettingsSchema.extend({
  /** The worst clock skew between arbiter replicas; the safety margin must exceed it. Default 50 ms. */
  maxClockSkewMs: int(0, 60_000, 'a number of milliseconds from 0 to 60000').optional(),
});

/** Built-in probes: what a user would otherwise write a script for (layers 3, 4 and 7). */
export const IcmpProbeSchema = z.strictObject({
  /** The address to ping (echo request); IPv4 or IPv6. */
  address: IpAddressSchema,
  /** Send from this interface. */
  device: name('an interface name').optional(),
});

export const TcpProbeSchema = z.strictObject({
  address: IpAddressSchema,
  port: int(1, 65535),
  sourceAddress: IpAddressSchema.optional(),
});

export const HttpProbeSchema = z.strictObject({
  address: IpAddressSchema,
  /** Default 80, or 443 with tls. */
  port: int(1, 65535).optional(),
  /** HTTPS instead of HTTP. */
  tls: z.boolean({ error: 'true or false' }).default(false),
  /** Check the server certificate (HTTPS). */
  verifyTls: z.boolean({ error: 'true or false' }).default(true),
  path: z.string({ error: 'a URL path' }).startsWith('/', { error: "a URL path starting with '/'" }).default('/'),
  /** The Host header, as keepalived's HTTP_GET virtualhost. */
  virtualHost: z.string({ error: 'a host name' }).optional(),
  /** Accepted status codes (default 200-299), as keepalived's status_code. */
  statusCodes: z.array(int(100, 599, 'an HTTP status code'), { error: 'a list of HTTP status codes' }).optional(),
  /** MD5 hex of the expected body, as keepalived's HTTP_GET digest. */
  digest: z
    .string({ error: 'an MD5 digest (32 hex digits)' })
    .regex(/^[0-9a-fA-F]{32}$/, { error: 'an MD5 digest (32 hex digits)' })
    .optional(),
});

export const TrackScriptSchema = z
  .strictObject({
    /** The command line, split as keepalived does (see splitCommandLine). One of script, icmp, tcp, http. */
    script: z.string({ error: 'a command line' }).min(1, { error: 'a command line' }).optional(),
    /** Built-in ICMP echo probe instead of a script. */
    icmp: IcmpProbeSchema.optional(),
    /** Built-in TCP connect probe instead of a script. */
    tcp: TcpProbeSchema.optional(),
    /** Built-in HTTP/HTTPS GET probe instead of a script. */
    http: HttpProbeSchema.optional(),
    intervalS: int(1, 4294).default(1),
    /** Default: the interval, as in keepalived. */
    timeoutS: int(1, 4294).optional(),
    /** 0: failure means FAULT; otherwise added to (or, negative, taken from) the priority. */
    weight: int(-253, 253).default(0),
    /** Apply the weight in the opposite direction (keepalived `weight N reverse`). */
    weightReverse: z.boolean({ error: 'true or false' }).default(false),
    rise: int(1, 2 ** 31 - 1, 'an integer of at least 1').default(1),
    fall: int(1, 2 ** 31 - 1, 'an integer of at least 1').default(1),
    user: name('a user name').optional(),
    group: name('a group name').optional(),
    /** Start in the failed state until the script first succeeds. */
    initFail: z.boolean({ error: 'true or false' }).default(false),
    source: SourceRefSchema.optional(),
  })
  .superRefine((s, ctx) => {
    const kinds = (['script', 'icmp', 'tcp', 'http'] as const).filter((k) => s[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: kinds.length > 1 ? [kinds[1]!] : ['script'],
        message: kinds.length === 0 ? 'a command line (script), or one of the probes icmp, tcp or http' : `only one of script, icmp, tcp or http (found ${kinds.join(' and ')})`,
        input: s,
      });
    }
  })
  .transform((s) => ({ ...s, timeoutS: s.timeoutS ?? s.intervalS }));

// ---------------------------------------------------------------------------
// Instances

const SCOPES = ['global', 'site', 'link', 'host', 'nowhere'] as const;

const VirtualAddressObject = z.strictObject(
  {
    address: IpAddressSchema,
    /** Default: 32 for IPv4, 128 for IPv6. */
    prefixLength: int(0, 128).optional(),
    device: name('an interface name').optional(),
    label: name('an address label').optional(),
    /** An IPv4 broadcast address, or '+' / '-' to set or clear the host bits. */
    broadcast: z
      .string({ error: "an IPv4 broadcast address, '+' or '-'" })
      .refine((s) => s === '+' || s === '-' || isIP(s) === 4, { error: "an IPv4 broadcast address, '+' or '-'" })
      .optional(),
    scope: z.enum(SCOPES, { error: `one of ${SCOPES.join(', ')}` }).optional(),
  },
  { error: "an address 'IP[/PREFIX]' or {address, prefixLength, device, label, broadcast, scope}" },
);

/** A VIP: an object, or the shorthand string `IP[/PREFIX]`. */
export const VirtualAddressSchema = z
  .preprocess((v) => (typeof v === 'string' ? splitCidr(v) : v), VirtualAddressObject)
  .superRefine((v, ctx) => {
    const family = familyOf(v.address);
    const max = family === 6 ? 128 : 32;
    if (v.prefixLength !== undefined && v.prefixLength > max) {
      ctx.addIssue({ code: 'custom', path: ['prefixLength'], message: `a prefix length from 0 to ${max}`, input: v.prefixLength });
    }
    if (v.broadcast !== undefined && family === 6) {
      ctx.addIssue({ code: 'custom', path: ['broadcast'], message: 'no broadcast address on an IPv6 address', input: v.broadcast });
    }
  })
  .transform((v) => ({ ...v, prefixLength: v.prefixLength ?? (familyOf(v.address) === 6 ? 128 : 32) }));

function splitCidr(s: string): unknown {
  const slash = s.indexOf('/');
  if (slash < 0) return { address: s };
  const prefix = s.slice(slash + 1);
  return { address: s.slice(0, slash), prefixLength: /^\d+$/.test(prefix) ? Number(prefix) : prefix };
}

export const AuthenticationSchema = z.strictObject({
  /** PASS: simple password (VRRPv2 only, first 8 characters sent); AH: IPsec AH. */
  type: z.enum(['PASS', 'AH'], { error: 'PASS or AH' }),
  password: z.string({ error: 'a password' }).min(1, { error: 'a non-empty password' }),
});

export const TrackInterfaceSchema = z.strictObject({
  name: name('an interface name'),
  /** 0: interface down means FAULT; otherwise the priority changes by the weight. */
  weight: int(-253, 253).default(0),
  reverse: z.boolean({ error: 'true or false' }).default(false),
});

export const TrackScriptRefSchema = z.strictObject({
  /** The name of a script in `scripts`. */
  name: name('a script name'),
  /** Overrides the script's own weight. */
  weight: int(-253, 253).optional(),
  reverse: z.boolean({ error: 'true or false' }).optional(),
});

const NotifyObject = z.strictObject(
  {
    command: z.string({ error: 'a command line' }).min(1, { error: 'a command line' }),
    user: name('a user name').optional(),
    group: name('a group name').optional(),
  },
  { error: 'a command line or {command, user, group}' },
);

/** A notify script: a command line, or {command, user, group}. */
export const NotifyCommandSchema = z.preprocess((v) => (typeof v === 'string' ? { command: v } : v), NotifyObject);

export const NotifySchema = z.strictObject({
  master: NotifyCommandSchema.optional(),
  backup: NotifyCommandSchema.optional(),
  fault: NotifyCommandSchema.optional(),
  stop: NotifyCommandSchema.optional(),
  /** keepalived's `notify`: run on every transition with TYPE NAME STATE PRIORITY appended. */
  any: NotifyCommandSchema.optional(),
});

export const VrrpInstanceSchema = z.strictObject({
  name: name('an instance name'),
  interface: name('an interface name'),
  vrid: int(1, 255),
  priority: int(1, 255).default(100),
  /** keepalived advert_int is seconds; 1 s = 100 cs. VRRPv2 carries whole seconds. */
  advertIntervalCs: int(1, 25500, 'an advert interval from 1 to 25500 centiseconds').default(100),
  /** Default: the global vrrpVersion, or 3 for IPv6 (VRRPv2 over IPv6 only when asked for, as keepalived). */
  version: z.union([z.literal(2), z.literal(3)], { error: 'VRRP version 2 or 3' }).optional(),
  initialState: z.enum(['MASTER', 'BACKUP'], { error: 'MASTER or BACKUP' }).default('BACKUP'),
  preempt: z.boolean({ error: 'true or false' }).default(true),
  preemptDelayS: num(0, 1000, 'a number of seconds from 0 to 1000').default(0),
  authentication: AuthenticationSchema.optional(),
  virtualAddresses: z.array(VirtualAddressSchema, { error: 'a list of addresses' }).default([]),
  virtualAddressesExcluded: z.array(VirtualAddressSchema, { error: 'a list of addresses' }).default([]),
  /** Default: the family of the first virtual address (keepalived); set it only to check. */
  family: z.union([z.literal(4), z.literal(6)], { error: 'address family 4 or 6' }).optional(),
  unicastSourceIp: IpAddressSchema.optional(),
  unicastPeers: z.array(IpAddressSchema, { error: 'a list of IP addresses' }).default([]),
  mcastSourceIp: IpAddressSchema.optional(),
  trackInterfaces: z.array(TrackInterfaceSchema, { error: 'a list of interfaces to track' }).default([]),
  trackScripts: z.array(TrackScriptRefSchema, { error: 'a list of scripts to track' }).default([]),
  notify: NotifySchema.prefault({}),
  /** How the VRRPv3 checksum over IPv4 is computed; keepalived and FRR include the pseudo-header. */
  v3Checksum: z.enum(['pseudo-header', 'no-pseudo-header'], { error: "'pseudo-header' or 'no-pseudo-header'" }).default('pseudo-header'),
  /** This instance's use of the arbiter; what it leaves out comes from the top-level `arbiter`. */
  arbiter: ArbiterSettingsSchema.optional(),
  /** Where the instance was defined, for runtime messages. */
  source: SourceRefSchema.optional(),
});

export const SyncGroupSchema = z.strictObject({
  name: name('a sync group name'),
  instances: z.array(name('an instance name'), { error: 'a list of instance names' }).min(1, { error: 'at least one instance name' }),
  notify: NotifySchema.prefault({}),
  source: SourceRefSchema.optional(),
});

// ---------------------------------------------------------------------------
// The event log (NATS JetStream)

/** A NATS subject token: what a cluster or node name becomes in `ha.<cluster>.evt.<node>.<type>`. */
const subjectToken = (what: string) =>
  z
    .string({ error: what })
    .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: `${what}: letters, digits, '-' and '_' only (it is a NATS subject token)` });

export const NatsTlsSchema = z.strictObject({
  ca: z.string({ error: 'a CA certificate file' }).optional(),
  cert: z.string({ error: 'a client certificate file' }).optional(),
  key: z.string({ error: 'a client key file' }).optional(),
});

export const NatsSchema = z.strictObject({
  /** nats://host:port, several for a cluster. */
  servers: z
    .array(z.string({ error: 'a NATS URL' }).regex(/^(nats|tls|wss?):\/\/[^\s]+$/, { error: 'a NATS URL such as nats://host:4222' }), { error: 'a list of NATS URLs' })
    .min(1, { error: 'at least one NATS URL' }),
  user: z.string().optional(),
  password: z.string().optional(),
  token: z.string().optional(),
  /** An nkey seed, or a file holding one. */
  nkeySeed: z.string().optional(),
  nkeyFile: z.string().optional(),
  /** A .creds file (JWT and seed). */
  credsFile: z.string().optional(),
  /** true: TLS with the system's CAs; or the files. */
  tls: z.union([z.boolean(), NatsTlsSchema], { error: 'true, false or {ca, cert, key}' }).optional(),
});

/**
 * The native (YAML/JSON) top level. Strict: an unknown key is an error. Later
 * sections (`arbiter`) are added here as further optional keys.
 */
export const AgentConfigInputSchema = z.strictObject({
  node: NodeSchema.prefault({}),
  /** The cluster this node belongs to: first token of its event subjects. */
  cluster: subjectToken('a cluster name').default('default'),
  /** Where the agent keeps its state: the event journal. */
  stateDir: z.string({ error: 'a directory' }).min(1).default('/var/lib/keepquorum'),
  /** The event log, and the arbiter's requests. Without it no event is journaled or published, and every instance runs in mode off. */
  nats: NatsSchema.optional(),
  /** Defaults of every instance's `arbiter` settings (the keepalived user's --mode, --fencing). */
  arbiter: ArbiterDefaultsSchema.optional(),
  /** Prometheus metrics on GET /metrics at `listen` (HOST:PORT); `--metrics` on the command line wins. */
  metrics: z
    .strictObject({
      listen: z.string({ error: 'HOST:PORT' }).regex(/^(\[[0-9A-Fa-f:.]+\]|[^:\s[\]]+):\d{1,5}$/, { error: 'HOST:PORT, e.g. 127.0.0.1:9650 or [::1]:9650' }),
    })
    .optional(),
  global: GlobalSchema.prefault({}),
  scripts: z.record(z.string(), TrackScriptSchema, { error: 'a map of script name to script' }).default({}),
  instances: z.array(VrrpInstanceSchema, { error: 'a list of VRRP instances' }).default([]),
  syncGroups: z.array(SyncGroupSchema, { error: 'a list of sync groups' }).default([]),
});

/** Validates and resolves what depends on other sections (version and family of each instance). */
export const AgentConfigSchema = AgentConfigInputSchema.transform((c) => ({
  ...c,
  instances: c.instances.map((i) => {
    const family = i.family ?? deriveFamily(i) ?? 4;
    const version: 2 | 3 = i.version ?? (family === 6 ? 3 : c.global.vrrpVersion);
    return { ...i, family, version };
  }),
}));

/**
 * keepalived's rule: the first virtual address decides the family; with none,
 * the unicast source or first peer does.
 */
export function deriveFamily(i: {
  virtualAddresses?: readonly ({ address: string } | string)[] | undefined;
  unicastSourceIp?: string | undefined;
  unicastPeers?: readonly string[] | undefined;
}): IpFamily | undefined {
  const first = i.virtualAddresses?.[0];
  const firstAddress = typeof first === 'string' ? first.split('/')[0] : first?.address;
  if (firstAddress !== undefined) return familyOf(firstAddress);
  if (i.unicastSourceIp !== undefined) return familyOf(i.unicastSourceIp);
  const peer = i.unicastPeers?.[0];
  return peer !== undefined ? familyOf(peer) : undefined;
}

export type AgentConfigInput = z.input<typeof AgentConfigSchema>;
export type AgentConfig = z.output<typeof AgentConfigSchema>;
export type NodeConfig = AgentConfig['node'];
export type GlobalConfig = AgentConfig['global'];
export type GarpConfig = GlobalConfig['garp'];
export type ScriptUser = z.output<typeof ScriptUserSchema>;
export type TrackScriptConfig = z.output<typeof TrackScriptSchema>;
export type IcmpProbeConfig = z.output<typeof IcmpProbeSchema>;
export type TcpProbeConfig = z.output<typeof TcpProbeSchema>;
export type HttpProbeConfig = z.output<typeof HttpProbeSchema>;
export type VrrpInstanceConfig = AgentConfig['instances'][number];
export type VirtualAddress = z.output<typeof VirtualAddressSchema>;
export type AuthenticationConfig = z.output<typeof AuthenticationSchema>;
export type TrackInterfaceConfig = z.output<typeof TrackInterfaceSchema>;
export type TrackScriptRef = z.output<typeof TrackScriptRefSchema>;
export type NotifyCommand = z.output<typeof NotifyCommandSchema>;
export type NotifyConfig = z.output<typeof NotifySchema>;
export type SyncGroupConfig = z.output<typeof SyncGroupSchema>;
export type SourceRef = z.output<typeof SourceRefSchema>;
export type NatsConfig = z.output<typeof NatsSchema>;
export type GatewayConfig = z.output<typeof GatewaySchema>;
export type ArbiterSettings = z.output<typeof ArbiterSettingsSchema>;
export type ArbiterDefaults = z.output<typeof ArbiterDefaultsSchema>;
export type LeaseTimingConfig = z.output<typeof LeaseTimingSchema>;

/** Validated configs are frozen all the way down (fastify's habit): nothing mutates them at run time. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
