/**
 * Property: over random sequences of requests, however they interleave, no two
 * nodes ever hold one lease at the same time.
 *
 * A small world is simulated with a seeded generator (no dependency):
 *   - a compare-and-set KV (HA_LEASES) that applies a write only when its
 *     expected revision matches, and sometimes reports a timeout whether or not
 *     the write landed;
 *   - two arbiter replicas with their own, lagging copy of the leases, their
 *     own pending writes, and wall clocks skewed from each other (by less than
 *     the safety margin); writes are delivered late and out of order;
 *   - three agents that claim, renew, release, hang, lose NATS (staying up and
 *     keeping their VIP until their own deadline), lose their gateway, obey or
 *     miss orders (a tenth of the arbiter's messages to agents are lost, and
 *     four in ten arrive up to 3 s late, in any order), and
 *     get fenced (powered off) or not;
 *   - an operator forcing failovers.
 * An agent holds a lease from the grant it accepts until its self-demotion
 * deadline (timing.ts, counted from when it sent the claim or renewal the
 * answer is for: answers may arrive seconds late), an order it obeys, its
 * release, or its fence. An offer makes it claim; a grant of an epoch it has
 * already given up (released, or demoted from on order) is stale and ignored. The check runs whenever a
 * grant is accepted: nobody else may hold the lease at that instant.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../src/decide.js';
import { defaultLeaseTiming, selfDemotionAt } from '../src/timing.js';
import { recordConnection, recordFenceResult, recordIssued, recordWriteResult } from '../src/view.js';
import type {
  ArbiterAction,
  ArbiterRequest,
  ArbiterView,
  FencingPolicy,
  InstanceView,
  LeaseEntry,
  MemberView,
  NodeView,
  PendingWrite,
  WriteLeaseAction,
  WriteOutcome,
} from '../src/types.js';
import { mulberry32 } from '../../common/src/mulberry32.js';

/** A seeded generator (mulberry32) to shuffle the simulation. */
function generator(seed: number) {
  const next = mulberry32(seed);
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick<T>(xs: readonly T[]): T | undefined {
      return xs.length === 0 ? undefined : xs[Math.floor(next() * xs.length)];
    },
  };
}

const TIMING = defaultLeaseTiming(1000);
const NODES = ['n1', 'n2', 'n3'] as const;
const INSTANCES = ['web', 'db'] as const;
const PRIORITY: Record<string, number> = { n1: 200, n2: 150, n3: 100 };

interface Held {
  epoch: number;
  deadline: number;
}

interface Agent {
  node: string;
  powered: boolean;
  connected: boolean;
  gatewayUp: boolean;
  /** Stops renewing (SIGSTOP-like) while keeping its connection. */
  hung: boolean;
  held: Map<string, Held>;
  claiming: Set<string>;
  /** Grows at every power-on: a reply meant for an earlier process never reaches a later one. */
  incarnation: number;
  /** The newest epoch it gave up per instance (release, obeyed order): a late grant of it is stale. */
  released: Map<string, number>;
  nextRenewal: Map<string, number>;
}

interface Replica {
  skew: number;
  leases: Map<string, LeaseEntry | null>;
  pending: Map<string, PendingWrite>;
}

/** The agent request a decision answers: when it was sent (true time) and by which process. */
interface Origin {
  anchor: number;
  incarnation: number;
}

interface QueuedWrite {
  replica: number;
  write: WriteLeaseAction;
  origin: Origin | null;
}

interface Violation {
  seed: number;
  step: number;
  at: number;
  instance: string;
  holders: string[];
}

interface Options {
  seed: number;
  steps: number;
  /** Wall-clock offsets of the two replicas. */
  skews: [number, number];
  fencing: Record<string, FencingPolicy>;
  /** Collects what happened, to read a failing seed. */
  trace?: string[];
}

function simulate(opt: Options): { violations: Violation[]; grants: number; stats: Record<string, number> } {
  const r = generator(opt.seed);
  let now = 1_700_000_000_000;
  const kv = new Map<string, LeaseEntry>();
  const replicas: Replica[] = opt.skews.map((skew) => ({ skew, leases: new Map(), pending: new Map() }));
  let nodes: Record<string, NodeView> = {};
  const agents = new Map<string, Agent>();
  for (const n of NODES) {
    agents.set(n, { node: n, powered: true, connected: true, gatewayUp: true, hung: false, held: new Map(), claiming: new Set(), nextRenewal: new Map(), incarnation: 0, released: new Map() });
    nodes[n] = { connected: true, since: now, gateway: 'up', reachableFromArbiter: 'unknown' };
  }
  let arbiterGateway: NodeView['gateway'] = 'up';
  let writePathUp = true;
  const queue: QueuedWrite[] = [];
  /** Messages to agents still on their way. */
  let inbox: Array<{ at: number; act: ArbiterAction; origin: Origin | null }> = [];
  const violations: Violation[] = [];
  const epochOwner = new Map<string, string>();
  const stats: Record<string, number> = {};
  const count = (k: string) => (stats[k] = (stats[k] ?? 0) + 1);
  const log = (line: () => string) => opt.trace?.push(`${step} +${now - 1_700_000_000_000} ${line()}`);
  let grants = 0;
  let step = 0;

  const members = (instance: string): Record<string, MemberView> => {
    const out: Record<string, MemberView> = {};
    for (const a of agents.values()) {
      const held = a.held.get(instance);
      const state = !a.powered ? 'INIT' : held ? 'MASTER' : a.claiming.has(instance) ? 'CLAIMING' : a.gatewayUp ? 'BACKUP' : 'FAULT';
      out[a.node] = { priority: PRIORITY[a.node]!, state, vip: held !== undefined };
    }
    return out;
  };

  const compose = (ri: number): ArbiterView => {
    const rep = replicas[ri]!;
    const instances: Record<string, InstanceView> = {};
    for (const name of INSTANCES) {
      const pending = rep.pending.get(name);
      instances[name] = {
        policy: { mode: 'strict', fencing: opt.fencing[name]!, timing: TIMING },
        lease: rep.leases.get(name) ?? null,
        members: members(name),
        ...(pending ? { pendingWrite: pending } : {}),
      };
    }
    return { cluster: 'sim', writePath: { available: writePathUp }, gateway: arbiterGateway, nodes, instances };
  };

  /** Keep what the shell's folds changed: this replica's leases and pending writes, and the shared node facts. */
  const absorb = (ri: number, v: ArbiterView) => {
    const rep = replicas[ri]!;
    for (const name of INSTANCES) {
      const inst = v.instances[name]!;
      rep.leases.set(name, inst.lease);
      if (inst.pendingWrite) rep.pending.set(name, inst.pendingWrite);
      else rep.pending.delete(name);
    }
    nodes = { ...v.nodes };
  };

  const replicaNow = (ri: number) => now + replicas[ri]!.skew;

  const setGateway = (a: Agent, up: boolean) => {
    a.gatewayUp = up;
    nodes = { ...nodes, [a.node]: { ...nodes[a.node]!, gateway: up ? 'up' : 'down' } };
  };

  const dropHold = (a: Agent, instance: string) => {
    log(() => `${a.node} drops ${instance}`);
    a.held.delete(instance);
    a.nextRenewal.delete(instance);
  };

  const acceptGrant = (a: Agent, instance: string, epoch: number, validForMs: number, anchor: number) => {
    const current = a.held.get(instance);
    if (current && current.epoch > epoch) return;
    if ((a.released.get(instance) ?? 0) >= epoch) {
      count('stale-grant-ignored');
      return;
    }
    const deadline = selfDemotionAt(anchor, validForMs, TIMING);
    if (deadline <= now) return;
    const owner = epochOwner.get(`${instance}#${epoch}`);
    if (owner !== undefined && owner !== a.node) {
      violations.push({ seed: opt.seed, step, at: now, instance, holders: [owner, a.node] });
    }
    epochOwner.set(`${instance}#${epoch}`, a.node);
    for (const other of agents.values()) {
      if (other === a || !other.powered) continue;
      const h = other.held.get(instance);
      if (h && h.deadline > now) violations.push({ seed: opt.seed, step, at: now, instance, holders: [other.node, a.node] });
    }
    a.held.set(instance, { epoch, deadline });
    log(() => `${a.node} holds ${instance} epoch ${epoch} until +${deadline - 1_700_000_000_000}`);
    a.claiming.delete(instance);
    if (!a.nextRenewal.has(instance)) a.nextRenewal.set(instance, anchor + TIMING.renewIntervalMs);
    grants++;
  };

  /** The shell: record, queue writes, send answers and orders to agents (some late, some lost). */
  const run = (ri: number, view: ArbiterView, actions: readonly ArbiterAction[], origin: Origin | null) => {
    absorb(ri, recordIssued(view, actions, replicaNow(ri)));
    for (const act of actions) {
      if (act.type === 'writeLease') {
        queue.push({ replica: ri, write: act, origin });
        continue;
      }
      if (act.type === 'event' || act.type === 'fence') continue;
      if (r.chance(0.1)) {
        count('lost');
        continue;
      }
      if (r.chance(0.6)) deliver(act, origin);
      else inbox.push({ at: now + r.int(3000), act, origin });
    }
  };

  const deliver = (act: ArbiterAction, origin: Origin | null) => {
    if (act.type === 'writeLease' || act.type === 'event' || act.type === 'fence') return;
    const a = agents.get(act.node);
    // Answers travel on the request's reply inbox, which dies with the process that asked.
    const answer = act.type === 'grant' || act.type === 'renewed' || act.type === 'veto' || act.type === 'refuse' || act.type === 'released';
    if (!a || !a.powered || !a.connected || (answer && (!origin || a.incarnation !== origin.incarnation))) {
      count('lost');
      return;
    }
    switch (act.type) {
      case 'grant':
        acceptGrant(a, act.instance, act.epoch, act.validForMs, origin!.anchor);
        break;
      case 'renewed': {
        const h = a.held.get(act.instance);
        if (h && h.epoch === act.epoch && h.deadline > now) {
          h.deadline = Math.max(h.deadline, selfDemotionAt(origin!.anchor, act.validForMs, TIMING));
        }
        break;
      }
      case 'orderDemote': {
        const h = a.held.get(act.instance);
        if (h && h.epoch <= act.epoch) {
          dropHold(a, act.instance);
          a.released.set(act.instance, h.epoch);
          count('obeyed');
          send(a, { type: 'release', instance: act.instance, node: a.node, epoch: h.epoch });
        }
        break;
      }
      case 'offer': {
        const h = a.held.get(act.instance);
        count('offered');
        if ((!h || h.epoch < act.epoch) && a.gatewayUp) {
          a.claiming.add(act.instance);
          send(a, { type: 'claim', instance: act.instance, node: a.node });
        }
        break;
      }
      case 'veto':
      case 'refuse':
        a.claiming.delete(act.instance);
        break;
      case 'released':
        break;
    }
  };

  const send = (a: Agent, request: ArbiterRequest) => {
    if (!a.powered || !a.connected) return;
    const ri = r.int(replicas.length);
    const view = compose(ri);
    const d = decide(view, request, replicaNow(ri));
    count(`${request.type}:${d.decision}`);
    log(() => `r${ri} ${JSON.stringify(request)} -> ${d.decision}: ${d.reason} ${JSON.stringify(d.actions.filter((x) => x.type !== 'event').map((x) => [x.type, 'node' in x ? x.node : '', 'expectedRevision' in x ? x.expectedRevision : '']))}`);
    run(ri, view, d.actions, { anchor: now, incarnation: a.incarnation });
  };

  const shell = (ri: number, request: ArbiterRequest) => {
    const view = compose(ri);
    const d = decide(view, request, replicaNow(ri));
    count(`${request.type}:${d.decision}`);
    log(() => `r${ri} ${JSON.stringify(request)} -> ${d.decision}: ${d.reason}`);
    run(ri, view, d.actions, null);
  };

  /** A write lands (or not) on the KV, and its result goes back to its replica. */
  const landWrite = (q: QueuedWrite) => {
    const current = kv.get(q.write.key)?.revision ?? 0;
    let outcome: WriteOutcome;
    const landed = current === q.write.expectedRevision && writePathUp;
    if (landed) kv.set(q.write.key, { revision: current + 1, value: q.write.value });
    // A timeout says nothing about whether the write landed.
    if (r.chance(0.08)) outcome = { ok: false, error: 'timeout' };
    else if (!writePathUp) outcome = { ok: false, error: 'unavailable' };
    else outcome = landed ? { ok: true, revision: current + 1 } : { ok: false, error: 'conflict', currentRevision: current };
    count(landed ? 'landed' : 'cas-lost');
    const view = recordWriteResult(compose(q.replica), q.write, outcome);
    absorb(q.replica, view);
    const d = decide(view, { type: 'writeResult', write: q.write, outcome }, replicaNow(q.replica));
    count(`writeResult:${d.decision}`);
    log(() => `r${q.replica} write ${q.write.key}@${q.write.expectedRevision} ${JSON.stringify(q.write.value)} -> ${JSON.stringify(outcome)} -> ${d.decision}: ${d.reason}`);
    run(q.replica, view, d.actions, q.origin);
  };

  for (step = 0; step < opt.steps; step++) {
    now += r.int(200);
    const due = inbox.filter((m) => m.at <= now);
    inbox = inbox.filter((m) => m.at > now);
    for (const m of due.sort(() => r.next() - 0.5)) deliver(m.act, m.origin);
    // Writes land in any order, some a few steps late; replicas' KV watches lag.
    for (const q of [...queue].sort(() => r.next() - 0.5)) {
      if (!r.chance(0.6)) continue;
      queue.splice(queue.indexOf(q), 1);
      landWrite(q);
    }
    for (const rep of replicas) {
      if (!r.chance(0.3)) continue;
      for (const name of INSTANCES) {
        const entry = kv.get(`sim.${name}`) ?? null;
        const have = rep.leases.get(name);
        if (entry && (!have || have.revision < entry.revision)) rep.leases.set(name, entry);
      }
    }
    // Agents give the VIP up on their own deadline, and renew when due.
    for (const a of agents.values()) {
      for (const [inst, h] of [...a.held]) if (now >= h.deadline) dropHold(a, inst);
      if (!a.hung) {
        for (const [inst, due] of [...a.nextRenewal]) {
          if (now < due) continue;
          const h = a.held.get(inst);
          a.nextRenewal.set(inst, now + TIMING.renewIntervalMs);
          if (h) send(a, { type: 'renew', instance: inst, node: a.node, epoch: h.epoch });
        }
      }
    }

    // Faults are the exception and mend: NATS comes back, a hung agent resumes, a gateway answers again, a fenced host reboots.
    for (const a of agents.values()) {
      if (!a.powered) {
        if (r.chance(0.04)) {
          a.powered = true;
          a.incarnation++;
          a.released.clear();
          a.connected = true;
          a.hung = false;
          absorb(0, recordConnection(compose(0), a.node, true, replicaNow(0)));
        }
        continue;
      }
      if (!a.connected && r.chance(0.1)) {
        a.connected = true;
        absorb(0, recordConnection(compose(0), a.node, true, replicaNow(0)));
      }
      if (a.hung && r.chance(0.15)) a.hung = false;
      if (!a.gatewayUp && r.chance(0.1)) setGateway(a, true);
    }
    if (arbiterGateway !== 'up' && r.chance(0.2)) arbiterGateway = 'up';
    if (!writePathUp && r.chance(0.2)) writePathUp = true;

    const instance = r.pick(INSTANCES)!;
    const agent = agents.get(r.pick(NODES)!)!;
    const dice = r.int(100);
    if (dice < 30) {
      // VRRP says "become master" (sometimes even without a gateway: the arbiter must refuse it).
      if (!agent.held.has(instance) && (agent.gatewayUp || r.chance(0.2))) {
        agent.claiming.add(instance);
        send(agent, { type: 'claim', instance, node: agent.node });
      }
    } else if (dice < 33) {
      const h = agent.held.get(instance);
      if (h) {
        dropHold(agent, instance); // VIP removed first, then the release: break-then-make
        agent.released.set(instance, h.epoch);
        send(agent, { type: 'release', instance, node: agent.node, epoch: h.epoch });
      }
    } else if (dice < 38) {
      const to = r.chance(0.5) ? r.pick(NODES) : undefined;
      shell(r.int(replicas.length), to ? { type: 'failover', instance, to, by: 'op' } : { type: 'failover', instance, by: 'op' });
    } else if (dice < 40) {
      // The agent loses NATS but stays up, VIP and all, until its own deadline.
      if (agent.powered && agent.connected) {
        agent.connected = false;
        absorb(0, recordConnection(compose(0), agent.node, false, replicaNow(0)));
        for (const name of INSTANCES) shell(r.int(replicas.length), { type: 'nodeGone', instance: name, node: agent.node });
      }
    } else if (dice < 42) {
      if (agent.gatewayUp) setGateway(agent, false);
    } else if (dice < 44) {
      agent.hung = true;
    } else if (dice < 45) {
      arbiterGateway = 'down';
    } else if (dice < 46) {
      writePathUp = false;
    } else if (dice < 62) {
      shell(r.int(replicas.length), { type: 'reconcile', instance });
    } else if (dice < 76) {
      // A fence ends: confirmed means the host is off, its VIP with it.
      const fencing = NODES.filter((n) => nodes[n]?.fence?.status === 'inProgress');
      const n = r.pick(fencing);
      if (n) {
        const ok = r.chance(0.6);
        const target = agents.get(n)!;
        if (ok) {
          target.powered = false;
          target.connected = false;
          target.held.clear();
          target.claiming.clear();
          target.nextRenewal.clear();
          absorb(0, recordConnection(compose(0), n, false, replicaNow(0)));
        }
        absorb(0, recordFenceResult(compose(0), n, ok, replicaNow(0), ok ? undefined : 'webhook answered 500'));
        count(ok ? 'fenced' : 'fence-failed');
        for (const name of INSTANCES) shell(r.int(replicas.length), { type: 'reconcile', instance: name });
      }
    }
  }
  return { violations, grants, stats };
}

const POLICIES: FencingPolicy[] = ['off', 'best-effort', 'required'];
const SEEDS = Number(process.env.KQ_PROPERTY_SEEDS ?? 300);
const STEPS = 1000;

describe('property: never two holders of one lease', () => {
  test(`random sequences over ${SEEDS} seeds of ${STEPS} steps, every fencing policy, replicas skewed within the margin`, () => {
    let grants = 0;
    const totals: Record<string, number> = {};
    for (let seed = 1; seed <= SEEDS; seed++) {
      const fencing = { web: POLICIES[seed % 3]!, db: POLICIES[(seed + 1) % 3]! };
      const margin = TIMING.safetyMarginMs;
      const skews: [number, number] = [((seed * 37) % margin) / 2 - margin / 4, -(((seed * 53) % margin) / 2 - margin / 4)];
      const out = simulate({ seed, steps: STEPS, skews, fencing });
      assert.deepEqual(out.violations, [], `seed ${seed}: ${JSON.stringify(out.violations[0])}`);
      grants += out.grants;
      for (const [k, v] of Object.entries(out.stats)) totals[k] = (totals[k] ?? 0) + v;
    }
    // The generator must actually exercise the rules, or the property proves nothing.
    assert.ok(grants > 1000, `only ${grants} grants`);
    for (const k of [
      'claim:propose',
      'claim:veto',
      'claim:fenceFirst',
      'renew:propose',
      'renew:refuse',
      'release:propose',
      'failover:propose',
      'nodeGone:fenceFirst',
      'nodeGone:wait',
      'writeResult:grant',
      'writeResult:offer',
      'offered',
      'writeResult:failover',
      'writeResult:writeFailed',
      'reconcile:propose',
      'fenced',
      'fence-failed',
      'obeyed',
      'cas-lost',
    ]) {
      assert.ok((totals[k] ?? 0) > 0, `the simulation never produced ${k}: ${JSON.stringify(totals)}`);
    }
  });

  test('the check bites: replica clocks skewed by more than the safety margin do produce two holders', () => {
    let found = 0;
    for (let seed = 1; seed <= 300 && found === 0; seed++) {
      const out = simulate({ seed, steps: 600, skews: [1500, -1500], fencing: { web: 'off', db: 'off' } });
      found += out.violations.length;
    }
    assert.ok(found > 0, 'a skew beyond the margin should break the lease, or the simulation does not measure anything');
  });
});
