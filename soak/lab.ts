/**
 * The soak's lab, built from test/lab's helpers: one segment with the gateway,
 * a 3-server NATS JetStream cluster, two ha-arbiter replicas, 2–3 keepquorum
 * pairs (VRRPv3, advert 0.1 s, a<n> priority 100, b<n> 90) in front of nginx,
 * the client, the lab's power switch (fence target) for the pair with fencing
 * required; one HTTP client per VIP (every 10 ms) and one VIP sampler per agent
 * host (every 5 ms, from outside the agents), both running for the whole soak.
 *
 * Pair 1: strict, fencing required (the fence path). Pair 2: failsafe, no
 * fencing. Pair 3: strict, no fencing.
 */
import { join } from 'node:path';
import type { Lab, LabHost } from '../test/lab/lab.js';
import { buildSegment, type Pair, type Segment } from '../test/lab/topology.js';
import { startNatsCluster, type NatsCluster } from '../test/lab/nats.js';
import { startArbiter, type ArbiterHandle, type ArbiterLabConfig } from '../test/lab/arbiter.js';
import { startFenceTarget, type FenceTarget } from '../test/lab/fence-target.js';
import { keepalivedConf } from '../test/lab/keepalived.js';
import { restartAgent, startAgent, type AgentHandle } from '../test/lab/agent.js';
import { startNginx } from '../test/lab/nginx.js';
import { startClient, type ClientHandle } from '../test/lab/client.js';
import { startSplitBrainWatch, type SplitBrainWatch } from '../test/lab/split-brain.js';
import { ADVERT_MS, agentFlags, CLUSTER } from '../test/lab/arbiter-pair.js';

export { CLUSTER };

export type Mode = 'strict' | 'failsafe';
export type Fencing = 'off' | 'required';

export interface SoakPair {
  n: number;
  instance: string;
  pair: Pair;
  mode: Mode;
  fencing: Fencing;
  hosts: [LabHost, LabHost];
  /** The current agent of each host, by node name (a<n>, b<n>). */
  agents: Map<string, AgentHandle>;
  client?: ClientHandle;
  watch?: SplitBrainWatch;
}

export interface SoakLab {
  lab: Lab;
  seg: Segment;
  gw: LabHost;
  cl: LabHost;
  nats: NatsCluster;
  fence: FenceTarget;
  arbiterConfig: ArbiterLabConfig;
  arbiters: ArbiterHandle[];
  pairs: SoakPair[];
  /** The pair a host (node name) belongs to. */
  pairOf(node: string): SoakPair;
  /** Start (or restart) a node's agent, nginx first when it is not running. */
  startAgent(node: string): Promise<AgentHandle>;
  /** Restart arbiter replica i (0-based) after it was killed. */
  restartArbiter(i: number): Promise<ArbiterHandle>;
  /** Where a node's journal lives (agents: the state dir; arbiters: theirs). */
  stateDirs(): Record<string, string>;
}

const PAIR_PLAN: ReadonlyArray<{ mode: Mode; fencing: Fencing }> = [
  { mode: 'strict', fencing: 'required' },
  { mode: 'failsafe', fencing: 'off' },
  { mode: 'strict', fencing: 'off' },
];

export const MAX_SOAK_PAIRS = PAIR_PLAN.length;

function pairConf(p: Pair, instance: string, node: string): string {
  const priority = node.startsWith('a') ? 100 : 90;
  return keepalivedConf({ vrid: p.vip.vrid, priority, advertInt: ADVERT_MS / 1000, version: 3, vips: [p.vip.ipv4Cidr], routerId: node, instance });
}

export async function startSoakLab(lab: Lab, opts: { pairs: number; log: (msg: string) => void }): Promise<SoakLab> {
  if (!Number.isInteger(opts.pairs) || opts.pairs < 1 || opts.pairs > MAX_SOAK_PAIRS) throw new Error(`--pairs ${opts.pairs}: 1..${MAX_SOAK_PAIRS}`);
  const seg = await buildSegment(lab, { gateway: true, nats: 3, arbiters: 2, pairs: opts.pairs, client: true, ipv6: false });
  const gw = seg.gateway!;
  const cl = seg.client!;
  opts.log('starting the NATS cluster');
  const nats = await startNatsCluster(seg.nats);
  const fenced = seg.pairs.filter((_, i) => PAIR_PLAN[i]!.fencing === 'required');
  const fenceTargets: Record<string, LabHost> = {};
  for (const p of fenced) {
    fenceTargets[p.a.name] = p.a;
    fenceTargets[p.b.name] = p.b;
  }
  const fence = await startFenceTarget(gw, fenceTargets);
  const webhook = { type: 'webhook', url: fence.url, secretFile: fence.secretFile, timeoutMs: 2000, retries: 3, backoffMs: 100, maxBackoffMs: 400, totalTimeoutMs: 10_000 };
  const nodes: Record<string, { address: string; fencing?: Record<string, unknown> }> = {};
  const pairs: SoakPair[] = seg.pairs.map((pair, i) => {
    const plan = PAIR_PLAN[i]!;
    for (const h of [pair.a, pair.b]) nodes[h.name] = plan.fencing === 'required' ? { address: h.ipv4, fencing: webhook } : { address: h.ipv4 };
    return { n: pair.n, instance: `VI_${pair.n}`, pair, mode: plan.mode, fencing: plan.fencing, hosts: [pair.a, pair.b], agents: new Map() };
  });
  const arbiterConfig: ArbiterLabConfig = {
    cluster: CLUSTER,
    natsUrls: nats.urls,
    gateway: gw.ipv4,
    warmupMs: 1000,
    nodes,
    instances: pairs.map((p) => ({ name: p.instance, mode: p.mode, fencing: p.fencing, advertIntervalMs: ADVERT_MS, members: [p.pair.a.name, p.pair.b.name] })),
  };
  opts.log('starting the arbiters');
  const arbiters: ArbiterHandle[] = [];
  for (const [i, host] of seg.arbiters.entries()) arbiters.push(await startArbiter(host, `arb-${i + 1}`, arbiterConfig, { readyTimeoutMs: 60_000 }));
  const arbiterRuns = arbiters.map(() => 1);
  const runs = new Map<string, number>();

  const byNode = new Map<string, SoakPair>();
  for (const p of pairs) for (const h of p.hosts) byNode.set(h.name, p);
  const s: SoakLab = {
    lab,
    seg,
    gw,
    cl,
    nats,
    fence,
    arbiterConfig,
    arbiters,
    pairs,
    pairOf(node) {
      const p = byNode.get(node);
      if (!p) throw new Error(`no pair has a node ${node}`);
      return p;
    },
    async startAgent(node) {
      const p = s.pairOf(node);
      const host = p.hosts.find((h) => h.name === node)!;
      if (!host.processes.some((x) => x.name === `${host.name}/nginx` && x.running)) await startNginx(host, { readyTimeoutMs: 30_000 });
      const run = (runs.get(node) ?? 0) + 1;
      runs.set(node, run);
      const previous = p.agents.get(node);
      const extraArgs = agentFlags({ nats, lab }, node, p.mode, p.fencing);
      const opts = { name: `agent-${run}`, extraArgs, logLevel: 'info', startTimeoutMs: 60_000 };
      const handle = previous ? await restartAgent(previous, opts) : await startAgent(host, pairConf(p.pair, p.instance, node), opts);
      // The soak reads transitions, not the agent's every log line: keep the runner's memory flat.
      handle.process.onLine(() => {
        if (handle.process.lines.length > 1000) handle.process.lines.splice(0, handle.process.lines.length - 200);
      });
      p.agents.set(node, handle);
      return handle;
    },
    async restartArbiter(i) {
      const old = arbiters[i]!;
      const run = ++arbiterRuns[i]!;
      const handle = await startArbiter(old.host, old.replica, arbiterConfig, { name: `${old.replica}-run${run}`, readyTimeoutMs: 60_000 });
      arbiters[i] = handle;
      trimArbiter(handle);
      return handle;
    },
    stateDirs() {
      const dirs: Record<string, string> = {};
      for (const p of pairs) for (const h of p.hosts) dirs[h.name] = join(lab.dir, `${h.name}-state`);
      for (const a of arbiters) dirs[a.replica] = join(lab.dir, `${a.host.name}-${a.replica}-state`);
      return dirs;
    },
  };
  for (const a of arbiters) trimArbiter(a);
  for (const p of pairs) {
    opts.log(`starting the agents of ${p.instance} (${p.mode}, fencing ${p.fencing})`);
    const a = await s.startAgent(p.pair.a.name);
    await a.waitForState(p.instance, 'MASTER', 60_000);
    await s.startAgent(p.pair.b.name);
  }
  return s;
}

/** An arbiter handle keeps every log record and decision; a soak needs only recent ones. */
function trimArbiter(a: ArbiterHandle): void {
  a.process.onLine(() => {
    for (const list of [a.records, a.decisions, a.process.lines] as unknown[][]) if (list.length > 5000) list.splice(0, list.length - 1000);
  });
}

/** The clients and samplers of every pair, running for `durationMs`. */
export async function startObservers(s: SoakLab, durationMs: number): Promise<void> {
  for (const p of s.pairs) {
    p.watch = await startSplitBrainWatch(p.hosts, p.pair.vip.ipv4, { durationMs, readyTimeoutMs: 30_000 });
    p.client = startClient(s.cl, p.pair.vip.ipv4, { durationMs, name: `client-${p.instance}` });
  }
}
