/**
 * The client side of every scenario: `startClient` runs proc/http-client.js in
 * the client's namespace; `summarizeClient` turns its records into the
 * figures LAB.md names (client downtime, who served when).
 */
import { fileURLToPath } from 'node:url';
import { LabError, type LabHost, type LabProcess } from './lab.js';

export const HTTP_CLIENT_SCRIPT = fileURLToPath(new URL('./proc/http-client.js', import.meta.url));

export const DEFAULT_INTERVAL_MS = 10;
export const DEFAULT_TIMEOUT_MS = 100;

/** One request as the client saw it. */
export interface ClientRecord {
  /** CLOCK_MONOTONIC ns (process.hrtime.bigint()) when the request started. */
  t: bigint;
  ok: boolean;
  /** The body of a successful response: the name of the host that served. */
  server?: string;
  /** Time from start to completion (ok) or to failure/abandonment (not ok). */
  ms: number;
  /** Why the request failed: "timeout", "ECONNREFUSED", "status 502", … */
  error?: string;
}

export interface ClientOptions {
  /** Time between request starts. Default 10 ms. */
  intervalMs?: number;
  /** A request not completed by then is abandoned. Default 100 ms. */
  timeoutMs?: number;
  /** The client stops sending after this long and exits. Default 10 s. */
  durationMs?: number;
  /** The client stops after this many requests. Default: what fits in durationMs. */
  maxRequests?: number;
  port?: number;
  /** Exit after the first successful response (readiness probes). */
  untilOk?: boolean;
  /** Process name in the lab's logs. Default "client". */
  name?: string;
}

export interface ClientHandle {
  readonly process: LabProcess;
  readonly intervalMs: number;
  /** The records received so far, in completion order. */
  records(): ClientRecord[];
  /** Resolves with the first record (past or future) that satisfies pred. */
  waitFor(pred: (r: ClientRecord) => boolean, timeoutMs: number): Promise<ClientRecord>;
  /** Resolves with every record once the client exited by itself. */
  readonly finished: Promise<ClientRecord[]>;
  /** Stops sending; resolves with every record once requests in flight are done. */
  stop(): Promise<ClientRecord[]>;
}

/**
 * `exited` fires on the child's exit, which can come before the last lines were
 * read from its stdout; a record lost there would be a success missing from the figures.
 */
export async function exitedAndDrained(proc: LabProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const out = proc.child.stdout;
  const drained = !out || out.destroyed || out.readableEnded
    ? Promise.resolve()
    : new Promise<void>((resolve) => out.once('close', () => resolve()));
  const [status] = await Promise.all([proc.exited, drained]);
  return status;
}

export function parseClientLine(line: string): ClientRecord | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as { t?: unknown; ok?: unknown; server?: unknown; ms?: unknown; error?: unknown };
  if (typeof r.t !== 'string' || typeof r.ok !== 'boolean' || typeof r.ms !== 'number') return undefined;
  const rec: ClientRecord = { t: BigInt(r.t), ok: r.ok, ms: r.ms };
  if (typeof r.server === 'string') rec.server = r.server;
  if (typeof r.error === 'string') rec.error = r.error;
  return rec;
}

/** Start the client in `host` against `target` (usually a VIP) on port 80. */
export function startClient(host: LabHost, target: string, opts: ClientOptions = {}): ClientHandle {
  const intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
  const args = [
    '--target', target,
    '--port', String(opts.port ?? 80),
    '--interval-ms', String(intervalMs),
    '--timeout-ms', String(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    '--duration-ms', String(opts.durationMs ?? 10_000),
  ];
  if (opts.maxRequests !== undefined) args.push('--max-requests', String(opts.maxRequests));
  if (opts.untilOk) args.push('--until-ok');
  const proc = host.spawnNode(opts.name ?? 'client', HTTP_CLIENT_SCRIPT, args);
  const records: ClientRecord[] = [];
  const waiters = new Set<(r: ClientRecord) => void>();
  proc.onLine((line) => {
    const rec = parseClientLine(line);
    if (!rec) return;
    records.push(rec);
    for (const w of waiters) w(rec);
  });
  const finished = exitedAndDrained(proc).then(({ code, signal }) => {
    if (code !== 0) throw new LabError(`${proc.name} exited with code ${code}, signal ${signal} (log: ${proc.logFile})`);
    return records.slice();
  });
  // A caller that only uses stop() must not see an unhandled rejection from here.
  finished.catch(() => undefined);
  return {
    process: proc,
    intervalMs,
    records: () => records.slice(),
    waitFor(pred, timeoutMs) {
      const found = records.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        const check = (r: ClientRecord): void => {
          if (!pred(r)) return;
          done();
          resolve(r);
        };
        const timer = setTimeout(() => {
          done();
          reject(new LabError(`${proc.name}: no matching response within ${timeoutMs} ms (log: ${proc.logFile})`));
        }, timeoutMs);
        waiters.add(check);
        void proc.exited.then(() => {
          if (!waiters.has(check)) return;
          done();
          reject(new LabError(`${proc.name} exited before a matching response (log: ${proc.logFile})`));
        });
      });
    },
    finished,
    async stop() {
      // The client answers SIGTERM by finishing what is in flight (at most one timeout).
      await proc.stop(10_000);
      await exitedAndDrained(proc);
      return records.slice();
    },
  };
}

export interface ServedSpan {
  server: string;
  /** Completion time of the first success in this run of one server. */
  fromNs: bigint;
  /** Completion time of the last success in this run. */
  toNs: bigint;
  count: number;
}

export interface ClientSummary {
  /** Requests started in [from, to]. */
  requests: number;
  ok: number;
  failed: number;
  /** The longest client-observed outage overlapping [from, to] (see summarizeClient). */
  downtimeMs: number;
  /** Where that outage lies: from the last success before it to the first success after it (or a window edge). */
  outage?: { fromNs: bigint; toNs: bigint };
  /** Who served when: consecutive successes by one server, in order. */
  servedBy: ServedSpan[];
}

export interface SummaryWindow {
  /** CLOCK_MONOTONIC ns. Default: the first request's start. */
  from?: bigint;
  /** CLOCK_MONOTONIC ns. Default: the last request's completion or abandonment. */
  to?: bigint;
  /** The client's request interval. Default 10 ms. */
  intervalMs?: number;
}

const completion = (r: ClientRecord): bigint => r.t + BigInt(Math.round(r.ms * 1e6));

/**
 * The figures of one client run.
 *
 * downtimeMs, precisely. A success tells the client the VIP worked at the
 * instant that success completed. Take those completion instants in order and
 * cut the time line at each of them; each piece between two consecutive
 * completions is a stretch in which the client got no answer. Its downtime is
 * its length minus one request interval, floored at 0: with a healthy service
 * completions are one interval apart, so only the excess is outage, and the
 * figure is exact to within one interval. Every success counts where it
 * completed, so the latency of the first success after an outage is part of
 * the outage (the client was still waiting).
 *
 * The window [from, to] selects which stretches count: those that overlap it,
 * each measured whole, so an outage that began before `from` (the crash was
 * injected at `from`, the last success was a few ms earlier) is not shortened
 * by the window. Where no success exists beyond a window edge (the outage is at
 * the start or the end of the records, or nothing ever succeeded), the stretch
 * ends at that edge: the client cannot vouch for time it did not observe.
 *
 * A client that is itself not scheduled for a while skips request slots, which
 * shows here as downtime; on a loaded machine the figure errs towards worse.
 */
export function summarizeClient(records: readonly ClientRecord[], window: SummaryWindow = {}): ClientSummary {
  const intervalNs = BigInt(Math.round((window.intervalMs ?? DEFAULT_INTERVAL_MS) * 1e6));
  if (records.length === 0 && (window.from === undefined || window.to === undefined)) {
    return { requests: 0, ok: 0, failed: 0, downtimeMs: 0, servedBy: [] };
  }
  const minBig = (xs: bigint[]): bigint => xs.reduce((a, b) => (b < a ? b : a));
  const maxBig = (xs: bigint[]): bigint => xs.reduce((a, b) => (b > a ? b : a));
  const from = window.from ?? minBig(records.map((r) => r.t));
  const to = window.to ?? maxBig(records.map(completion));
  if (to < from) throw new LabError(`summarizeClient: window ends (${to}) before it starts (${from})`);

  const inWindow = records.filter((r) => r.t >= from && r.t <= to);
  const okCount = inWindow.filter((r) => r.ok).length;

  const successes = records
    .filter((r) => r.ok)
    .map((r) => ({ at: completion(r), server: r.server ?? '' }))
    .sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : 0));

  // Cut points: the last success at or before `from` (or `from` itself), every
  // success inside the window, the first success at or after `to` (or `to`).
  const before = successes.filter((s) => s.at <= from).pop();
  const after = successes.find((s) => s.at >= to);
  const cuts: bigint[] = [before ? before.at : from];
  for (const s of successes) if (s.at > from && s.at < to) cuts.push(s.at);
  cuts.push(after ? after.at : to);

  let downtimeNs = 0n;
  let outage: { fromNs: bigint; toNs: bigint } | undefined;
  for (let i = 1; i < cuts.length; i++) {
    const start = cuts[i - 1] as bigint;
    const end = cuts[i] as bigint;
    const excess = end - start - intervalNs;
    if (excess > downtimeNs) {
      downtimeNs = excess;
      outage = { fromNs: start, toNs: end };
    }
  }

  const servedBy: ServedSpan[] = [];
  for (const s of successes) {
    if (s.at < from || s.at > to) continue;
    const last = servedBy[servedBy.length - 1];
    if (last && last.server === s.server) {
      last.toNs = s.at;
      last.count++;
    } else {
      servedBy.push({ server: s.server, fromNs: s.at, toNs: s.at, count: 1 });
    }
  }

  const summary: ClientSummary = {
    requests: inWindow.length,
    ok: okCount,
    failed: inWindow.length - okCount,
    downtimeMs: Number(downtimeNs) / 1e6,
    servedBy,
  };
  if (outage) summary.outage = outage;
  return summary;
}
