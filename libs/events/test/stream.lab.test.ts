import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { nanos, StorageType, type NatsConnection } from 'nats';
import { ensureStream, streamConfig } from '../src/mod.js';
import { connectTo, natsUnavailableReason, startNatsServer, type NatsServer } from './nats-helpers.js';

const skip = natsUnavailableReason() ?? false;
let ns: NatsServer;
let nc: NatsConnection;

before(async () => {
  if (skip) return;
  ns = await startNatsServer();
  nc = await connectTo(ns.url);
});

after(async () => {
  await nc?.close().catch(() => undefined);
  await ns?.dispose();
});

test('ensureStream plans, creates, finds as wanted, then updates what changed', { skip }, async () => {
  const jsm = await nc.jetstreamManager();
  const wanted = streamConfig({ maxBytes: 128 * 1024 * 1024 });

  const planned = await ensureStream(jsm, wanted, { mode: 'plan' });
  assert.equal(planned.action, 'create');
  assert.equal(planned.applied, false);
  await assert.rejects(jsm.streams.info('HA_EVENTS'), 'plan mode creates nothing');

  const created = await ensureStream(jsm, wanted);
  assert.deepEqual([created.action, created.applied, created.lines[0]], ['create', true, 'stream HA_EVENTS: created']);
  const info = await jsm.streams.info('HA_EVENTS');
  assert.equal(info.config.storage, StorageType.File);
  assert.equal(info.config.duplicate_window, wanted.duplicate_window);
  assert.equal(info.config.max_age, wanted.max_age);

  const again = await ensureStream(jsm, wanted);
  assert.deepEqual([again.action, again.applied], ['none', false]);

  const longer = streamConfig({ maxBytes: 128 * 1024 * 1024, maxAgeMs: 90 * 86_400_000 });
  const agentView = await ensureStream(jsm, longer, { mode: 'create' });
  assert.deepEqual([agentView.action, agentView.applied], ['update', false], 'the agent never changes an existing stream');
  const updated = await ensureStream(jsm, longer);
  assert.deepEqual([updated.action, updated.applied], ['update', true]);
  assert.deepEqual(updated.lines.slice(1), ['  max_age: 30d -> 90d']);
  assert.equal((await jsm.streams.info('HA_EVENTS')).config.max_age, nanos(90 * 86_400_000));
});

test('a stream that differs in what JetStream cannot change is a conflict, left alone', { skip }, async () => {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'HA_EVENTS_MEM', subjects: ['mem.>'], storage: StorageType.Memory });
  const wanted = { ...streamConfig({ maxBytes: 64 * 1024 * 1024 }), name: 'HA_EVENTS_MEM', subjects: ['mem.>'] };
  const plan = await ensureStream(jsm, wanted);
  assert.equal(plan.action, 'conflict');
  assert.equal(plan.applied, false);
  assert.match(plan.lines.join('\n'), /storage: memory -> file \(cannot change in place\)/);
  assert.equal((await jsm.streams.info('HA_EVENTS_MEM')).config.storage, StorageType.Memory);
});
