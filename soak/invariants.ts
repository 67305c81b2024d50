/**
 * The soak's invariant checker: pure, fed with what the lab recorded (who held
 * each VIP when, when a host could not rightly serve, which faults were
 * injected with which bounds, what the event stream holds against what the
 * nodes journaled), and answering with violations, each with a reason.
 *
 * The invariants (ISSUE 7, ../shared/design/LAB.md):
 *   one-holder           at most one host holds an instance's VIP at any time
 *                        (split-brain ms is the total time two or more did).
 *                        One exception, which LAB.md's "agent killed" scenario
 *                        states and which is counted apart, not hidden: on a pair
 *                        without fencing, the VIP a SIGKILLed agent left on its
 *                        interface stays until `ha-agent --cleanup` (the unit's
 *                        ExecStopPost) removes it; a second holder meanwhile is
 *                        "stale VIP" time, tolerated within the instance's
 *                        staleVipBoundMs of the kill and a violation after it;
 *   holder-within-bound  after each fault step (injection, restore) a correct
 *                        holder is reached within the fault's bound: exactly one
 *                        holder, and that host eligible (its agent running and not
 *                        frozen, powered on, reaching the gateway) at that time;
 *   event-lost           every node's seqs 1..N stored, N the highest it journaled;
 *   event-duplicated     no event stored twice (same id), no seq reused under
 *                        another id.
 *
 * Times are CLOCK_MONOTONIC milliseconds (one clock for the whole lab).
 */

export type InvariantName = 'one-holder' | 'holder-within-bound' | 'event-lost' | 'event-duplicated' | 'bad-input';

export interface Violation {
  invariant: InvariantName;
  /** What was broken, where and when, in words. */
  reason: string;
  instance?: string;
  node?: string;
  faultId?: number;
}

/** Who held the VIP during [fromMs, toMs): the sampler's view, consecutive spans. */
export interface HolderSpan {
  fromMs: number;
  toMs: number;
  holders: string[];
}

export interface InstanceTrace {
  instance: string;
  /** The hosts that may hold this instance's VIP. */
  hosts: string[];
  /**
   * Pairs without fencing: how long after its agent was SIGKILLed a host's
   * stale VIP is tolerated beside another holder (the cleanup's time).
   * Undefined: never (with fencing the host is powered off instead).
   */
  staleVipBoundMs?: number;
  /** Consecutive spans covering the observed time, in order. */
  spans: HolderSpan[];
}

/** A host that could not rightly serve during [fromMs, toMs) (toMs Infinity: until the end). */
export interface Ineligible {
  host: string;
  fromMs: number;
  toMs: number;
  why: string;
  /** 'agent-killed': the host's agent was SIGKILLed at fromMs (its VIP may be stale). */
  cause?: 'agent-killed';
}

/** After `atMs`, `instance` must have a correct holder within `boundMs`. */
export interface Expectation {
  instance: string;
  atMs: number;
  boundMs: number;
  /** Which step of the fault ("injected", "restored"). */
  label: string;
}

export interface FaultRecord {
  id: number;
  kind: string;
  target: string;
  injectedMs: number;
  endedMs?: number;
  expectations: Expectation[];
}

export interface StoredEvent {
  node: string;
  seq: number;
  id: string;
}

export interface EventTrace {
  /** Every event the stream delivered, in stream order (as the reader handed them out). */
  stored: StoredEvent[];
  /** The highest seq each node journaled (its state dir), read after the stream was drained. */
  journaled: Record<string, number>;
  /** What libs/events' reader counted on the way: copies it dropped, seqs that went back. */
  reader?: { duplicates: number; resets: number };
}

export interface SettleResult {
  faultId: number;
  kind: string;
  instance: string;
  label: string;
  /** How long after the step a correct holder was reached, or undefined when it was not within the bound. */
  settledMs?: number;
  boundMs: number;
}

export interface EventFigures {
  stored: number;
  lost: number;
  duplicated: number;
  /** Per node: highest seq journaled, stored count, missing seqs (as ranges). */
  perNode: Record<string, { journaled: number; stored: number; missing: Array<[number, number]> }>;
}

export interface Verdict {
  ok: boolean;
  violations: Violation[];
  /** Every stretch with two or more holders, stale VIPs included. */
  splitBrainMs: Record<string, number>;
  /** The part of splitBrainMs that was a SIGKILLed agent's stale VIP within the bound (tolerated, see above). */
  staleVipMs: Record<string, number>;
  /** The tolerated stretches, in words. */
  tolerated: string[];
  settles: SettleResult[];
  events: EventFigures;
}

const round = (x: number): number => Math.round(x * 10) / 10;

/** The holders in `holders` whose VIP is a stale one left by a SIGKILLed agent, within the bound, at span [from, to). */
function staleHolders(trace: InstanceTrace, holders: readonly string[], from: number, to: number, ineligible: readonly Ineligible[]): string[] {
  const bound = trace.staleVipBoundMs;
  if (bound === undefined) return [];
  return holders.filter((h) => ineligible.some((i) => i.host === h && i.cause === 'agent-killed' && from >= i.fromMs && to <= i.toMs && to - i.fromMs <= bound));
}

/**
 * Total time with two or more holders, and one violation per such stretch,
 * except stale-VIP stretches (see the file comment), which are counted apart.
 */
export function checkOneHolder(trace: InstanceTrace, ineligible: readonly Ineligible[] = []): { splitBrainMs: number; staleVipMs: number; tolerated: string[]; violations: Violation[] } {
  let total = 0;
  let stale = 0;
  const tolerated: string[] = [];
  const violations: Violation[] = [];
  for (const s of trace.spans) {
    if (s.toMs < s.fromMs) {
      violations.push({ invariant: 'bad-input', instance: trace.instance, reason: `${trace.instance}: a holder span ends (${s.toMs}) before it starts (${s.fromMs})` });
      continue;
    }
    if (s.holders.length < 2) continue;
    const ms = s.toMs - s.fromMs;
    total += ms;
    const staleOnes = staleHolders(trace, s.holders, s.fromMs, s.toMs, ineligible);
    if (staleOnes.length > 0 && s.holders.length - staleOnes.length <= 1) {
      stale += ms;
      tolerated.push(`${trace.instance}: ${s.holders.join(' and ')} held the VIP at once for ${round(ms)} ms (from t=${round(s.fromMs)} ms): the stale VIP of ${staleOnes.join(', ')}, whose agent was SIGKILLed, before its cleanup`);
      continue;
    }
    violations.push({
      invariant: 'one-holder',
      instance: trace.instance,
      reason: `${trace.instance}: ${s.holders.join(' and ')} held the VIP at once for ${round(ms)} ms (from t=${round(s.fromMs)} ms)`,
    });
  }
  return { splitBrainMs: round(total), staleVipMs: round(stale), tolerated, violations };
}

/** Whether `host` could rightly serve at `t`. */
export function eligibleAt(host: string, t: number, ineligible: readonly Ineligible[]): boolean {
  return !ineligible.some((i) => i.host === host && t >= i.fromMs && t < i.toMs);
}

/** Why `host` could not serve at `t`, or undefined. */
function whyIneligible(host: string, t: number, ineligible: readonly Ineligible[]): string | undefined {
  return ineligible.find((i) => i.host === host && t >= i.fromMs && t < i.toMs)?.why;
}

function holdersAt(spans: readonly HolderSpan[], t: number): string[] | undefined {
  for (const s of spans) if (t >= s.fromMs && t < s.toMs) return s.holders;
  return undefined;
}

/**
 * The first time in [atMs, atMs + boundMs] at which the instance has exactly
 * one holder and that holder is eligible; with the reason when there is none.
 * Holders change only at span edges and eligibility only at interval edges, so
 * those edges are the only instants to look at.
 */
export function settleAfter(exp: Expectation, trace: InstanceTrace, ineligible: readonly Ineligible[]): { settledMs?: number; reason?: string } {
  const end = exp.atMs + exp.boundMs;
  const observedTo = trace.spans.length > 0 ? trace.spans[trace.spans.length - 1]!.toMs : -Infinity;
  const observedFrom = trace.spans.length > 0 ? trace.spans[0]!.fromMs : Infinity;
  const candidates = new Set<number>([exp.atMs]);
  for (const s of trace.spans) if (s.fromMs > exp.atMs && s.fromMs <= end) candidates.add(s.fromMs);
  for (const i of ineligible) {
    if (!trace.hosts.includes(i.host)) continue;
    if (i.toMs > exp.atMs && i.toMs <= end) candidates.add(i.toMs);
  }
  const sorted = [...candidates].filter((t) => t >= observedFrom && t < observedTo).sort((x, y) => x - y);
  let last = '';
  for (const t of sorted) {
    const holders = holdersAt(trace.spans, t);
    if (holders === undefined) continue;
    if (holders.length === 1 && eligibleAt(holders[0]!, t, ineligible)) return { settledMs: round(t - exp.atMs) };
    last =
      holders.length === 0
        ? 'nobody held the VIP'
        : holders.length > 1
          ? `${holders.join(' and ')} held it at once`
          : `${holders[0]} held it but ${whyIneligible(holders[0]!, t, ineligible)}`;
  }
  if (observedTo < end && sorted.length === 0) {
    return { reason: `the holders were not observed after t=${round(observedTo)} ms, before the bound ran out at t=${round(end)} ms` };
  }
  return { reason: last ? `at the bound ${last}` : 'no observation in the window' };
}

/** Events lost (journaled or skipped seqs missing from the stream) and duplicated (an id stored twice, a seq under two ids). */
export function checkEvents(trace: EventTrace): { figures: EventFigures; violations: Violation[] } {
  const violations: Violation[] = [];
  const byNode = new Map<string, Map<number, string>>();
  let duplicated = 0;
  const seenIds = new Set<string>();
  for (const e of trace.stored) {
    if (!Number.isInteger(e.seq) || e.seq < 1) {
      violations.push({ invariant: 'bad-input', node: e.node, reason: `event ${e.id}: seq ${e.seq} is not a positive integer` });
      continue;
    }
    let seqs = byNode.get(e.node);
    if (!seqs) byNode.set(e.node, (seqs = new Map()));
    if (seenIds.has(e.id)) {
      duplicated++;
      violations.push({ invariant: 'event-duplicated', node: e.node, reason: `${e.node}: event ${e.id} (seq ${e.seq}) stored more than once` });
      continue;
    }
    seenIds.add(e.id);
    const other = seqs.get(e.seq);
    if (other !== undefined) {
      duplicated++;
      violations.push({ invariant: 'event-duplicated', node: e.node, reason: `${e.node}: seq ${e.seq} stored under two ids (${other}, ${e.id})` });
      continue;
    }
    seqs.set(e.seq, e.id);
  }
  if (trace.reader && trace.reader.duplicates > 0) {
    duplicated += trace.reader.duplicates;
    violations.push({ invariant: 'event-duplicated', reason: `the reader dropped ${trace.reader.duplicates} copies of events stored twice` });
  }
  if (trace.reader && trace.reader.resets > 0) {
    violations.push({ invariant: 'event-duplicated', reason: `the reader saw ${trace.reader.resets} node seq(s) go back under a new run (a seq reused)` });
  }

  const perNode: EventFigures['perNode'] = {};
  let lost = 0;
  const nodes = new Set([...byNode.keys(), ...Object.keys(trace.journaled)]);
  for (const node of [...nodes].sort()) {
    const seqs = byNode.get(node) ?? new Map<number, string>();
    const journaled = trace.journaled[node] ?? 0;
    const highest = Math.max(journaled, ...seqs.keys(), 0);
    const missing: Array<[number, number]> = [];
    for (let s = 1; s <= highest; s++) {
      if (seqs.has(s)) continue;
      const lastRange = missing[missing.length - 1];
      if (lastRange && lastRange[1] === s - 1) lastRange[1] = s;
      else missing.push([s, s]);
    }
    const count = missing.reduce((n, [a, b]) => n + b - a + 1, 0);
    lost += count;
    perNode[node] = { journaled, stored: seqs.size, missing };
    if (count > 0) {
      const ranges = missing.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ');
      violations.push({ invariant: 'event-lost', node, reason: `${node}: ${count} event(s) missing from the stream, seq ${ranges} (journaled up to ${journaled}, highest stored ${Math.max(0, ...seqs.keys())})` });
    }
  }
  return { figures: { stored: trace.stored.length, lost, duplicated, perNode }, violations };
}

export interface SoakTrace {
  instances: InstanceTrace[];
  ineligible: Ineligible[];
  faults: FaultRecord[];
  events: EventTrace;
}

/** Every invariant over the whole soak. */
export function checkSoak(trace: SoakTrace): Verdict {
  const violations: Violation[] = [];
  const splitBrainMs: Record<string, number> = {};
  const staleVipMs: Record<string, number> = {};
  const tolerated: string[] = [];
  const byInstance = new Map(trace.instances.map((i) => [i.instance, i]));
  for (const inst of trace.instances) {
    const r = checkOneHolder(inst, trace.ineligible);
    splitBrainMs[inst.instance] = r.splitBrainMs;
    staleVipMs[inst.instance] = r.staleVipMs;
    tolerated.push(...r.tolerated);
    violations.push(...r.violations);
  }
  const settles: SettleResult[] = [];
  for (const f of trace.faults) {
    for (const exp of f.expectations) {
      const inst = byInstance.get(exp.instance);
      if (!inst) {
        violations.push({ invariant: 'bad-input', faultId: f.id, reason: `fault #${f.id} (${f.kind}) expects a holder of ${exp.instance}, which was not observed` });
        continue;
      }
      const r = settleAfter(exp, inst, trace.ineligible);
      const result: SettleResult = { faultId: f.id, kind: f.kind, instance: exp.instance, label: exp.label, boundMs: exp.boundMs };
      if (r.settledMs !== undefined) result.settledMs = r.settledMs;
      settles.push(result);
      if (r.settledMs === undefined) {
        violations.push({
          invariant: 'holder-within-bound',
          instance: exp.instance,
          faultId: f.id,
          reason: `fault #${f.id} ${f.kind} on ${f.target}, ${exp.label} at t=${round(exp.atMs)} ms: no correct holder of ${exp.instance} within ${exp.boundMs} ms (${r.reason})`,
        });
      }
    }
  }
  const ev = checkEvents(trace.events);
  violations.push(...ev.violations);
  return { ok: violations.length === 0, violations, splitBrainMs, staleVipMs, tolerated, settles, events: ev.figures };
}
