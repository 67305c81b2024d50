/**
 * The split-brain figure: how long two or more namespaces held the VIP at once,
 * sampled from outside the agents (proc/vip-sampler.js in every host).
 *
 * The samplers are the test's instruments, not the hosts' software: they are
 * spawned as lab observers and survive powerOff(), so a host that comes back
 * with a stale VIP still configured is seen holding it again.
 */
import { fileURLToPath } from 'node:url';
import { LabError, type LabHost, type LabProcess } from './lab.js';
import { exitedAndDrained } from './client.js';

export const VIP_SAMPLER_SCRIPT = fileURLToPath(new URL('./proc/vip-sampler.js', import.meta.url));

export interface HolderSample {
  /** CLOCK_MONOTONIC ns of the sample. */
  t: bigint;
  held: boolean;
}

export interface HostTimeline {
  host: string;
  /** The sampler's lines in order: its first sample, then every change. */
  samples: HolderSample[];
  /** When the sampler stopped observing; its last state holds until then. */
  endNs: bigint;
}

export interface HoldersSpan {
  fromNs: bigint;
  toNs: bigint;
  /** The hosts holding the VIP throughout this span (empty: nobody held it). */
  holders: string[];
}

export interface SplitBrainResult {
  /** Total time during which two or more hosts held the VIP, within the window. */
  splitBrainMs: number;
  /** Who held the VIP when, as consecutive spans covering the window. */
  holders: HoldersSpan[];
  /** The window: from when every host was observed to when the first sampler stopped. */
  fromNs: bigint;
  toNs: bigint;
}

/**
 * Overlap arithmetic over per-host timelines. A host's state is known from its
 * first sample to its endNs; the window is where every host is known (or the
 * caller's narrower window). Each edge is seen up to one sampling interval
 * late, on each host independently, so the figure is exact to within about one
 * interval per transition.
 */
export function computeSplitBrain(timelines: readonly HostTimeline[], window: { from?: bigint; to?: bigint } = {}): SplitBrainResult {
  const maxBig = (xs: bigint[]): bigint => xs.reduce((a, b) => (b > a ? b : a));
  const minBig = (xs: bigint[]): bigint => xs.reduce((a, b) => (b < a ? b : a));
  const known = timelines.filter((tl) => tl.samples.length > 0);
  if (known.length === 0) {
    const t = window.from ?? 0n;
    return { splitBrainMs: 0, holders: [], fromNs: t, toNs: window.to ?? t };
  }
  const observedFrom = maxBig(known.map((tl) => (tl.samples[0] as HolderSample).t));
  const observedTo = minBig(known.map((tl) => tl.endNs));
  const from = window.from !== undefined && window.from > observedFrom ? window.from : observedFrom;
  const to = window.to !== undefined && window.to < observedTo ? window.to : observedTo;
  if (to <= from) return { splitBrainMs: 0, holders: [], fromNs: from, toNs: from };

  const names = known.map((tl) => tl.host);
  const state = new Map<string, boolean>(names.map((n) => [n, false]));
  const changes: Array<{ t: bigint; host: string; held: boolean }> = [];
  for (const tl of known) {
    for (const s of tl.samples) {
      if (s.t <= from) state.set(tl.host, s.held);
      else if (s.t < to) changes.push({ t: s.t, host: tl.host, held: s.held });
    }
  }
  changes.sort((x, y) => (x.t < y.t ? -1 : x.t > y.t ? 1 : 0));

  const holders: HoldersSpan[] = [];
  let splitNs = 0n;
  let spanStart = from;
  const current = (): string[] => names.filter((n) => state.get(n));
  const close = (end: bigint): void => {
    if (end <= spanStart) return;
    const now = current();
    if (now.length >= 2) splitNs += end - spanStart;
    const prev = holders[holders.length - 1];
    if (prev && prev.holders.join('\0') === now.join('\0')) prev.toNs = end;
    else holders.push({ fromNs: spanStart, toNs: end, holders: now });
    spanStart = end;
  };
  for (const c of changes) {
    close(c.t);
    state.set(c.host, c.held);
  }
  close(to);
  return { splitBrainMs: Number(splitNs) / 1e6, holders, fromNs: from, toNs: to };
}

export interface SplitBrainWatchOptions {
  /** Sampling interval. Default 5 ms. */
  intervalMs?: number;
  /** The samplers stop by themselves after this long. Default 10 minutes. */
  durationMs?: number;
  /** How long to wait for every sampler's first sample. Default 10 s. */
  readyTimeoutMs?: number;
}

export interface SplitBrainWatch {
  readonly vip: string;
  readonly samplers: ReadonlyMap<string, LabProcess>;
  /** Which hosts hold the VIP according to the latest samples. */
  holdersNow(): string[];
  /** Stops the samplers and computes the figure over the whole watch. */
  stop(): Promise<SplitBrainResult>;
}

function parseSample(line: string): (HolderSample & { end?: boolean }) | undefined {
  try {
    const raw = JSON.parse(line) as { t?: unknown; held?: unknown; end?: unknown };
    if (typeof raw.t !== 'string' || typeof raw.held !== 'boolean') return undefined;
    return { t: BigInt(raw.t), held: raw.held, end: raw.end === true };
  } catch {
    return undefined;
  }
}

/** Start one sampler per host; resolves once every host reported its first sample. */
export async function startSplitBrainWatch(hosts: readonly LabHost[], vip: string, opts: SplitBrainWatchOptions = {}): Promise<SplitBrainWatch> {
  const args = ['--vip', vip, '--interval-ms', String(opts.intervalMs ?? 5), '--duration-ms', String(opts.durationMs ?? 600_000)];
  const timelines = new Map<string, { samples: HolderSample[]; endNs?: bigint }>();
  const samplers = new Map<string, LabProcess>();
  for (const host of hosts) {
    const timeline: { samples: HolderSample[]; endNs?: bigint } = { samples: [] };
    timelines.set(host.name, timeline);
    const proc = host.spawnNode(`vip-sampler-${vip.replace(/[:.]/g, '_')}`, VIP_SAMPLER_SCRIPT, args, { captureStdout: true, observer: true });
    samplers.set(host.name, proc);
    proc.onLine((line) => {
      const s = parseSample(line);
      if (!s) return;
      if (s.end) timeline.endNs = s.t;
      else timeline.samples.push({ t: s.t, held: s.held });
    });
    // A sampler that dies without its last line stopped observing when it died.
    void proc.exited.then(() => {
      timeline.endNs ??= process.hrtime.bigint();
    });
  }
  const stopAll = async (): Promise<void> => {
    await Promise.all([...samplers.values()].map(async (p) => {
      await p.stop();
      await exitedAndDrained(p);
    }));
  };
  try {
    const timeoutMs = opts.readyTimeoutMs ?? 10_000;
    await Promise.all([...samplers.values()].map((p) => p.waitForLine((l) => parseSample(l) !== undefined, timeoutMs)));
  } catch (e) {
    await stopAll();
    throw e;
  }
  return {
    vip,
    samplers,
    holdersNow: () => [...timelines].filter(([, tl]) => tl.samples[tl.samples.length - 1]?.held).map(([name]) => name),
    async stop() {
      await stopAll();
      const list: HostTimeline[] = [];
      for (const [host, tl] of timelines) {
        if (tl.endNs === undefined) throw new LabError(`vip sampler of ${host} left no end time`);
        list.push({ host, samples: tl.samples, endNs: tl.endNs });
      }
      return computeSplitBrain(list);
    },
  };
}
