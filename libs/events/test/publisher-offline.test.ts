import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventPublisher } from '../src/mod.js';
import { SAMPLES } from './samples.js';
import { tempDir, until } from './helpers.js';

const unreachable = async (): Promise<never> => {
  throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
};

test('without NATS, publish still returns the envelope at once and the events wait in the journal', async () => {
  const tmp = await tempDir();
  try {
    let attempts = 0;
    const p = await EventPublisher.open({
      cluster: 'c',
      node: 'n1',
      stateDir: tmp.dir,
      connect: () => {
        attempts++;
        return unreachable();
      },
      retryInitialMs: 5,
      retryMaxMs: 20,
    });
    const envs = Array.from({ length: 100 }, (_, i) => p.publish('check.result', { ...SAMPLES['check.result'], latencyMs: i }, { instance: 'VI_1' }));
    assert.deepEqual(envs.map((e) => e.seq), Array.from({ length: 100 }, (_, i) => i + 1));
    assert.ok(envs.every((e) => e.id === `n1-${p.bootId}-${e.seq}` && e.instance === 'VI_1'));
    await until(() => p.backlog().unacknowledged === 100 && attempts > 2, 'journaled, connecting again and again');
    const b = p.backlog();
    assert.equal(b.connected, false);
    assert.match(b.lastError ?? '', /ECONNREFUSED/);
    const { flushed, backlog } = await p.stop(0);
    assert.equal(flushed, false);
    assert.equal(backlog.unacknowledged, 100);
    assert.throws(() => p.publish('agent.stopped', SAMPLES['agent.stopped']), (e: Error & { code?: string }) => e.code === 'KQ_ERR_EVENTS_CLOSED');

    const again = await EventPublisher.open({ cluster: 'c', node: 'n1', stateDir: tmp.dir, connect: unreachable });
    assert.equal(again.recovery.unacknowledged, 100, 'all of it is replayed at the next start');
    assert.equal(again.publish('agent.started', SAMPLES['agent.started']).seq, 101);
    assert.notEqual(again.bootId, p.bootId);
    await again.stop(0);
  } finally {
    await tmp.remove();
  }
});

test('publish refuses a programming error (bad data, bad names) but nothing else', async () => {
  const tmp = await tempDir();
  try {
    await assert.rejects(EventPublisher.open({ cluster: 'a.b', node: 'n1', stateDir: tmp.dir, connect: unreachable }), (e: Error & { code?: string }) => e.code === 'KQ_ERR_EVENT_NAME');
    const p = await EventPublisher.open({ cluster: 'c', node: 'n1', stateDir: tmp.dir, connect: unreachable });
    assert.throws(() => p.publish('vip.added', { ...SAMPLES['vip.added'], prefix: 200 }), (e: Error & { code?: string }) => e.code === 'KQ_ERR_EVENT_INVALID');
    assert.throws(() => p.publish('vip.added', SAMPLES['vip.added'], { instance: '' }), (e: Error & { code?: string }) => e.code === 'KQ_ERR_EVENT_INVALID');
    // A refused event takes no seq: the next one is still 1.
    assert.equal(p.publish('vip.added', SAMPLES['vip.added']).seq, 1);
    await p.stop(0);
  } finally {
    await tmp.remove();
  }
});
