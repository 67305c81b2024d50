/**
 * liveness.ts: the verdict on its own (LivenessTracker), then the probes
 * against a real nats-server and a real agent process that is killed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { connect, type NatsConnection } from 'nats';
import { InboxLiveness, inboxPrefixOf, LivenessTracker, PROBE_TOKEN } from '../src/liveness.js';
import { natsUnavailableReason, startNatsServer, type NatsServer } from '../../../test/nats/server.js';

describe('inboxPrefixOf', () => {
  test('takes the mux prefix of a nats.js reply subject', () => {
    assert.equal(inboxPrefixOf('_INBOX.abc123.xyz'), '_INBOX.abc123.');
    assert.equal(inboxPrefixOf('custom.inbox.id.tok'), 'custom.inbox.id.');
  });
  test('refuses what cannot be published to', () => {
    assert.equal(inboxPrefixOf(undefined), null);
    assert.equal(inboxPrefixOf('single'), null);
    assert.equal(inboxPrefixOf('_INBOX.abc.'), null);
    assert.equal(inboxPrefixOf('_INBOX.*.x'), null);
  });
});

describe('LivenessTracker', () => {
  const probeOf = (t: LivenessTracker, node: string, now: number) => {
    const p = t.round([node], now).find((x) => x.node === node);
    assert.ok(p, `a probe of ${node}`);
    return p;
  };

  test('a node never learnt is not probed', () => {
    const t = new LivenessTracker(100);
    t.heartbeat('a', 'boot-1');
    assert.deepEqual(t.round(['a'], 0), []);
  });

  test('probes go to the learnt inbox under a token no request uses', () => {
    const t = new LivenessTracker(100);
    t.heartbeat('a', 'boot-1');
    t.learn('a', '_INBOX.X1.tok');
    assert.equal(probeOf(t, 'a', 0).subject, `_INBOX.X1.${PROBE_TOKEN}`);
  });

  test('an inbox never found there is never judged gone (not a standing subscription)', () => {
    const t = new LivenessTracker(100);
    t.heartbeat('a', 'boot-1');
    t.learn('a', '_INBOX.X1.tok');
    for (let now = 0; now <= 1000; now += 50) assert.equal(t.noResponders('a', probeOf(t, 'a', now).seq), false);
  });

  test('found there, then no interest for confirmMs over several probes: gone, once', () => {
    const t = new LivenessTracker(100);
    t.heartbeat('a', 'boot-1');
    t.learn('a', '_INBOX.X1.tok');
    probeOf(t, 'a', 0); // unanswered: the inbox is there
    assert.equal(t.noResponders('a', probeOf(t, 'a', 50).seq), false, 'one probe is not enough');
    assert.equal(t.noResponders('a', probeOf(t, 'a', 100).seq), false, '50 ms of no interest < 100');
    assert.equal(t.noResponders('a', probeOf(t, 'a', 150).seq), true, '100 ms of no interest');
    assert.deepEqual(t.round(['a'], 200), [], 'a gone node is not probed again');
  });

  test('interest between two "no responders" (a reconnect) starts the count over', () => {
    const t = new LivenessTracker(100);
    t.heartbeat('a', 'boot-1');
    t.learn('a', '_INBOX.X1.tok');
    probeOf(t, 'a', 0);
    assert.equal(t.noResponders('a', probeOf(t, 'a', 50).seq), false);
    probeOf(t, 'a', 100); // unanswered: subscribed again on another server
    assert.equal(t.noResponders('a', probeOf(t, 'a', 150).seq), false);
    assert.equal(t.noResponders('a', probeOf(t, 'a', 200).seq), false, 'only 50 ms since interest was last seen');
    assert.equal(t.noResponders('a', probeOf(t, 'a', 250).seq), true);
  });

  test('a late "no responders" for an older probe is ignored', () => {
    const t = new LivenessTracker(0);
    t.heartbeat('a', 'boot-1');
    t.learn('a', '_INBOX.X1.tok');
    probeOf(t, 'a', 0);
    const old = probeOf(t, 'a', 50);
    probeOf(t, 'a', 100);
    assert.equal(t.noResponders('a', old.seq), false);
  });

  test('a new inbox (a restarted agent) starts over: unverified, not gone', () => {
    const t = new LivenessTracker(0);
    t.heartbeat('a', 'boot-1');
    t.learn('a', '_INBOX.X1.tok');
    probeOf(t, 'a', 0);
    assert.equal(t.noResponders('a', probeOf(t, 'a', 50).seq), true);
    t.learn('a', '_INBOX.X2.tok');
    const p = probeOf(t, 'a', 100);
    assert.equal(p.subject, `_INBOX.X2.${PROBE_TOKEN}`);
    assert.equal(t.noResponders('a', p.seq), false);
  });

  test('an inbox learnt before any heartbeat of its node is not probed (its process is unknown); the next request after one is', () => {
    const t = new LivenessTracker(100);
    t.learn('b', '_INBOX.B1.tok');
    assert.deepEqual(t.round(['b'], 0), []);
    assert.match(t.heartbeat('b', 'boot-1') ?? '', /learnt before any heartbeat of b/);
    assert.deepEqual(t.round(['b'], 50), []);
    t.learn('b', '_INBOX.B1.tok');
    assert.equal(probeOf(t, 'b', 100).subject, `_INBOX.B1.${PROBE_TOKEN}`);
  });

  test('a restarted agent: the dead process\'s inbox is forgotten on the new bootId, not probed, and its late "no responders" never make the node gone', () => {
    const t = new LivenessTracker(100);
    t.heartbeat('a', 'boot-1');
    t.learn('a', '_INBOX.OLD.tok');
    probeOf(t, 'a', 0); // unanswered: the old process's inbox was there
    const late = probeOf(t, 'a', 50); // the old process dies: this one gets a 503, after the restart
    assert.match(t.heartbeat('a', 'boot-2') ?? '', /restarted \(bootId boot-1 -> boot-2\)/);
    // This replica answered none of the new process's requests (queue group): it probes nothing.
    for (let now = 100; now <= 1000; now += 50) assert.deepEqual(t.round(['a'], now), [], `no probe at ${now}`);
    assert.equal(t.noResponders('a', late.seq), false);
    assert.equal(t.states()['a'], undefined);
    // The new process's request teaches its own inbox.
    t.learn('a', '_INBOX.NEW.tok');
    assert.equal(probeOf(t, 'a', 1050).subject, `_INBOX.NEW.${PROBE_TOKEN}`);
  });

  test('the same inbox re-taught under a new bootId starts over: a 503 of a probe sent before is ignored', () => {
    const t = new LivenessTracker(0);
    t.heartbeat('a', 'boot-1');
    t.learn('a', '_INBOX.X1.tok');
    probeOf(t, 'a', 0);
    const before = probeOf(t, 'a', 50);
    t.heartbeat('a', 'boot-2');
    t.learn('a', '_INBOX.X1.tok');
    assert.equal(t.noResponders('a', before.seq), false);
    assert.equal(t.states()['a'], 'unverified');
  });

  test('a heartbeat while the inbox shows no interest forgets it: the agent\'s live connection is another, no verdict', () => {
    const t = new LivenessTracker(100);
    t.heartbeat('a', 'boot-1');
    t.learn('a', '_INBOX.X1.tok');
    probeOf(t, 'a', 0);
    assert.equal(t.noResponders('a', probeOf(t, 'a', 50).seq), false);
    const pending = probeOf(t, 'a', 100);
    assert.match(t.heartbeat('a', 'boot-1') ?? '', /heartbeats while its inbox _INBOX\.X1\. has no subscriber/);
    assert.equal(t.noResponders('a', pending.seq), false, 'the 503 of a probe of the forgotten inbox counts for nothing');
    assert.deepEqual(t.round(['a'], 150), [], 'not probed until a request teaches the inbox again');
  });

  test('a heartbeat with interest on the inbox keeps it', () => {
    const t = new LivenessTracker(100);
    t.heartbeat('a', 'boot-1');
    t.learn('a', '_INBOX.X1.tok');
    probeOf(t, 'a', 0);
    probeOf(t, 'a', 50);
    assert.equal(t.heartbeat('a', 'boot-1'), null);
    assert.equal(t.states()['a'], 'open');
  });

  test('a node judged gone that heartbeats again (same process or a new one) is alive: the verdict is withdrawn, its next request is probed afresh', () => {
    for (const boot of ['boot-1', 'boot-2']) {
      const t = new LivenessTracker(0);
      t.heartbeat('a', 'boot-1');
      t.learn('a', '_INBOX.X1.tok');
      probeOf(t, 'a', 0);
      assert.equal(t.noResponders('a', probeOf(t, 'a', 50).seq), true);
      assert.equal(t.stillGone('a', 'boot-1'), true, 'the verdict stands until the node is heard');
      assert.match(t.heartbeat('a', boot) ?? '', boot === 'boot-1' ? /judged gone: it is alive, the verdict is withdrawn/ : /restarted/);
      assert.equal(t.stillGone('a', 'boot-1'), false, `withdrawn by a heartbeat of ${boot}`);
      t.learn('a', '_INBOX.X1.tok');
      const p = probeOf(t, 'a', 100);
      assert.equal(t.noResponders('a', p.seq), false, 'unverified again: one 503 is no verdict');
    }
  });
});

const AGENT = `
const { connect } = require(process.argv[1]);
(async () => {
  const nc = await connect({ servers: process.argv[2] });
  await nc.request('bench.svc', new Uint8Array(), { timeout: 5000 });
  console.log('ready');
  setInterval(() => {}, 1000);
})();
`;

describe('InboxLiveness against nats-server', { skip: natsUnavailableReason() ?? false }, () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const children: ChildProcess[] = [];

  before(async () => {
    server = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await nc?.close();
    await server?.dispose();
  });

  /** A real agent process: connects, makes one request (its reply subject is what the arbiter learns), idles. */
  async function agent(): Promise<{ child: ChildProcess; reply: string }> {
    let resolveReply!: (r: string) => void;
    const replied = new Promise<string>((r) => (resolveReply = r));
    const sub = nc.subscribe('bench.svc', {
      max: 1,
      callback: (_e, m) => {
        resolveReply(m.reply ?? '');
        m.respond(new Uint8Array());
      },
    });
    await nc.flush();
    const natsMain = createRequire(import.meta.url).resolve('nats');
    const child = spawn(process.execPath, ['-e', AGENT, natsMain, server.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const reply = await replied;
    sub.unsubscribe();
    await new Promise<void>((r) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && r()));
    return { child, reply };
  }

  test('a live agent is not gone; the same agent killed (its host up) is gone, with why', async () => {
    const { child, reply } = await agent();
    const gone: { node: string; detail: string }[] = [];
    let rounds = 0;
    const live = new InboxLiveness(nc, { probeMs: 20, confirmMs: 40 }, () => {
      rounds++;
      return ['ag-1'];
    }, (node, detail) => gone.push({ node, detail }));
    try {
      live.heartbeat('ag-1', 'boot-1');
      live.learn('ag-1', reply);
      await new Promise<void>((r) => {
        const iv = setInterval(() => rounds >= 15 && (clearInterval(iv), r()), 10);
      });
      assert.equal(gone.length, 0, 'an agent whose connection is open is never gone');
      child.kill('SIGKILL');
      await new Promise<void>((r) => {
        const iv = setInterval(() => gone.length > 0 && (clearInterval(iv), r()), 10);
      });
      assert.equal(gone.length, 1);
      assert.equal(gone[0]!.node, 'ag-1');
      assert.match(gone[0]!.detail, /NATS connection is closed: the reply inbox of its requests \(agent process boot-1\) has had no subscriber for \d+ ms/);
    } finally {
      live.stop();
    }
  });

  test('a restarted agent: once the new process heartbeats, the dead process\'s inbox is probed no more and the healthy new process is not gone; killed in turn, it is', async () => {
    const first = await agent();
    const gone: { node: string; detail: string; incarnation: string }[] = [];
    let rounds = 0;
    let watched: string[] = ['ag-2'];
    const live = new InboxLiveness(nc, { probeMs: 20, confirmMs: 40 }, () => {
      rounds++;
      return watched;
    }, (node, detail, incarnation) => gone.push({ node, detail, incarnation }));
    const roundsPass = async (n: number) => {
      const until = rounds + n;
      await new Promise<void>((r) => {
        const iv = setInterval(() => rounds >= until && (clearInterval(iv), r()), 10);
      });
    };
    try {
      live.heartbeat('ag-2', 'boot-1');
      live.learn('ag-2', first.reply);
      await roundsPass(3);
      assert.equal(live.states()['ag-2'], 'open');
      // The agent restarts: the old process gives the lease up (not watched) and exits; the new one connects and heartbeats.
      watched = [];
      await roundsPass(1);
      const exited = new Promise((r) => first.child.once('exit', r));
      first.child.kill('SIGKILL');
      await exited;
      const second = await agent();
      live.heartbeat('ag-2', 'boot-2');
      // The new process is granted the lease through another replica: this one, which has answered
      // none of its requests, watches it again. Many rounds, no verdict.
      watched = ['ag-2'];
      await roundsPass(15);
      assert.equal(gone.length, 0, 'the new process is not judged by the dead one\'s inbox');
      assert.equal(live.states()['ag-2'], undefined, 'the old inbox is forgotten');
      live.learn('ag-2', second.reply);
      await roundsPass(15);
      assert.equal(gone.length, 0);
      assert.equal(live.states()['ag-2'], 'open');
      second.child.kill('SIGKILL');
      await new Promise<void>((r) => {
        const iv = setInterval(() => gone.length > 0 && (clearInterval(iv), r()), 10);
      });
      assert.equal(gone.length, 1);
      assert.equal(gone[0]!.incarnation, 'boot-2');
      assert.equal(live.stillGone('ag-2', 'boot-2'), true);
    } finally {
      live.stop();
    }
  });
});
