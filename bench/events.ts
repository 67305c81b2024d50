/**
 * The audit trail under load (issue 4's benchmark), three parts in one run:
 *
 *   throughput  events per second sustained from one publisher through its
 *               journal (real files, fdatasync group commit) to the R3 stream
 *               HA_EVENTS on the lab's 3-server NATS cluster, against raw
 *               JetStream async publishing (nats.js js.publish, the same window,
 *               envelope size, subjects and stream) in the same run: the limit.
 *               Both run as proc/event-publisher.js in agent host a1, so their
 *               traffic crosses the lab's network as an agent's does; rounds
 *               alternate which goes first.
 *   adverts     a real agent on a1 (VRRPv3, advert 0.1 s, alone: MASTER) seen on
 *               the wire from the client's namespace, in phases without load and
 *               with the agent publishing at full rate (proc/agent-event-load.js
 *               preloaded into it: check.result events through the agent's own
 *               publisher), alternating: |interval - 100 ms| p50/p99/max of each.
 *   history     `hactl history --instance X` (the real CLI) over a stream of
 *               1,000,000 valid events from 50 nodes and 100 instances on one
 *               loopback nats-server: wall time, against `--node` (filtered by
 *               the server) over the same stream.
 *
 * --quick: one throughput round of 2 s per mode, 4 s advert phases, 100,000
 * events in the history stream.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, headers as natsHeaders, type NatsConnection } from 'nats';
import { Lab, type LabHost } from '../test/lab/lab.js';
import { buildSegment, vipOf } from '../test/lab/topology.js';
import { startNatsCluster, type NatsCluster } from '../test/lab/nats.js';
import { exitedAndDrained } from '../test/lab/client.js';
import { startAgent, type AgentHandle } from '../test/lab/agent.js';
import { keepalivedConf } from '../test/lab/keepalived.js';
import { sleep } from '../test/lab/wait.js';
import { startNatsServer, natsUnavailableReason, type NatsServer } from '../test/nats/server.js';
import { decodeEvent, eventId, STREAM_NAME } from '../libs/events/src/mod.js';
import { distribution, ratio, round2, tail, type Distribution } from './stats.js';
import { progress, target, type BenchOptions, type Suite, type SuiteResult, type Target } from './suite.js';
import { machineLoad } from './environment.js';
import { startWireWatch, type Instrument, type WireAdvert } from './instruments.js';

const SUITE = 'events';
const CLUSTER = 'dc1';
const INSTANCE = 'VI_1';
const ADVERT_INTERVAL_MS = 100;

const THROUGHPUT_TARGET = 10_000;
const RATIO_TARGET = 0.6;
const ADVERT_P99_TARGET_MS = 5;
const HISTORY_TARGET_S = 3;

/** Acks in flight, for both publishers: EventPublisher's default. */
const WINDOW = 256;
/** What the agent's load generator aims at: the issue's throughput target. */
const LOAD_RATE = 10_000;

const HACTL = fileURLToPath(new URL('../../bin/hactl', import.meta.url));
const PUBLISHER_SCRIPT = fileURLToPath(new URL('./proc/event-publisher.js', import.meta.url));
const LOAD_SCRIPT = fileURLToPath(new URL('./proc/agent-event-load.js', import.meta.url));

interface Timing {
  rounds: number;
  warmupMs: number;
  measureMs: number;
  /** Each advert phase (without load, with load) and how many of each. */
  phaseMs: number;
  phases: number;
  /** The start of each phase left out: the load ramps up (or drains) there. */
  phaseSettleMs: number;
  historyEvents: number;
  historyRuns: number;
  /** The publisher-thread probe: rounds and the window of each run. */
  probeRounds: number;
  probeMs: number;
  /** One hactl history run is killed (and counted a failure) after this long. */
  historyTimeoutMs: number;
}

function timingFor(options: BenchOptions): Timing {
  return options.quick
    ? { rounds: 1, warmupMs: 700, measureMs: 2000, phaseMs: 4000, phases: 1, phaseSettleMs: 1000, historyEvents: 100_000, historyRuns: 1, probeRounds: 1, probeMs: 3000, historyTimeoutMs: 30_000 }
    : { rounds: options.runs, warmupMs: 1500, measureMs: 5000, phaseMs: 30_000, phases: 2, phaseSettleMs: 1000, historyEvents: 1_000_000, historyRuns: 3, probeRounds: 2, probeMs: 15_000, historyTimeoutMs: 120_000 };
}

/** `bin/hactl ARGS` in a namespace; its stdout. */
async function hactlIn(host: LabHost, args: string[]): Promise<string> {
  return host.exec(process.execPath, [HACTL, ...args]);
}

// ---------------------------------------------------------------------------
// Throughput

type Mode = 'raw' | 'journal';

interface PublisherRun {
  mode: Mode;
  round: number;
  ok: boolean;
  error?: string;
  eventsPerSecond: number | null;
  cpuPercent: number | null;
  eventLoopUtilization: number | null;
  payloadBytes: number | null;
  /** Everything the fixture reported. */
  detail: Record<string, unknown>;
}

interface PublisherArgs {
  mode: Mode;
  /** Part of the process and node names. */
  name: string;
  warmupMs: number;
  measureMs: number;
  /** More flags for the fixture (--rate, --timer-probe-ms, --in-worker). */
  extra?: string[];
}

async function runPublisher(host: LabHost, cluster: NatsCluster, round: number, a: PublisherArgs, stateRoot: string): Promise<PublisherRun> {
  const { mode, name } = a;
  const args = [
    '--servers', cluster.urls.join(','),
    '--mode', mode,
    '--node', `pub-${name}`,
    '--cluster', CLUSTER,
    '--window', String(WINDOW),
    '--warmup-ms', String(a.warmupMs),
    '--duration-ms', String(a.measureMs),
    '--purge',
    '--max-ms', String(a.warmupMs + a.measureMs + 60_000),
    ...(a.extra ?? []),
  ];
  if (mode === 'journal') args.push('--state-dir', join(stateRoot, name));
  // KQ_BENCH_CPU_PROF=DIR: a V8 CPU profile of each run, to see where the time goes.
  const prof = process.env['KQ_BENCH_CPU_PROF'];
  const nodeArgs = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
  const proc = host.spawn(`event-publisher-${name}`, process.execPath, [...nodeArgs, PUBLISHER_SCRIPT, ...args], { captureStdout: true });
  const { code, signal } = await exitedAndDrained(proc);
  const line = proc.lines.filter((l) => l.startsWith('{"result"')).pop();
  const run: PublisherRun = { mode, round, ok: false, eventsPerSecond: null, cpuPercent: null, eventLoopUtilization: null, payloadBytes: null, detail: {} };
  if (line === undefined) {
    run.error = `${proc.name} exited (code ${code}, signal ${signal}) without a result (log: ${proc.logFile})`;
    return run;
  }
  const result = (JSON.parse(line) as { result: Record<string, unknown> }).result;
  run.detail = result;
  const num = (k: string): number | null => (typeof result[k] === 'number' ? (result[k] as number) : null);
  run.eventsPerSecond = num('eventsPerSecond');
  run.cpuPercent = num('cpuPercent');
  run.eventLoopUtilization = num('eventLoopUtilization');
  run.payloadBytes = num('payloadBytes');
  if (result['ok'] !== true) run.error = String(result['error'] ?? 'the run failed');
  else if (mode === 'journal' && result['flushed'] !== true) run.error = 'events were still unacknowledged 30 s after the window';
  else if (mode === 'journal' && result['dropped'] !== 0) run.error = `the journal dropped ${String(result['dropped'])} events`;
  else run.ok = true;
  return run;
}

interface ThroughputFigures {
  runs: PublisherRun[];
  eventsPerSecond: Record<Mode, Distribution>;
  cpuPercent: Record<Mode, Distribution>;
  /** journal / raw of the medians. */
  ratioOfMedians: number | null;
  /** Per round, journal / raw (neighbouring in time). */
  pairedRatio: Distribution;
}

async function measureThroughput(host: LabHost, cluster: NatsCluster, timing: Timing, stateRoot: string, failures: string[]): Promise<ThroughputFigures> {
  const runs: PublisherRun[] = [];
  for (let round = 1; round <= timing.rounds; round++) {
    const order: Mode[] = round % 2 === 1 ? ['raw', 'journal'] : ['journal', 'raw'];
    for (const mode of order) {
      const r = await runPublisher(host, cluster, round, { mode, name: `${mode}-${round}`, warmupMs: timing.warmupMs, measureMs: timing.measureMs }, stateRoot);
      runs.push(r);
      progress(SUITE, `throughput round ${round}/${timing.rounds} ${mode}: ${r.ok ? `${r.eventsPerSecond} events/s (${r.cpuPercent}% CPU)` : `FAILED: ${r.error}`}`);
      if (!r.ok) failures.push(`throughput ${mode} round ${round}: ${r.error}`);
    }
  }
  const ok = (mode: Mode): PublisherRun[] => runs.filter((r) => r.ok && r.mode === mode);
  const rates = (mode: Mode): number[] => ok(mode).map((r) => r.eventsPerSecond as number);
  const eventsPerSecond = { raw: distribution(rates('raw')), journal: distribution(rates('journal')) };
  const paired: number[] = [];
  for (let round = 1; round <= timing.rounds; round++) {
    const j = runs.find((r) => r.ok && r.round === round && r.mode === 'journal');
    const w = runs.find((r) => r.ok && r.round === round && r.mode === 'raw');
    const q = ratio(j?.eventsPerSecond ?? null, w?.eventsPerSecond ?? null);
    if (q !== null) paired.push(q);
  }
  return {
    runs,
    eventsPerSecond,
    cpuPercent: {
      raw: distribution(ok('raw').map((r) => r.cpuPercent ?? 0)),
      journal: distribution(ok('journal').map((r) => r.cpuPercent ?? 0)),
    },
    ratioOfMedians: ratio(eventsPerSecond.journal.median, eventsPerSecond.raw.median),
    pairedRatio: distribution(paired),
  };
}

// ---------------------------------------------------------------------------
// Where the advert path's time goes: the journal publisher at the load rate,
// with a 100 ms timer on its main thread (an advert timer's stand-in), once
// with the publisher on that thread (as the agent runs it) and once in a
// worker thread (its own V8 heap and garbage collector).

interface ThreadProbeRun {
  where: 'main-thread' | 'worker-thread';
  round: number;
  ok: boolean;
  error?: string;
  eventsPerSecond: number | null;
  timerLatenessMs: unknown;
  mainThreadGc: unknown;
  cpuPercent: number | null;
}

async function probeThreads(host: LabHost, cluster: NatsCluster, timing: Timing, stateRoot: string, failures: string[]): Promise<ThreadProbeRun[]> {
  const runs: ThreadProbeRun[] = [];
  for (let round = 1; round <= timing.probeRounds; round++) {
    const order: ThreadProbeRun['where'][] = round % 2 === 1 ? ['main-thread', 'worker-thread'] : ['worker-thread', 'main-thread'];
    for (const where of order) {
      const r = await runPublisher(
        host,
        cluster,
        round,
        {
          mode: 'journal',
          name: `probe-${where}-${round}`,
          warmupMs: timing.warmupMs,
          measureMs: timing.probeMs,
          extra: ['--rate', String(LOAD_RATE), '--timer-probe-ms', String(ADVERT_INTERVAL_MS), ...(where === 'worker-thread' ? ['--in-worker'] : [])],
        },
        stateRoot,
      );
      const late = r.detail['timerLatenessMs'] as { p50?: number; p99?: number; max?: number } | null | undefined;
      const gc = r.detail['mainThreadGc'] as { count?: number; over3ms?: number; maxMs?: number } | undefined;
      runs.push({ where, round, ok: r.ok, ...(r.error ? { error: r.error } : {}), eventsPerSecond: r.eventsPerSecond, timerLatenessMs: late ?? null, mainThreadGc: gc ?? null, cpuPercent: r.cpuPercent });
      progress(
        SUITE,
        `publisher on the ${where}, ${LOAD_RATE} events/s offered: ${r.ok ? `${r.eventsPerSecond} events/s; a ${ADVERT_INTERVAL_MS} ms timer on the main thread late p50 ${late?.p50} p99 ${late?.p99} max ${late?.max} ms; main-thread GC ${gc?.count} pauses, ${gc?.over3ms} >= 3 ms, max ${gc?.maxMs} ms` : `FAILED: ${r.error}`}`,
      );
      if (!r.ok) failures.push(`publisher thread probe (${where}) round ${round}: ${r.error}`);
    }
  }
  return runs;
}

// ---------------------------------------------------------------------------
// Advert timing

interface Phase {
  kind: 'idle' | 'load';
  index: number;
  /** CLOCK_MONOTONIC ns: when the phase began and ended (the load switched). */
  from: bigint;
  to: bigint;
  /** load: events the agent's publisher got acknowledged during the phase, per second. */
  eventsPerSecond?: number | null;
  /** load: ticks at which the generator waited for acks (the publisher was behind). */
  heldBack?: number | null;
  /** |interval - configured| of the adverts inside the phase (after its settling time). */
  errorMs?: ReturnType<typeof tail>;
  /** The agent's garbage collector during the phase: every pause stops its event loop. */
  gc?: GcStats | null;
  /** CPU (% of one core) of the agent and of the lab's three NATS servers, which share the machine's cores. */
  cpuPercent?: Record<string, number | null>;
  /** The machine's 1-minute load average at the end of the phase (other work on it delays every timer). */
  loadAverage?: number;
}

interface GcStats {
  count: number;
  totalMs: number;
  maxMs: number;
  over3ms: number;
}

interface LoadLine {
  benchLoad: 'on' | 'off';
  t: string;
  attached: boolean;
  acknowledged: number;
  heldBack: number;
  gcSinceLastSwitch: GcStats;
}

const CLK_TCK = 100; // USER_HZ, what /proc/<pid>/stat counts in

/** utime + stime of a process (every thread), in ticks; null when it is gone. */
function cpuTicks(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/** CPU use of some processes over an interval, % of one core each. */
function cpuMeter(pids: Record<string, number | undefined>): { stop(): Record<string, number | null> } {
  const start = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuTicks(pid)]));
  const t0 = process.hrtime.bigint();
  return {
    stop() {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const out: Record<string, number | null> = {};
      for (const [k, pid] of Object.entries(pids)) {
        const a = start[k];
        const b = cpuTicks(pid);
        out[k] = a === null || a === undefined || b === null ? null : round2(((b - a) / CLK_TCK / seconds) * 100);
      }
      return out;
    },
  };
}

function advertErrors(adverts: readonly WireAdvert[], src: string, vrid: number, from: bigint, to: bigint): number[] {
  const errors: number[] = [];
  let prev: bigint | undefined;
  for (const a of adverts) {
    if (a.src !== src || a.vrid !== vrid || a.prio === 0) continue;
    if (prev !== undefined && prev >= from && a.t <= to) errors.push(Math.abs(Number(a.t - prev) / 1e6 - ADVERT_INTERVAL_MS));
    prev = a.t;
  }
  return errors;
}

interface AdvertFigures {
  phases: Phase[];
  idle: ReturnType<typeof tail>;
  load: ReturnType<typeof tail>;
  /** Acknowledged events per second over the load phases (the agent's full rate). */
  loadEventsPerSecond: Distribution;
  /** The agent's GC pauses summed over the phases of each kind (the first idle phase includes the agent's start). */
  gc: { idle: GcStats; load: GcStats };
  /** Nice value per thread of the agent (vrrp_priority): its VRRP (main) thread and the others, counted by value. */
  threadNice: { main: number | null; others: Record<string, number> } | null;
}

/** The nice value of each thread of a process, from /proc (field 19 of stat). */
function threadNiceOf(pid: number): { main: number | null; others: Record<string, number> } | null {
  try {
    const others: Record<string, number> = {};
    let main: number | null = null;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
      if (tid === String(pid)) main = nice;
      else others[String(nice)] = (others[String(nice)] ?? 0) + 1;
    }
    return { main, others };
  } catch {
    return null;
  }
}

function sumGc(phases: readonly Phase[]): GcStats {
  const out: GcStats = { count: 0, totalMs: 0, maxMs: 0, over3ms: 0 };
  for (const p of phases) {
    if (!p.gc) continue;
    out.count += p.gc.count;
    out.totalMs = round2(out.totalMs + p.gc.totalMs);
    out.maxMs = Math.max(out.maxMs, p.gc.maxMs);
    out.over3ms += p.gc.over3ms;
  }
  return out;
}

async function measureAdverts(
  lab: Lab,
  agentHost: LabHost,
  watcherHost: LabHost,
  cluster: NatsCluster,
  timing: Timing,
  failures: string[],
): Promise<AdvertFigures> {
  const vip = vipOf(1);
  const totalMs = timing.phases * 2 * (timing.phaseMs + 500) + 60_000;
  const wire: Instrument<WireAdvert> = await startWireWatch(watcherHost, { durationMs: totalMs });
  let agent: AgentHandle | undefined;
  const phases: Phase[] = [];
  let threadNice: AdvertFigures['threadNice'] = null;
  try {
    const stateDir = join(lab.dir, `${agentHost.name}-agent-state`);
    mkdirSync(stateDir, { recursive: true });
    const conf = keepalivedConf({ routerId: agentHost.name, vrid: vip.vrid, priority: 100, advertInt: ADVERT_INTERVAL_MS / 1000, version: 3, vips: [vip.ipv4Cidr], instance: INSTANCE });
    agent = await startAgent(agentHost, conf, {
      name: 'ha-agent-events',
      nodeArgs: ['--import', LOAD_SCRIPT],
      env: { KQ_BENCH_EVENT_RATE: String(LOAD_RATE) },
      extraArgs: ['--nats', cluster.urls.join(','), '--cluster', CLUSTER, '--node-id', agentHost.name, '--state-dir', stateDir],
    });
    const loadLines: LoadLine[] = [];
    agent.process.onLine((line) => {
      if (!line.startsWith('{"benchLoad"')) return;
      try {
        loadLines.push(JSON.parse(line) as LoadLine);
      } catch {
        /* not ours */
      }
    });
    await agent.waitForState(INSTANCE, 'MASTER', 15_000);
    threadNice = agent.process.pid === undefined ? null : threadNiceOf(agent.process.pid);
    // Past the gratuitous ARP bursts (vrrp_garp_master_delay 5 s): the steady master.
    await sleep(timing.phaseSettleMs + 5500);
    progress(SUITE, `adverts: ${agentHost.name} is MASTER; ${timing.phases} x (${timing.phaseMs / 1000} s without load, ${timing.phaseMs / 1000} s at up to ${LOAD_RATE} events/s); thread nice: VRRP ${threadNice?.main ?? '?'}, others ${JSON.stringify(threadNice?.others ?? {})}`);
    for (let i = 0; i < timing.phases; i++) {
      for (const kind of ['idle', 'load'] as const) {
        const seenLines = loadLines.length;
        const from = process.hrtime.bigint();
        const meter = cpuMeter({ agent: agent.process.pid, ...Object.fromEntries(cluster.servers.map((srv) => [srv.name, srv.process.pid])) });
        // Each switch reports the GC pauses since the previous one: the "on" line
        // of a load phase those of the idle phase before it, the "off" line its own.
        if (kind === 'load') agent.process.signal('SIGUSR2');
        await sleep(timing.phaseMs);
        if (kind === 'load') agent.process.signal('SIGUSR2');
        const to = process.hrtime.bigint();
        const phase: Phase = { kind, index: i + 1, from, to, cpuPercent: meter.stop(), loadAverage: round2(loadavg()[0] ?? 0) };
        if (kind === 'load') {
          const deadline = Date.now() + 5000;
          while (loadLines.length < seenLines + 2 && Date.now() < deadline) await sleep(20);
          const on = loadLines[seenLines];
          const off = loadLines[seenLines + 1];
          const idleBefore = phases[phases.length - 1];
          if (idleBefore?.kind === 'idle') idleBefore.gc = on?.gcSinceLastSwitch ?? null;
          phase.gc = off?.gcSinceLastSwitch ?? null;
          if (!on || !off || !on.attached) {
            failures.push(`adverts: the load generator in the agent did not answer (attached: ${on?.attached ?? 'no line'}; log ${agent.process.logFile})`);
            phase.eventsPerSecond = null;
          } else {
            phase.eventsPerSecond = Math.round((off.acknowledged - on.acknowledged) / (Number(BigInt(off.t) - BigInt(on.t)) / 1e9));
            phase.heldBack = off.heldBack;
          }
        }
        phases.push(phase);
        // Let the backlog drain before the next phase starts.
        await sleep(500);
      }
    }
    // The adverts of the last phase must have reached the watcher.
    await sleep(2 * ADVERT_INTERVAL_MS);
    const stopped = await agent.stop();
    if (stopped !== 0) failures.push(`adverts: the agent exited with ${stopped} (log ${agent.process.logFile})`);
  } finally {
    if (agent?.process.running) await agent.stop().catch(() => undefined);
    await wire.stop().catch(() => undefined);
  }
  const settle = BigInt(timing.phaseSettleMs) * 1_000_000n;
  const byKind = { idle: [] as number[], load: [] as number[] };
  for (const p of phases) {
    const errors = advertErrors(wire.seen, agentHost.ipv4, vip.vrid, p.from + settle, p.to);
    p.errorMs = tail(errors);
    byKind[p.kind].push(...errors);
    const n = p.errorMs.n;
    progress(
      SUITE,
      `adverts ${p.kind} ${p.index}: ${n} intervals, error p50 ${p.errorMs.p50} p99 ${p.errorMs.p99} max ${p.errorMs.max} ms${p.kind === 'load' ? `; ${p.eventsPerSecond} events/s acknowledged` : ''}; ` +
        `agent GC ${p.gc?.count ?? '?'} pauses, ${p.gc?.over3ms ?? '?'} >= 3 ms, max ${p.gc?.maxMs ?? '?'} ms; CPU ${Object.entries(p.cpuPercent ?? {}).map(([k, v]) => `${k} ${v}%`).join(', ')}; load average ${p.loadAverage}`,
    );
    if (n < ((timing.phaseMs - timing.phaseSettleMs) / ADVERT_INTERVAL_MS) * 0.8) failures.push(`adverts ${p.kind} phase ${p.index}: only ${n} advert intervals seen on the wire`);
  }
  return {
    phases,
    idle: tail(byKind.idle),
    load: tail(byKind.load),
    loadEventsPerSecond: distribution(phases.filter((p) => p.kind === 'load' && typeof p.eventsPerSecond === 'number').map((p) => p.eventsPerSecond as number)),
    gc: { idle: sumGc(phases.filter((p) => p.kind === 'idle')), load: sumGc(phases.filter((p) => p.kind === 'load')) },
    threadNice,
  };
}

// ---------------------------------------------------------------------------
// History

/** 25 pairs of nodes, each pair running 4 instances: 50 nodes, 100 instances. */
const HISTORY_PAIRS = 25;
const INSTANCES_PER_PAIR = 4;
/** The instance `hactl history --instance` asks for, and the node for `--node`. */
const HISTORY_INSTANCE = 'VI_7_1';
const HISTORY_NODE = 'a7';
const HISTORY_BOOT_ID = 'b0b0b0b0';

interface HistoryPlan {
  nodes: string[];
  /** Events per node (seq 1..perNode, gapless). */
  perNode: number;
  total: number;
  /** How many events carry HISTORY_INSTANCE / come from HISTORY_NODE. */
  expectedForInstance: number;
  expectedForNode: number;
}

/**
 * The envelope of event `seq` of `node`: a mix like a busy agent's (check
 * results most, no instance; transitions, VIP changes and ARP bursts with one),
 * after the config.loaded every run of an agent starts with.
 */
function historyEvent(node: string, pair: number, seq: number, at: number): { type: string; json: string; instance: string | undefined } {
  const kind = seq % 10;
  const instance = `VI_${pair}_${1 + (Math.floor(seq / 10) % INSTANCES_PER_PAIR)}`;
  const atIso = new Date(at).toISOString();
  let type: string;
  let data: Record<string, unknown>;
  let withInstance = true;
  if (seq === 1) {
    // Every run of an agent starts by announcing its configuration and instances.
    type = 'config.loaded';
    withInstance = false;
    const instances = Array.from({ length: INSTANCES_PER_PAIR }, (_, i) => `VI_${pair}_${i + 1}`);
    data = { hash: 'c'.repeat(64), source: '/etc/keepalived/keepalived.conf', format: 'keepalived', instances, warnings: 0 };
  } else if (kind < 7) {
    type = 'check.result';
    withInstance = false;
    data = { check: `chk_${pair}_${kind}`, kind: 'tcp', ok: true, latencyMs: 0.4, output: `connected to 198.18.1.${pair}:80 in 0.4 ms`, status: 'good', changed: false, reason: 'ok' };
  } else if (kind === 7) {
    type = 'vrrp.transition';
    data = { from: 'BACKUP', to: 'MASTER', reason: 'no advertisement from master within Master_Down_Interval', vrid: 50 + pair, priority: 100, effectivePriority: 100, masterSeen: null };
  } else if (kind === 8) {
    type = 'vip.added';
    data = { address: `198.18.10.${pair}`, prefix: 16, interface: 'eth0', changed: true };
  } else {
    type = 'garp.sent';
    data = { interface: 'eth0', family: 'ipv4', addresses: [`198.18.10.${pair}`], count: 5 };
  }
  // Key order as makeEnvelope writes it: id, type, v, cluster, node, instance, seq, at, data.
  const envelope = { id: eventId(node, HISTORY_BOOT_ID, seq), type, v: 1, cluster: CLUSTER, node, ...(withInstance ? { instance } : {}), seq, at: atIso, data };
  return { type, json: JSON.stringify(envelope), instance: withInstance ? instance : undefined };
}

function historyPlan(total: number): HistoryPlan {
  const nodes: string[] = [];
  for (let p = 1; p <= HISTORY_PAIRS; p++) nodes.push(`a${p}`, `b${p}`);
  const perNode = Math.floor(total / nodes.length);
  let forInstance = 0;
  for (let seq = 1; seq <= perNode; seq++) if (historyEvent('a7', 7, seq, 0).instance === HISTORY_INSTANCE) forInstance++;
  return { nodes, perNode, total: perNode * nodes.length, expectedForInstance: 2 * forInstance, expectedForNode: perNode };
}

/**
 * Loads the stream fast: every node's events in seq order, the nodes
 * interleaved (as a cluster's events arrive), published without waiting for
 * each ack: core publishes, a round trip to the server every batch.
 */
async function loadHistory(nc: NatsConnection, plan: HistoryPlan): Promise<{ seconds: number; stored: number }> {
  const started = process.hrtime.bigint();
  const encoder = new TextEncoder();
  const startAt = Date.now() - 24 * 3600 * 1000;
  const step = (24 * 3600 * 1000) / plan.perNode;
  // Every envelope must be one the readers accept: check a sample with the real decoder.
  for (const [i, node] of plan.nodes.entries()) {
    const pair = Math.floor(i / 2) + 1;
    for (const seq of [1, 7, 8, 9, plan.perNode]) {
      const e = historyEvent(node, pair, seq, startAt);
      const decoded = decodeEvent(e.json, { subject: `ha.${CLUSTER}.evt.${node}.${e.type}` });
      if (!decoded.ok) throw new Error(`history: the loader's envelope is not valid (${decoded.reason}): ${e.json}`);
    }
  }
  const BATCH = 5000;
  let sent = 0;
  for (let seq = 1; seq <= plan.perNode; seq++) {
    const at = startAt + seq * step;
    for (const [i, node] of plan.nodes.entries()) {
      const pair = Math.floor(i / 2) + 1;
      const e = historyEvent(node, pair, seq, at);
      const h = natsHeaders();
      h.set('Nats-Msg-Id', eventId(node, HISTORY_BOOT_ID, seq));
      nc.publish(`ha.${CLUSTER}.evt.${node}.${e.type}`, encoder.encode(e.json), { headers: h });
      if (++sent % BATCH === 0) {
        await nc.flush();
        if (sent % 200_000 === 0) progress(SUITE, `history: ${sent} of ${plan.total} events loaded`);
      }
    }
  }
  await nc.flush();
  const jsm = await nc.jetstreamManager();
  // The server stores core publishes as they come; wait until it has them all.
  let stored = 0;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    stored = (await jsm.streams.info(STREAM_NAME)).state.messages;
    if (stored >= plan.total) break;
    await sleep(200);
  }
  return { seconds: round2(Number(process.hrtime.bigint() - started) / 1e9), stored };
}

interface HactlRun {
  args: string[];
  seconds: number;
  code: number | null;
  lines: number;
  summary: string;
}

/** The real CLI as an operator runs it, stdout counted (a terminal or a pipe reads it all). */
function runHactl(args: string[], timeoutMs: number): Promise<HactlRun> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const prof = process.env['KQ_BENCH_CPU_PROF'];
    const nodeArgs = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
    const child = spawn(process.execPath, [...nodeArgs, HACTL, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = 0;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      for (const b of d) if (b === 0x0a) lines++;
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const said = stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 500);
      const summary = killed ? `killed after ${timeoutMs / 1000} s${said ? `: ${said}` : ''}` : said;
      resolve({ args, seconds: round2(Number(process.hrtime.bigint() - started) / 1e9), code, lines, summary });
    });
  });
}

interface HistoryFigures {
  events: number;
  nodes: number;
  instances: number;
  loadSeconds: number;
  instance: { name: string; expected: number; seconds: Distribution; runs: HactlRun[] };
  node: { name: string; expected: number; seconds: Distribution; runs: HactlRun[] };
  /** Messages the instance query had to read per second (the whole stream). */
  scanMessagesPerSecond: number | null;
}

async function measureHistory(timing: Timing, failures: string[]): Promise<HistoryFigures | null> {
  const unavailable = natsUnavailableReason();
  if (unavailable) {
    failures.push(`history: ${unavailable}`);
    return null;
  }
  const plan = historyPlan(timing.historyEvents);
  let server: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  try {
    server = await startNatsServer({ maxFileStore: '4G' });
    const url = server.url;
    const init = await runHactl(['stream', 'init', '--apply', '--nats', url], 30_000);
    if (init.code !== 0) throw new Error(`hactl stream init exited with ${init.code}: ${init.summary}`);
    nc = await connect({ servers: url, name: 'bench history loader' });
    progress(SUITE, `history: loading ${plan.total} events (${plan.nodes.length} nodes, ${HISTORY_PAIRS * INSTANCES_PER_PAIR} instances) into ${url}`);
    const loaded = await loadHistory(nc, plan);
    await nc.close();
    nc = undefined;
    progress(SUITE, `history: ${loaded.stored} events stored in ${loaded.seconds} s`);
    if (loaded.stored !== plan.total) failures.push(`history: the stream holds ${loaded.stored} events, ${plan.total} were published`);

    const query = async (flag: '--instance' | '--node', value: string, expected: number): Promise<HactlRun[]> => {
      const runs: HactlRun[] = [];
      for (let i = 0; i < timing.historyRuns; i++) {
        const r = await runHactl(['history', '--cluster', CLUSTER, flag, value, '--nats', url], timing.historyTimeoutMs);
        runs.push(r);
        progress(SUITE, `history ${flag} ${value}: ${r.seconds} s, ${r.lines} lines, exit ${r.code} (${r.summary})`);
        if (r.code !== 0) failures.push(`history ${flag} ${value}: hactl exited with ${r.code}: ${r.summary}`);
        else if (r.lines !== expected) failures.push(`history ${flag} ${value}: ${r.lines} events printed, ${expected} expected`);
      }
      return runs;
    };
    const instanceRuns = await query('--instance', HISTORY_INSTANCE, plan.expectedForInstance);
    const nodeRuns = await query('--node', HISTORY_NODE, plan.expectedForNode);
    const instanceSeconds = distribution(instanceRuns.map((r) => r.seconds));
    return {
      events: plan.total,
      nodes: plan.nodes.length,
      instances: HISTORY_PAIRS * INSTANCES_PER_PAIR,
      loadSeconds: loaded.seconds,
      instance: { name: HISTORY_INSTANCE, expected: plan.expectedForInstance, seconds: instanceSeconds, runs: instanceRuns },
      node: { name: HISTORY_NODE, expected: plan.expectedForNode, seconds: distribution(nodeRuns.map((r) => r.seconds)), runs: nodeRuns },
      scanMessagesPerSecond: instanceSeconds.median ? Math.round(plan.total / instanceSeconds.median) : null,
    };
  } catch (e) {
    failures.push(`history: ${(e as Error).message}`);
    return null;
  } finally {
    await nc?.close().catch(() => undefined);
    await server?.dispose().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------

const PARTS = ['throughput', 'threads', 'adverts', 'history'] as const;
type Part = (typeof PARTS)[number];

/** KQ_BENCH_EVENTS_PARTS=history (comma-separated): only these parts, while working on one. */
function partsToRun(): Set<Part> {
  const text = process.env['KQ_BENCH_EVENTS_PARTS'];
  if (!text) return new Set(PARTS);
  const wanted = text.split(',').map((s) => s.trim());
  const unknown = wanted.filter((p) => !(PARTS as readonly string[]).includes(p));
  if (unknown.length > 0) throw new Error(`KQ_BENCH_EVENTS_PARTS: unknown part ${unknown.join(', ')}; the parts are ${PARTS.join(', ')}`);
  return new Set(wanted as Part[]);
}

async function runEvents(options: BenchOptions): Promise<SuiteResult> {
  const timing = timingFor(options);
  const parts = partsToRun();
  const failures: string[] = [];
  const loadBefore = await machineLoad();
  let throughput: ThroughputFigures | null = null;
  let adverts: AdvertFigures | null = null;
  let threads: ThreadProbeRun[] | null = null;
  const lab = parts.has('throughput') || parts.has('threads') || parts.has('adverts') ? await Lab.create() : null;
  if (lab) try {
    progress(SUITE, `lab ${lab.prefix}: a 3-server NATS cluster, agent host a1, a VRRP listener on the client`);
    const segment = await buildSegment(lab, { nats: 3, pairs: 1, client: true, ipv6: false });
    const a1 = segment.pairs[0]?.a;
    const watcher = segment.client;
    if (!a1 || !watcher) throw new Error('the segment lacks a host it was asked for');
    const cluster = await startNatsCluster(segment.nats);
    // The stream as an operator creates it: R3 on the cluster.
    const plan = await hactlIn(a1, ['stream', 'init', '--apply', '--nats', cluster.urls.join(',')]);
    if (!/num_replicas: R3/.test(plan)) throw new Error(`hactl stream init did not create an R3 stream:\n${plan}`);
    const stateRoot = join(lab.dir, 'publisher-state');
    mkdirSync(stateRoot, { recursive: true });
    if (parts.has('throughput')) {
      try {
        throughput = await measureThroughput(a1, cluster, timing, stateRoot, failures);
      } catch (e) {
        failures.push(`throughput: ${(e as Error).message}`);
      }
    }
    if (parts.has('threads')) {
      try {
        threads = await probeThreads(a1, cluster, timing, stateRoot, failures);
      } catch (e) {
        failures.push(`threads: ${(e as Error).message}`);
      }
    }
    if (parts.has('adverts')) {
      try {
        adverts = await measureAdverts(lab, a1, watcher, cluster, timing, failures);
      } catch (e) {
        failures.push(`adverts: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    failures.push(`events suite aborted: ${(e as Error).message}`);
  } finally {
    await lab.destroy();
  }
  const history = parts.has('history') ? await measureHistory(timing, failures) : null;

  const targets: Record<string, Target> = {
    throughput: target(throughput?.eventsPerSecond.journal.median ?? null, '>=', THROUGHPUT_TARGET, 'events/s sustained through the journal to the R3 stream (median of the rounds)'),
    throughputOfRaw: target(throughput?.ratioOfMedians ?? null, '>=', RATIO_TARGET, 'journal events/s / raw JetStream async publishing events/s (medians, same run)'),
    advertErrorP99UnderLoad: target(adverts?.load.p99 ?? null, '<=', ADVERT_P99_TARGET_MS, `p99 of |advert interval - ${ADVERT_INTERVAL_MS} ms| on the wire while the agent publishes at up to ${LOAD_RATE} events/s`),
    historyInstanceSeconds: target(history?.instance.seconds.median ?? null, '<=', HISTORY_TARGET_S, `wall time of hactl history --instance over ${timing.historyEvents} events (median)`),
  };
  return {
    ok: failures.length === 0,
    failures,
    targets,
    setup: {
      natsCluster: '3 servers (deploy/nats/cluster), stream HA_EVENTS R3 created by hactl stream init --apply',
      publisherHost: 'a1 (198.18.1.1), the path to the servers crosses the lab bridge',
      window: WINDOW,
      throughput: { rounds: timing.rounds, warmupMs: timing.warmupMs, measureMs: timing.measureMs, order: 'raw first in odd rounds, journal first in even ones; the stream purged before each run' },
      adverts: { advertIntervalMs: ADVERT_INTERVAL_MS, vrrpVersion: 3, phases: timing.phases, phaseMs: timing.phaseMs, settleMs: timing.phaseSettleMs, loadRate: LOAD_RATE, load: 'proc/agent-event-load.js preloaded into the agent: check.result events through its own EventPublisher, paced every 1 ms, at most 4096 unacknowledged' },
      history: { server: 'one loopback nats-server (test/nats/server.ts), R1', instance: HISTORY_INSTANCE, node: HISTORY_NODE },
    },
    throughput,
    adverts,
    publisherThread: threads,
    history,
    load: { before: loadBefore, after: await machineLoad() },
    parts: [...parts],
    logs: process.env['KQ_LAB_KEEP_LOGS'] === '1' && lab ? lab.dir : null,
  };
}

export const eventsSuite: Suite = {
  name: SUITE,
  description: 'event log: events/s through the journal vs raw JetStream (R3, lab cluster), advert timing while publishing, hactl history over 1M events',
  run: runEvents,
};
