/**
 * The arbiter scenarios' common ground (LAB.md, "vrrp link cut" and below): one
 * segment with the gateway, a 3-server NATS cluster, two arbiter replicas, a
 * keepquorum pair (a1 priority 100, b1 priority 90, VRRPv3 at advert 0.1 s)
 * in front of nginx, the client, and the lab's power switch for fencing.
 *
 * Both sides derive the lease timing from the same advert interval (the
 * arbiter's `advertIntervalMs` and the agents' keepalived.conf `advert_int`),
 * so the defaults agree without a timing block anywhere.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab, LabHost } from './lab.js';
import { buildSegment, type Pair, type Segment } from './topology.js';
import { startNatsCluster, type NatsCluster } from './nats.js';
import { startArbiter, type ArbiterHandle, type ArbiterLabConfig } from './arbiter.js';
import { startFenceTarget, type FenceTarget } from './fence-target.js';
import { keepalivedConf } from './keepalived.js';
import { restartAgent, startAgent, type AgentHandle } from './agent.js';
import { startNginx } from './nginx.js';
import { waitUntil } from './wait.js';
import { exitedAndDrained } from './client.js';

export const CLUSTER = 'dc1';
export const INSTANCE = 'VI_1';
export const ADVERT_MS = 100;
export const API_TOKEN = 'lab-operator-token-0123456789';

export interface ArbiterPairOptions {
  mode: 'strict' | 'failsafe' | 'off';
  fencing: 'off' | 'best-effort' | 'required';
  /** How a1 and b1 are fenced: the signed webhook (default) or the lab fence agent. */
  fenceBackend?: { a1?: 'webhook' | 'agent'; b1?: 'webhook' | 'agent' };
  /** Keepalived peers for the interop comparison (ka1, ka2). */
  keepalivedPeers?: number;
  arbiters?: 1 | 2;
  /** Webhook retry settings (fence-fails scenario). */
  webhook?: Record<string, number>;
}

export interface ArbiterPair {
  readonly lab: Lab;
  readonly seg: Segment;
  readonly pair: Pair;
  readonly a: LabHost;
  readonly b: LabHost;
  readonly cl: LabHost;
  readonly gw: LabHost;
  readonly nats: NatsCluster;
  readonly fence: FenceTarget;
  readonly arbiterConfig: ArbiterLabConfig;
  arbiters: ArbiterHandle[];
  agents: Record<'a1' | 'b1', AgentHandle>;
  /** Start (or restart after a power-off or kill) the agent of a1 or b1, nginx first when it is not running. */
  startAgent(node: 'a1' | 'b1', opts?: { mode?: string; extraArgs?: string[] }): Promise<AgentHandle>;
  /** Who has the VIP on an interface with carrier now. */
  holders(): Promise<string[]>;
  /** Every arbiter decision so far, over all replicas. */
  decisions(): ArbiterHandle['decisions'];
}

export function agentFlags(p: { nats: NatsCluster; lab: Lab }, node: string, mode: string, fencing: string): string[] {
  return ['--nats', p.nats.urls.join(','), '--cluster', CLUSTER, '--state-dir', join(p.lab.dir, `${node}-state`), '--gateway', '198.18.0.1', '--mode', mode, '--fencing', fencing];
}

export function agentConf(pair: Pair, node: 'a1' | 'b1'): string {
  return keepalivedConf({ vrid: pair.vip.vrid, priority: node === 'a1' ? 100 : 90, advertInt: ADVERT_MS / 1000, version: 3, vips: [pair.vip.ipv4Cidr], routerId: node });
}

/** Build the segment and start NATS, the switch, the arbiters; the agents are started by the caller. */
export async function startArbiterPair(lab: Lab, o: ArbiterPairOptions): Promise<ArbiterPair> {
  const seg = await buildSegment(lab, { gateway: true, nats: 3, arbiters: 2, pairs: 1, client: true, keepalivedPeers: o.keepalivedPeers ?? 0, ipv6: false });
  const pair = seg.pairs[0]!;
  const gw = seg.gateway!;
  const nats = await startNatsCluster(seg.nats);
  const fence = await startFenceTarget(gw, { a1: pair.a, b1: pair.b });
  const backend = (node: 'a1' | 'b1'): Record<string, unknown> =>
    o.fenceBackend?.[node] === 'agent'
      ? { type: 'agent', agent: fence.agent.path, options: fence.agent.options, timeoutMs: 10_000, retries: 2 }
      : { type: 'webhook', url: fence.url, secretFile: fence.secretFile, timeoutMs: 2000, retries: 3, backoffMs: 100, maxBackoffMs: 400, totalTimeoutMs: 10_000, ...(o.webhook ?? {}) };
  const arbiterConfig: ArbiterLabConfig = {
    cluster: CLUSTER,
    natsUrls: nats.urls,
    gateway: gw.ipv4,
    tokens: { operator: API_TOKEN },
    warmupMs: 1000,
    nodes: { a1: { address: pair.a.ipv4, fencing: backend('a1') }, b1: { address: pair.b.ipv4, fencing: backend('b1') } },
    instances: [{ name: INSTANCE, mode: o.mode, fencing: o.fencing, advertIntervalMs: ADVERT_MS, members: ['a1', 'b1'] }],
  };
  const arbiters: ArbiterHandle[] = [];
  for (const [i, host] of seg.arbiters.slice(0, o.arbiters ?? 2).entries()) arbiters.push(await startArbiter(host, `arb-${i + 1}`, arbiterConfig));
  await startNginx(pair.a);
  await startNginx(pair.b);

  const runs: Record<'a1' | 'b1', number> = { a1: 0, b1: 0 };
  const p: ArbiterPair = {
    lab,
    seg,
    pair,
    a: pair.a,
    b: pair.b,
    cl: seg.client!,
    gw,
    nats,
    fence,
    arbiterConfig,
    arbiters,
    agents: {} as Record<'a1' | 'b1', AgentHandle>,
    async startAgent(node, opts = {}) {
      const host = node === 'a1' ? pair.a : pair.b;
      const previous = p.agents[node];
      const name = `agent-${++runs[node]}`;
      if (!host.processes.some((x) => x.name === `${host.name}/nginx` && x.running)) await startNginx(host);
      const extraArgs = opts.extraArgs ?? agentFlags(p, node, opts.mode ?? o.mode, o.fencing);
      const handle = previous
        ? await restartAgent(previous, { name, extraArgs, logLevel: 'debug' })
        : await startAgent(host, agentConf(pair, node), { name, extraArgs, logLevel: 'debug' });
      p.agents[node] = handle;
      return handle;
    },
    async holders() {
      const out: string[] = [];
      for (const h of [pair.a, pair.b]) {
        // As the samplers count it: a powered-off host (link without carrier) serves nothing.
        const link = await h.ip(['-o', 'link', 'show', 'dev', h.ifname], { allowFail: true });
        if (/LOWER_UP/.test(link) && (await h.hasAddress(pair.vip.ipv4))) out.push(h.name);
      }
      return out;
    },
    decisions() {
      return p.arbiters.flatMap((x) => x.decisions).sort((x, y) => (x.seenNs < y.seenNs ? -1 : x.seenNs > y.seenNs ? 1 : 0));
    },
  };
  return p;
}

/** a1 MASTER under a lease, b1 BACKUP hearing it: the starting point of most scenarios. */
export async function settleWithA1(p: ArbiterPair): Promise<void> {
  await p.agents.a1.waitForState(INSTANCE, 'MASTER', 15_000);
  await waitUntil('b1 BACKUP', () => p.agents.b1.state(INSTANCE) === 'BACKUP', 10_000);
  await waitUntil('a1 alone holding the VIP', async () => (await p.holders()).join() === 'a1', 5000);
  await waitUntil('b1 hearing a1 as its master', async () => (await p.agents.b1.status()).instances[0]?.master === p.a.ipv4, 5000, 50);
}

/** nftables in a host: drop every VRRP packet (IP protocol 112) it receives. */
export async function cutVrrp(host: LabHost): Promise<void> {
  await host.exec('nft', ['-f', '-'], { input: 'table inet kq_cut {\n  chain input {\n    type filter hook input priority -200; policy accept;\n    meta l4proto 112 drop\n  }\n}\n' });
}

export async function healVrrp(host: LabHost): Promise<void> {
  await host.exec('nft', ['delete', 'table', 'inet', 'kq_cut'], { allowFail: true });
}

/** nftables in a host: it cannot reach `address` (ICMP and all else dropped both ways). */
export async function cutAddress(host: LabHost, address: string): Promise<void> {
  await host.exec('nft', ['-f', '-'], {
    input: `table inet kq_gw {\n  chain output {\n    type filter hook output priority 0; policy accept;\n    ip daddr ${address} drop\n  }\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ip saddr ${address} drop\n  }\n}\n`,
  });
}

export async function healAddress(host: LabHost): Promise<void> {
  await host.exec('nft', ['delete', 'table', 'inet', 'kq_gw'], { allowFail: true });
}

export const HACTL = fileURLToPath(new URL('../../../bin/hactl', import.meta.url));

export interface HistoryEvent {
  id: string;
  type: string;
  node: string;
  instance?: string;
  seq: number;
  at: string;
  data: Record<string, unknown>;
}

/** `hactl history --json [args]` run in the client's namespace: the envelopes in stream order, and its exit code. */
export async function eventHistory(p: ArbiterPair, args: string[] = []): Promise<{ code: number | null; events: HistoryEvent[]; stderr: string }> {
  const proc = p.cl.spawnNode(`hactl-history-${++historyRuns}`, HACTL, ['history', '--nats', p.nats.urls.join(','), '--json', ...args], { captureStdout: true });
  let stderr = '';
  proc.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const { code } = await exitedAndDrained(proc);
  const events = proc.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as HistoryEvent);
  return { code, events, stderr };
}
let historyRuns = 0;
