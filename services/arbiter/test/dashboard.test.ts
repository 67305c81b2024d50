/**
 * The dashboard's pure parts: which events make a timeline and how they read,
 * what counts as a change worth pushing on the live feed, the server-sent
 * event framing, and the OpenAPI document against the route table and the
 * zod schemas. The HTTP side is tested against a real replica in
 * http-api.lab.test.ts, the page in test/integration/dashboard.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { makeEnvelope } from '../../../libs/events/src/mod.js';
import { failoverBodySchema, fenceBodySchema } from '../src/api-schemas.js';
import { sseMessage, statusFingerprint } from '../src/live-feed.js';
import { API_PATHS, API_ROUTES, openApiDocument } from '../src/openapi.js';
import { timelineEntry } from '../src/timeline.js';

const at = new Date('2026-11-25T09:12:03.123Z');
let seq = 0;
const fields = (node: string, instance?: string) => ({ cluster: 'dc1', node, bootId: 'b007', seq: ++seq, at, instance });

test('a grant becomes a timeline entry naming the node, the epoch and the reason', () => {
  const e = makeEnvelope('lease.granted', { reason: 'b1 holds VI_1 at epoch 5: the lease of a1 (epoch 4) ran out 12 ms ago', subject: 'b1', epoch: 5 }, fields('arb-1', 'VI_1'));
  assert.deepEqual(timelineEntry(e), {
    id: e.id,
    at: '2026-11-25T09:12:03.123Z',
    node: 'arb-1',
    instance: 'VI_1',
    type: 'lease.granted',
    subject: 'b1',
    epoch: 5,
    reason: 'b1 holds VI_1 at epoch 5: the lease of a1 (epoch 4) ran out 12 ms ago',
    text: 'lease granted to b1 (epoch 5)',
  });
});

test('a forced failover reads from the holder to the target (decide() puts the holder in the facts)', () => {
  const e = makeEnvelope('failover.started', { reason: 'forced failover by ops: epoch 4 of a1 revoked', subject: 'b1', epoch: 4, facts: { from: 'a1', by: 'ops' } }, fields('arb-1', 'VI_1'));
  assert.equal(timelineEntry(e)?.text, 'forced failover from a1 to b1 (epoch 4)');
  const any = makeEnvelope('failover.started', { reason: 'forced failover by ops', facts: { from: 'a1' } }, fields('arb-1', 'VI_1'));
  assert.equal(timelineEntry(any)?.text, 'forced failover from a1 to the best member');
});

test('a transition keeps the state machine reason; check results and VIP adds that changed nothing are left out', () => {
  const t = makeEnvelope('vrrp.transition', { from: 'BACKUP', to: 'MASTER', reason: 'no advertisement from 198.18.1.1 for 3.6 intervals', priority: 90, effectivePriority: 90, masterSeen: null }, fields('b1', 'VI_1'));
  assert.equal(timelineEntry(t)?.text, 'b1: BACKUP -> MASTER');
  assert.equal(timelineEntry(t)?.reason, 'no advertisement from 198.18.1.1 for 3.6 intervals');
  const check = makeEnvelope('check.result', { check: 'nginx', ok: false, latencyMs: 3, output: 'refused' }, fields('b1', 'VI_1'));
  assert.equal(timelineEntry(check), null);
  const vip = { address: '198.18.10.1', prefix: 16, interface: 'eth0' };
  assert.equal(timelineEntry(makeEnvelope('vip.added', { ...vip, changed: false }, fields('b1', 'VI_1'))), null);
  assert.equal(timelineEntry(makeEnvelope('vip.added', { ...vip, changed: true }, fields('b1', 'VI_1')))?.text, 'b1: VIP added 198.18.10.1/16');
});

test('the live feed sees a renewal as no change, and a new holder, state or liveness as one', () => {
  const doc = (holder: string, renewedAt: string, state = 'MASTER', live = true) => ({
    at: renewedAt,
    ready: true,
    instances: { VI_1: { lease: { holder, epoch: 4, revision: renewedAt.length, renewedAt, expiresAt: renewedAt, expiresInMs: 400, live }, members: { a1: { state, priority: 100, vip: true } } } },
    nodes: { a1: { connected: true, heardAt: Date.parse(renewedAt) } },
  });
  const base = statusFingerprint(doc('a1', '2026-11-25T09:12:03.123Z'));
  assert.equal(statusFingerprint(doc('a1', '2026-11-25T09:12:03.373Z')), base, 'renewed: nothing to push');
  assert.notEqual(statusFingerprint(doc('b1', '2026-11-25T09:12:03.123Z')), base);
  assert.notEqual(statusFingerprint(doc('a1', '2026-11-25T09:12:03.123Z', 'BACKUP')), base);
  assert.notEqual(statusFingerprint(doc('a1', '2026-11-25T09:12:03.123Z', 'MASTER', false)), base);
});

test('a server-sent event holds its data on one line, whatever newlines the text has', () => {
  const m = sseMessage('timeline', { reason: 'line one\nline two\r\nevent: forged' });
  assert.equal(m, 'event: timeline\ndata: {"reason":"line one\\nline two\\r\\nevent: forged"}\n\n');
  assert.equal(m.split('\n').filter((l) => l.startsWith('event:')).length, 1);
});

test('the OpenAPI document has every route of the table, a 401 wherever a token is needed, and the zod schemas as request bodies', () => {
  const doc = openApiDocument({ '/v1/failover': failoverBodySchema, '/v1/fence': fenceBodySchema }, '1.2.3') as {
    openapi: string;
    paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown>; requestBody?: { content: { 'application/json': { schema: unknown } } } }>>;
  };
  assert.equal(doc.openapi, '3.1.0');
  assert.deepEqual(Object.keys(doc.paths).sort(), [...API_PATHS].sort());
  for (const r of API_ROUTES) {
    const op = doc.paths[r.path]![r.method.toLowerCase()]!;
    assert.equal('401' in op.responses, r.auth, `${r.method} ${r.path}`);
    assert.equal(op.security !== undefined, r.auth);
    if (r.method === 'POST') assert.ok('400' in op.responses, `${r.path} documents the 400`);
  }
  // Only the POSTs change state, and each of them needs a token.
  assert.ok(API_ROUTES.every((r) => r.auth === (r.method === 'POST')));
  const { $schema: _s, ...failover } = z.toJSONSchema(failoverBodySchema) as Record<string, unknown>;
  assert.deepEqual(doc.paths['/v1/failover']!['post']!.requestBody!.content['application/json'].schema, failover);
  assert.equal((failover as { additionalProperties?: boolean }).additionalProperties, false, 'strict: unknown fields refused, as the router does');
  JSON.parse(JSON.stringify(doc));
  const withMetrics = openApiDocument({}, '1.2.3', { metrics: true }) as { paths: Record<string, Record<string, unknown>> };
  assert.ok(withMetrics.paths['/metrics']?.['get'], 'GET /metrics documented when served');
  assert.equal(doc.paths['/metrics'], undefined, 'and not when it is not');
});
