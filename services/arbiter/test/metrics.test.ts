import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExposition, samplesOf, valueOf, type ParsedSample } from '../../../libs/common/src/metrics-parse.js';
import type { ArbiterView, EventAction, InstanceView } from '../../../libs/arbiter/src/types.js';
import { ArbiterMetrics, fenceOutcome, type ArbiterReadout } from '../src/metrics.js';
import { NO_EVENTS, type ArbiterEvents } from '../src/events.js';

const identity = { cluster: 'dc1', replica: 'arb-1', version: '9.9.9' };
const policy = { mode: 'strict', fencing: 'required', timing: { leaseTtlMs: 1000, renewIntervalMs: 250, requestTimeoutMs: 200, safetyMarginMs: 100 } } as unknown as InstanceView['policy'];

function view(now: number): ArbiterView {
  return {
    cluster: 'dc1',
    writePath: { available: true },
    gateway: 'up',
    nodes: {
      a1: { connected: true, since: 0, gateway: 'up', reachableFromArbiter: 'up' },
      b1: { connected: false, since: 0, gateway: 'unknown', reachableFromArbiter: 'down' },
    },
    instances: {
      VI_1: {
        policy,
        lease: { revision: 7, value: { holder: 'a1', epoch: 3, grantedAt: now - 5000, renewedAt: now - 100, expiresAt: now + 900, reason: 'granted' } },
        members: { a1: { priority: 100, state: 'MASTER', vip: true }, b1: { priority: 90, state: 'BACKUP', vip: false } },
      },
      VI_2: { policy, lease: { revision: 2, value: { holder: null, epoch: 5, grantedAt: 0, renewedAt: 0, expiresAt: 0, reason: 'released' } }, members: {} },
      VI_3: { policy, lease: null, members: {} },
    },
  };
}

const readout = (over: Partial<ArbiterReadout> = {}): ArbiterReadout => ({
  snapshot: () => view(Date.now()),
  stats: () => ({ requests: 120, malformed: 2, decisions: 300, writes: 40, conflicts: 1, fences: 1 }),
  isReady: true,
  ...over,
});

async function scrape(m: ArbiterMetrics): Promise<ParsedSample[]> {
  return parseExposition(await m.render());
}

test("leases, holders, members and the replica's state are read from its view at scrape time", async () => {
  const m = new ArbiterMetrics(identity, { processMetrics: false });
  m.readFrom(readout());
  const s = await scrape(m);
  assert.equal(valueOf(s, 'keepquorum_arbiter_ready'), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_write_path_available'), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_gateway', { status: 'up' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_gateway', { status: 'down' }), 0);
  assert.equal(valueOf(s, 'keepquorum_arbiter_nodes', { state: 'connected' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_nodes', { state: 'disconnected' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_lease_live', { instance: 'VI_1' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_lease_live', { instance: 'VI_2' }), 0);
  assert.equal(valueOf(s, 'keepquorum_arbiter_lease_live', { instance: 'VI_3' }), 0);
  assert.deepEqual(samplesOf(s, 'keepquorum_arbiter_lease_holder').map((x) => [x.labels['instance'], x.labels['holder'], x.value]), [['VI_1', 'a1', 1]]);
  assert.equal(valueOf(s, 'keepquorum_arbiter_lease_epoch', { instance: 'VI_2' }), 5);
  assert.equal(samplesOf(s, 'keepquorum_arbiter_lease_epoch', { instance: 'VI_3' }).length, 0);
  const left = valueOf(s, 'keepquorum_arbiter_lease_expires_in_seconds', { instance: 'VI_1' });
  assert.ok(left > 0 && left <= 0.9, `${left}`);
  assert.equal(valueOf(s, 'keepquorum_arbiter_members', { instance: 'VI_1', state: 'MASTER' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_members', { instance: 'VI_1', state: 'BACKUP' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_messages_total'), 120);
  assert.equal(valueOf(s, 'keepquorum_arbiter_malformed_requests_total'), 2);
  assert.equal(valueOf(s, 'keepquorum_arbiter_lease_writes_total'), 40);
  assert.equal(valueOf(s, 'keepquorum_arbiter_lease_write_conflicts_total'), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_fences_run_total'), 1);
  for (const x of s) assert.deepEqual([x.labels['cluster'], x.labels['replica']], ['dc1', 'arb-1'], x.name);
});

test('decision events, split-brains, fences and answers are counted on their way through the events port, which still gets them', async () => {
  const m = new EventsRecorder();
  const metrics = new ArbiterMetrics(identity, { processMetrics: false });
  const events = metrics.observeEvents(m.port);
  const decision = (name: EventAction['name'], node?: string): EventAction => ({ type: 'event', name, instance: 'VI_1', reason: 'r', ...(node ? { node } : {}) });
  events.decision(decision('lease.granted', 'a1'));
  events.decision(decision('claim.vetoed', 'b1'));
  events.decision(decision('claim.vetoed', 'b1'));
  events.decision(decision('splitbrain.detected'));
  events.decision(decision('fence.requested', 'a1'));
  events.publish('fence.requested', { reason: 'operator', subject: 'b1', facts: { by: 'ops', manual: true } });
  const result = { subject: 'a1', epoch: 3, attempt: 1, backend: 'webhook', idempotencyKey: 'k', reason: 'r' };
  events.publish('fence.result', { ...result, ok: true, confirmed: true, durationMs: 800 }, 'VI_1');
  events.publish('fence.result', { ...result, ok: false, confirmed: false, durationMs: 10_000 }, 'VI_1');
  events.replied!({ type: 'claim', instance: 'VI_1', node: 'b1' }, { type: 'veto', v: 1, instance: 'VI_1', reason: 'holder alive' });
  events.replied!({ type: 'claim', instance: 'VI_1', node: 'a1' }, { type: 'grant', v: 1, instance: 'VI_1', epoch: 3, validForMs: 1000, reason: 'free' });
  events.replied!({ type: 'renew', instance: 'VI_1', node: 'a1', epoch: 3 }, { type: 'renewed', v: 1, instance: 'VI_1', epoch: 3, validForMs: 1000 });
  events.replied!({ type: 'renew', instance: 'VI_1', node: 'a1', epoch: 3 }, { type: 'renewed', v: 1, instance: 'VI_1', epoch: 3, validForMs: 1000 });
  metrics.readFrom(readout());
  const s = await scrape(metrics);
  assert.equal(valueOf(s, 'keepquorum_arbiter_decision_events_total', { event: 'lease.granted', instance: 'VI_1' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_decision_events_total', { event: 'claim.vetoed', instance: 'VI_1' }), 2);
  assert.equal(valueOf(s, 'keepquorum_arbiter_splitbrain_detections_total', { instance: 'VI_1' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_fence_requests_total', { node: 'a1' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_fence_requests_total', { node: 'b1' }), 1, "an operator's fence counts too");
  assert.equal(valueOf(s, 'keepquorum_arbiter_fence_attempts_total', { node: 'a1', result: 'confirmed' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_fence_attempts_total', { node: 'a1', result: 'failed' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_fence_duration_seconds_count', { node: 'a1' }), 2);
  assert.equal(valueOf(s, 'keepquorum_arbiter_fence_duration_seconds_bucket', { node: 'a1', le: '1' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_replies_total', { instance: 'VI_1', request: 'claim', reply: 'veto' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_replies_total', { instance: 'VI_1', request: 'claim', reply: 'grant' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_replies_total', { instance: 'VI_1', request: 'renew', reply: 'renewed' }), 2);
  assert.deepEqual(m.seen, [
    'decision lease.granted',
    'decision claim.vetoed',
    'decision claim.vetoed',
    'decision splitbrain.detected',
    'decision fence.requested',
    'publish fence.requested',
    'publish fence.result',
    'publish fence.result',
    'replied claim veto',
    'replied claim grant',
    'replied renew renewed',
    'replied renew renewed',
  ]);
});

test('a fence result is confirmed only when ok and confirmed; ok alone is unconfirmed', () => {
  assert.equal(fenceOutcome({ ok: true, confirmed: true }), 'confirmed');
  assert.equal(fenceOutcome({ ok: true, confirmed: false }), 'unconfirmed');
  assert.equal(fenceOutcome({ ok: false, confirmed: false }), 'failed');
});

test('without an event log (NO_EVENTS) the events_* series are absent; the counters of decisions are still there', async () => {
  const metrics = new ArbiterMetrics(identity, { processMetrics: false });
  const events = metrics.observeEvents(NO_EVENTS);
  events.decision({ type: 'event', name: 'node.gone', instance: 'VI_1', node: 'b1', reason: 'r' });
  metrics.readFrom(readout({ isReady: false }));
  const s = await scrape(metrics);
  assert.equal(samplesOf(s, 'keepquorum_events_journal_backlog').length, 0);
  assert.equal(valueOf(s, 'keepquorum_arbiter_decision_events_total', { event: 'node.gone' }), 1);
  assert.equal(valueOf(s, 'keepquorum_arbiter_ready'), 0);
});

/** An events port that records what reaches it. */
class EventsRecorder {
  readonly seen: string[] = [];
  readonly port: ArbiterEvents = {
    decision: (a) => this.seen.push(`decision ${a.name}`),
    publish: (type) => this.seen.push(`publish ${type}`),
    replied: (r, a) => this.seen.push(`replied ${r.type} ${a.type}`),
    stop: async () => {},
  };
}
