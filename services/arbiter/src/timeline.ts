/**
 * The failover timeline of an instance, as the dashboard shows it: the events
 * of the log that say who serves and why (transitions, VIP changes, the
 * arbiter's decisions, fences, failovers), each as one entry with its reason.
 * The events are read with libs/events' readHistory (the dashboard's history)
 * and tail (its live feed, live-feed.ts); `timelineEntry` is pure.
 */
import type { JetStreamClient } from 'nats';
import { readHistory, type AnyEnvelope } from '../../../libs/events/src/mod.js';

/** The event types of a timeline; the others (check results, GARPs, packet counts, journal) are noise there. */
export const TIMELINE_TYPES: ReadonlySet<string> = new Set([
  'vrrp.transition',
  'vip.added',
  'vip.removed',
  'claim.vetoed',
  'lease.granted',
  'lease.released',
  'lease.refused',
  'lease.write_failed',
  'lease.renewal_failed',
  'lease.self_demoted',
  'fence.requested',
  'fence.result',
  'failover.started',
  'failover.refused',
  'node.gone',
  'splitbrain.detected',
  'vip.without_lease',
  'agent.stopped',
]);

export interface TimelineEntry {
  readonly id: string;
  readonly at: string;
  /** Who published it: an agent's node or an arbiter replica. */
  readonly node: string;
  readonly instance?: string;
  readonly type: string;
  /** The node a decision is about (arbiter events, fence results). */
  readonly subject?: string;
  readonly epoch?: number;
  readonly reason?: string;
  /** One readable line: what happened. */
  readonly text: string;
}

type Data = Record<string, unknown>;

function what(e: AnyEnvelope): string {
  const d = e.data as Data;
  const about = typeof d['subject'] === 'string' ? String(d['subject']) : null;
  const epoch = typeof d['epoch'] === 'number' ? ` (epoch ${d['epoch']})` : '';
  switch (e.type) {
    case 'vrrp.transition':
      return `${e.node}: ${String(d['from'])} -> ${String(d['to'])}`;
    case 'vip.added':
    case 'vip.removed':
      return `${e.node}: ${e.type === 'vip.added' ? 'VIP added' : 'VIP removed'} ${String(d['address'])}/${String(d['prefix'])}`;
    case 'lease.granted':
      return `lease granted to ${about ?? '?'}${epoch}`;
    case 'lease.released':
      return `lease released by ${about ?? '?'}${epoch}`;
    case 'claim.vetoed':
      return `claim by ${about ?? '?'} vetoed`;
    case 'lease.refused':
      return `request of ${about ?? '?'} refused`;
    case 'lease.write_failed':
      return 'lease write failed';
    case 'lease.renewal_failed':
      return `${e.node}: renewal failed${epoch}`;
    case 'lease.self_demoted':
      return `${e.node}: demoted itself${epoch}`;
    case 'fence.requested':
      return `fence of ${about ?? '?'} requested${epoch}`;
    case 'fence.result':
      return `fence of ${about ?? '?'} ${d['confirmed'] ? 'confirmed' : d['ok'] ? 'not confirmed' : 'failed'} (${String(d['backend'])}, attempt ${String(d['attempt'])})`;
    case 'failover.started': {
      // decide(): the subject is the target, the holder is a fact.
      const facts = (d['facts'] ?? {}) as Data;
      const from = typeof facts['from'] === 'string' ? `from ${String(facts['from'])} ` : '';
      return `forced failover ${from}to ${about ?? 'the best member'}${epoch}`;
    }
    case 'failover.refused':
      return 'forced failover refused';
    case 'node.gone':
      return `${about ?? '?'} gone`;
    case 'splitbrain.detected':
      return 'SPLIT BRAIN';
    case 'vip.without_lease':
      return `${about ?? '?'} holds the VIP without the lease`;
    case 'agent.stopped':
      return `${e.node}: agent stopped`;
    default:
      return `${e.node}: ${e.type}`;
  }
}

/** The entry of a timeline event, or null for an event a timeline leaves out. */
export function timelineEntry(e: AnyEnvelope): TimelineEntry | null {
  if (!TIMELINE_TYPES.has(e.type)) return null;
  const d = e.data as Data;
  // A VIP "change" that changed nothing (already there, already gone) says nothing about who serves.
  if ((e.type === 'vip.added' || e.type === 'vip.removed') && d['changed'] === false) return null;
  return {
    id: e.id,
    at: e.at,
    node: e.node,
    ...(e.instance !== undefined ? { instance: e.instance } : {}),
    type: e.type,
    ...(typeof d['subject'] === 'string' ? { subject: d['subject'] } : {}),
    ...(typeof d['epoch'] === 'number' ? { epoch: d['epoch'] } : {}),
    ...(typeof d['reason'] === 'string' && d['reason'] !== '' ? { reason: d['reason'] } : {}),
    text: what(e),
  };
}

export interface TimelineQuery {
  readonly cluster: string;
  readonly instance: string;
  readonly since: Date;
  readonly limit: number;
}

export interface Timeline {
  readonly instance: string;
  readonly entries: TimelineEntry[];
  /** Events read from the stream. */
  readonly read: number;
  /** Older entries were dropped to keep `limit`. */
  readonly truncated: boolean;
}

/** The newest `limit` entries of an instance since `since`, oldest first, read with libs/events' readHistory. */
export async function readTimeline(js: JetStreamClient, q: TimelineQuery): Promise<Timeline> {
  const reader = readHistory(js, { cluster: q.cluster, instance: q.instance, since: q.since }, { createTimeoutMs: 10_000 });
  const entries: TimelineEntry[] = [];
  let truncated = false;
  for await (const item of reader) {
    const entry = timelineEntry(item.event);
    if (entry === null) continue;
    entries.push(entry);
    if (entries.length > q.limit) {
      entries.shift();
      truncated = true;
    }
  }
  return { instance: q.instance, entries, read: reader.summary().read, truncated };
}
