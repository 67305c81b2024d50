import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckPolicy, DeliverPolicy } from 'nats';
import { readerConsumerConfig } from '../src/reader.js';

test("a reader's consumer is in memory, one replica, no acks, on the tightest subject", () => {
  const c = readerConsumerConfig({ cluster: 'dc1', node: 'a1', instance: 'VI_1' }, 'history', null);
  assert.equal(c.ack_policy, AckPolicy.None);
  assert.equal(c.mem_storage, true);
  assert.equal(c.num_replicas, 1);
  assert.equal(c.max_deliver, 1);
  assert.equal(c.filter_subject, 'ha.dc1.evt.a1.>');
  assert.equal(c.name, undefined, 'each attempt names its own');
});

test('a history starts at the stream start, a tail at its end, either at since less the slack', () => {
  assert.equal(readerConsumerConfig({}, 'history', null).deliver_policy, DeliverPolicy.All);
  assert.equal(readerConsumerConfig({}, 'tail', null).deliver_policy, DeliverPolicy.New);
  for (const mode of ['history', 'tail'] as const) {
    const c = readerConsumerConfig({ since: '2026-11-25T03:12:00Z' }, mode, null, 60_000);
    assert.equal(c.deliver_policy, DeliverPolicy.StartTime);
    assert.equal(c.opt_start_time, '2026-11-25T03:11:00.000Z');
    assert.equal(c.opt_start_seq, undefined);
  }
});

test('a consumer that replaces a lost one goes on after the last message seen, whatever the filter', () => {
  for (const mode of ['history', 'tail'] as const) {
    for (const filter of [{}, { since: '2026-11-25T03:12:00Z' }]) {
      const c = readerConsumerConfig(filter, mode, 42);
      assert.equal(c.deliver_policy, DeliverPolicy.StartSequence);
      assert.equal(c.opt_start_seq, 42);
      assert.equal(c.opt_start_time, undefined);
    }
  }
});
