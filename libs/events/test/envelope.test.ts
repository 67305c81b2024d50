import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEvent, EVENT_TYPE_NAMES, EVENT_TYPES, eventSubject, makeEnvelope, outputExcerpt, type EventType } from '../src/mod.js';
import { SAMPLES } from './samples.js';

const fields = { cluster: 'prod', node: 'lb1', bootId: '0a1b2c3d', seq: 7 };
const bytes = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

test('an envelope carries id = node-bootId-seq, the type version, and an ISO time with milliseconds', () => {
  const env = makeEnvelope('vip.added', SAMPLES['vip.added'], { ...fields, instance: 'VI_1', at: new Date(Date.UTC(2024, 4, 1, 3, 12, 0, 5)) });
  assert.deepEqual(Object.keys(env), ['id', 'type', 'v', 'cluster', 'node', 'instance', 'seq', 'at', 'data']);
  assert.equal(env.id, 'lb1-0a1b2c3d-7');
  assert.equal(env.v, EVENT_TYPES['vip.added'].v);
  assert.equal(env.at, '2024-05-01T03:12:00.005Z');
  assert.equal(env.instance, 'VI_1');
  assert.equal(env.seq, 7);
});

test('an envelope without an instance has no instance key at all', () => {
  const env = makeEnvelope('agent.started', SAMPLES['agent.started'], fields);
  assert.equal('instance' in env, false);
  assert.equal(JSON.stringify(env).includes('"instance":'), false);
});

test('every event type has a sample that its schema accepts and that decodes back unchanged', () => {
  for (const type of EVENT_TYPE_NAMES) {
    const sample = SAMPLES[type];
    assert.ok(sample, `no sample for ${type} in test/samples.ts`);
    const env = makeEnvelope(type as EventType, sample as never, fields);
    const subject = eventSubject('prod', 'lb1', type);
    const decoded = decodeEvent(bytes(env), { subject });
    assert.equal(decoded.ok, true, `${type}: ${decoded.ok ? '' : decoded.reason}`);
    if (decoded.ok) assert.deepEqual(decoded.event, env);
  }
});

test('data that does not match the type schema is refused when the envelope is built, with the field named', () => {
  assert.throws(
    () => makeEnvelope('vrrp.transition', { ...SAMPLES['vrrp.transition'], priority: 300 }, fields),
    (e: Error & { code?: string }) => e.code === 'KQ_ERR_EVENT_INVALID' && /priority/.test(e.message),
  );
  assert.throws(
    () => makeEnvelope('check.result', { ...SAMPLES['check.result'], latencyMs: Number.NaN }, fields),
    (e: Error & { code?: string }) => e.code === 'KQ_ERR_EVENT_INVALID',
  );
  assert.throws(() => makeEnvelope('no.such' as EventType, {} as never, fields), (e: Error & { code?: string }) => e.code === 'KQ_ERR_EVENT_INVALID' && /unknown event type/.test(e.message));
});

test('decodeEvent never throws and says why it refuses', () => {
  const good = makeEnvelope('vip.added', SAMPLES['vip.added'], fields);
  const cases: [string, Uint8Array | string, RegExp][] = [
    ['invalid UTF-8', new Uint8Array([0xff, 0xfe, 0x00, 0x80]), /UTF-8/],
    ['not JSON', 'hello {', /not JSON/],
    ['empty', '', /not JSON/],
    ['JSON null', 'null', /envelope/],
    ['JSON array', '[1,2]', /envelope/],
    ['missing seq', JSON.stringify({ ...good, seq: undefined }), /envelope: seq/],
    ['seq zero', JSON.stringify({ ...good, seq: 0 }), /envelope: seq/],
    ['at without ms', JSON.stringify({ ...good, at: '2024-05-01T03:12:00Z' }), /envelope: at/],
    ['node with a dot', JSON.stringify({ ...good, node: 'a.b' }), /envelope: node/],
    ['unknown type', JSON.stringify({ ...good, type: 'foo.bar' }), /unknown event type/],
    ['unknown version', JSON.stringify({ ...good, v: 99 }), /v99 is not a known version/],
    ['data wrong', JSON.stringify({ ...good, data: { address: 5 } }), /vip.added v1 data/],
    ['huge nesting', '['.repeat(100_000), /not JSON/],
  ];
  for (const [what, input, reason] of cases) {
    const r = decodeEvent(input);
    assert.equal(r.ok, false, what);
    if (!r.ok) assert.match(r.reason, reason, what);
  }
});

test('an envelope must agree with the subject it came on', () => {
  const env = makeEnvelope('vip.added', SAMPLES['vip.added'], fields);
  assert.equal(decodeEvent(JSON.stringify(env), { subject: 'ha.prod.evt.lb1.vip.added' }).ok, true);
  for (const subject of ['ha.prod.evt.lb2.vip.added', 'ha.other.evt.lb1.vip.added', 'ha.prod.evt.lb1.vip.removed', 'something.else']) {
    const r = decodeEvent(JSON.stringify(env), { subject });
    assert.equal(r.ok, false, subject);
  }
});

test('a check output excerpt is trimmed and cut to fit the schema', () => {
  assert.equal(outputExcerpt('  ok \n'), 'ok');
  const long = outputExcerpt('x'.repeat(10_000));
  assert.equal(long.length, 256);
  assert.ok(long.endsWith('…'));
  assert.doesNotThrow(() => makeEnvelope('check.result', { ...SAMPLES['check.result'], output: long }, fields));
});
