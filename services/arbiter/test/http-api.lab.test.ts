/**
 * The arbiter's HTTP API against a real nats-server (loopback) and a real
 * replica: bearer tokens on every POST, bodies and queries refused with the zod
 * message naming the field, the OpenAPI document listing exactly the routes
 * the server answers, the timeline read from the event log, the live feed
 * (server-sent events) and the dashboard's files. The agents are NATS clients
 * speaking the protocol (SimNode); nothing is mocked.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { z } from 'zod';
import { failoverBodySchema, fenceBodySchema, timelineQuerySchema, zodProblem } from '../src/api-schemas.js';
import { API_PATHS, API_ROUTES } from '../src/openapi.js';
import type { ArbiterService } from '../src/service.js';
import { claimUntilGranted, httpJson, natsUnavailableReason, replicaConfig, SimNode, startNatsServer, startReplica, waitFor, type NatsServer } from '../fixtures/harness.js';

const skip = natsUnavailableReason() ?? false;
const TOKEN = 'api-test-token-0123456789abcdef';

interface Sse {
  event: string;
  data: unknown;
}

/** A client of GET /v1/feed: every event received so far, parsed. */
async function openFeed(url: string): Promise<{ events: Sse[]; close(): void; ended: Promise<void> }> {
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events: Sse[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const ended = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      // aborted
    }
  })();
  return { events, close: () => ac.abort(), ended };
}

describe('the HTTP API of a replica on a real nats-server', { skip }, () => {
  let ns: NatsServer;
  let s: ArbiterService;
  let base: string;
  const nodes: SimNode[] = [];

  before(async () => {
    ns = await startNatsServer();
    s = await startReplica(
      replicaConfig({ url: ns.url, replica: 'arb-api', instances: [{ name: 'api1' }, { name: 'api2' }], extra: { http: { listen: '127.0.0.1:0', tokensEnv: 'KQ_TEST_TOKENS' } } }),
      { KQ_TEST_TOKENS: `ops:${TOKEN}` },
    );
    base = `http://127.0.0.1:${s.http!.port}`;
  });
  after(async () => {
    for (const n of nodes) await n.close();
    await s?.stop();
    await ns?.dispose();
  });

  async function node(name: string, instance: string, state: 'BACKUP' | 'CLAIMING', priority: number): Promise<SimNode> {
    const n = await SimNode.start(ns.url, name);
    n.report(instance, state, priority);
    n.startHeartbeats();
    nodes.push(n);
    await waitFor(`${name} a member of ${instance}`, () => s.arbiter.snapshot().instances[instance]?.members[name]);
    return n;
  }

  test('every POST route refuses a request without a bearer token or with a wrong one (401, WWW-Authenticate: Bearer)', async () => {
    const posts = API_ROUTES.filter((r) => r.method === 'POST');
    assert.deepEqual(posts.map((r) => r.path).sort(), ['/v1/failover', '/v1/fence']);
    for (const r of posts) {
      assert.ok(r.auth, `${r.path} is marked as needing a token`);
      const body = r.path === '/v1/failover' ? { instance: 'api1' } : { node: 'api-a' };
      const none = await fetch(`${base}${r.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(none.status, 401, r.path);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer /);
      assert.match(((await none.json()) as { error: string }).error, /no Authorization header/);
      const wrong = await httpJson(`${base}${r.path}`, { token: 'a-token-nobody-was-given', body });
      assert.equal(wrong.status, 401, r.path);
      assert.match(String(wrong.body['error']), /not accepted/);
      const notBearer = await fetch(`${base}${r.path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('ops:x').toString('base64')}` }, body: JSON.stringify(body) });
      assert.equal(notBearer.status, 401, r.path);
    }
    assert.equal(s.arbiter.snapshot().instances['api1']?.lease ?? null, null, 'nothing was written');
  });

  test('bad bodies are refused with 400 and the zod message naming the field, the same as the schema gives', async () => {
    const cases: [string, z.ZodType, unknown, RegExp][] = [
      ['/v1/failover', failoverBodySchema, { instance: 'api1', to: 'no such.node' }, /^to: letters, digits, "-" and "_", 1 to 64 characters$/],
      ['/v1/failover', failoverBodySchema, { to: 'api-b' }, /^instance: /],
      ['/v1/failover', failoverBodySchema, { instance: 'api1', force: true }, /^force: unknown field$/],
      ['/v1/failover', failoverBodySchema, { instance: 42 }, /^instance: .*string/i],
      ['/v1/failover', failoverBodySchema, [], /^\(body\): /],
      ['/v1/fence', fenceBodySchema, { node: '' }, /^node: letters, digits/],
      ['/v1/fence', fenceBodySchema, { node: 'api-a', now: 1 }, /^now: unknown field$/],
    ];
    for (const [path, schema, body, expected] of cases) {
      const r = await httpJson(`${base}${path}`, { token: TOKEN, body });
      assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}`);
      const parsed = schema.safeParse(body);
      assert.equal(parsed.success, false);
      assert.equal(r.body['error'], zodProblem(parsed.error!), `${path} ${JSON.stringify(body)}: the schema's own message`);
      assert.match(String(r.body['error']), expected);
    }
    const notJson = await httpJson(`${base}/v1/failover`, { token: TOKEN, rawBody: '{"instance":' });
    assert.equal(notJson.status, 400);
    assert.match(String(notJson.body['error']), /^body: not JSON \(/);
  });

  test('the OpenAPI document is served as JSON and lists exactly the routes the server answers, bodies as the zod schemas', async () => {
    const res = await fetch(`${base}/v1/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const doc = JSON.parse(await res.text()) as { openapi: string; info: { version: string }; paths: Record<string, Record<string, { security?: unknown; requestBody?: { content: Record<string, { schema: unknown }> } }>> };
    assert.equal(doc.openapi, '3.1.0');
    assert.match(doc.info.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(Object.keys(doc.paths).sort(), [...API_PATHS].sort());
    for (const r of API_ROUTES) {
      const op = doc.paths[r.path]?.[r.method.toLowerCase()];
      assert.ok(op, `${r.method} ${r.path} in the document`);
      assert.equal(op.security !== undefined, r.auth, `${r.path}: security iff a token is needed`);
    }
    const { $schema: _a, ...failover } = z.toJSONSchema(failoverBodySchema) as Record<string, unknown>;
    assert.deepEqual(doc.paths['/v1/failover']?.['post']?.requestBody?.content['application/json']?.schema, failover);
    const { $schema: _b, ...fence } = z.toJSONSchema(fenceBodySchema) as Record<string, unknown>;
    assert.deepEqual(doc.paths['/v1/fence']?.['post']?.requestBody?.content['application/json']?.schema, fence);

    // Every documented route is answered (not the router's 404), and a path that is not documented is a 404 naming them.
    for (const r of API_ROUTES) {
      const ac = new AbortController();
      const url = `${base}${r.path}${r.path === '/v1/timeline' ? '?instance=api1' : ''}`;
      const answer = await fetch(url, { method: r.method, signal: ac.signal, headers: { 'content-type': 'application/json' }, ...(r.method === 'POST' ? { body: '{}' } : {}) });
      assert.notEqual(answer.status, 404, `${r.method} ${r.path}`);
      ac.abort();
    }
    const missing = await httpJson(`${base}/v1/nothing-here`);
    assert.equal(missing.status, 404);
    for (const p of API_PATHS) assert.ok(String(missing.body['error']).includes(p), `the 404 names ${p}`);
  });

  test('the timeline of an instance comes from the event log: the grant with its reason; bad queries are 400 naming the parameter', async () => {
    const a = await node('api-a', 'api1', 'CLAIMING', 200);
    await node('api-b', 'api1', 'BACKUP', 100);
    const g = await claimUntilGranted(a, 'api1');
    const t = await waitFor('the grant in the timeline', async () => {
      const r = await httpJson(`${base}/v1/timeline?instance=api1`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const entries = r.body['entries'] as { type: string; subject?: string; epoch?: number; reason?: string; text: string; instance?: string }[];
      return entries.find((e) => e.type === 'lease.granted' && e.subject === 'api-a') ? entries : null;
    });
    const granted = t.find((e) => e.type === 'lease.granted')!;
    assert.equal(granted.instance, 'api1');
    assert.equal(granted.epoch, g.answer.epoch);
    assert.equal(granted.text, `lease granted to api-a (epoch ${g.answer.epoch})`);
    assert.ok(granted.reason && granted.reason.length > 0, 'the decision carries its reason');
    assert.ok(t.every((e) => e.instance === 'api1'), 'only that instance');

    for (const [query, expected] of [
      ['instance=api1&limit=0', /^limit: /],
      ['instance=api1&since=yesterday', /^since: /],
      ['instance=a%20b', /^instance: letters, digits/],
      ['', /^instance: /],
      ['instance=api1&node=x', /^node: unknown field$/],
    ] as const) {
      const r = await httpJson(`${base}/v1/timeline?${query}`);
      assert.equal(r.status, 400, query);
      const parsed = timelineQuerySchema.safeParse(Object.fromEntries(new URLSearchParams(query)));
      assert.equal(r.body['error'], zodProblem(parsed.error!, '(query)'));
      assert.match(String(r.body['error']), expected);
    }
    const unknown = await httpJson(`${base}/v1/timeline?instance=nope`);
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.body['error']), /unknown instance 'nope'/);
  });

  test('the live feed sends the status at once, then the new holder and the timeline entry of a grant as they happen', async () => {
    const feed = await openFeed(`${base}/v1/feed`);
    try {
      const first = await waitFor('the first status', () => feed.events.find((e) => e.event === 'status'));
      const firstDoc = first.data as { replica: string; instances: Record<string, { lease: { holder: string | null } | null }> };
      assert.equal(firstDoc.replica, 'arb-api');
      assert.notEqual(firstDoc.instances['api2']?.lease?.holder, 'api-c');

      const c = await node('api-c', 'api2', 'CLAIMING', 150);
      const g = await claimUntilGranted(c, 'api2');
      const entry = await waitFor('the grant on the feed', () => feed.events.find((e) => e.event === 'timeline' && (e.data as { type: string; instance?: string }).type === 'lease.granted' && (e.data as { instance?: string }).instance === 'api2'));
      const d = entry.data as { subject: string; epoch: number; reason: string };
      assert.equal(d.subject, 'api-c');
      assert.equal(d.epoch, g.answer.epoch);
      assert.ok(d.reason.length > 0);
      await waitFor('a status naming api-c the holder of api2', () =>
        feed.events.find((e) => e.event === 'status' && (e.data as typeof firstDoc).instances['api2']?.lease?.holder === 'api-c'),
      );
    } finally {
      feed.close();
      await feed.ended;
    }
  });

  test('the dashboard is served from the package: the page, its script and its style, same-origin only; / redirects to it', async () => {
    const root = await fetch(`${base}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/dashboard/');
    const page = await fetch(`${base}/dashboard/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    const html = await page.text();
    assert.match(html, /<script src="app.js" defer><\/script>/);
    assert.doesNotMatch(html, /https?:\/\//, 'nothing loaded from elsewhere');
    for (const [file, type] of [
      ['app.js', /^text\/javascript/],
      ['style.css', /^text\/css/],
    ] as const) {
      const r = await fetch(`${base}/dashboard/${file}`);
      assert.equal(r.status, 200, file);
      assert.match(r.headers.get('content-type') ?? '', type);
      assert.doesNotMatch(await r.text(), /https?:\/\//, `${file} loads nothing from elsewhere`);
    }
    assert.equal((await fetch(`${base}/package.json`)).status, 404, 'nothing of the checkout but the three files');
    assert.equal((await fetch(`${base}/dashboard/secrets.txt`)).status, 404);
    assert.equal((await fetch(`${base}/v1/openapi.json`, { method: 'POST' })).status, 405);
  });

  test('a request target that is no URL is answered, and the server goes on serving', async () => {
    const port = s.http!.port;
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect({ host: '127.0.0.1', port }, () => sock.end('GET http://[ HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'));
      let text = '';
      sock.on('data', (d) => (text += d.toString()));
      sock.on('end', () => resolve(text));
      sock.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 [45]\d\d /);
    assert.equal((await fetch(`${base}/v1/status`)).status, 200);
  });

  test('stopping the replica ends open live feeds instead of waiting on them', async () => {
    const feed = await openFeed(`${base}/v1/feed`);
    await waitFor('the first status', () => feed.events.find((e) => e.event === 'status'));
    await s.stop();
    await feed.ended;
  });
});
