/**
 * The lease compare-and-set against a real 3-server NATS cluster (replicated
 * bucket), with two LeaseStores connected to different servers racing the
 * same writes: each round, both write the same key expecting the same
 * revision.
 *
 * nats-server before 2.9.21 (Debian 12 has 2.9.10) may store both
 * (nats-server#4320). With the chain rule (lease-chain.ts) at most one of the
 * two is answered ok, and every reader (both stores' watches, their reads, a
 * store opened afterwards on the third server) agrees on each key's value: the
 * value of the last write answered ok. The control runs the same race with the
 * rule off (the compare-and-set as it was) and finds both writes answered ok:
 * the race is real, and the assertions above catch it.
 *
 * The cost of the check (the msg gets after each write) is printed, not
 * asserted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { connect, type NatsConnection } from 'nats';
import { pino } from 'pino';
import type { LeaseEntry, LeaseValue } from '../../../libs/arbiter/src/types.js';
import type { Logger } from '../../../libs/common/src/log.js';
import { natsUnavailableReason, startNatsCluster } from '../../../test/nats/server.js';
import { waitFor } from '../fixtures/harness.js';
import { LeaseStore, versionBelow, type LeaseStoreOptions } from '../src/lease-store.js';

const skip = natsUnavailableReason() ?? false;
const CLUSTER = 'cas';
const KEYS = 8;
const ROUNDS = Number(process.env['KQ_CAS_ROUNDS'] ?? 300);
const CONTROL_ROUNDS = 100;

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

function value(holder: string, epoch: number): LeaseValue {
  const now = Date.now();
  return { holder, epoch, grantedAt: now, renewedAt: now, expiresAt: now + 60_000, reason: 'race' };
}

/** A logger whose lines are kept, to read what the store said. */
function capturingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

interface Watched {
  entries: Map<string, LeaseEntry | null>;
  initialized: Promise<void>;
}

function watch(store: LeaseStore): Watched {
  const entries = new Map<string, LeaseEntry | null>();
  let done!: () => void;
  const initialized = new Promise<void>((r) => (done = r));
  store.watch(
    (instance, entry) => entries.set(instance, entry),
    () => done(),
  );
  return { entries, initialized };
}

interface RaceResult {
  /** Rounds where both writes were answered ok. */
  bothOk: number;
  oneOk: number;
  noneOk: number;
  /** Per instance, the last write answered ok. */
  winners: Map<string, { revision: number; holder: string }>;
  /** (instance, expected revision) answered ok more than once. */
  doubleOkBases: string[];
  writeMs: number[];
}

/** Both stores write the same key expecting the same revision, ROUNDS times over KEYS keys. */
async function race(a: LeaseStore, b: LeaseStore, rounds: number): Promise<RaceResult> {
  const res: RaceResult = { bothOk: 0, oneOk: 0, noneOk: 0, winners: new Map(), doubleOkBases: [], writeMs: [] };
  const oks = new Map<string, number>();
  for (let i = 0; i < rounds; i++) {
    const instance = `VI_${i % KEYS}`;
    const key = `${CLUSTER}.${instance}`;
    const base = (await a.read(key))?.revision ?? 0;
    const results = await Promise.all(
      [a, b].map(async (s, j) => {
        const holder = `${j === 0 ? 'a' : 'b'}${i}`;
        const t0 = performance.now();
        const r = await s.write({ type: 'writeLease', instance, key, expectedRevision: base, value: value(holder, i), intent: { kind: 'grant', node: holder, epoch: i, claimed: true } });
        res.writeMs.push(performance.now() - t0);
        return { holder, r };
      }),
    );
    const ok = results.filter((x) => x.r.outcome.ok);
    for (const x of ok) {
      const id = `${instance}@${base}`;
      oks.set(id, (oks.get(id) ?? 0) + 1);
      if (oks.get(id) === 2) res.doubleOkBases.push(id);
      const rev = (x.r.outcome as { revision: number }).revision;
      const prevWinner = res.winners.get(instance);
      if (!prevWinner || prevWinner.revision < rev) res.winners.set(instance, { revision: rev, holder: x.holder });
    }
    if (ok.length === 2) res.bothOk++;
    else if (ok.length === 1) res.oneOk++;
    else res.noneOk++;
  }
  return res;
}

describe('lease compare-and-set on a 3-server NATS cluster, two stores on different servers racing', { skip }, () => {
  let cluster: Awaited<ReturnType<typeof startNatsCluster>>;
  const conns: NatsConnection[] = [];
  const stores: LeaseStore[] = [];
  let serverVersion = '';

  async function open(server: number, bucket: string, extra: Partial<LeaseStoreOptions> = {}): Promise<LeaseStore> {
    const nc = await connect({ servers: cluster.urls[server]! });
    conns.push(nc);
    serverVersion = nc.info?.version ?? '';
    // The cluster may still be electing its meta leader: bucket creation is retried.
    const store = await waitFor(
      `lease bucket ${bucket} on server ${server}`,
      () => LeaseStore.open({ nc, cluster: CLUSTER, replicas: 3, history: 5, create: true, writeTimeoutMs: 3000, bucket, ...extra }),
      60_000,
      500,
    );
    stores.push(store);
    return store;
  }

  before(async () => {
    cluster = await startNatsCluster(3);
  });

  after(async () => {
    for (const s of stores) s.close();
    for (const nc of conns) await nc.close().catch(() => undefined);
    await cluster?.dispose();
  });

  test('with the chain rule, at most one of two writes on the same revision is answered ok, and every reader agrees on the winner', async () => {
    const verify: { ms: number; gets: number }[] = [];
    const onVerify: LeaseStoreOptions['onVerify'] = (v) => verify.push({ ms: v.ms, gets: v.gets });
    const captured = capturingLog();
    const a = await open(0, 'CAS_RULE', { onVerify, log: captured.log });
    const b = await open(1, 'CAS_RULE', { onVerify });
    if (versionBelow(serverVersion, [2, 9, 21])) {
      assert.equal(a.checksWrites, true);
      assert.ok(
        captured.lines.some((l) => /the chain rule is in force/.test(l)),
        `start-up log says the chain rule is in force: ${captured.lines.join('\n')}`,
      );
    }
    const wa = watch(a);
    const wb = watch(b);
    await Promise.all([wa.initialized, wb.initialized]);

    const r = await race(a, b, ROUNDS);
    const voidWritten = a.stats.voidWritten + b.stats.voidWritten;
    console.log(
      JSON.stringify({
        serverVersion,
        rounds: ROUNDS,
        bothOk: r.bothOk,
        oneOk: r.oneOk,
        noneOk: r.noneOk,
        voidWritten,
        unproven: a.stats.unproven + b.stats.unproven,
        voidSkippedByWatches: a.stats.voidSkipped + b.stats.voidSkipped,
        check: {
          writes: verify.length,
          getsPerWrite: verify.reduce((s, v) => s + v.gets, 0) / Math.max(1, verify.length),
          p50Ms: +quantile(verify.map((v) => v.ms), 0.5).toFixed(2),
          p99Ms: +quantile(verify.map((v) => v.ms), 0.99).toFixed(2),
        },
        writeMs: { p50: +quantile(r.writeMs, 0.5).toFixed(2), p99: +quantile(r.writeMs, 0.99).toFixed(2) },
      }),
    );
    assert.deepEqual(r.doubleOkBases, [], 'no revision is answered ok twice');
    assert.equal(r.bothOk, 0);
    assert.ok(r.winners.size > 0, 'some writes were answered ok');

    // Both watches end on the value of the last write answered ok, for every key.
    const expected = new Map([...r.winners].map(([instance, w]) => [instance, w]));
    const agrees = (entries: Map<string, LeaseEntry | null>): boolean =>
      [...expected].every(([instance, w]) => entries.get(instance)?.revision === w.revision && entries.get(instance)?.value.holder === w.holder);
    await waitFor('both watches on the winners', () => agrees(wa.entries) && agrees(wb.entries), 30_000);

    // read() and readAll() on both stores, and a store opened afterwards on the third server (history windows).
    const c = await open(2, 'CAS_RULE');
    const wc = watch(c);
    await wc.initialized;
    await waitFor('the late watch on the winners', () => agrees(wc.entries), 30_000);
    for (const s of [a, b, c]) {
      const all = await s.readAll();
      for (const [instance, w] of expected) {
        assert.equal(all.get(instance)?.revision, w.revision, `readAll ${instance}`);
        assert.equal(all.get(instance)?.value.holder, w.holder, `readAll ${instance}`);
        const one = await s.read(`${CLUSTER}.${instance}`);
        assert.equal(one?.revision, w.revision, `read ${instance}`);
      }
    }
  });

  test('a deleted key is created again by at most one of two racing creates, and both watches follow it', async () => {
    const a = await open(0, 'CAS_DEL');
    const b = await open(1, 'CAS_DEL');
    const raw = await conns[conns.length - 2]!.jetstream().views.kv('CAS_DEL', { bindOnly: true });
    const wa = watch(a);
    const wb = watch(b);
    await Promise.all([wa.initialized, wb.initialized]);
    const instance = 'VI_DEL';
    const key = `${CLUSTER}.${instance}`;
    let created = 0;
    for (let i = 0; i < 30; i++) {
      if (i > 0) {
        await raw.delete(key);
        // Both stores learn the delete marker from their watches (a create builds on it).
        await waitFor('both watches see the delete', () => wa.entries.get(instance) === null && wb.entries.get(instance) === null, 30_000);
      }
      const results = await Promise.all(
        [a, b].map((s, j) => s.write({ type: 'writeLease', instance, key, expectedRevision: 0, value: value(`${j}-${i}`, i), intent: { kind: 'grant', node: `${j}-${i}`, epoch: i, claimed: true } })),
      );
      const ok = results.flatMap((r, j) => (r.outcome.ok ? [{ j, revision: r.outcome.revision }] : []));
      assert.ok(ok.length <= 1, `round ${i}: ${JSON.stringify(results.map((r) => r.outcome))}`);
      if (ok.length === 1) {
        created++;
        const w = ok[0]!;
        await waitFor(`round ${i}: both watches on the create`, () => wa.entries.get(instance)?.revision === w.revision && wb.entries.get(instance)?.revision === w.revision, 30_000);
        assert.equal(wa.entries.get(instance)?.value.holder, `${w.j}-${i}`);
      }
    }
    console.log(JSON.stringify({ deletedKeyRounds: 30, created, voidWritten: a.stats.voidWritten + b.stats.voidWritten }));
    assert.ok(created > 0);
  });

  test('a write whose expected record is numbered otherwise on the stream leader (replicas that diverged) is judged by the key\'s history, by ids', async () => {
    const a = await open(0, 'CAS_RENUM', { chainRule: 'always' });
    const raw = await conns[conns.length - 1]!.jetstream().views.kv('CAS_RENUM', { bindOnly: true });
    const inner = a as unknown as {
      seen: Map<string, Map<number, { seq: number; id: string; n: number; deleted: boolean; entry: LeaseEntry | null }>>;
      known: Map<string, { head: number; headId: string; valid: unknown }>;
    };
    const instance = 'VI_R';
    const key = `${CLUSTER}.${instance}`;
    const w = (expectedRevision: number, holder: string) =>
      a.write({ type: 'writeLease', instance, key, expectedRevision, value: value(holder, 1), intent: { kind: 'grant', node: holder, epoch: 1, claimed: true } });
    const first = await w(0, 'x');
    assert.ok(first.outcome.ok, JSON.stringify(first.outcome));
    const r1 = (first.outcome as { revision: number }).revision;
    // A void record after it (it builds on a record that is not the key's last valid one), as a racer leaves.
    const r2 = await raw.put(key, new TextEncoder().encode(JSON.stringify({ ...value('racer', 1), chain: { id: 'racer', prev: 'elsewhere', n: 9 } })));
    // This store's view: r2 known void, but numbered as another record than the leader's r2 (a follower's numbering).
    const known = inner.known.get(key)!;
    inner.known.set(key, { head: r2, headId: 'other', valid: known.valid });
    inner.seen.get(key)!.set(r2, { seq: r2, id: 'a-record-of-another-numbering', n: 9, deleted: false, entry: null });
    const second = await w(r1, 'y');
    assert.ok(second.outcome.ok, `proven valid by the history: ${JSON.stringify(second.outcome)}`);
    assert.equal((await a.read(key))?.value.holder, 'y');
    // Building on an id the leader's history does not have: not provable either way, answered as unavailable.
    const r3 = (second.outcome as { revision: number }).revision;
    const r4 = await raw.put(key, new TextEncoder().encode(JSON.stringify({ ...value('racer', 1), chain: { id: 'racer2', prev: 'elsewhere', n: 9 } })));
    inner.known.set(key, { head: r4, headId: 'other', valid: { ...inner.seen.get(key)!.get(r3)!, id: 'not-in-history' } });
    inner.seen.get(key)!.set(r3, { ...inner.seen.get(key)!.get(r3)!, id: 'not-in-history' });
    inner.seen.get(key)!.set(r4, { seq: r4, id: 'another-numbering-again', n: 9, deleted: false, entry: null });
    const third = await w(r3, 'z');
    assert.equal(third.outcome.ok, false);
    assert.equal((third.outcome as { error: string }).error, 'unavailable');
    assert.match((third.outcome as { detail?: string }).detail ?? '', /is not in the key's history before it/);
  });

  test('a store whose knowledge of a key is ahead of the stream leader (the stream recreated under it, sequences restarting) re-learns the key from the leader and writes again at once', async () => {
    const a = await open(0, 'CAS_BEHIND', { chainRule: 'always' });
    const ncA = conns[conns.length - 1]!;
    const wa = watch(a);
    await wa.initialized;
    const instance = 'VI_B';
    const key = `${CLUSTER}.${instance}`;
    const w = (s: LeaseStore, expectedRevision: number, holder: string) =>
      s.write({ type: 'writeLease', instance, key, expectedRevision, value: value(holder, 1), intent: { kind: 'grant', node: holder, epoch: 1, claimed: true } });
    const first = await w(a, 0, 'old');
    assert.ok(first.outcome.ok, JSON.stringify(first.outcome));
    const raw = await ncA.jetstream().views.kv('CAS_BEHIND', { bindOnly: true });
    const racer = (id: string) => new TextEncoder().encode(JSON.stringify({ ...value('racer', 1), chain: { id, prev: 'elsewhere', n: 1 } }));
    // Two void records after it (as racers leave): the store knows the key up to them, its last valid record before them.
    await raw.put(key, racer('racer1'));
    const voidRev = await raw.put(key, racer('racer2'));
    await waitFor('the watch skipped the void records', () => a.stats.voidSkipped >= 2, 30_000);
    // The bucket's stream is recreated under the running store: the leader numbers the key's records from 1 again.
    const jsm = await ncA.jetstreamManager();
    await jsm.streams.delete('KV_CAS_BEHIND');
    const b = await open(1, 'CAS_BEHIND', { chainRule: 'always' });
    const fresh = await w(b, 0, 'new');
    assert.ok(fresh.outcome.ok, JSON.stringify(fresh.outcome));
    const base = (fresh.outcome as { revision: number }).revision;
    // The leader's last record is void too (so reading the key does not show its last record as valid).
    const leaderHead = await raw.put(key, racer('racer3'));
    assert.ok(leaderHead < voidRev, `the leader's numbering (${leaderHead}) is below what store a knew (${voidRev})`);
    // Store a writes on the leader's current record; the first write may be refused (what it knew was wrong), the next must not.
    const tries: string[] = [];
    let ok: number | null = null;
    let rev = (await a.read(key))?.revision ?? 0;
    assert.equal(rev, base, 'read() answers the leader\'s record');
    for (let i = 0; i < 2 && ok === null; i++) {
      const r = await w(a, rev, `a${i}`);
      tries.push(JSON.stringify(r.outcome));
      if (r.outcome.ok) ok = r.outcome.revision;
      else rev = r.current?.revision ?? rev;
    }
    console.log(JSON.stringify({ behindLeader: { knew: voidRev, leaderHead, writes: tries.map((t) => JSON.parse(t) as unknown) } }));
    assert.notEqual(ok, null, `store a writes again within two writes: ${tries.join(' ')}`);
    // A fresh store on the same bucket agrees: the key's value is a's write, and it writes on it.
    const c = await open(2, 'CAS_BEHIND', { chainRule: 'always' });
    const now = await c.read(key);
    assert.equal(now?.revision, ok);
    assert.match(now?.value.holder ?? '', /^a\d$/);
    const next = await w(c, ok!, 'c');
    assert.ok(next.outcome.ok, JSON.stringify(next.outcome));
  });

  test('control: without the chain rule, nats-server before 2.9.21 answers both writes on the same revision ok', async (t) => {
    if (!versionBelow(serverVersion || '0.0.0', [2, 9, 21])) {
      t.skip(`nats-server ${serverVersion} has nats-server#4320 fixed: the race does not exist`);
      return;
    }
    const a = await open(0, 'CAS_OFF', { chainRule: 'off' });
    const b = await open(1, 'CAS_OFF', { chainRule: 'off' });
    assert.equal(a.checksWrites, false);
    const r = await race(a, b, CONTROL_ROUNDS);
    console.log(JSON.stringify({ control: true, serverVersion, rounds: CONTROL_ROUNDS, bothOk: r.bothOk, oneOk: r.oneOk, noneOk: r.noneOk }));
    assert.ok(r.doubleOkBases.length > 0, 'the same revision was answered ok twice: the assertions of the test above would fail without the rule');
  });
});
