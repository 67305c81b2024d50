/**
 * Suite 'arbiter': the arbiter under the load of issue 5's Benchmark section,
 * on loopback (one nats-server, the ha-arbiter replica(s) and the simulated
 * agents all on this machine, sharing its cores; no namespaces needed).
 *
 * - load: 1,000 instances, 2,000 agents (bench/proc/arbiter-agents.js, two
 *   processes of 1,000 NATS connections each, speaking protocol.ts): heartbeats
 *   at 1 Hz; the primaries claim (initial grants) and then renew every second;
 *   the backups claim every `claimEveryMs` against the live holder (vetoed).
 *   Latency = request sent -> reply received, at the agent. Renewals answered
 *   per second; KV writes per second measured on KV_HA_LEASES against
 *   kvWritesPerSecond() of libs/arbiter timing.ts; the replica's CPU.
 * - coldStart: the stream filled with N events (a mix: check results, VRRP
 *   transitions, VIP changes, arbiter decisions and fences), then ha-arbiter
 *   started again and again, alternately without a snapshot (the key purged:
 *   the whole stream read) and with the snapshot its predecessor wrote at its
 *   clean stop; the time from spawn to the first answer to a claim (the
 *   warm-up included), with the replica's own replay figures from its log.
 *
 * KQ_BENCH_ARBITER_REPLICAS=2 runs the load against two replicas (queue group).
 * KQ_BENCH_CPU_PROF=DIR: the replicas run with --cpu-prof into DIR.
 * KQ_BENCH_ARBITER_PARTS=load,coldstart: only these parts.
 * KQ_BENCH_ARBITER_SMALL=1: a tiny run to check the suite itself (no figures).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect, type NatsConnection } from 'nats';
import { defaultLeaseTiming, kvWritesPerSecond } from '../libs/arbiter/src/timing.js';
import { arbiterReplySchema, encodeMessage, heartbeatSubject, parseMessage, PROTOCOL_VERSION, requestSubject, type Heartbeat } from '../libs/arbiter/src/protocol.js';
import { decodeEvent } from '../libs/events/src/mod.js';
import { ensureStream, streamConfig } from '../libs/events/src/stream.js';
import { STREAM_NAME } from '../libs/events/src/subjects.js';
import { SnapshotStore } from '../services/arbiter/src/snapshot.js';
import { natsUnavailableReason, startNatsServer, type NatsServer } from '../test/nats/server.js';
import { distribution, round2, tail, type Distribution } from './stats.js';
import { progress, target, type BenchOptions, type Suite, type SuiteResult } from './suite.js';

const SUITE = 'arbiter';
const CLUSTER = 'bench';
const BIN = new URL('../../bin/ha-arbiter', import.meta.url).pathname;
const AGENTS_PROC = new URL('./proc/arbiter-agents.js', import.meta.url).pathname;
const ADVERT_MS = 1000;
const WARMUP_MS = 1000;
/**
 * The initial claims are spread over this long (200 claims/s for 1,000
 * instances): all at once within a second, the replica falls behind, the
 * agents' 1 s timeouts fire, and every retry of a claim already granted is one
 * more write (a spiral the first measurements showed, see bench/README.md).
 */
const CLAIM_SPREAD_MS = 5000;

interface Plan {
  instances: number;
  agentsPerProcess: number;
  processes: number;
  steadyMs: number;
  claimEveryMs: number;
  events: number;
  coldRuns: number;
}

function planFor(o: BenchOptions): Plan {
  return o.quick
    ? { instances: 1000, agentsPerProcess: 1000, processes: 2, steadyMs: 8000, claimEveryMs: 5000, events: 100_000, coldRuns: 1 }
    : { instances: 1000, agentsPerProcess: 1000, processes: 2, steadyMs: 30_000, claimEveryMs: 5000, events: 1_000_000, coldRuns: Math.min(o.runs, 3) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const instanceName = (i: number) => `VI_${String(i).padStart(4, '0')}`;

function writeConfig(dir: string, url: string, replica: string, instances: number): string {
  const file = join(dir, `${replica}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      cluster: CLUSTER,
      replica,
      stateDir: join(dir, `${replica}-state`),
      nats: { servers: [url] },
      leases: { replicas: 1 },
      heartbeats: { missed: 3, warmupMs: WARMUP_MS },
      instances: Array.from({ length: instances }, (_, i) => ({ name: instanceName(i), advertIntervalMs: ADVERT_MS })),
    }),
  );
  return file;
}

interface Replica {
  child: ChildProcess;
  /** Log lines (pino JSON) the replica printed, parsed. */
  lines: Record<string, unknown>[];
  exited: Promise<void>;
  startedAt: number;
  /** Date.now() at the spawn: the log's `time` is wall clock. */
  startedWall: number;
}

/** bin/ha-arbiter as an operator runs it; its log (info) parsed as it comes. */
function spawnReplica(config: string): Replica {
  const prof = process.env['KQ_BENCH_CPU_PROF'];
  const nodeArgs = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
  const startedAt = performance.now();
  const startedWall = Date.now();
  const child = spawn(process.execPath, [...nodeArgs, BIN, '--config', config, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      const j = JSON.parse(l) as Record<string, unknown>;
      // Keep what the bench reads; every decision line would be a lot of memory.
      if (j['msg'] !== 'decision') lines.push(j);
    } catch {
      /* not JSON */
    }
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', (code, sig) => {
    if (code !== 0 && sig !== 'SIGTERM' && sig !== 'SIGKILL') progress(SUITE, `replica exited ${code ?? sig}: ${err.trim().split('\n').slice(-3).join(' | ')}`);
    r();
  }));
  return { child, lines, exited, startedAt, startedWall };
}

/** The replica's warnings and errors, counted by message (its own account of trouble). */
function complaints(r: Replica): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of r.lines) if (typeof l['level'] === 'number' && l['level'] >= 40) out[String(l['msg'])] = (out[String(l['msg'])] ?? 0) + 1;
  return out;
}

async function stopReplica(r: Replica): Promise<void> {
  const c = complaints(r);
  if (Object.keys(c).length > 0) progress(SUITE, `replica warnings: ${JSON.stringify(c).slice(0, 600)}`);
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  r.child.kill('SIGTERM');
  const t = setTimeout(() => r.child.kill('SIGKILL'), 30_000);
  await r.exited;
  clearTimeout(t);
}

/** CPU seconds (user + system) of a process so far, from /proc. */
function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

async function waitLine(r: Replica, msg: string, timeoutMs: number): Promise<Record<string, unknown> | null> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const l = r.lines.find((x) => x['msg'] === msg);
    if (l) return l;
    if (r.child.exitCode !== null) return null;
    await sleep(20);
  }
  return null;
}

// ---------------------------------------------------------------------------
// Load

interface AgentsProc {
  child: ChildProcess;
  ask(cmd: Record<string, unknown>): Promise<Record<string, unknown>>;
}

function forkAgents(url: string, from: number, count: number): Promise<AgentsProc> {
  const child = fork(AGENTS_PROC, ['--url', url, '--cluster', CLUSTER, '--from', String(from), '--count', String(count)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const waiting: ((m: Record<string, unknown>) => void)[] = [];
  child.on('message', (m: Record<string, unknown>) => waiting.shift()?.(m));
  const ask = (cmd: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      waiting.push((m) => (m['ok'] ? resolve(m) : reject(new Error(`agents ${cmd['cmd']}: ${String(m['error'])}`))));
      child.send(cmd);
    });
  return new Promise((resolve, reject) => {
    waiting.push(() => resolve({ child, ask }));
    child.once('error', reject);
  });
}

/** Probes the replica (a claim by a node no instance has: vetoed at once) until three answers in a row take < 20 ms. */
async function caughtUp(nc: NatsConnection, timeoutMs: number): Promise<{ ms: number; lastMs: number | null }> {
  const t0 = performance.now();
  let fast = 0;
  let lastMs: number | null = null;
  while (performance.now() - t0 < timeoutMs && fast < 3) {
    const t = performance.now();
    try {
      await nc.request(requestSubject(CLUSTER), encodeMessage({ type: 'claim', v: PROTOCOL_VERSION, node: 'bench-probe', instance: instanceName(0) }), { timeout: 2000 });
      lastMs = round2(performance.now() - t);
      fast = lastMs < 20 ? fast + 1 : 0;
    } catch {
      fast = 0;
    }
    await sleep(200);
  }
  return { ms: performance.now() - t0, lastMs };
}

interface LoadFigures {
  instances: number;
  agents: number;
  agentProcesses: number;
  replicas: number;
  steadySeconds: number;
  /** From the agents' first heartbeats until the replica answered probes within 20 ms again, s. */
  agentsTakenInSeconds: number;
  initialClaims: { grantLatencyMs: ReturnType<typeof tail>; otherAnswers: Record<string, number>; failed: number };
  claimsUnderLoad: { latencyMs: ReturnType<typeof tail>; perSecond: number };
  renewals: { latencyMs: ReturnType<typeof tail>; perSecond: number; expectedPerSecond: number };
  answers: Record<string, number>;
  /** Agents holding a lease when the steady phase ended (1,000 when no lease was lost). */
  holdersAtEnd: number;
  kv: { expectedWritesPerSecond: number; measuredWritesPerSecond: number; timing: ReturnType<typeof defaultLeaseTiming> };
  replicaCpuPercent: (number | null)[];
  /** The others on the same cores during the steady phase. */
  agentProcessesCpuPercent: (number | null)[];
  natsServerCpuPercent: number | null;
  /**
   * Where the tail comes from: answers over 50 ms (claims and renewals) by the
   * second of the steady phase they were sent in (the five worst seconds), the
   * agent processes' own event-loop delay over the phase, and the machine's
   * 1-minute load average at the end (other work on the shared cores).
   */
  tail: { slowAnswers: number; worstSeconds: Record<string, number>; agentEventLoopDelayMs: unknown[]; loadAverage1m: number };
}

function slowTail(steady: Record<string, unknown>[]): LoadFigures['tail'] {
  const bySecond = new Map<number, number>();
  let slowAnswers = 0;
  for (const s of steady) {
    for (const at of (s['slowAt'] as number[] | undefined) ?? []) {
      slowAnswers++;
      const sec = Math.floor(at / 1000);
      bySecond.set(sec, (bySecond.get(sec) ?? 0) + 1);
    }
  }
  const worst = [...bySecond].sort((a, b) => b[1] - a[1]).slice(0, 5);
  return {
    slowAnswers,
    worstSeconds: Object.fromEntries(worst.map(([sec, n]) => [`${sec}s`, n])),
    agentEventLoopDelayMs: steady.map((s) => s['eventLoopDelayMs'] ?? null),
    loadAverage1m: round2(loadavg()[0] ?? 0),
  };
}

async function measureLoad(server: NatsServer, dir: string, plan: Plan, failures: string[]): Promise<LoadFigures | null> {
  const replicasWanted = Math.max(1, Number(process.env['KQ_BENCH_ARBITER_REPLICAS'] ?? '1'));
  const replicas: Replica[] = [];
  const procs: AgentsProc[] = [];
  const nc = await connect({ servers: server.url, name: 'bench arbiter load' });
  try {
    for (let i = 1; i <= replicasWanted; i++) replicas.push(spawnReplica(writeConfig(dir, server.url, `arb-${i}`, plan.instances)));
    for (const r of replicas) if (!(await waitLine(r, 'arbiter ready: answering requests', 60_000))) throw new Error('a replica did not become ready');
    progress(SUITE, `load: ${replicas.length} replica(s) ready; ${plan.processes} agent processes x ${plan.agentsPerProcess} connections`);
    for (let p = 0; p < plan.processes; p++) procs.push(await forkAgents(server.url, p * plan.agentsPerProcess, plan.agentsPerProcess));
    await Promise.all(procs.map((p) => p.ask({ cmd: 'connect' })));
    // 2,000 first heartbeats (each a new node, a new member) keep the replica busy for seconds:
    // claims sent meanwhile time out, are sent again, and the spiral never settles. Wait until it caught up.
    const settle = await caughtUp(nc, 60_000);
    progress(SUITE, `load: the replica took the agents in after ${round2(settle.ms / 1000)} s (probe ${settle.lastMs} ms)`);
    const claims = await Promise.all(procs.map((p) => p.ask({ cmd: 'claim', spreadMs: CLAIM_SPREAD_MS })));
    const grants = claims.flatMap((c) => c['grants'] as number[]);
    const otherAnswers: Record<string, number> = {};
    for (const c of claims) for (const [k, v] of Object.entries(c['others'] as Record<string, number>)) otherAnswers[k] = (otherAnswers[k] ?? 0) + v;
    const failed = claims.reduce((s, c) => s + Number(c['failed']), 0);
    progress(SUITE, `load: ${grants.length} instances granted (${failed} not), steady phase ${plan.steadyMs / 1000} s`);
    if (failed > 0) failures.push(`load: ${failed} primaries were never granted their instance`);

    const jsm = await nc.jetstreamManager();
    const kvBefore = (await jsm.streams.info('KV_HA_LEASES')).state.last_seq;
    const cpuBefore = replicas.map((r) => cpuSeconds(r.child.pid));
    const agentsBefore = procs.map((p) => cpuSeconds(p.child.pid));
    const natsBefore = cpuSeconds(server.pid);
    const t0 = performance.now();
    const steady = await Promise.all(procs.map((p) => p.ask({ cmd: 'steady', durationMs: plan.steadyMs, claimEveryMs: plan.claimEveryMs })));
    const seconds = (performance.now() - t0) / 1000;
    const kvAfter = (await jsm.streams.info('KV_HA_LEASES')).state.last_seq;
    const cpuAfter = replicas.map((r) => cpuSeconds(r.child.pid));
    const agentsAfter = procs.map((p) => cpuSeconds(p.child.pid));
    const natsAfter = cpuSeconds(server.pid);
    const pct = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null ? null : round2(((b - a) / seconds) * 100));
    const renewMs = steady.flatMap((s) => s['renewMs'] as number[]);
    const claimMs = steady.flatMap((s) => s['claimMs'] as number[]);
    const answers: Record<string, number> = {};
    for (const s of steady) for (const [k, v] of Object.entries(s['answers'] as Record<string, number>)) answers[k] = (answers[k] ?? 0) + v;
    const renewed = steady.reduce((s, x) => s + Number(x['renewed']), 0);
    const timing = defaultLeaseTiming(ADVERT_MS);
    return {
      instances: plan.instances,
      agents: plan.processes * plan.agentsPerProcess,
      agentProcesses: plan.processes,
      replicas: replicas.length,
      steadySeconds: round2(seconds),
      agentsTakenInSeconds: round2(settle.ms / 1000),
      initialClaims: { grantLatencyMs: tail(grants), otherAnswers, failed },
      claimsUnderLoad: { latencyMs: tail(claimMs), perSecond: round2(claimMs.length / seconds) },
      renewals: { latencyMs: tail(renewMs), perSecond: round2(renewed / seconds), expectedPerSecond: round2(grants.length * (1000 / timing.renewIntervalMs)) },
      answers,
      holdersAtEnd: steady.reduce((s, x) => s + Number(x['holders']), 0),
      kv: { expectedWritesPerSecond: kvWritesPerSecond(timing, plan.instances), measuredWritesPerSecond: round2((kvAfter - kvBefore) / seconds), timing },
      replicaCpuPercent: replicas.map((_, i) => pct(cpuBefore[i], cpuAfter[i])),
      agentProcessesCpuPercent: procs.map((_, i) => pct(agentsBefore[i], agentsAfter[i])),
      natsServerCpuPercent: pct(natsBefore, natsAfter),
      tail: slowTail(steady),
    };
  } catch (e) {
    failures.push(`load: ${(e as Error).message}`);
    return null;
  } finally {
    await Promise.all(procs.map((p) => p.ask({ cmd: 'stop' }).catch(() => p.child.kill('SIGKILL'))));
    await Promise.all(replicas.map(stopReplica));
    await nc.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------
// The stream, filled

/** Per 200 events: what an agent fleet and its arbiter put on the stream. */
function mixed(i: number): string {
  const b = i % 200;
  if (b < 120) return 'check.result';
  if (b < 160) return 'vrrp.transition';
  if (b < 172) return 'vip.added';
  if (b < 184) return 'vip.removed';
  if (b < 194) return 'lease.granted';
  if (b < 196) return 'claim.vetoed';
  if (b < 198) return 'node.gone';
  if (b < 199) return 'fence.requested';
  return 'fence.result';
}
const FOLDED = new Set(['vrrp.transition', 'vip.added', 'vip.removed', 'node.gone', 'fence.requested', 'fence.result']);

function envelopeOf(i: number, seqs: Map<string, number>, at: number, agents: number): { subject: string; json: string; type: string } {
  const type = mixed(i);
  const k = (i * 7919) % agents;
  const agent = `ag-${String(k).padStart(5, '0')}`;
  const instance = instanceName(Math.floor(k / 2));
  const arbiter = !['check.result', 'vrrp.transition', 'vip.added', 'vip.removed'].includes(type);
  const node = arbiter ? 'arb-1' : agent;
  const seq = (seqs.get(node) ?? 0) + 1;
  seqs.set(node, seq);
  const epoch = 1 + (i % 50);
  let data: unknown;
  switch (type) {
    case 'check.result':
      data = { check: 'gateway', kind: 'ping', ok: true, latencyMs: 0.4, output: 'PING 198.18.0.254: 1 packets transmitted, 1 received', status: 'good' };
      break;
    case 'vrrp.transition': {
      const up = i % 3 === 0;
      data = { from: up ? 'BACKUP' : 'MASTER', to: up ? 'MASTER' : 'BACKUP', reason: up ? 'master down timer fired' : 'higher priority advert', priority: 100, effectivePriority: 100, masterSeen: null };
      break;
    }
    case 'vip.added':
    case 'vip.removed':
      data = { address: `198.18.${(k >> 8) & 255}.${k & 255}`, prefix: 32, interface: 'eth0', changed: true };
      break;
    case 'fence.requested':
      data = { reason: `holder ${agent} is silent: fencing ${agent} (epoch ${epoch})`, subject: agent, epoch, facts: { attempt: 1 } };
      break;
    case 'fence.result':
      data = { subject: agent, epoch, attempt: 1, backend: 'webhook', ok: true, confirmed: true, durationMs: 12, idempotencyKey: `${CLUSTER}.${instance}:e${epoch}:${agent}:off`, reason: 'fenced' };
      break;
    default:
      data = { reason: `${type} of ${instance} for ${agent}`, subject: agent, epoch };
  }
  const env = { id: `${node}-b0-${seq}`, type, v: 1, cluster: CLUSTER, node, instance, seq, at: new Date(at).toISOString(), data };
  return { subject: `ha.${CLUSTER}.evt.${node}.${type}`, json: JSON.stringify(env), type };
}

async function fillStream(nc: NatsConnection, total: number, agents: number): Promise<{ seconds: number; stored: number; folded: number; byType: Record<string, number> }> {
  const started = performance.now();
  const seqs = new Map<string, number>();
  const enc = new TextEncoder();
  const t0 = Date.now() - total;
  const byType: Record<string, number> = {};
  let folded = 0;
  // Every kind of envelope must be one the readers accept.
  const check = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const e = envelopeOf(i, check, t0, agents);
    const d = decodeEvent(e.json, { subject: e.subject });
    if (!d.ok) throw new Error(`the loader's ${e.type} envelope is not valid: ${d.reason}`);
  }
  const before = (await (await nc.jetstreamManager()).streams.info(STREAM_NAME)).state.messages;
  for (let i = 0; i < total; i++) {
    const e = envelopeOf(i, seqs, t0 + i, agents);
    byType[e.type] = (byType[e.type] ?? 0) + 1;
    if (FOLDED.has(e.type)) folded++;
    nc.publish(e.subject, enc.encode(e.json));
    if ((i + 1) % 5000 === 0) {
      await nc.flush();
      if ((i + 1) % 200_000 === 0) progress(SUITE, `coldStart: ${i + 1} of ${total} events loaded`);
    }
  }
  await nc.flush();
  const jsm = await nc.jetstreamManager();
  let stored = 0;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    stored = (await jsm.streams.info(STREAM_NAME)).state.messages - before;
    if (stored >= total) break;
    await sleep(200);
  }
  return { seconds: round2((performance.now() - started) / 1000), stored, folded, byType };
}

// ---------------------------------------------------------------------------
// Cold start

interface ColdRun {
  mode: 'snapshot' | 'none';
  /** Spawn -> first answer to a claim, ms (the warm-up included). */
  firstAnswerMs: number | null;
  answer: string | null;
  /** Spawn -> the replica says it is ready, ms (its log's time). */
  readyMs: number | null;
  /** Spawn -> its log says the stream is folded (connected, buckets bound, snapshot and tail read), ms. */
  foldedAtMs: number | null;
  replay: Record<string, unknown> | null;
}

async function coldRun(server: NatsServer, config: string, mode: ColdRun['mode'], nc: NatsConnection, store: SnapshotStore): Promise<ColdRun> {
  if (mode === 'none') await store.delete(CLUSTER);
  // An agent that is there all along: it heartbeats, and claims until a replica answers.
  const node = 'ag-99999';
  const hb = (): void => {
    const h: Heartbeat = { v: PROTOCOL_VERSION, node, bootId: 'cold', intervalMs: 1000, gateway: 'up', instances: [] };
    nc.publish(heartbeatSubject(CLUSTER, node), encodeMessage(h));
  };
  hb();
  const hbTimer = setInterval(hb, 1000);
  const r = spawnReplica(config);
  let firstAnswerMs: number | null = null;
  let answer: string | null = null;
  try {
    const deadline = performance.now() + 120_000;
    while (performance.now() < deadline && r.child.exitCode === null) {
      try {
        const m = await nc.request(requestSubject(CLUSTER), encodeMessage({ type: 'claim', v: PROTOCOL_VERSION, node, instance: instanceName(0) }), { timeout: 200 });
        firstAnswerMs = round2(performance.now() - r.startedAt);
        const p = parseMessage(arbiterReplySchema, m.data, 'reply');
        answer = p.ok ? p.value.type : `invalid: ${p.reason}`;
        break;
      } catch {
        await sleep(10); // no responders yet (the replica is not in the queue group before it is ready)
      }
    }
    const folded = await waitLine(r, 'event stream folded', 1000);
    const ready = await waitLine(r, 'arbiter ready: answering requests', 1000);
    return {
      mode,
      firstAnswerMs,
      answer,
      readyMs: ready && typeof ready['time'] === 'number' ? (ready['time'] as number) - r.startedWall : null,
      foldedAtMs: folded && typeof folded['time'] === 'number' ? (folded['time'] as number) - r.startedWall : null,
      replay: folded ? { snapshotSeq: folded['snapshotSeq'], snapshotSkipped: folded['snapshotSkipped'], seq: folded['seq'], tailRecords: folded['tailRecords'], nodes: folded['nodes'], ms: folded['ms'] } : null,
    };
  } finally {
    clearInterval(hbTimer);
    await stopReplica(r); // a clean stop writes the snapshot the next 'snapshot' run starts from
  }
}

interface ColdFigures {
  events: number;
  foldedEvents: number;
  byType: Record<string, number>;
  loadSeconds: number;
  warmupMs: number;
  runs: ColdRun[];
  withSnapshotMs: Distribution;
  withoutSnapshotMs: Distribution;
  replayMsWithSnapshot: Distribution;
  replayMsWithoutSnapshot: Distribution;
}

async function measureColdStart(server: NatsServer, dir: string, plan: Plan, failures: string[]): Promise<ColdFigures | null> {
  const nc = await connect({ servers: server.url, name: 'bench arbiter cold start' });
  try {
    progress(SUITE, `coldStart: loading ${plan.events} events`);
    const loaded = await fillStream(nc, plan.events, plan.processes * plan.agentsPerProcess);
    progress(SUITE, `coldStart: ${loaded.stored} events stored in ${loaded.seconds} s (${loaded.folded} of the folded types)`);
    if (loaded.stored < plan.events) failures.push(`coldStart: the stream holds ${loaded.stored} new events, ${plan.events} were published`);
    const store = await SnapshotStore.open({ nc, replicas: 1 });
    const config = writeConfig(dir, server.url, 'arb-cold', plan.instances);
    const runs: ColdRun[] = [];
    for (let i = 0; i < plan.coldRuns; i++) {
      for (const mode of ['none', 'snapshot'] as const) {
        const run = await coldRun(server, config, mode, nc, store);
        runs.push(run);
        progress(SUITE, `coldStart ${mode}: first answer after ${run.firstAnswerMs} ms (${run.answer}); replay ${JSON.stringify(run.replay)}`);
        if (run.firstAnswerMs === null) failures.push(`coldStart ${mode}: no answer to a claim`);
      }
    }
    const pick = (m: ColdRun['mode'], f: (r: ColdRun) => number | null) => runs.filter((r) => r.mode === m).map(f).filter((x): x is number => x !== null);
    const replayTotal = (r: ColdRun) => ((r.replay?.['ms'] as { total?: number } | undefined)?.total ?? null);
    return {
      events: plan.events,
      foldedEvents: loaded.folded,
      byType: loaded.byType,
      loadSeconds: loaded.seconds,
      warmupMs: WARMUP_MS,
      runs,
      withSnapshotMs: distribution(pick('snapshot', (r) => r.firstAnswerMs)),
      withoutSnapshotMs: distribution(pick('none', (r) => r.firstAnswerMs)),
      replayMsWithSnapshot: distribution(pick('snapshot', replayTotal)),
      replayMsWithoutSnapshot: distribution(pick('none', replayTotal)),
    };
  } catch (e) {
    failures.push(`coldStart: ${(e as Error).message}`);
    return null;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------

async function runArbiter(options: BenchOptions): Promise<SuiteResult> {
  // KQ_BENCH_ARBITER_SMALL=1: 20 agents, 10 instances: a smoke check of the suite itself, not a figure.
  const small = process.env['KQ_BENCH_ARBITER_SMALL'] ? { agentsPerProcess: 20, instances: 10, processes: 1, steadyMs: 3000, events: 10_000 } : {};
  const plan = { ...planFor(options), ...small };
  const failures: string[] = [];
  const unavailable = natsUnavailableReason();
  if (unavailable) return { ok: false, failures: [unavailable], targets: {} };
  const partsText = process.env['KQ_BENCH_ARBITER_PARTS'];
  const parts = new Set(partsText ? partsText.split(',').map((s) => s.trim()) : ['load', 'coldstart']);
  const dir = mkdtempSync(join(tmpdir(), 'kq-bench-arbiter-'));
  let server: NatsServer | undefined;
  let load: LoadFigures | null = null;
  let cold: ColdFigures | null = null;
  try {
    server = await startNatsServer({ maxFileStore: '4G', extraConfig: 'max_payload: 1048576' });
    const nc = await connect({ servers: server.url });
    await ensureStream(await nc.jetstreamManager(), streamConfig({ maxBytes: 2 * 1024 * 1024 * 1024 }));
    await nc.close();
    if (parts.has('load')) load = await measureLoad(server, dir, plan, failures);
    if (parts.has('coldstart')) cold = await measureColdStart(server, dir, plan, failures);
  } catch (e) {
    failures.push((e as Error).message);
  } finally {
    await server?.dispose().catch(() => undefined);
  }
  const claimP99 = load?.claimsUnderLoad.latencyMs.p99 ?? null;
  return {
    ok: failures.length === 0,
    failures,
    targets: {
      claimLatencyP99: target(claimP99, '<=', 10, 'claim request sent -> answer received at the agent, p99 ms, claims made while 1,000 holders renew at 1 Hz and 2,000 agents heartbeat (loopback)'),
      renewLatencyP99: target(load?.renewals.latencyMs.p99 ?? null, '<=', 10, 'renewal sent -> renewed received at the agent (a KV compare-and-set each), p99 ms, same load (the claim target applied to renewals)'),
      coldStartWithSnapshot: target(cold?.withSnapshotMs.median ?? null, '<=', 5000, `ha-arbiter spawned -> first answer to a claim, median ms, ${plan.events} events in the stream, starting from its snapshot (warm-up of ${WARMUP_MS} ms included)`),
      coldStartWithoutSnapshot: target(cold?.withoutSnapshotMs.median ?? null, '<=', 5000, `the same without a snapshot (the whole stream read), for comparison`),
    },
    network: 'loopback: one nats-server, the ha-arbiter replica(s) and the agent processes on this machine, sharing its cores; latencies include the agents\' own event loops',
    plan,
    load,
    coldStart: cold,
  };
}

export const arbiterSuite: Suite = {
  name: SUITE,
  description: 'the arbiter on loopback: claim/renewal latency and renewals/s with 1,000 instances and 2,000 agents, KV write load, cold start from a long event stream with and without its snapshot',
  run: runArbiter,
};
