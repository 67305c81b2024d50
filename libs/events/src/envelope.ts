/**
 * The envelope every event travels in: `{id, type, v, cluster, node, instance?, seq, at, data}`.
 *
 * - `id` is unique: `<node>-<bootId>-<seq>`, a fresh bootId per agent start, so an
 *   id is never reused even if a state dir is lost and seq starts over. It is the
 *   JetStream `Nats-Msg-Id`, so a replayed event is dropped by the stream.
 * - `seq` counts a node's events from 1 without gaps, across restarts (the journal
 *   keeps it), so a reader sees loss as a gap.
 * - `at` is the node's wall clock, ISO 8601 UTC with milliseconds.
 * - `v` is the version of the type's data schema (schemas.ts).
 */
import { z } from 'zod';
import { KqError } from '../../common/src/errors.js';
import { dataSchema, isKnownEventType, EVENT_TYPES, type EventData, type EventInput, type EventType } from './schemas.js';
import { isEventTypeName, parseSubject, tokenProblem } from './subjects.js';

const token = z.string().refine((s) => tokenProblem(s) === null, { message: 'not a valid subject token' });

export const envelopeSchema = z.object({
  id: z.string().min(1).max(200),
  type: z.string().refine(isEventTypeName, { message: 'not an event type name' }),
  v: z.number().int().positive(),
  cluster: token,
  node: token,
  instance: z.string().min(1).max(128).optional(),
  seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  at: z.iso.datetime({ precision: 3 }),
  data: z.unknown(),
});

/** An envelope as read or published; `data` typed by `type` when T is known. */
export type Envelope<T extends EventType = EventType> = {
  [K in T]: {
    id: string;
    type: K;
    v: number;
    cluster: string;
    node: string;
    instance?: string;
    seq: number;
    at: string;
    data: EventData<K>;
  };
}[T];

/** Any envelope that passed decoding: its type is one we know. */
export type AnyEnvelope = Envelope<EventType>;

export function eventId(node: string, bootId: string, seq: number): string {
  return `${node}-${bootId}-${seq}`;
}

export interface EnvelopeFields {
  cluster: string;
  node: string;
  bootId: string;
  seq: number;
  at?: Date;
  instance?: string | undefined;
}

/**
 * Builds an envelope, validating `data` against the type's current schema.
 * Throws KQ_ERR_EVENT_INVALID for an unknown type or data the schema refuses:
 * a programming error, never a runtime condition.
 */
export function makeEnvelope<T extends EventType>(type: T, data: EventInput<T>, fields: EnvelopeFields): Envelope<T> {
  if (!isKnownEventType(type)) throw new KqError('KQ_ERR_EVENT_INVALID', `unknown event type ${JSON.stringify(type)}: add it to EVENT_TYPES in libs/events/src/schemas.ts`);
  const spec = EVENT_TYPES[type];
  const parsed = spec.schema.safeParse(data);
  if (!parsed.success) {
    throw new KqError('KQ_ERR_EVENT_INVALID', `${type} data does not match its schema v${spec.v}: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
  }
  const envelope: Record<string, unknown> = {
    id: eventId(fields.node, fields.bootId, fields.seq),
    type,
    v: spec.v,
    cluster: fields.cluster,
    node: fields.node,
  };
  if (fields.instance !== undefined) envelope['instance'] = fields.instance;
  envelope['seq'] = fields.seq;
  envelope['at'] = (fields.at ?? new Date()).toISOString();
  envelope['data'] = parsed.data;
  return envelope as Envelope<T>;
}

export type DecodeResult = { ok: true; event: AnyEnvelope } | { ok: false; reason: string };

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes (or a string) to a checked envelope. Never throws: anything wrong comes
 * back as `{ok: false, reason}`. With `subject`, the envelope must also agree
 * with the subject it arrived on (cluster, node and type), so a message put on
 * another node's subject is refused.
 */
export function decodeEvent(bytes: Uint8Array | string, options: { subject?: string } = {}): DecodeResult {
  let text: string;
  try {
    text = typeof bytes === 'string' ? bytes : decoder.decode(bytes);
  } catch {
    return { ok: false, reason: 'not UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const envelope = envelopeSchema.safeParse(value);
  if (!envelope.success) return { ok: false, reason: `envelope: ${firstIssue(envelope.error)}` };
  const env = envelope.data;
  const schema = dataSchema(env.type, env.v);
  if (!schema.ok) return { ok: false, reason: schema.reason };
  const data = schema.schema.safeParse(env.data);
  if (!data.success) return { ok: false, reason: `${env.type} v${env.v} data: ${firstIssue(data.error)}` };
  if (options.subject !== undefined) {
    const parts = parseSubject(options.subject);
    if (parts === null) return { ok: false, reason: `subject ${options.subject} is not an event subject` };
    if (parts.cluster !== env.cluster || parts.node !== env.node || parts.type !== env.type) {
      return { ok: false, reason: `subject ${options.subject} does not match the envelope (${env.cluster}/${env.node}/${env.type})` };
    }
  }
  return { ok: true, event: { ...env, data: data.data } as AnyEnvelope };
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return `${path}${issue.message}${error.issues.length > 1 ? ` (+${error.issues.length - 1} more)` : ''}`;
}
