import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nanos } from 'nats';
import { planStream, replicasFor, streamConfig, DEFAULT_STREAM_SETTINGS } from '../src/mod.js';

test('the event stream is file-stored, limited by age and size, R1 by default', () => {
  const c = streamConfig();
  assert.equal(c.name, 'HA_EVENTS');
  assert.deepEqual(c.subjects, ['ha.*.evt.>']);
  assert.equal(c.storage, 'file');
  assert.equal(c.retention, 'limits');
  assert.equal(c.discard, 'old');
  assert.equal(c.num_replicas, 1);
  assert.equal(c.max_age, nanos(DEFAULT_STREAM_SETTINGS.maxAgeMs));
  assert.equal(c.max_bytes, DEFAULT_STREAM_SETTINGS.maxBytes);
  assert.equal(c.deny_delete, true);
});

test('the duplicate window covers an outage, not just a reconnect, and stays within max age', () => {
  const c = streamConfig();
  assert.ok(c.duplicate_window! >= nanos(60 * 60_000), 'at least an hour');
  assert.ok(c.duplicate_window! <= c.max_age!);
  assert.throws(() => streamConfig({ maxAgeMs: 60_000, duplicateWindowMs: 120_000 }), (e: Error & { code?: string }) => e.code === 'KQ_ERR_STREAM_CONFIG' && /duplicateWindow/.test(e.message));
  assert.throws(() => streamConfig({ replicas: 0 }), /replicas 0/);
});

test('R3 on a cluster, R1 on a single server', () => {
  assert.equal(replicasFor({ cluster: 'nats-prod' }), 3);
  assert.equal(replicasFor({}), 1);
  assert.equal(streamConfig({ replicas: replicasFor({ cluster: 'x' }) }).num_replicas, 3);
});

test('the plan says create for a missing stream and lists what will be created', () => {
  const plan = planStream(null, streamConfig({ maxBytes: 256 * 1024 * 1024 }));
  assert.equal(plan.action, 'create');
  assert.equal(plan.lines[0], 'stream HA_EVENTS: create');
  assert.ok(plan.lines.includes('  max_bytes: 256 MiB'));
  assert.ok(plan.lines.includes('  duplicate_window: 2h'));
  assert.ok(plan.lines.includes('  max_age: 30d'));
});

test('the plan says none, update or conflict for an existing stream, change by change', () => {
  const wanted = streamConfig();
  assert.equal(planStream({ ...wanted }, wanted).action, 'none');
  const update = planStream({ ...wanted, max_age: nanos(7 * 86_400_000), num_replicas: 1 }, streamConfig({ replicas: 3 }));
  assert.equal(update.action, 'update');
  assert.deepEqual(update.lines.slice(1), ['  num_replicas: R1 -> R3', '  max_age: 7d -> 30d']);
  const conflict = planStream({ ...wanted, storage: 'memory' as never }, wanted);
  assert.equal(conflict.action, 'conflict');
  assert.match(conflict.lines.join('\n'), /storage: memory -> file \(cannot change in place\)/);
});
