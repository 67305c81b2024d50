/**
 * The wire between agents and arbiters: subjects and the messages on them, each
 * validated with zod at the receiving end. Both sides import this file and
 * nothing else of each other.
 *
 *   ha.<cluster>.arb.req             agent -> arbiters, request/reply, queue group
 *                                    `arbiters`: claim, renew, release. The answer
 *                                    comes on the request's own reply inbox.
 *   ha.<cluster>.arb.node.<node>     arbiter -> one agent, no reply: offer,
 *                                    orderDemote (the node subscribes to its own).
 *   ha.<cluster>.arb.hb.<node>       agent -> arbiters, every heartbeat interval:
 *                                    the node is alive and which instances it runs
 *                                    (how an arbiter notices an agent that died
 *                                    while its host stayed up, without the NATS
 *                                    system account).
 *
 * Every message carries `v` (this protocol's version). A message that does not
 * parse is answered (when it has a reply inbox) with `refuse` and a reason naming
 * the field, and changes nothing.
 */
import { z } from 'zod';
import { KqError } from '../../common/src/errors.js';

export const PROTOCOL_VERSION = 1;
/** The queue group every arbiter replica answers requests in: each request reaches one replica. */
export const ARBITER_QUEUE = 'arbiters';
/** The KV bucket of leases: one key per instance, `<cluster>.<instance>`, written only by compare-and-set. */
export const LEASE_BUCKET = 'HA_LEASES';

export function requestSubject(cluster: string): string {
  return `ha.${cluster}.arb.req`;
}
export function nodeSubject(cluster: string, node: string): string {
  return `ha.${cluster}.arb.node.${node}`;
}
export function heartbeatSubject(cluster: string, node: string): string {
  return `ha.${cluster}.arb.hb.${node}`;
}
/** Every heartbeat of the cluster (the arbiter's subscription). */
export function heartbeatWildcard(cluster: string): string {
  return `ha.${cluster}.arb.hb.*`;
}

const token = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "-" and "_", 1 to 64 characters');
const epoch = z.number().int().nonnegative();
const reason = z.string().max(1024);
const ms = z.number().int().nonnegative();

// ---------------------------------------------------------------------------
// agent -> arbiter (request/reply)

const base = { v: z.literal(PROTOCOL_VERSION), instance: token, node: token };

export const agentRequestSchema = z.discriminatedUnion('type', [
  /** The VRRP election says "become master": the agent asks for the lease (state CLAIMING). */
  z.strictObject({ type: z.literal('claim'), ...base }),
  /** The holder renews the epoch it was granted. */
  z.strictObject({ type: z.literal('renew'), ...base, epoch }),
  /** The holder gives the lease up, its VIP already removed (graceful stop, an order to demote). */
  z.strictObject({ type: z.literal('release'), ...base, epoch }),
]);
export type AgentRequest = z.infer<typeof agentRequestSchema>;

/** The answer on the request's reply inbox. `validForMs` is counted down by the agent from when it sent the request. */
export const arbiterReplySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('grant'), v: z.literal(PROTOCOL_VERSION), instance: token, epoch, validForMs: ms, reason }),
  z.strictObject({ type: z.literal('renewed'), v: z.literal(PROTOCOL_VERSION), instance: token, epoch, validForMs: ms }),
  z.strictObject({ type: z.literal('released'), v: z.literal(PROTOCOL_VERSION), instance: token, epoch }),
  z.strictObject({ type: z.literal('veto'), v: z.literal(PROTOCOL_VERSION), instance: token, reason, retryAfterMs: ms.optional() }),
  /** Not carried out (unknown instance, stale epoch, malformed request, write path down). */
  z.strictObject({ type: z.literal('refuse'), v: z.literal(PROTOCOL_VERSION), instance: token.optional(), reason }),
  /** The decision is waiting on something (a lease write in flight, a fence): ask again after retryAfterMs. */
  z.strictObject({ type: z.literal('wait'), v: z.literal(PROTOCOL_VERSION), instance: token, reason, retryAfterMs: ms }),
]);
export type ArbiterReply = z.infer<typeof arbiterReplySchema>;

// ---------------------------------------------------------------------------
// arbiter -> one agent (pushed on its node subject)

export const nodeOrderSchema = z.discriminatedUnion('type', [
  /** The lease was written in this node's name: claim it now (the claim's answer is the grant). */
  z.strictObject({ type: z.literal('offer'), v: z.literal(PROTOCOL_VERSION), instance: token, epoch, reason }),
  /** Remove the VIP, send priority 0, confirm with a release of `epoch`; ignored when holding a newer epoch. */
  z.strictObject({ type: z.literal('orderDemote'), v: z.literal(PROTOCOL_VERSION), instance: token, epoch, reason }),
]);
export type NodeOrder = z.infer<typeof nodeOrderSchema>;

// ---------------------------------------------------------------------------
// agent -> arbiters (published)

export const instanceReportSchema = z.strictObject({
  instance: token,
  state: z.enum(['INIT', 'BACKUP', 'MASTER', 'FAULT', 'CLAIMING']),
  priority: z.number().int().min(0).max(255),
  /** The VIP is on the node's interface. */
  vip: z.boolean(),
  mode: z.enum(['strict', 'failsafe', 'off']),
  fencing: z.enum(['off', 'best-effort', 'required']),
  /** The epoch the node holds, if any. */
  epoch: epoch.optional(),
  /**
   * The lease timing the agent runs the instance with (optional: older agents
   * do not send it). The arbiter refuses the claims of a node whose timing
   * differs from its own for the instance: it would judge a live holder silent.
   */
  timing: z
    .strictObject({
      leaseTtlMs: z.number().int().positive().max(3_600_000),
      renewIntervalMs: z.number().int().positive().max(3_600_000),
      requestTimeoutMs: z.number().int().positive().max(3_600_000),
      safetyMarginMs: z.number().int().nonnegative().max(3_600_000),
    })
    .optional(),
});
export type InstanceReport = z.infer<typeof instanceReportSchema>;

export const heartbeatSchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  node: token,
  /** Changes at every start of the agent: a new boot id is a new incarnation. */
  bootId: z.string().min(1).max(64),
  /** How often heartbeats come, ms: the arbiter counts a node gone after a few missed. */
  intervalMs: z.number().int().positive().max(60_000),
  /** The node's own gateway check. */
  gateway: z.enum(['up', 'down', 'unknown']),
  instances: z.array(instanceReportSchema).max(1024),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

// ---------------------------------------------------------------------------
// Parsing

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Bytes -> a validated message, or a reason naming what is wrong (`field: problem`). Never throws. */
export function parseMessage<T>(schema: z.ZodType<T>, data: Uint8Array, what: string): Parsed<T> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    return { ok: false, reason: `${what}: not UTF-8` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `${what}: not JSON (${(e as Error).message})` };
  }
  const r = schema.safeParse(json);
  if (r.success) return { ok: true, value: r.data };
  const first = r.error.issues[0]!;
  const at = first.path.length > 0 ? first.path.join('.') : '(message)';
  return { ok: false, reason: `${what}: ${at}: ${first.message}` };
}

export function encodeMessage(message: AgentRequest | ArbiterReply | NodeOrder | Heartbeat): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message));
}

/** Throws when `cluster` or `node` cannot stand as a subject token. */
export function assertProtocolToken(what: string, value: string): void {
  if (!token.safeParse(value).success) {
    throw new KqError('KQ_ERR_CONFIG_VALUE', `${what} ${JSON.stringify(value)} cannot be part of a NATS subject: use letters, digits, "-" and "_" (1 to 64)`);
  }
}
