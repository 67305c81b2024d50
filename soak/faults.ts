/**
 * The soak's faults (LAB.md's list), each an injector that reserves what it
 * touches, injects, holds a random while, restores, and records: when it was
 * injected and restored, which hosts could not rightly serve meanwhile, and
 * after which steps a correct holder is due within which bound.
 *
 * Overlap is allowed where the design promises an outcome: faults on different
 * pairs, a pair fault with a NATS or arbiter fault, a NATS fault with an arbiter
 * fault. One fault per pair at a time (and none while one of its hosts is
 * powered off by a fence), one NATS server down at a time (the cluster keeps its
 * majority), one arbiter replica down at a time: two at once on one pair would
 * leave no host that may serve, which no design promises to survive. A VRRP cut
 * of a failsafe pair never overlaps a NATS or arbiter fault: failsafe's backup
 * takes over without a lease when its master is silent on VRRP and no arbiter
 * answers (docs/agent.md, modes), so that double fault gives two holders by
 * design; the one-holder promise of a VRRP cut rests on the arbiter's veto.
 *
 * The bounds, from the design's expected outcomes (LAB.md) at advert 0.1 s:
 * Master_Down_Interval 3 x 100 ms + skew ≈ 0.36 s, lease TTL 0.45 s (renewal
 * every 0.25 s, libs/arbiter/src/timing.ts), a webhook fence with the lab's
 * power switch ≈ 1 s, ha-agent's start ≈ 1 s. On an idle machine each outcome
 * below comes within 1–3 s; the bounds are about five times that, for a shared
 * two-core machine: they catch a pair that does not converge, not a slow one
 * (the times are reported per kind).
 */
import type { LabHost } from '../test/lab/lab.js';
import { cleanupAgent } from '../test/lab/agent.js';
import { cutAddress, cutVrrp, healAddress, healVrrp } from '../test/lab/arbiter-pair.js';
import { sleep } from '../test/lab/wait.js';
import type { Expectation, FaultRecord, Ineligible } from './invariants.js';
import type { SoakLab, SoakPair } from './lab.js';
import type { Rng } from './rng.js';

export const FAULT_KINDS = ['agent-kill', 'agent-hang', 'vrrp-cut', 'gateway-loss', 'nats-kill', 'arbiter-kill', 'fenced-power-on'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Bound (ms) for a correct holder after each step of a fault. */
/**
 * Without fencing, the VIP a SIGKILLed agent left stays until the unit's
 * ExecStopPost (`ha-agent --cleanup`, a Node start: ≈ 0.5 s idle) removes it;
 * beside the backup that took over this is tolerated this long after the kill.
 */
export const STALE_VIP_BOUND_MS = 5000;

export const BOUNDS: Record<FaultKind, { injected: number; restored: number }> = {
  // The holder's agent dies: backup serves after Master_Down_Interval + lease TTL (+ the fence with fencing required).
  'agent-kill': { injected: 10_000, restored: 10_000 },
  // Hung master past its lease: fenced (power off) before the backup is granted.
  'agent-hang': { injected: 15_000, restored: 10_000 },
  // VRRP between the pair cut: the arbiter vetoes the backup, the holder stays.
  'vrrp-cut': { injected: 5_000, restored: 5_000 },
  // The master cannot reach the gateway: FAULT (gateway check falls), backup granted.
  'gateway-loss': { injected: 15_000, restored: 10_000 },
  // One NATS server of three: nothing changes for clients (a JetStream leader may move).
  'nats-kill': { injected: 10_000, restored: 10_000 },
  // One arbiter replica: the other answers.
  'arbiter-kill': { injected: 10_000, restored: 10_000 },
  // The fenced host comes back: it cannot preempt a live lease, the holder stays.
  'fenced-power-on': { injected: 10_000, restored: 10_000 },
};

export interface FaultContext {
  s: SoakLab;
  rng: Rng;
  /** CLOCK_MONOTONIC ms. */
  now(): number;
  log(msg: string): void;
  ineligible: Ineligible[];
  faults: FaultRecord[];
  /** Faults in flight per pair (n). */
  busyPairs: Map<number, number>;
  /** Hosts powered off by a fence and not yet powered on. */
  off: Set<string>;
  /** Fences seen per host so far: a fault that sees the count change knows its host was fenced meanwhile. */
  fenceCount: Map<string, number>;
  /** Per powered-off host, what ends its "powered off" ineligibility (one per fence). */
  offClosers: Map<string, Array<() => void>>;
  natsDown: boolean;
  arbiterDown: boolean;
  /** VRRP cuts of failsafe pairs in flight. */
  failsafeCuts: number;
  /** Lab problems (a process that would not start): reported, not invariant violations. */
  labErrors: string[];
  /** Starts that failed and were tried again a second later, as systemd's Restart=on-failure, RestartSec=1 does. */
  restartsOnFailure: string[];
}

export function reservePair(ctx: FaultContext, n: number): () => void {
  ctx.busyPairs.set(n, (ctx.busyPairs.get(n) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (ctx.busyPairs.get(n) ?? 1) - 1;
    if (left > 0) ctx.busyPairs.set(n, left);
    else ctx.busyPairs.delete(n);
  };
}

/**
 * A service start as systemd runs it (deploy/systemd: Restart=on-failure,
 * RestartSec=1): a start that fails is tried again a second later, up to
 * `attempts` times; each failure is recorded. Resolves true once started.
 */
async function startLikeSystemd(ctx: FaultContext, what: string, start: () => Promise<unknown>, attempts = 5, stillWanted: () => boolean = () => true): Promise<boolean> {
  for (let i = 1; i <= attempts; i++) {
    if (!stillWanted()) return false;
    try {
      await start();
      return true;
    } catch (e) {
      const msg = `${what}: attempt ${i}: ${(e as Error).message.slice(0, 300)}`;
      ctx.restartsOnFailure.push(msg);
      ctx.log(`start failed, again in 1 s: ${msg}`);
      await sleep(1000);
    }
  }
  ctx.labErrors.push(`${what}: no start in ${attempts} attempts`);
  return false;
}

let nextId = 0;

/** Marks `host` as unable to rightly serve from now; the returned function ends it. */
export function markIneligible(ctx: FaultContext, host: string, why: string, fromMs = ctx.now(), cause?: Ineligible['cause']): () => void {
  const entry: Ineligible = { host, fromMs, toMs: Infinity, why, ...(cause ? { cause } : {}) };
  ctx.ineligible.push(entry);
  return () => {
    if (entry.toMs === Infinity) entry.toMs = ctx.now();
  };
}

function record(ctx: FaultContext, kind: FaultKind, target: string): FaultRecord & { expect(instances: string[], label: 'injected' | 'restored'): void } {
  const f: FaultRecord = { id: ++nextId, kind, target, injectedMs: ctx.now(), expectations: [] };
  ctx.faults.push(f);
  return Object.assign(f, {
    expect(instances: string[], label: 'injected' | 'restored') {
      const at = ctx.now();
      for (const instance of instances) f.expectations.push({ instance, atMs: at, boundMs: BOUNDS[kind][label], label } satisfies Expectation);
    },
  });
}

const allInstances = (ctx: FaultContext): string[] => ctx.s.pairs.map((p) => p.instance);

/** The host of a pair that holds its VIP now, if exactly one does. */
function holderOf(p: SoakPair): LabHost | undefined {
  const now = p.watch?.holdersNow() ?? [];
  return now.length === 1 ? p.hosts.find((h) => h.name === now[0]) : undefined;
}

/** The holder with probability 2/3 (the interesting case), else the other host. */
function pickTarget(ctx: FaultContext, p: SoakPair): LabHost {
  const holder = holderOf(p);
  if (holder && ctx.rng.next() < 2 / 3) return holder;
  return ctx.rng.pick(p.hosts);
}

function pairFree(ctx: FaultContext, p: SoakPair): boolean {
  return !ctx.busyPairs.has(p.n) && !p.hosts.some((h) => ctx.off.has(h.name));
}

async function guarded(ctx: FaultContext, what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const msg = `${what}: ${(e as Error).message}`;
    ctx.labErrors.push(msg);
    ctx.log(`LAB ERROR ${msg}`);
  }
}

/** SIGKILL an agent (its host stays up), run `ha-agent --cleanup` as the unit's ExecStopPost would, restart it later. */
async function agentKill(ctx: FaultContext, p: SoakPair, host: LabHost): Promise<void> {
  const node = host.name;
  const f = record(ctx, 'agent-kill', node);
  const agent = p.agents.get(node)!;
  const fences = ctx.fenceCount.get(node) ?? 0;
  const fencedMeanwhile = (): boolean => ctx.off.has(node) || (ctx.fenceCount.get(node) ?? 0) !== fences;
  const end = markIneligible(ctx, node, 'its agent was SIGKILLed', ctx.now(), 'agent-killed');
  await agent.kill();
  f.expect([p.instance], 'injected');
  ctx.log(`#${f.id} agent-kill ${node} (${p.instance}, holder ${p.watch?.holdersNow().join(',') || 'none'})`);
  if (!fencedMeanwhile()) {
    // A cleanup in a host being fenced is killed with the host: nothing to clean then.
    await cleanupAgent(host, agent.confPath).catch((e: Error) => ctx.log(`#${f.id} cleanup of ${node}: ${e.message.slice(0, 200)}`));
  }
  await sleep(ctx.rng.int(2000, 8000));
  if (fencedMeanwhile()) {
    ctx.log(`#${f.id} ${node} was fenced meanwhile: it comes back with its power`);
    end();
  } else if (await startLikeSystemd(ctx, `#${f.id} restarting the agent of ${node}`, () => ctx.s.startAgent(node))) {
    end();
    f.expect([p.instance], 'restored');
  }
  // An agent that would not start leaves its host ineligible to the end.
  f.endedMs = ctx.now();
}

/** SIGSTOP the holder's agent past its lease (fencing required: it is fenced), SIGCONT if it was not. */
async function agentHang(ctx: FaultContext, p: SoakPair, host: LabHost): Promise<void> {
  const node = host.name;
  const f = record(ctx, 'agent-hang', node);
  const agent = p.agents.get(node)!;
  const end = markIneligible(ctx, node, 'its agent was SIGSTOPped');
  agent.process.signal('SIGSTOP');
  f.expect([p.instance], 'injected');
  ctx.log(`#${f.id} agent-hang ${node} (${p.instance})`);
  await sleep(ctx.rng.int(2000, 5000));
  if (ctx.off.has(node) || !agent.process.running) {
    ctx.log(`#${f.id} ${node} was fenced while hung`);
  } else {
    agent.process.signal('SIGCONT');
    f.expect([p.instance], 'restored');
    ctx.log(`#${f.id} ${node} SIGCONT (not fenced)`);
  }
  end();
  f.endedMs = ctx.now();
}

async function vrrpCut(ctx: FaultContext, p: SoakPair): Promise<void> {
  if (p.mode === 'failsafe') ctx.failsafeCuts++;
  try {
    await vrrpCutOf(ctx, p);
  } finally {
    if (p.mode === 'failsafe') ctx.failsafeCuts--;
  }
}

async function vrrpCutOf(ctx: FaultContext, p: SoakPair): Promise<void> {
  const f = record(ctx, 'vrrp-cut', p.instance);
  for (const h of p.hosts) await cutVrrp(h);
  f.expect([p.instance], 'injected');
  ctx.log(`#${f.id} vrrp-cut ${p.instance}`);
  await sleep(ctx.rng.int(3000, 10_000));
  for (const h of p.hosts) await healVrrp(h);
  f.expect([p.instance], 'restored');
  f.endedMs = ctx.now();
  ctx.log(`#${f.id} vrrp healed ${p.instance}`);
}

async function gatewayLoss(ctx: FaultContext, p: SoakPair, host: LabHost): Promise<void> {
  const f = record(ctx, 'gateway-loss', host.name);
  const end = markIneligible(ctx, host.name, 'it could not reach the gateway');
  await cutAddress(host, ctx.s.gw.ipv4);
  f.expect([p.instance], 'injected');
  ctx.log(`#${f.id} gateway-loss ${host.name} (${p.instance})`);
  await sleep(ctx.rng.int(3000, 10_000));
  await healAddress(host);
  end();
  f.expect([p.instance], 'restored');
  f.endedMs = ctx.now();
  ctx.log(`#${f.id} gateway back for ${host.name}`);
}

async function natsKill(ctx: FaultContext): Promise<void> {
  const i = ctx.rng.int(0, ctx.s.nats.servers.length - 1);
  const server = ctx.s.nats.servers[i]!;
  const f = record(ctx, 'nats-kill', server.host.name);
  await server.kill();
  f.expect(allInstances(ctx), 'injected');
  ctx.log(`#${f.id} nats-kill ${server.name}`);
  await sleep(ctx.rng.int(3000, 12_000));
  if (await startLikeSystemd(ctx, `#${f.id} restarting ${server.name}`, () => server.start())) {
    f.expect(allInstances(ctx), 'restored');
    await guarded(ctx, `#${f.id} ${server.name}: cluster health`, async () => {
      const h = await ctx.s.nats.waitHealthy(60_000);
      ctx.log(`#${f.id} ${server.name} back, cluster healthy after ${h.ms} ms (meta leader ${h.metaLeader})`);
    });
  }
  f.endedMs = ctx.now();
}

async function arbiterKill(ctx: FaultContext): Promise<void> {
  const i = ctx.rng.int(0, ctx.s.arbiters.length - 1);
  const arb = ctx.s.arbiters[i]!;
  const f = record(ctx, 'arbiter-kill', arb.replica);
  await arb.kill();
  f.expect(allInstances(ctx), 'injected');
  ctx.log(`#${f.id} arbiter-kill ${arb.replica}`);
  await sleep(ctx.rng.int(3000, 12_000));
  if (await startLikeSystemd(ctx, `#${f.id} restarting ${arb.replica}`, () => ctx.s.restartArbiter(i))) {
    f.expect(allInstances(ctx), 'restored');
    ctx.log(`#${f.id} ${arb.replica} back`);
  }
  f.endedMs = ctx.now();
}

/**
 * The fenced host is powered on again: a reboot (its stale VIP gone), the cable
 * in, nginx and the agent started. One at a time per host: a fence that comes
 * while it runs (the arbiter fencing the host again) powers it off again, and
 * the whole power-on is done over.
 */
export async function fencedPowerOn(ctx: FaultContext, node: string): Promise<void> {
  const p = ctx.s.pairOf(node);
  const host = p.hosts.find((h) => h.name === node)!;
  const f = record(ctx, 'fenced-power-on', node);
  const release = reservePair(ctx, p.n);
  try {
    for (let round = 1; round <= 5; round++) {
      const fences = ctx.fenceCount.get(node) ?? 0;
      // A power cycle is a reboot: the VIP the agent had added does not survive it (the lab's powerOn only plugs the cable in).
      await host.ip(['addr', 'del', p.pair.vip.ipv4Cidr, 'dev', host.ifname], { allowFail: true });
      await host.powerOn();
      ctx.s.fence.poweredOn(node);
      if (round === 1) f.expect([p.instance], 'injected');
      ctx.log(`#${f.id} fenced-power-on ${node}${round > 1 ? ` (again, round ${round})` : ''}`);
      const notFencedAgain = (): boolean => (ctx.fenceCount.get(node) ?? 0) === fences;
      const started = await startLikeSystemd(ctx, `#${f.id} starting the agent of ${node} after power-on`, () => ctx.s.startAgent(node), 5, notFencedAgain);
      if (!notFencedAgain()) {
        ctx.log(`#${f.id} ${node} was fenced again during its power-on: powering it on again`);
        await sleep(2000);
        continue;
      }
      ctx.off.delete(node);
      if (started) {
        for (const close of ctx.offClosers.get(node)?.splice(0) ?? []) close();
        f.expect([p.instance], 'restored');
      }
      return;
    }
    ctx.labErrors.push(`#${f.id} ${node}: fenced again during each of 5 power-ons`);
    ctx.off.delete(node);
  } finally {
    release();
    f.endedMs = ctx.now();
  }
}

/**
 * A random fault that can start now, reserved and running, or undefined when
 * none can (everything busy). `fenced-power-on` is not drawn: it follows a fence.
 */
export function startRandomFault(ctx: FaultContext): { kind: FaultKind; done: Promise<void> } | undefined {
  const options: Array<{ kind: FaultKind; run: () => Promise<void> }> = [];
  const free = ctx.s.pairs.filter((p) => pairFree(ctx, p));
  const pairFault = (kind: FaultKind, pairs: SoakPair[], fn: (p: SoakPair) => Promise<void>): void => {
    if (pairs.length === 0) return;
    options.push({
      kind,
      run: async () => {
        const p = ctx.rng.pick(pairs);
        const release = reservePair(ctx, p.n);
        try {
          await fn(p);
        } finally {
          release();
        }
      },
    });
  };
  pairFault('agent-kill', free, (p) => agentKill(ctx, p, pickTarget(ctx, p)));
  // A hung master is fenced only with fencing required: elsewhere it keeps its VIP while the backup is granted, by design.
  pairFault('agent-hang', free.filter((p) => p.fencing === 'required' && holderOf(p) !== undefined), (p) => agentHang(ctx, p, holderOf(p)!));
  const infraQuiet = !ctx.natsDown && !ctx.arbiterDown;
  pairFault('vrrp-cut', free.filter((p) => p.mode !== 'failsafe' || infraQuiet), (p) => vrrpCut(ctx, p));
  pairFault('gateway-loss', free, (p) => gatewayLoss(ctx, p, pickTarget(ctx, p)));
  if (!ctx.natsDown && ctx.failsafeCuts === 0) {
    options.push({
      kind: 'nats-kill',
      run: async () => {
        ctx.natsDown = true;
        try {
          await natsKill(ctx);
        } finally {
          ctx.natsDown = false;
        }
      },
    });
  }
  if (!ctx.arbiterDown && ctx.failsafeCuts === 0) {
    options.push({
      kind: 'arbiter-kill',
      run: async () => {
        ctx.arbiterDown = true;
        try {
          await arbiterKill(ctx);
        } finally {
          ctx.arbiterDown = false;
        }
      },
    });
  }
  if (options.length === 0) return undefined;
  const o = ctx.rng.pick(options);
  // The reservation happens synchronously inside run() before its first await.
  const done = guarded(ctx, o.kind, o.run);
  return { kind: o.kind, done };
}
