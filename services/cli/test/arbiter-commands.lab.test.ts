/**
 * bin/hactl status, failover and fence against a REAL bin/ha-arbiter process
 * (its HTTP API on loopback, a generated config and tokens file) and a REAL
 * nats-server (test/nats/server.ts). The agents are NATS clients speaking the
 * protocol of libs/arbiter/src/protocol.ts (services/arbiter/fixtures/harness.ts
 * SimNode): they claim, renew, release on an order to demote and claim on an
 * offer, as the agent does. The fence goes to a webhook receiver on loopback
 * that checks the HMAC signature with libs/fencing verifySignature.
 *
 * hactl runs as a child process, as an operator runs it; every assertion is on
 * its exit code, its output and the KV, never on how long something took.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type KV, type NatsConnection } from 'nats';
import { LEASE_BUCKET } from '../../../libs/arbiter/src/protocol.js';
import { freePort } from '../../../test/nats/server.js';
import {
  CLUSTER,
  claimUntilGranted,
  heldReceiver,
  natsUnavailableReason,
  secretFile,
  SimNode,
  startNatsServer,
  tempDir,
  waitFor,
  type HeldReceiver,
  type NatsServer,
} from '../../arbiter/fixtures/harness.js';

const HACTL = fileURLToPath(new URL('../../../../bin/hactl', import.meta.url));
const ARBITER = fileURLToPath(new URL('../../../../bin/ha-arbiter', import.meta.url));
const skip = natsUnavailableReason() ?? false;

const TOKEN = 'ops-token-5f0c9a7e1d2b4c68';
const WRONG = 'not-the-token-3a9d8e7f6c5b';
const SECRET = 'kq-hactl-test-webhook-secret-77d1e0';
const INSTANCES = ['st1', 'fo1', 'fo2', 'ref1', 'tok1', 'to1'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of hactl without any KQ_ variable of the caller's. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KQ_')) env[k] = v;
  return { ...env, ...extra };
}

/** bin/hactl as a child process (async: the simulated agents keep answering meanwhile). */
function hactl(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HACTL, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      // Whatever happened, the token is never shown.
      for (const t of [TOKEN, WRONG]) assert.ok(!stdout.includes(t) && !stderr.includes(t), `hactl ${args.join(' ')} printed a token:\n${stdout}\n${stderr}`);
      // KQ_TEST_SHOW=1 shows what an operator would see.
      if (process.env['KQ_TEST_SHOW']) process.stderr.write(`$ hactl ${args.join(' ')}\n${stdout}${stderr}(exit ${code})\n\n`);
      resolve({ code, stdout, stderr });
    });
  });
}

const show = (r: Run) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/**
 * A simulated agent that keeps the lease it is granted (renewing every 300 ms),
 * releases it when ordered to demote, and claims when offered, as the agent does.
 */
class Agent {
  epochs = new Map<string, number>();
  /** Instances whose order to demote this agent ignores (a hung holder). */
  readonly deaf = new Set<string>();
  private timer: NodeJS.Timeout;
  private constructor(readonly node: SimNode) {
    node.onOrder = (o) => {
      if (this.deaf.has(o.instance)) return;
      if (o.type === 'orderDemote') {
        this.epochs.delete(o.instance);
        node.report(o.instance, 'BACKUP', node.reports.get(o.instance)?.priority ?? 100);
        node.heartbeatNow();
        void node.release(o.instance, o.epoch);
      } else if (o.type === 'offer') {
        void this.claim(o.instance);
      }
    };
    this.timer = setInterval(() => {
      for (const [instance, epoch] of this.epochs) {
        void node.renew(instance, epoch).then((r) => {
          if (r.answer.type !== 'renewed' && this.epochs.get(instance) === epoch) this.epochs.delete(instance);
        });
      }
    }, 300);
  }

  static async start(url: string, name: string, instances: Record<string, number>): Promise<Agent> {
    const n = await SimNode.start(url, name);
    for (const [instance, priority] of Object.entries(instances)) n.report(instance, 'BACKUP', priority);
    n.startHeartbeats();
    return new Agent(n);
  }

  async claim(instance: string): Promise<void> {
    const priority = this.node.reports.get(instance)?.priority ?? 100;
    this.node.report(instance, 'CLAIMING', priority);
    this.node.heartbeatNow();
    const r = await this.node.claim(instance);
    if (r.answer.type === 'grant') {
      this.epochs.set(instance, r.answer.epoch);
      this.node.report(instance, 'MASTER', priority, true, r.answer.epoch);
      this.node.heartbeatNow();
    }
  }

  /** Claims until the arbiter grants, then holds. */
  async hold(instance: string): Promise<number> {
    const priority = this.node.reports.get(instance)?.priority ?? 100;
    this.node.report(instance, 'CLAIMING', priority);
    this.node.heartbeatNow();
    const g = await claimUntilGranted(this.node, instance);
    this.epochs.set(instance, g.answer.epoch);
    this.node.report(instance, 'MASTER', priority, true, g.answer.epoch);
    this.node.heartbeatNow();
    return g.answer.epoch;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.node.close();
  }
}

describe('hactl status, failover and fence against bin/ha-arbiter and nats-server', { skip }, () => {
  let ns: NatsServer;
  let nc: NatsConnection;
  let kv: KV;
  let arbiter: ChildProcess;
  let arbiterLog = '';
  let base = '';
  let tokenFile = '';
  let wrongTokenFile = '';
  let receiver: HeldReceiver;
  let a: Agent;
  let b: Agent;

  async function lease(instance: string): Promise<{ revision: number; holder: string | null; epoch: number } | null> {
    kv ??= await nc.jetstream().views.kv(LEASE_BUCKET, { bindOnly: true });
    const e = await kv.get(`${CLUSTER}.${instance}`);
    if (!e || e.operation !== 'PUT') return null;
    const v = e.json<{ holder: string | null; epoch: number }>();
    return { revision: e.revision, holder: v.holder, epoch: v.epoch };
  }

  before(async () => {
    ns = await startNatsServer();
    nc = await connect({ servers: ns.url });
    receiver = await heldReceiver(SECRET);
    receiver.answer(200, { status: 'fenced' });

    const dir = tempDir('kq-hactl-');
    const tokens = join(dir, 'tokens');
    writeFileSync(tokens, `# operators\nops ${TOKEN}\n`);
    chmodSync(tokens, 0o600);
    tokenFile = join(dir, 'ops.token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    chmodSync(tokenFile, 0o600);
    wrongTokenFile = join(dir, 'wrong.token');
    writeFileSync(wrongTokenFile, `${WRONG}\n`);
    chmodSync(wrongTokenFile, 0o600);
    const config = join(dir, 'arbiter.yaml');
    writeFileSync(
      config,
      [
        `cluster: ${CLUSTER}`,
        'replica: hactl-arb',
        `stateDir: ${join(dir, 'state')}`,
        'nats:',
        `  servers: [${ns.url}]`,
        'leases:',
        '  replicas: 1',
        '  writeTimeoutMs: 3000',
        'heartbeats:',
        '  warmupMs: 300',
        'http:',
        '  listen: 127.0.0.1:0',
        `  tokensFile: ${tokens}`,
        'defaultFencing:',
        '  type: webhook',
        `  url: ${receiver.url}`,
        `  secretFile: ${secretFile(SECRET)}`,
        '  retries: 0',
        'instances:',
        // to1's lease lasts 60 s: a holder that does not confirm its demotion keeps the target waiting that long.
        ...INSTANCES.map((i) => `  - name: ${i}${i === 'to1' ? '\n    advertIntervalMs: 30000' : ''}`),
        '',
      ].join('\n'),
    );
    arbiter = spawn(process.execPath, [ARBITER, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    arbiter.stdout!.on('data', (d: Buffer) => (arbiterLog += d.toString()));
    arbiter.stderr!.on('data', (d: Buffer) => (arbiterLog += d.toString()));
    const listening = await waitFor('the arbiter\'s HTTP API', () => /"listen":"127\.0\.0\.1:(\d+)".*"msg":"HTTP API listening"/.exec(arbiterLog));
    base = `http://127.0.0.1:${listening[1]}`;
    await waitFor('the arbiter to be ready', () => arbiterLog.includes('arbiter ready'));

    a = await Agent.start(ns.url, 'node-a', Object.fromEntries(INSTANCES.map((i) => [i, 200])));
    b = await Agent.start(ns.url, 'node-b', Object.fromEntries(INSTANCES.map((i) => [i, 100])));
    // The arbiter has both as members of every instance before anything is asked.
    await waitFor('both nodes as members of every instance', async () => {
      const s = (await (await fetch(`${base}/v1/status`)).json()) as { instances: Record<string, { members: Record<string, unknown> }> };
      return INSTANCES.every((i) => s.instances[i]?.members['node-a'] && s.instances[i]?.members['node-b']);
    });
    for (const i of INSTANCES) await a.hold(i);
  });

  after(async () => {
    await a?.close();
    await b?.close();
    if (arbiter && arbiter.exitCode === null) {
      const exited = new Promise((r) => arbiter.once('exit', r));
      arbiter.kill('SIGTERM');
      await exited;
    }
    await receiver?.close();
    await nc?.close();
    await ns?.dispose();
  });

  test('status from the arbiter: a table with holder, epoch, expiry and members (state, priority); --json one object per instance', async () => {
    const t = await hactl(['status', '--arbiter', base]);
    assert.equal(t.code, 0, show(t));
    const lines = t.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, new RegExp(`^arbiter ${CLUSTER}/hactl-arb at ${base}: ready, lease writes ok, gateway `));
    assert.match(lines[2]!, /^CLUSTER +INSTANCE +MODE +FENCING +HOLDER +EPOCH +EXPIRES +MEMBERS +REASON$/);
    const st1 = lines.find((l) => /^lab +st1 /.test(l));
    assert.match(st1 ?? '', /^lab +st1 +failsafe +off +node-a +\d+ +(in [\d.]+m?s|expired .* ago) +node-a MASTER 200 vip, node-b BACKUP 100 +\S.*$/, t.stdout);
    assert.equal(lines.filter((l) => /^lab /.test(l)).length, INSTANCES.length);

    const j = await hactl(['status', '--arbiter', base, '--json']);
    assert.equal(j.code, 0, show(j));
    const rows = j.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(rows.map((r) => r['instance']).sort(), [...INSTANCES].sort());
    const row = rows.find((r) => r['instance'] === 'st1')!;
    const stored = await lease('st1');
    assert.equal(row['cluster'], CLUSTER);
    assert.equal(row['holder'], 'node-a');
    assert.equal(row['epoch'], stored?.epoch);
    assert.equal(row['source'], 'arbiter');
    assert.equal(row['replica'], 'hactl-arb');
    assert.equal(typeof row['expiresAt'], 'string');
    assert.deepEqual(row['members'], [
      { node: 'node-a', state: 'MASTER', priority: 200, vip: true, connected: true },
      { node: 'node-b', state: 'BACKUP', priority: 100, vip: false, connected: true },
    ]);
  });

  test('status without an arbiter reads HA_LEASES through NATS; the arbiters are tried in order; --cluster passes over another cluster', async () => {
    const t = await hactl(['status', '--nats', ns.url, '--cluster', CLUSTER]);
    assert.equal(t.code, 0, show(t));
    const lines = t.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^CLUSTER +INSTANCE +HOLDER +EPOCH +EXPIRES +REVISION +REASON$/);
    assert.match(lines.find((l) => /^lab +st1 /.test(l)) ?? '', /^lab +st1 +node-a +\d+ +(in [\d.]+m?s|expired .* ago) +\d+ +\S.*$/, t.stdout);

    const j = await hactl(['status', '--json'], { KQ_NATS_URL: ns.url });
    assert.equal(j.code, 0, show(j));
    const rows = j.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const row = rows.find((r) => r['instance'] === 'st1')!;
    assert.equal(row['source'], 'kv');
    assert.equal(row['holder'], 'node-a');
    assert.equal(row['epoch'], (await lease('st1'))?.epoch);
    assert.equal(typeof row['revision'], 'number');

    const none = await hactl(['status', '--nats', ns.url, '--cluster', 'nosuch', '--json']);
    assert.equal(none.code, 0, show(none));
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /no instances in cluster nosuch/);

    const dead = `http://127.0.0.1:${await freePort()}`;
    const fallThrough = await hactl(['status', '--json'], { KQ_ARBITER_URL: `${dead},${base}` });
    assert.equal(fallThrough.code, 0, show(fallThrough));
    assert.equal((JSON.parse(fallThrough.stdout.split('\n')[0]!) as Record<string, unknown>)['arbiter'], base);

    const other = await hactl(['status', '--arbiter', base, '--cluster', 'dc9']);
    assert.equal(other.code, 6, show(other));
    assert.match(other.stderr, new RegExp(`no arbiter reachable for cluster dc9:\\n  ${base}: serves cluster lab, not dc9`));
  });

  test('failover --wait (HA_LEASES through NATS): accepted with the reason, the holder demotes, the target holds the lease, the time is printed', async () => {
    const before = await lease('fo1');
    assert.equal(before?.holder, 'node-a');
    const r = await hactl(['failover', 'fo1', '--to', 'node-b', '--cluster', CLUSTER, '--wait', '--timeout', '60s', '--nats', ns.url, '--arbiter', base, '--token-file', tokenFile]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`^failover of fo1: accepted by ${base} \\(failover\\): forced failover by ops: epoch ${before!.epoch} of node-a revoked`, 'm'));
    const m = /^node-b holds fo1 at epoch (\d+): (\d+) ms after the failover was asked \(accepted after \d+ ms; seen in HA_LEASES through NATS\)$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    const after = await lease('fo1');
    assert.equal(after?.holder, 'node-b');
    assert.ok(Number(m[1]) > before!.epoch);
    assert.ok(after!.epoch >= Number(m[1]));
  });

  test('failover --wait polling /v1/status, --json: the outcome, the decision, the new holder and how long it took', async () => {
    const before = await lease('fo2');
    const r = await hactl(['failover', 'fo2', '--wait', '--json', '--arbiter', base], { KQ_ARBITER_TOKEN: TOKEN });
    assert.equal(r.code, 0, show(r));
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out['command'], 'failover');
    assert.equal(out['outcome'], 'accepted');
    assert.equal(out['exit'], 0);
    assert.equal(out['status'], 200);
    assert.equal(out['decision'], 'failover');
    assert.equal(out['holder'], 'node-b', 'the arbiter chose the only other member');
    assert.ok(Number(out['epoch']) > before!.epoch);
    assert.equal(typeof out['tookMs'], 'number');
    assert.equal(out['seenIn'], '/v1/status');
    assert.equal((await lease('fo2'))?.holder, 'node-b');
  });

  test('failover --wait while the holder does not confirm its demotion: accepted, then exit 7 at --timeout with the last lease seen', async () => {
    a.deaf.add('to1');
    const before = await lease('to1');
    const r = await hactl(['failover', 'to1', '--to', 'node-b', '--wait', '--timeout', '1s', '--nats', ns.url, '--arbiter', base, '--token-file', tokenFile]);
    assert.equal(r.code, 7, show(r));
    assert.match(r.stdout, /^failover of to1: accepted by .*: forced failover by ops: epoch \d+ of node-a revoked/m);
    assert.match(r.stderr, new RegExp(`^hactl failover: node-b does not hold to1 after .* \\(--timeout 1\\.0s\\); last seen: holder -, epoch ${before!.epoch + 1}, reserved for node-b$`, 'm'));
    const now = await lease('to1');
    assert.deepEqual([now?.holder, now?.epoch], [null, before!.epoch + 1], 'revoked, reserved for node-b, node-a\'s old lease running out');
  });

  test('status from a NATS where no arbiter has run: exit 1 naming the bucket', async () => {
    const empty = await startNatsServer();
    try {
      const r = await hactl(['status', '--nats', empty.url]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, new RegExp(`^hactl status: the KV bucket HA_LEASES cannot be read on ${empty.url} \\(.*\\); has an arbiter run on this NATS\\?$`, 'm'));
    } finally {
      await empty.dispose();
    }
  });

  test('failover refused by the arbiter: exit 3 with its reason, nothing changes', async () => {
    const before = await lease('ref1');
    assert.equal(before?.holder, 'node-a');
    const r = await hactl(['failover', 'ref1', '--to', 'node-a', '--arbiter', base, '--token-file', tokenFile]);
    assert.equal(r.code, 3, show(r));
    assert.match(r.stdout, new RegExp(`^failover of ref1: REFUSED by ${base} \\(refuse\\): forced failover of ref1 to node-a by ops refused: node-a already holds the lease \\(epoch ${before!.epoch}\\)$`, 'm'));
    const j = await hactl(['failover', 'ref1', '--to', 'node-a', '--json', '--arbiter', base, '--token-file', tokenFile]);
    assert.equal(j.code, 3, show(j));
    const out = JSON.parse(j.stdout) as Record<string, unknown>;
    assert.equal(out['outcome'], 'refused');
    assert.equal(out['status'], 409);
    assert.match(String(out['reason']), /already holds the lease/);
    const after = await lease('ref1');
    assert.deepEqual([after?.holder, after?.epoch], ['node-a', before!.epoch]);
  });

  test('a wrong token: exit 4, the arbiter says why, no state change, the token is never printed; no token at all: exit 2 before asking', async () => {
    const before = await lease('tok1');
    const r = await hactl(['failover', 'tok1', '--to', 'node-b', '--arbiter', base, '--token-file', wrongTokenFile]);
    assert.equal(r.code, 4, show(r));
    assert.match(r.stderr, new RegExp(`^hactl failover: ${base} did not accept the token \\(HTTP 401\\): the bearer token is not accepted; nothing was done$`, 'm'));
    const env = await hactl(['fence', 'node-b', '--arbiter', base], { KQ_ARBITER_TOKEN: WRONG });
    assert.equal(env.code, 4, show(env));
    const none = await hactl(['failover', 'tok1', '--arbiter', base]);
    assert.equal(none.code, 2, show(none));
    assert.match(none.stderr, /no token: give --token-file FILE or set \$KQ_ARBITER_TOKEN/);
    const after = await lease('tok1');
    assert.deepEqual([after?.holder, after?.epoch], [before?.holder, before?.epoch]);
    assert.equal(receiver.requests.filter((q) => q.body['node'] === 'node-b').length, 0, 'no fence was run');
  });

  test('an unknown instance, a bad name: exit 5 from the arbiter (404), exit 2 before asking', async () => {
    const r = await hactl(['failover', 'nope', '--arbiter', base, '--token-file', tokenFile]);
    assert.equal(r.code, 5, show(r));
    assert.match(r.stderr, /refused the request \(HTTP 404\): instance: unknown instance 'nope'; nothing was done/);
    const bad = await hactl(['failover', 'no.pe', '--arbiter', base, '--token-file', tokenFile]);
    assert.equal(bad.code, 2, show(bad));
    assert.match(bad.stderr, /INSTANCE 'no\.pe': letters, digits/);
  });

  test('no arbiter reachable: exit 6, each arbiter tried in order and named with why', async () => {
    const p1 = await freePort();
    const p2 = await freePort();
    const r = await hactl(['failover', 'fo1', '--arbiter', `http://127.0.0.1:${p1},http://127.0.0.1:${p2}`, '--token-file', tokenFile]);
    assert.equal(r.code, 6, show(r));
    assert.match(r.stderr, new RegExp(`no arbiter reachable:\\n  http://127\\.0\\.0\\.1:${p1}: unreachable: connect ECONNREFUSED 127\\.0\\.0\\.1:${p1}\\n  http://127\\.0\\.0\\.1:${p2}: unreachable: connect ECONNREFUSED`));
    const f = await hactl(['fence', 'node-b', '--json'], { KQ_ARBITER_URL: `http://127.0.0.1:${p1}`, KQ_ARBITER_TOKEN: TOKEN });
    assert.equal(f.code, 6, show(f));
    assert.equal((JSON.parse(f.stdout) as Record<string, unknown>)['outcome'], 'unreachable');
    const s = await hactl(['status', '--arbiter', `http://127.0.0.1:${p2}`]);
    assert.equal(s.code, 6, show(s));
  });

  test('an arbiter that takes the request and never answers: exit 1, the outcome unknown, and the next arbiter is not asked', async () => {
    const held: Socket[] = [];
    const hung = createServer((s) => held.push(s));
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(hung.address() as AddressInfo).port}`;
      const before = await lease('tok1');
      const r = await hactl(['failover', 'tok1', '--to', 'node-b', '--request-timeout', '500ms', '--arbiter', `${url},${base}`, '--token-file', tokenFile]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, new RegExp(`^hactl failover: asked ${url}, but no answer within 500 ms; the failover may or may not have been carried out: look with 'hactl status'$`, 'm'));
      const after = await lease('tok1');
      assert.deepEqual([after?.holder, after?.epoch], [before?.holder, before?.epoch], 'the second arbiter was not asked');
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => hung.close(r));
    }
  });

  test('fence accepted: the signed webhook reaches the receiver (signature verified), the fence is confirmed, exit 0', async () => {
    const seen = receiver.requests.length;
    const r = await hactl(['fence', 'node-b', '--cluster', CLUSTER, '--arbiter', base, '--token-file', tokenFile]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`^fence of node-b: CONFIRMED by ${base}: `, 'm'));
    const req = receiver.requests.slice(seen);
    assert.equal(req.length, 1, JSON.stringify(req));
    assert.equal(req[0]!.signature.ok, true, JSON.stringify(req[0]!.signature));
    assert.equal(req[0]!.body['node'], 'node-b');
    assert.equal(req[0]!.body['action'], 'off');

    const j = await hactl(['fence', 'node-b', '--json', '--arbiter', base, '--token-file', tokenFile]);
    assert.equal(j.code, 0, show(j));
    const out = JSON.parse(j.stdout) as Record<string, unknown>;
    assert.deepEqual([out['outcome'], out['ok'], out['confirmed'], out['status']], ['confirmed', true, true, 200]);
    assert.equal(receiver.requests.slice(seen).every((q) => q.signature.ok), true);
  });

  test('fence refused by the receiver: exit 8 with the backend\'s reason on stdout (and in --json)', async () => {
    const seen = receiver.requests.length;
    receiver.answer(500, { status: 'error', reason: 'the PDU did not answer' });
    try {
      const r = await hactl(['fence', 'node-b', '--arbiter', base, '--token-file', tokenFile]);
      assert.equal(r.code, 8, show(r));
      assert.match(r.stdout, new RegExp(`^fence of node-b: (FAILED|NOT CONFIRMED) \\(${base}\\): \\S`, 'm'));
      const j = await hactl(['fence', 'node-b', '--json', '--arbiter', base, '--token-file', tokenFile]);
      assert.equal(j.code, 8, show(j));
      const out = JSON.parse(j.stdout) as Record<string, unknown>;
      assert.deepEqual([out['outcome'], out['status'], out['confirmed']], ['fenceFailed', 502, false]);
      assert.ok(receiver.requests.length > seen, 'the receiver was asked');
      assert.equal(receiver.requests.slice(seen).every((q) => q.signature.ok), true);
    } finally {
      receiver.answer(200, { status: 'fenced' });
    }
  });

  test('the tokens appear nowhere: not in hactl\'s output (checked at every run above), not in the arbiter\'s log', () => {
    assert.ok(arbiterLog.includes('forced failover'), 'the arbiter logged the failovers');
    for (const t of [TOKEN, WRONG]) assert.ok(!arbiterLog.includes(t), 'a token is in the arbiter\'s log');
  });
});
