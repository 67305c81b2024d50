/**
 * One zod schema per event type and version: the data part of the envelope.
 *
 * Adding a type is one entry in EVENT_TYPES (the arbiter adds claim, grant, veto
 * and fence here). Changing a type's data in a way an old reader cannot accept
 * means a new version: bump `v`, keep the old schema in `older` so that history
 * written before the change still decodes.
 *
 * Strings are bounded so that an envelope stays far below the stream's message
 * size limit whatever a script prints.
 */
import { z } from 'zod';

export interface EventTypeSpec<S extends z.ZodType = z.ZodType> {
  /** The version a publisher writes now. */
  readonly v: number;
  /** The data schema of version `v`. */
  readonly schema: S;
  /** Schemas of earlier versions that readers still accept, by version. */
  readonly older: Readonly<Record<number, z.ZodType>>;
  readonly description: string;
}

function eventType<S extends z.ZodType>(description: string, v: number, schema: S, older: Record<number, z.ZodType> = {}): EventTypeSpec<S> {
  return Object.freeze({ v, schema, older: Object.freeze(older), description });
}

/** Longest excerpt of a check's output kept in an event. */
export const OUTPUT_EXCERPT_CHARS = 256;
const reasonText = z.string().max(1024);
const name = z.string().min(1).max(128);
const durationMs = z.number().nonnegative();
const count = z.number().int().nonnegative();
const priority = z.number().int().min(0).max(255);
const address = z.string().min(1).max(64);

const epoch = z.number().int().nonnegative();
/** The arbiter's decision events (libs/arbiter ArbiterEventName): one shape, a reason and the facts it rests on. */
const ARBITER_EVENT_DESCRIPTIONS = {
  'claim.vetoed': 'a claim for the lease was refused: the reason says who holds it and why it stays',
  'lease.granted': 'the lease was written for a node (claim answered, handover, failover target)',
  'lease.released': 'the holder gave the lease up (graceful stop, confirmed demotion)',
  'lease.refused': 'a renewal, release or other request was not carried out',
  'lease.write_failed': 'a compare-and-set on HA_LEASES did not happen (conflict, no quorum, timeout)',
  'fence.requested': 'the arbiter asked a fencing backend to power a node off',
  'failover.started': 'a forced failover began: the holder\'s epoch revoked, the lease reserved for the target',
  'failover.refused': 'a forced failover was refused: the reason says why',
  'node.gone': 'a node stopped sending heartbeats (its agent died or its NATS link broke)',
  'splitbrain.detected': 'two members report the VIP (or MASTER) for one instance at once',
  'vip.without_lease': 'a member holds the VIP without the lease',
} as const;
export type ArbiterEventType = keyof typeof ARBITER_EVENT_DESCRIPTIONS;
const arbiterEventData = z.object({
  reason: reasonText,
  /** The node the decision is about. */
  subject: name.optional(),
  epoch: epoch.optional(),
  facts: z.record(z.string().max(64), z.union([z.string().max(1024), z.number(), z.boolean(), z.null(), z.array(z.string().max(128)).max(64)])).optional(),
});
function arbiterEventTypes(): { [K in ArbiterEventType]: EventTypeSpec<typeof arbiterEventData> } {
  const out = {} as { [K in ArbiterEventType]: EventTypeSpec<typeof arbiterEventData> };
  for (const [type, description] of Object.entries(ARBITER_EVENT_DESCRIPTIONS) as [ArbiterEventType, string][]) out[type] = eventType(description, 1, arbiterEventData);
  return out;
}

export const AGENT_STATES = ['INIT', 'BACKUP', 'MASTER', 'FAULT', 'CLAIMING'] as const;
export const agentState = z.enum(AGENT_STATES);

export const EVENT_TYPES = {
  'agent.started': eventType(
    'the agent started: its version, process and the instances it runs',
    1,
    z.object({
      version: z.string().max(64),
      pid: z.number().int().positive(),
      hostname: z.string().max(255).optional(),
      /** Changes at every start; part of every event id of this run. */
      bootId: z.string().max(64),
      instances: z.array(name).max(1024),
      /** How many unacknowledged events the journal held at start and will replay. */
      replaying: count.optional(),
    }),
  ),
  'agent.stopped': eventType(
    'the agent is stopping: why, and what it released',
    1,
    z.object({
      reason: reasonText,
      signal: z.string().max(16).optional(),
      uptimeMs: durationMs,
      released: z.array(name).max(1024).optional(),
    }),
  ),
  'config.loaded': eventType(
    'a configuration was loaded (at start or on reload)',
    1,
    z.object({
      /** sha256 (hex) of the configuration as loaded, to tell two nodes' configurations apart. */
      hash: z.string().regex(/^[0-9a-f]{64}$/),
      source: z.string().max(1024),
      format: z.enum(['native', 'keepalived']),
      instances: z.array(name).max(1024),
      warnings: count.optional(),
    }),
  ),
  'vrrp.transition': eventType(
    'an instance changed state, with the reason the state machine gave',
    1,
    z.object({
      from: agentState,
      to: agentState,
      reason: reasonText,
      vrid: z.number().int().min(1).max(255).optional(),
      priority,
      effectivePriority: priority,
      /** The master this node last accepted adverts from, if any. */
      masterSeen: z.object({ address, priority }).nullable(),
      /** How late the timer that caused this transition fired, ms. */
      lateMs: durationMs.optional(),
    }),
  ),
  'check.result': eventType(
    'a tracked check ran: its verdict and a short excerpt of its output',
    1,
    z.object({
      check: name,
      kind: z.string().max(32).optional(),
      ok: z.boolean(),
      latencyMs: durationMs,
      output: z.string().max(OUTPUT_EXCERPT_CHARS),
      status: z.enum(['init', 'good', 'failing']).optional(),
      changed: z.boolean().optional(),
      reason: reasonText.optional(),
    }),
  ),
  'vip.added': eventType(
    'a virtual address was added to an interface',
    1,
    z.object({
      address,
      prefix: z.number().int().min(0).max(128),
      interface: name,
      /** false when the address was already there (the add was idempotent). */
      changed: z.boolean(),
      reason: reasonText.optional(),
    }),
  ),
  'vip.removed': eventType(
    'a virtual address was removed from an interface',
    1,
    z.object({
      address,
      prefix: z.number().int().min(0).max(128),
      interface: name,
      changed: z.boolean(),
      reason: reasonText.optional(),
    }),
  ),
  'garp.sent': eventType(
    'gratuitous ARP / unsolicited neighbour advertisements were sent for the virtual addresses',
    1,
    z.object({
      interface: name,
      family: z.enum(['ipv4', 'ipv6']),
      addresses: z.array(address).max(1024),
      count: count,
    }),
  ),
  'packet.rejected': eventType(
    'VRRP packets refused over a period, counted by reason (aggregated, not one event per packet)',
    1,
    z.object({
      periodMs: durationMs,
      interface: name.optional(),
      total: count,
      counts: z.record(z.string().max(64), count),
      /** A few sources seen, for a hint; not every one. */
      sources: z.array(address).max(16).optional(),
    }),
  ),
  'journal.recovered': eventType(
    'the outbox journal was damaged at start (torn tail after a crash, corrupt entries) and was recovered',
    1,
    z.object({
      tornTails: count,
      tornBytes: count,
      corruptEntries: count,
      replaying: count,
      segments: count,
    }),
  ),
  'journal.full': eventType(
    'the outbox journal reached its size cap: new events wait in memory (bounded) until JetStream acknowledges older ones',
    1,
    z.object({
      maxBytes: count,
      bytes: count,
      unacknowledged: count,
    }),
  ),
  'journal.degraded': eventType(
    'the outbox journal could not be written for a while (disk full, I/O error or size cap); now it can again',
    1,
    z.object({
      reason: z.enum(['write-error', 'size-cap']),
      error: z.string().max(1024),
      code: z.string().max(64).optional(),
      since: z.iso.datetime({ precision: 3 }),
      durationMs,
      /** Most events held in memory at once meanwhile. */
      heldMax: count,
      /** Events lost because the memory queue was full: their seqs are a gap. */
      dropped: count,
      droppedSeqs: z.object({ first: z.number().int().positive(), last: z.number().int().positive() }).optional(),
    }),
  ),
  // -------------------------------------------------------------------------
  // The arbiter's decisions (envelope node: the arbiter replica) and the agent's
  // side of its lease. `subject` names the node a decision is about.
  ...arbiterEventTypes(),
  'lease.renewal_failed': eventType(
    'the holder could not renew its lease in time (no answer, refused): it demotes itself before the lease runs out',
    1,
    z.object({ epoch, reason: reasonText, remainingMs: z.number(), attempts: count }),
  ),
  'lease.self_demoted': eventType(
    'the holder removed its VIP (then sent priority 0) because its lease would run out or was taken away',
    1,
    z.object({ epoch, reason: reasonText }),
  ),
  'fence.result': eventType(
    'a fence attempt ended: the backend, whether it was confirmed, how long it took',
    1,
    z.object({
      subject: name,
      epoch,
      attempt: count,
      backend: z.string().max(64),
      ok: z.boolean(),
      confirmed: z.boolean(),
      durationMs,
      idempotencyKey: z.string().max(256),
      detail: reasonText.optional(),
      reason: reasonText,
    }),
  ),
} as const;

export type EventTypes = typeof EVENT_TYPES;
export type EventType = keyof EventTypes;
/** What a publisher passes as data. */
export type EventInput<T extends EventType> = z.input<EventTypes[T]['schema']>;
/** What a reader gets as data. */
export type EventData<T extends EventType> = z.output<EventTypes[T]['schema']>;

export const EVENT_TYPE_NAMES = Object.keys(EVENT_TYPES) as EventType[];

export function isKnownEventType(type: string): type is EventType {
  return Object.prototype.hasOwnProperty.call(EVENT_TYPES, type);
}

/** The data schema for `type` at version `v`, or a reason why there is none. */
export function dataSchema(type: string, v: number): { ok: true; schema: z.ZodType } | { ok: false; reason: string } {
  if (!isKnownEventType(type)) return { ok: false, reason: `unknown event type ${JSON.stringify(type)}` };
  const spec: EventTypeSpec = EVENT_TYPES[type];
  if (v === spec.v) return { ok: true, schema: spec.schema };
  const older = spec.older[v];
  if (older) return { ok: true, schema: older };
  const known = [...Object.keys(spec.older), String(spec.v)].join(', ');
  return { ok: false, reason: `${type} v${v} is not a known version (known: ${known})` };
}

/** At most OUTPUT_EXCERPT_CHARS of a check's output, trimmed, with a mark when cut. */
export function outputExcerpt(output: string, max: number = OUTPUT_EXCERPT_CHARS): string {
  const text = output.trim();
  if (text.length <= max) return text;
  return `${text.slice(0, max - 1)}…`;
}
