/**
 * The arbiter's side of the audit trail: decide()'s event actions and the
 * fence results, published through libs/events' EventPublisher with the
 * replica as the envelope's node and its own journal in the state dir (so a
 * NATS outage loses no decision). Never throws into the decision loop.
 */
import type { Logger } from '../../../libs/common/src/log.js';
import type { ArbiterReply } from '../../../libs/arbiter/src/protocol.js';
import type { ArbiterRequest, EventAction } from '../../../libs/arbiter/src/types.js';
import type { EventInput, EventPublisher, EventType } from '../../../libs/events/src/mod.js';

export interface ArbiterEvents {
  decision(a: EventAction): void;
  publish<T extends EventType>(type: T, data: EventInput<T>, instance?: string): void;
  /** An answer went to an agent's request (not an event: renewals are too many; metrics.ts counts them). */
  replied?(request: ArbiterRequest, reply: ArbiterReply): void;
  stop(timeoutMs?: number): Promise<void>;
  /** The publisher's journal backlog and counters (libs/events Backlog, PublisherStats), when there is an event log. */
  backlog?(): unknown;
  stats?(): unknown;
}

const MAX_REASON = 1024;
export const clip = (s: string, max = MAX_REASON): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

type Fact = string | number | boolean | null | string[];

/** decide()'s event data to the arbiter event schema: `epoch` lifted out, the rest as facts. */
export function arbiterEventData(a: EventAction): EventInput<'lease.granted'> {
  const facts: Record<string, Fact> = {};
  let epoch: number | undefined;
  for (const [k, v] of Object.entries(a.data ?? {})) {
    if (k === 'epoch' && typeof v === 'number') epoch = v;
    else if (Array.isArray(v)) facts[k.slice(0, 64)] = v.slice(0, 64).map((s) => clip(String(s), 128));
    else facts[k.slice(0, 64)] = typeof v === 'string' ? clip(v) : (v as Fact);
  }
  return {
    reason: clip(a.reason),
    ...(a.node !== undefined ? { subject: a.node } : {}),
    ...(epoch !== undefined ? { epoch } : {}),
    ...(Object.keys(facts).length > 0 ? { facts } : {}),
  };
}

export function publisherEvents(publisher: EventPublisher, log: Logger): ArbiterEvents {
  const publish = <T extends EventType>(type: T, data: EventInput<T>, instance?: string): void => {
    try {
      publisher.publish(type, data, instance !== undefined ? { instance } : {});
    } catch (e) {
      log.error({ type, err: (e as Error).message }, 'event not published');
    }
  };
  return {
    decision: (a) => publish(a.name, arbiterEventData(a), a.instance),
    publish,
    stop: async (timeoutMs = 5000) => {
      await publisher.stop(timeoutMs);
    },
    backlog: () => publisher.backlog(),
    stats: () => publisher.stats(),
  };
}

/** No event log: decisions are still logged. */
export const NO_EVENTS: ArbiterEvents = {
  decision: () => {},
  publish: () => {},
  stop: async () => {},
};
