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
    assert.deepEqual(t.round(['a'], 0), []);
  });

  test('probes go to the learnt inbox under a token no request uses', () => {
    const t = new LivenessTracker(100);
    t.learn('a', '_INBOX.X1.tok');
    assert.equal(probeOf(t, 'a', 0).subject, `_INBOX.X1.${PROBE_TOKEN}`);
  });

  test('an inbox never found there is never judged gone (not a standing subscription)', () => {
    const t = new LivenessTracker(100);
    t.learn('a', '_INBOX.X1.tok');
    for (let now = 0; now <= 1000; now += 50) assert.equal(t.noResponders('a', probeOf(t, 'a', now).seq), false);
  });

  test('found there, then no interest for confirmMs over several probes: gone, once', () => {
    const t = new LivenessTracker(100);
    t.learn('a', '_INBOX.X1.tok');
    probeOf(t, 'a', 0); // unanswered: the inbox is there
    assert.equal(t.noResponders('a', probeOf(t, 'a', 50).seq), false, 'one probe is not enough');
    assert.equal(t.noResponders('a', probeOf(t, 'a', 100).seq), false, '50 ms of no interest < 100');
    assert.equal(t.noResponders('a', probeOf(t, 'a', 150).seq), true, '100 ms of no interest');
    assert.deepEqual(t.round(['a'], 200), [], 'a gone node is not probed again');
  });

  test('interest between two "no responders" (a reconnect) starts the count over', () => {
    const t = new LivenessTracker(100);
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
    t.learn('a', '_INBOX.X1.tok');
    probeOf(t, 'a', 0);
    const old = probeOf(t, 'a', 50);
    probeOf(t, 'a', 100);
    assert.equal(t.noResponders('a', old.seq), false);
  });

  test('a new inbox (a restarted agent) starts over: unverified, not gone', () => {
    const t = new LivenessTracker(0);
    t.learn('a', '_INBOX.X1.tok');
    probeOf(t, 'a', 0);
    assert.equal(t.noResponders('a', probeOf(t, 'a', 50).seq), true);
    t.learn('a', '_INBOX.X2.tok');
    const p = probeOf(t, 'a', 100);
    assert.equal(p.subject, `_INBOX.X2.${PROBE_TOKEN}`);
    assert.equal(t.noResponders('a', p.seq), false);
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
      assert.match(gone[0]!.detail, /NATS connection is closed: the reply inbox of its requests has had no subscriber for \d+ ms/);
    } finally {
      live.stop();
    }
  });
});
