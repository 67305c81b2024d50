/** The soak's JSON summary, from the checker's verdict and what the runner measured. Pure. */
import type { FaultRecord, Verdict } from './invariants.js';

export interface RssReading {
  pid: number;
  /** VmRSS in KiB, or null when the process was gone. */
  kb: number | null;
}

export interface SummaryInput {
  seed: number;
  minutes: number;
  /** Wall time of the fault phase, ms. */
  faultPhaseMs: number;
  pairs: Array<{ instance: string; mode: string; fencing: string }>;
  faults: FaultRecord[];
  verdict: Verdict;
  /** Client downtime in each fault's window (longest gap over the instances it touched), by fault id. */
  downtimeMs: Map<number, number>;
  rss: { start: Record<string, RssReading>; end: Record<string, RssReading> };
  runnerRssKb: { start: number; end: number };
  labErrors: string[];
  restartsOnFailure: string[];
  fences: { total: number; unprovoked: Array<{ node: string; atMs: number }> };
  logs: string;
}

export interface SoakSummary {
  ok: boolean;
  seed: number;
  minutes: number;
  faultPhaseMs: number;
  pairs: SummaryInput['pairs'];
  faultsInjected: { total: number; byKind: Record<string, number> };
  splitBrainMs: Record<string, number>;
  /** Of splitBrainMs: a SIGKILLed agent's stale VIP before its cleanup, on a pair without fencing (tolerated, LAB.md "agent killed"). */
  staleVipMs: Record<string, number>;
  tolerated: string[];
  events: { stored: number; lost: number; duplicated: number; perNode: Record<string, { journaled: number; stored: number; missing: Array<[number, number]> }> };
  worstDowntimeMs: Record<string, number>;
  /** Per kind: the slowest time to a correct holder after a step, and its bound. */
  worstSettleMs: Record<string, { settledMs: number | null; boundMs: number }>;
  rss: Record<string, { startKb: number | null; endKb: number | null; sameProcess: boolean }>;
  runnerRssKb: { start: number; end: number };
  violations: string[];
  labErrors: string[];
  /** Starts that failed and were retried as systemd would (not violations; each is worth a look). */
  restartsOnFailure: string[];
  /** Hosts powered off by the arbiter's fence; unprovoked: no fault was on the host then. */
  fences: { total: number; unprovoked: Array<{ node: string; atMs: number }> };
  logs: string;
}

export function buildSummary(input: SummaryInput): SoakSummary {
  const byKind: Record<string, number> = {};
  for (const f of input.faults) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;

  const worstDowntimeMs: Record<string, number> = {};
  for (const f of input.faults) {
    const d = input.downtimeMs.get(f.id);
    if (d === undefined) continue;
    worstDowntimeMs[f.kind] = Math.max(worstDowntimeMs[f.kind] ?? 0, Math.round(d * 10) / 10);
  }

  const worstSettleMs: SoakSummary['worstSettleMs'] = {};
  for (const s of input.verdict.settles) {
    const prev = worstSettleMs[s.kind];
    const value = s.settledMs ?? null;
    if (!prev) worstSettleMs[s.kind] = { settledMs: value, boundMs: s.boundMs };
    else if (prev.settledMs !== null && (value === null || value > prev.settledMs)) worstSettleMs[s.kind] = { settledMs: value, boundMs: s.boundMs };
  }

  const rss: SoakSummary['rss'] = {};
  for (const name of new Set([...Object.keys(input.rss.start), ...Object.keys(input.rss.end)])) {
    const a = input.rss.start[name];
    const b = input.rss.end[name];
    rss[name] = { startKb: a?.kb ?? null, endKb: b?.kb ?? null, sameProcess: a !== undefined && b !== undefined && a.pid === b.pid };
  }

  return {
    ok: input.verdict.ok && input.labErrors.length === 0,
    seed: input.seed,
    minutes: input.minutes,
    faultPhaseMs: Math.round(input.faultPhaseMs),
    pairs: input.pairs,
    faultsInjected: { total: input.faults.length, byKind },
    splitBrainMs: input.verdict.splitBrainMs,
    staleVipMs: input.verdict.staleVipMs,
    tolerated: input.verdict.tolerated,
    events: input.verdict.events,
    worstDowntimeMs,
    worstSettleMs,
    rss,
    runnerRssKb: input.runnerRssKb,
    violations: input.verdict.violations.map((v) => `${v.invariant}: ${v.reason}`),
    labErrors: input.labErrors,
    restartsOnFailure: input.restartsOnFailure,
    fences: input.fences,
    logs: input.logs,
  };
}
