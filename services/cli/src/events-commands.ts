/**
 * hactl's event-log commands: history, tail, stream init. They talk to NATS
 * only (never to an agent), through libs/events' readers and provisioning.
 *
 * Exit codes: 0 done; 1 could not run (no NATS, no stream); 2 usage; 3 done,
 * but the log has holes (a node's seq skipped) or messages that are not events.
 */
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import {
  DEFAULT_STREAM_SETTINGS,
  ensureStream,
  natsConnectOptions,
  readHistory,
  replicasFor,
  streamConfig,
  tail,
  type ReadFilter,
  type ReadSummary,
  type StreamSettings,
} from '../../../libs/events/src/mod.js';
import { timelineLine } from './timeline.js';
import { NATS_USAGE, takeNatsFlags } from './nats-options.js';

export const HISTORY_USAGE = `hactl history [filters] [--json]
hactl tail [filters] [--json]

Filters:
  --cluster NAME  --node NAME  --instance NAME
  --type TYPE     an event type (vrrp.transition) or a family (vrrp.>)
  --since TIME    --until TIME   ISO 8601 (2026-11-25T03:12:00Z) or an age: 90s, 15m, 2h, 7d
  --json          one envelope per line (NDJSON) on stdout; the summary on stderr

${NATS_USAGE}

Exit: 0 done, 1 cannot read the log, 2 usage, 3 done but seq gaps or invalid messages were found.`;

export const STREAM_USAGE = `hactl stream init [--replicas N] [--max-age AGE] [--max-bytes SIZE] [--duplicate-window AGE] [--apply]

Shows what the event stream HA_EVENTS will look like (or what would change),
and creates or updates it with --apply. Replicas default to 3 on a NATS cluster,
1 on a single server. AGE: 30d, 12h, 90m; SIZE: 1GiB, 512MiB.

${NATS_USAGE}`;

class UsageError extends Error {}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseAge(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new UsageError(`${what} '${text}': expected a number and a unit (ms, s, m, h, d), e.g. 15m`);
  return Number(m[1]) * UNITS_MS[m[2]!]!;
}

export function parseSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(B|KiB|MiB|GiB|TiB)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${what} '${text}': expected a size such as 512MiB or 1GiB`);
  const mult = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 }[m[2] ?? 'B']!;
  return Math.floor(Number(m[1]) * mult);
}

/** ISO 8601, or an age counted back from `now`. */
export function parseTime(text: string, what: string, now = Date.now()): Date {
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(text)) return new Date(now - parseAge(text, what));
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new UsageError(`${what} '${text}': expected an ISO 8601 time (2026-11-25T03:12:00Z) or an age (15m)`);
  return new Date(t);
}

function readFilter(values: Record<string, string | boolean | undefined>): ReadFilter {
  const f: ReadFilter = {};
  for (const k of ['cluster', 'node', 'instance', 'type'] as const) if (typeof values[k] === 'string') f[k] = values[k] as string;
  if (typeof values['since'] === 'string') f.since = parseTime(values['since'], '--since');
  if (typeof values['until'] === 'string') f.until = parseTime(values['until'], '--until');
  return f;
}

function reportSummary(s: ReadSummary): number {
  const parts = [`${s.delivered} events`];
  if (s.invalid > 0) parts.push(`${s.invalid} messages skipped as not events (${Object.entries(s.invalidReasons).map(([k, v]) => `${k}: ${v}`).join(', ')})`);
  if (s.duplicates > 0) parts.push(`${s.duplicates} duplicates dropped`);
  if (s.resets > 0) parts.push(`${s.resets} seq resets (a node lost its state dir)`);
  if (s.gapsTracked && s.gaps.length > 0) parts.push(`GAPS: ${s.gaps.map((g) => `${g.cluster}/${g.node} seq ${g.from}${g.to > g.from ? `..${g.to}` : ''}`).join('; ')}`);
  process.stderr.write(`${parts.join('; ')}\n`);
  return s.invalid > 0 || (s.gapsTracked && s.gaps.length > 0) ? 3 : 0;
}

export async function history(args: string[], follow: boolean): Promise<number> {
  let settings;
  let values;
  let filter: ReadFilter;
  try {
    const taken = takeNatsFlags(args);
    settings = taken.settings;
    ({ values } = parseArgs({
      args: taken.rest,
      options: {
        cluster: { type: 'string' },
        node: { type: 'string' },
        instance: { type: 'string' },
        type: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
    if (values.help) {
      process.stdout.write(`${HISTORY_USAGE}\n`);
      return 0;
    }
    filter = readFilter(values as Record<string, string | boolean | undefined>);
  } catch (e) {
    process.stderr.write(`hactl ${follow ? 'tail' : 'history'}: ${(e as Error).message}\n\n${HISTORY_USAGE}\n`);
    return 2;
  }
  const nc = await connect({ ...natsConnectOptions(settings), maxReconnectAttempts: follow ? -1 : 0 });
  try {
    const js = nc.jetstream();
    const reader = follow
      ? tail(js, filter, { onGap: (g) => process.stderr.write(`GAP: ${g.cluster}/${g.node} seq ${g.from}..${g.to} missing\n`) })
      : readHistory(js, filter);
    if (follow) {
      const stop = () => reader.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    }
    for await (const item of reader) {
      process.stdout.write(values.json ? `${JSON.stringify(item.event)}\n` : `${timelineLine(item.event)}\n`);
    }
    return reportSummary(reader.summary());
  } finally {
    await nc.close();
  }
}

export async function streamInit(args: string[]): Promise<number> {
  let settings;
  let values;
  try {
    const taken = takeNatsFlags(args);
    settings = taken.settings;
    ({ values } = parseArgs({
      args: taken.rest,
      options: {
        replicas: { type: 'string' },
        'max-age': { type: 'string' },
        'max-bytes': { type: 'string' },
        'duplicate-window': { type: 'string' },
        apply: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
    if (values.help) {
      process.stdout.write(`${STREAM_USAGE}\n`);
      return 0;
    }
  } catch (e) {
    process.stderr.write(`hactl stream init: ${(e as Error).message}\n\n${STREAM_USAGE}\n`);
    return 2;
  }
  const nc = await connect({ ...natsConnectOptions(settings), maxReconnectAttempts: 0 });
  try {
    const wanted: StreamSettings = { replicas: values.replicas !== undefined ? Number(values.replicas) : replicasFor(nc.info) };
    try {
      if (values['max-age']) wanted.maxAgeMs = parseAge(values['max-age'], '--max-age');
      if (values['max-bytes']) wanted.maxBytes = parseSize(values['max-bytes'], '--max-bytes');
      if (values['duplicate-window']) wanted.duplicateWindowMs = parseAge(values['duplicate-window'], '--duplicate-window');
    } catch (e) {
      process.stderr.write(`hactl stream init: ${(e as Error).message}\n`);
      return 2;
    }
    const plan = await ensureStream(await nc.jetstreamManager(), streamConfig({ ...DEFAULT_STREAM_SETTINGS, ...wanted }), { mode: values.apply ? 'apply' : 'plan' });
    for (const line of plan.lines) process.stdout.write(`${line}\n`);
    if (!values.apply && plan.action !== 'none') process.stdout.write('(nothing changed: run again with --apply)\n');
    return plan.action === 'conflict' ? 1 : 0;
  } finally {
    await nc.close();
  }
}
