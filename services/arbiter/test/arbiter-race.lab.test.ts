/**
 * Property: two arbiter replicas (each on its own NATS connections, one queue
 * group) answering many simulated nodes that race for many instances at once
 * never give one lease to two nodes.
 *
 * Every node, for every instance, claims again and again; when granted it holds
 * for a random while, renewing, then either releases (its hold ends when it
 * sends the release) or goes silent (its hold ends at the deadline its last
 * answer gave it, counted from when it sent that request, as a real agent
 * counts). Offers are claimed at once; orders to demote are obeyed.
 *
 * Checked afterwards:
 * - the KV's history (every revision is kept): no epoch ever names two holders;
 * - the holds the nodes were told about: for one instance, no two nodes' holds
 *   overlap in time (one process, one clock: the nodes' and the arbiters').
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type KvEntry, type NatsConnection } from 'nats';
import { LEASE_BUCKET } from '../../../libs/arbiter/src/protocol.js';
import { CLUSTER, natsUnavailableReason, replicaConfig, SimNode, startNatsServer, startReplica, waitFor, type NatsServer } from '../fixtures/harness.js';
import type { ArbiterService } from '../src/service.js';

const skip = natsUnavailableReason() ?? false;

const NODES = 12;
const INSTANCES = 6;
/** The run stops when every instance has seen this many grants (or at the time limit). */
const GRANTS_PER_INSTANCE = 12;
const TIME_LIMIT_MS = 60_000;

interface Hold {
  node: string;
  instance: string;
  epoch: number;
  start: number;
  end: number;
}

/** Seeded, so that a failure can be replayed: KQ_RACE_SEED=n. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

describe('two arbiter replicas racing', { skip }, () => {
  let ns: NatsServer;
  let nc: NatsConnection;
  const replicas: ArbiterService[] = [];
  const nodes: SimNode[] = [];

  before(async () => {
    ns = await startNatsServer();
    nc = await connect({ servers: ns.url });
  });
  after(async () => {
    for (const n of nodes) await n.close();
    for (const r of replicas) await r.stop();
    await nc?.close();
    await ns?.dispose();
  });

  test('never two holders for one epoch in the KV, and no two nodes are told they hold one instance at the same time', async () => {
    const seed = Number(process.env['KQ_RACE_SEED'] ?? Date.now() % 1_000_000);
    const random = rng(seed);
    const names = Array.from({ length: INSTANCES }, (_, i) => `race${i}`);
    // A short lease (advert 200 ms: TTL 450, renew 250) so that silent holders expire within the run.
    const instances = names.map((name) => ({ name, advertIntervalMs: 200 }));
    for (const id of ['race-arb-1', 'race-arb-2']) replicas.push(await startReplica(replicaConfig({ url: ns.url, replica: id, instances })));

    for (let i = 0; i < NODES; i++) {
      const n = await SimNode.start(ns.url, `rn${i}`);
      for (const inst of names) n.report(inst, 'BACKUP', 50 + ((i * 7) % 100));
      n.startHeartbeats();
      nodes.push(n);
    }
    await waitFor('both replicas to see every node', () =>
      replicas.every((r) => names.every((inst) => Object.keys(r.arbiter.snapshot().instances[inst]?.members ?? {}).length === NODES)),
    );

    // Every write to the bucket, as it happens (the bucket's history keeps 64 revisions; the run may write more).
    const kv = await nc.jetstream().views.kv(LEASE_BUCKET, { bindOnly: true });
    const written: { key: string; revision: number; holder: string | null; epoch: number }[] = [];
    const watch = await kv.watch({ key: `${CLUSTER}.>` });
    const watching = (async () => {
      for await (const e of watch as AsyncIterable<KvEntry>) {
        if (e.operation !== 'PUT') continue;
        const v = e.json<{ holder: string | null; epoch: number }>();
        written.push({ key: e.key, revision: e.revision, holder: v.holder, epoch: v.epoch });
      }
    })();

    const holds: Hold[] = [];
    const grants = new Map<string, number>(names.map((n) => [n, 0]));
    let running = true;
    const deadline = Date.now() + TIME_LIMIT_MS;
    const done = () => !running || Date.now() > deadline || [...grants.values()].every((g) => g >= GRANTS_PER_INSTANCE);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    /** One node's life on one instance. */
    async function play(n: SimNode, instance: string): Promise<void> {
      let current: Hold | null = null;
      let demoted = false;
      const prevOnOrder = n.onOrder;
      const offers: number[] = [];
      n.onOrder = (o) => {
        prevOnOrder?.(o);
        if (o.instance !== instance) return;
        if (o.type === 'offer') offers.push(o.epoch);
        if (o.type === 'orderDemote' && current && current.epoch <= o.epoch) demoted = true;
      };
      await sleep(random() * 200);
      while (!done()) {
        n.report(instance, 'CLAIMING', 100);
        const c = await n.claim(instance);
        if (c.answer.type !== 'grant') {
          n.report(instance, 'BACKUP', 100);
          const wait = offers.length > 0 ? 0 : 20 + random() * 120;
          offers.length = 0;
          await sleep(wait);
          continue;
        }
        // Held from the moment the answer arrived until the deadline it gives, counted from the claim's sending.
        current = { node: n.name, instance, epoch: c.answer.epoch, start: c.receivedAt, end: c.sentAt + c.answer.validForMs };
        holds.push(current);
        grants.set(instance, (grants.get(instance) ?? 0) + 1);
        n.report(instance, 'MASTER', 100, true, c.answer.epoch);
        const holdFor = 100 + random() * 500;
        const silent = random() < 0.3;
        const until = Date.now() + holdFor;
        while (Date.now() < until && !demoted && !done()) {
          await sleep(80 + random() * 80);
          if (silent || demoted) continue;
          if (Date.now() >= current.end) break;
          const r = await n.renew(instance, current.epoch);
          if (r.answer.type === 'renewed') current.end = Math.max(current.end, r.sentAt + r.answer.validForMs);
          else break;
        }
        if (silent && !demoted) {
          // Gone quiet: the VIP stays until its own deadline, then the node demotes itself.
          const left = current.end - Date.now();
          if (left > 0) await sleep(left);
        } else {
          // Removes the VIP, then releases: its hold ends when it sends the release (or at its deadline if earlier).
          current.end = Math.min(current.end, Date.now());
          n.report(instance, 'BACKUP', 100, false);
          await n.release(instance, current.epoch);
        }
        n.report(instance, 'BACKUP', 100, false);
        current = null;
        demoted = false;
        await sleep(random() * 100);
      }
    }

    await Promise.all(nodes.flatMap((n) => names.map((inst) => play(n, inst))));
    running = false;

    const total = [...grants.values()].reduce((a, b) => a + b, 0);
    assert.ok(total >= INSTANCES * 2, `the race must grant something (seed ${seed}): ${JSON.stringify([...grants])}`);

    // 1. Every value the KV held: one holder per epoch.
    const lastRevision = Math.max(...(await Promise.all(names.map(async (i) => (await kv.get(`${CLUSTER}.${i}`))?.revision ?? 0))));
    await waitFor('the watch to deliver every write', () => written.some((w) => w.revision >= lastRevision));
    watch.stop();
    await watching;
    for (const inst of names) {
      const byEpoch = new Map<number, Set<string>>();
      for (const w of written.filter((x) => x.key === `${CLUSTER}.${inst}` && x.holder !== null)) {
        const set = byEpoch.get(w.epoch) ?? new Set<string>();
        set.add(w.holder!);
        byEpoch.set(w.epoch, set);
      }
      assert.ok(byEpoch.size > 0, `${inst} was granted at least once`);
      for (const [epoch, holders] of byEpoch) assert.equal(holders.size, 1, `seed ${seed}: ${inst} epoch ${epoch} held by ${[...holders].join(' and ')}`);
    }

    // 2. What nodes were told: no overlap between two nodes on one instance.
    for (const inst of names) {
      const list = holds.filter((h) => h.instance === inst).sort((a, b) => a.start - b.start);
      for (let i = 0; i < list.length; i++) {
        for (let j = i + 1; j < list.length; j++) {
          const a = list[i]!;
          const b = list[j]!;
          if (b.start >= a.end) break;
          if (a.node === b.node) continue;
          assert.fail(`seed ${seed}: ${inst}: ${a.node} (epoch ${a.epoch}) held until ${a.end} but ${b.node} (epoch ${b.epoch}) from ${b.start}`);
        }
      }
    }
    const conflicts = replicas.reduce((s, r) => s + r.arbiter.stats().conflicts, 0);
    const answered = replicas.map((r) => r.arbiter.stats().requests);
    assert.ok(answered.every((n) => n > 0), `both replicas answered requests: ${answered.join(', ')}`);
    process.stdout.write(`# race seed ${seed}: ${total} grants over ${INSTANCES} instances, ${holds.length} holds, ${conflicts} CAS conflicts, requests per replica ${answered.join('/')}\n`);
  });
});
