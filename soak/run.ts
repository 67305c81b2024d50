/**
 * The chaos soak (issue 7): `npm run soak -- --minutes N [--pairs 2|3] [--seed S]`.
 *
 * Builds the soak lab (soak/lab.ts), lets it settle, then for N minutes starts
 * random faults (soak/faults.ts) at random times on random targets, some
 * overlapping, while clients and VIP samplers watch every pair. Then every
 * fault is restored, every fenced host powered on, the event stream drained
 * and read whole, and the pure checker (soak/invariants.ts) runs over
 * everything recorded. Progress goes to stderr, the JSON summary to stdout;
 * the exit code is 1 on any violation (each named in "violations") or lab
 * error, 2 on bad arguments or a lab that could not be built.
 */
import { parseArgs } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { Lab, labUnavailableReason } from '../test/lab/lab.js';
import { NATS_SERVER } from '../test/lab/nats.js';
import { NGINX } from '../test/lab/nginx.js';
import { summarizeClient } from '../test/lab/client.js';
import { sleep, waitUntil } from '../test/lab/wait.js';
import { checkSoak, eligibleAt, type InstanceTrace, type StoredEvent } from './invariants.js';
import { BOUNDS, STALE_VIP_BOUND_MS, fencedPowerOn, markIneligible, startRandomFault, type FaultContext } from './faults.js';
import { CLUSTER, MAX_SOAK_PAIRS, startObservers, startSoakLab, type SoakLab } from './lab.js';
import { journaledLastSeq, readStream, type StreamRead } from './events.js';
import { buildSummary, type RssReading } from './summary.js';
import { makeRng } from './rng.js';

function usage(message: string): never {
  process.stderr.write(`soak: ${message}\nusage: node dist/soak/run.js --minutes N [--pairs 1..${MAX_SOAK_PAIRS}] [--seed S]\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    pairs: { type: 'string', default: '2' },
    seed: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) usage(`--minutes ${values.minutes}: a number of minutes above 0`);
const pairCount = Number(values.pairs);
if (!Number.isInteger(pairCount) || pairCount < 1 || pairCount > MAX_SOAK_PAIRS) usage(`--pairs ${values.pairs}: 1..${MAX_SOAK_PAIRS}`);
const seed = values.seed !== undefined ? Number(values.seed) : randomInt(0, 2 ** 31);
if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) usage(`--seed ${values.seed}: an integer in 0..4294967295`);

const unavailable =
  labUnavailableReason() ??
  (existsSync(NATS_SERVER) ? undefined : `${NATS_SERVER} is not installed`) ??
  (existsSync(NGINX) ? undefined : `${NGINX} is not installed`) ??
  (existsSync('/usr/sbin/nft') ? undefined : 'nftables (nft) is not installed');
if (unavailable) usage(`cannot build the lab: ${unavailable}`);

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const startedAt = nowMs();
/** The checker's clock: ms since the soak started (CLOCK_MONOTONIC, as every lab process stamps). */
const rel = (ns: bigint): number => Number(ns) / 1e6 - startedAt;
const absNs = (relMs: number): bigint => BigInt(Math.round((relMs + startedAt) * 1e6));
const log = (msg: string): void => {
  process.stderr.write(`[soak ${((nowMs() - startedAt) / 1000).toFixed(1).padStart(7)} s] ${msg}\n`);
};

function readRss(pid: number | undefined): RssReading | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { pid, kb: m ? Number(m[1]) : null };
  } catch {
    return { pid, kb: null };
  }
}

/** RSS of every agent, arbiter replica and NATS server now. */
function rssNow(s: SoakLab): Record<string, RssReading> {
  const out: Record<string, RssReading> = {};
  const put = (name: string, pid: number | undefined, running: boolean): void => {
    const r = running ? readRss(pid) : undefined;
    if (r) out[name] = r;
  };
  for (const p of s.pairs) for (const [node, a] of p.agents) put(node, a.process.pid, a.process.running);
  for (const a of s.arbiters) put(a.replica, a.process.pid, a.process.running);
  for (const n of s.nats.servers) put(n.name, n.running ? n.process.pid : undefined, n.running);
  return out;
}

const runnerRssKb = (): number => Math.round(process.memoryUsage().rss / 1024);

async function main(): Promise<number> {
  log(`seed ${seed}, ${minutes} min of faults, ${pairCount} pairs`);
  const rng = makeRng(seed);
  const lab = await Lab.create({ keepLogs: true });
  log(`lab ${lab.prefix}, logs in ${lab.dir}`);
  try {
    const s = await startSoakLab(lab, { pairs: pairCount, log });
    const faultPhaseMs = minutes * 60_000;
    // Observers outlive the fault phase, the wind-down and the settle time.
    await startObservers(s, faultPhaseMs + 15 * 60_000);
    for (const p of s.pairs) await waitUntil(`${p.instance}: one holder before the first fault`, () => p.watch!.holdersNow().length === 1, 60_000, 50);
    const runnerStart = runnerRssKb();
    const rssStart = rssNow(s);
    log(`settled: ${s.pairs.map((p) => `${p.instance} held by ${p.watch!.holdersNow().join(',')}`).join('; ')}`);

    const ctx: FaultContext = {
      s,
      rng,
      now: () => nowMs() - startedAt,
      log,
      ineligible: [],
      faults: [],
      busyPairs: new Map(),
      off: new Set(),
      fenceCount: new Map(),
      offClosers: new Map(),
      natsDown: false,
      arbiterDown: false,
      failsafeCuts: 0,
      labErrors: [],
      restartsOnFailure: [],
    };
    const inflight = new Set<Promise<void>>();
    const track = (p: Promise<void>): void => {
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    };

    // Fences: a powered-off host is out until the fenced-power-on fault brings it back.
    let fencesSeen = 0;
    /** Fences of a host that had no fault on it then (its agent judged silent under load, say). */
    const unprovokedFences: Array<{ node: string; atMs: number }> = [];
    let lastFenceMs = 0;
    const powerOnPending = new Set<string>();
    const schedulePowerOn = (node: string): void => {
      if (powerOnPending.has(node)) return;
      powerOnPending.add(node);
      const delay = stopping ? 500 : rng.int(3000, 8000);
      track(
        sleep(delay)
          .then(() => fencedPowerOn(ctx, node))
          .finally(() => {
            powerOnPending.delete(node);
            // A fence that came as this power-on ended found it pending: its host needs one more.
            if (ctx.off.has(node)) schedulePowerOn(node);
          }),
      );
    };
    let stopping = false;
    const fenceWatch = setInterval(() => {
      while (fencesSeen < s.fence.operations.length) {
        const op = s.fence.operations[fencesSeen]!;
        if (op.doneNs === undefined) break;
        fencesSeen++;
        const node = op.node;
        const atMs = rel(op.requestedNs);
        lastFenceMs = Math.max(lastFenceMs, atMs);
        const unprovoked = eligibleAt(node, atMs, ctx.ineligible);
        if (unprovoked) unprovokedFences.push({ node, atMs: Math.round(atMs) });
        ctx.off.add(node);
        ctx.fenceCount.set(node, (ctx.fenceCount.get(node) ?? 0) + 1);
        const endOff = markIneligible(ctx, node, 'it was powered off by a fence', rel(op.requestedNs));
        log(`fence: ${node} powered off via ${op.via} (${(Number(op.doneNs - op.requestedNs) / 1e6).toFixed(0)} ms after the request)${unprovoked ? ': UNPROVOKED, no fault was on it' : ''}`);
        const closers = ctx.offClosers.get(node) ?? [];
        closers.push(endOff);
        ctx.offClosers.set(node, closers);
        // One power-on per host at a time: it starts over by itself when the host is fenced again meanwhile.
        schedulePowerOn(node);
      }
    }, 100);

    // Live watch: two holders are reported the moment the samplers show them.
    const splitNow = new Set<string>();
    const liveWatch = setInterval(() => {
      for (const p of s.pairs) {
        const h = p.watch!.holdersNow();
        if (h.length >= 2 && !splitNow.has(p.instance)) {
          splitNow.add(p.instance);
          log(`LIVE: ${p.instance} held by ${h.join(' and ')} at once`);
        } else if (h.length < 2) splitNow.delete(p.instance);
      }
    }, 20);

    const faultStart = nowMs();
    const faultEnd = faultStart + faultPhaseMs;
    let nextProgress = faultStart + 60_000;
    while (nowMs() < faultEnd) {
      await sleep(rng.int(1000, 5000));
      if (nowMs() >= faultEnd) break;
      const started = startRandomFault(ctx);
      if (started) track(started.done);
      if (nowMs() >= nextProgress) {
        nextProgress += 60_000;
        log(`progress: ${ctx.faults.length} faults, ${inflight.size} in flight, runner RSS ${runnerRssKb()} KiB`);
      }
    }
    const faultPhase = nowMs() - faultStart;
    stopping = true;
    log(`fault phase over (${ctx.faults.length} faults); restoring what is in flight`);
    // Faults in flight end by themselves; a fence among them adds a power-on, so wait until nothing is left.
    const windDown = nowMs() + 5 * 60_000;
    while ((inflight.size > 0 || ctx.off.size > 0) && nowMs() < windDown) await Promise.race([sleep(1000), ...inflight]);
    if (inflight.size > 0 || ctx.off.size > 0) ctx.labErrors.push(`wind-down: after 5 min, ${inflight.size} fault(s) still in flight, powered off: ${[...ctx.off].join(', ') || 'none'}`);
    // Quiet: nothing in flight, nobody powered off, and the longest bound passed since the last step or fence.
    const settleMs = Math.max(...Object.values(BOUNDS).flatMap((b) => [b.injected, b.restored]));
    log(`everything restored; waiting for ${settleMs} ms without a step or a fence`);
    const lastStep = (): number => Math.max(lastFenceMs, ...ctx.faults.flatMap((f) => f.expectations.map((e) => e.atMs)));
    const quietDeadline = nowMs() + 5 * 60_000;
    while (nowMs() < quietDeadline && (inflight.size > 0 || ctx.off.size > 0 || ctx.now() - lastStep() < settleMs)) await sleep(500);
    if (nowMs() >= quietDeadline) ctx.labErrors.push(`wind-down: no ${settleMs} ms without a fence or a step within 5 min (fences went on)`);
    clearInterval(fenceWatch);
    clearInterval(liveWatch);

    const rssEnd = rssNow(s);
    const runnerEnd = runnerRssKb();

    // The observers' records.
    const instances: InstanceTrace[] = [];
    const clientRecords = new Map<string, Awaited<ReturnType<NonNullable<(typeof s.pairs)[0]['client']>['stop']>>>();
    for (const p of s.pairs) {
      clientRecords.set(p.instance, await p.client!.stop());
      const sb = await p.watch!.stop();
      instances.push({
        instance: p.instance,
        hosts: p.hosts.map((h) => h.name),
        ...(p.fencing === 'off' ? { staleVipBoundMs: STALE_VIP_BOUND_MS } : {}),
        spans: sb.holders.map((h) => ({ fromMs: rel(h.fromNs), toMs: rel(h.toNs), holders: h.holders })),
      });
    }

    // The event stream, once every journal has drained into it (or 2 minutes).
    log('reading the event stream');
    const dirs = s.stateDirs();
    let journaled: Record<string, number> = {};
    let read: StreamRead = { ok: false, events: [] };
    const drainDeadline = nowMs() + 120_000;
    for (;;) {
      journaled = Object.fromEntries(Object.entries(dirs).map(([node, dir]) => [node, journaledLastSeq(dir)]));
      read = await readStream(s.cl, s.nats.urls, CLUSTER, 90_000);
      const highest = new Map<string, number>();
      for (const e of read.events) highest.set(e.node, Math.max(highest.get(e.node) ?? 0, e.seq));
      const behind = Object.entries(journaled).filter(([node, last]) => (highest.get(node) ?? 0) < last);
      if (read.ok && behind.length === 0) break;
      if (nowMs() >= drainDeadline) {
        log(`the stream did not catch up: ${read.ok ? behind.map(([n, l]) => `${n} at ${highest.get(n) ?? 0} of ${l}`).join(', ') : read.error}`);
        break;
      }
      await sleep(3000);
    }
    if (!read.ok) ctx.labErrors.push(`reading the event stream: ${read.error}`);
    const stored: StoredEvent[] = read.events;
    const reader = read.summary ? { duplicates: read.summary.duplicates, resets: read.summary.resets } : undefined;

    const verdict = checkSoak({ instances, ineligible: ctx.ineligible, faults: ctx.faults, events: { stored, journaled, ...(reader ? { reader } : {}) } });

    // Client downtime in each fault's window: from its injection to the last step's settle (or bound).
    const downtimeMs = new Map<number, number>();
    const settleOf = new Map(verdict.settles.map((x) => [`${x.faultId}/${x.instance}/${x.label}`, x.settledMs]));
    for (const f of ctx.faults) {
      let worst = 0;
      for (const inst of new Set(f.expectations.map((e) => e.instance))) {
        const records = clientRecords.get(inst) ?? [];
        const to = Math.max(...f.expectations.filter((e) => e.instance === inst).map((e) => e.atMs + (settleOf.get(`${f.id}/${inst}/${e.label}`) ?? e.boundMs)));
        const sum = summarizeClient(records, { from: absNs(f.injectedMs), to: absNs(to) });
        worst = Math.max(worst, sum.downtimeMs);
      }
      downtimeMs.set(f.id, worst);
    }

    const summary = buildSummary({
      seed,
      minutes,
      faultPhaseMs: faultPhase,
      pairs: s.pairs.map((p) => ({ instance: p.instance, mode: p.mode, fencing: p.fencing })),
      faults: ctx.faults,
      verdict,
      downtimeMs,
      rss: { start: rssStart, end: rssEnd },
      runnerRssKb: { start: runnerStart, end: runnerEnd },
      labErrors: ctx.labErrors,
      restartsOnFailure: ctx.restartsOnFailure,
      fences: { total: fencesSeen, unprovoked: unprovokedFences },
      logs: lab.dir,
    });
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    for (const v of summary.violations) log(`VIOLATION ${v}`);
    for (const e of summary.labErrors) log(`LAB ERROR ${e}`);
    log(summary.ok ? 'ok: no violation' : `FAILED: ${summary.violations.length} violation(s), ${summary.labErrors.length} lab error(s)`);
    return summary.ok ? 0 : 1;
  } finally {
    await lab.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    log(`soak failed: ${e.stack ?? e.message}`);
    process.exit(2);
  },
);
