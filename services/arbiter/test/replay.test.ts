/**
 * The stream fold of replay.ts and the snapshot encoding of snapshot.ts, as
 * pure functions: real envelopes (libs/events makeEnvelope) in, state and view
 * out. No server here; replay.lab.test.ts runs the same against nats-server.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeEnvelope, type EventInput, type EventType } from '../../../libs/events/src/mod.js';
import type { ArbiterView, InstanceView } from '../../../libs/arbiter/src/types.js';
import { defaultLeaseTiming } from '../../../libs/arbiter/src/timing.js';
import { Membership } from '../src/membership.js';
import {
  applyReplay,
  bootIdOf,
  emptyReplayState,
  foldRecords,
  mergeBySeq,
  parseReplayMessage,
  replayFilterSubjects,
  type ReplayRecord,
  type ReplayState,
} from '../src/replay.js';
import { decodeSnapshot, encodeSnapshot, snapshotDue, DEFAULT_SNAPSHOT_POLICY } from '../src/snapshot.js';

const C = 'dc1';
const T0 = Date.parse('2026-11-25T10:00:00.000Z');

/** A stream of messages as the server would hold them: subject, bytes, sequence. */
class Stream {
  readonly messages: { subject: string; data: string; seq: number }[] = [];
  private readonly seqs = new Map<string, number>();
  put<T extends EventType>(node: string, boot: string, type: T, data: EventInput<T>, instance?: string, atMs = T0 + this.messages.length * 10): void {
    const key = `${node}/${boot}`;
    const seq = (this.seqs.get(key) ?? 0) + 1;
    this.seqs.set(key, seq);
    const env = makeEnvelope(type, data, { cluster: C, node, bootId: boot, seq, at: new Date(atMs), ...(instance ? { instance } : {}) });
    this.messages.push({ subject: `ha.${C}.evt.${node}.${type}`, data: JSON.stringify(env), seq: this.messages.length + 1 });
  }
  /** What the arbiter's consumers deliver: the folded types only, parsed. */
  records(from = 1, to = Infinity): ReplayRecord[] {
    const out: ReplayRecord[] = [];
    for (const m of this.messages) {
      if (m.seq < from || m.seq > to) continue;
      const r = parseReplayMessage(C, m.subject, m.data, m.seq);
      if (typeof r !== 'string') out.push(r);
    }
    return out;
  }
  get last(): number {
    return this.messages.length;
  }
}

const transition = (to: 'BACKUP' | 'MASTER' | 'CLAIMING' | 'FAULT', prio = 100): EventInput<'vrrp.transition'> => ({
  from: 'INIT',
  to,
  reason: 'test',
  priority: prio,
  effectivePriority: prio,
  masterSeen: null,
});
const vip = { address: '198.18.0.1', prefix: 32, interface: 'eth0', changed: true };

function fold(s: Stream, state = emptyReplayState(C), from = 1): ReplayState {
  return foldRecords(state, s.records(from), s.last);
}

function view(instances: string[]): ArbiterView {
  const policy = { mode: 'strict' as const, fencing: 'required' as const, timing: defaultLeaseTiming(1000) };
  const inst: Record<string, InstanceView> = {};
  for (const i of instances) inst[i] = { policy, lease: null, members: {} };
  return { cluster: C, writePath: { available: true }, gateway: 'unknown', nodes: {}, instances: inst };
}
const anyone = (instances: string[]) => new Map(instances.map((i) => [i, undefined] as const));

describe('replay: parsing a stored message', () => {
  test('real envelopes become records; other types, other clusters, bad JSON and a subject that does not match are skipped with a reason', () => {
    const s = new Stream();
    s.put('web1', 'b1', 'vrrp.transition', transition('MASTER', 150), 'VI_1');
    s.put('web1', 'b1', 'check.result', { check: 'gw', ok: true, latencyMs: 1, output: '' }, 'VI_1');
    const [t, c] = s.messages;
    const r = parseReplayMessage(C, t!.subject, t!.data, 1);
    assert.deepEqual(r, { kind: 'transition', seq: 1, at: T0, node: 'web1', bootId: 'b1', instance: 'VI_1', state: 'MASTER', priority: 150 });
    assert.equal(parseReplayMessage(C, c!.subject, c!.data, 2), 'type check.result is not folded');
    assert.equal(parseReplayMessage('other', t!.subject, t!.data, 1), 'another cluster');
    assert.equal(parseReplayMessage(C, 'ha.dc1.evt.web2.vrrp.transition', t!.data, 1), 'subject does not match the envelope');
    assert.equal(parseReplayMessage(C, t!.subject, '{nope', 1), 'not JSON');
    assert.equal(parseReplayMessage(C, t!.subject, new Uint8Array([0xff, 0xfe]), 1), 'not JSON');
  });

  test('bootIdOf reads the run out of an event id, null for another shape', () => {
    assert.equal(bootIdOf('web-1-ab12-7', 'web-1', 7), 'ab12');
    assert.equal(bootIdOf('web-1-7', 'web-1', 7), null);
    assert.equal(bootIdOf('other-ab-7', 'web-1', 7), null);
  });

  test('one filter subject per consumer, the check results left to the server to skip', () => {
    assert.deepEqual(replayFilterSubjects(C), ['ha.dc1.evt.*.vrrp.transition', 'ha.dc1.evt.*.vip.*', 'ha.dc1.evt.*.fence.*', 'ha.dc1.evt.*.node.gone']);
  });
});

describe('replay: the fold', () => {
  test("members' last state, priority and VIP per instance; a new run of an agent replaces what the old one said", () => {
    const s = new Stream();
    s.put('web1', 'b1', 'vrrp.transition', transition('MASTER', 150), 'VI_1');
    s.put('web1', 'b1', 'vip.added', vip, 'VI_1');
    s.put('web1', 'b1', 'vrrp.transition', transition('BACKUP', 100), 'VI_2');
    s.put('web2', 'c1', 'vrrp.transition', transition('BACKUP', 90), 'VI_1');
    s.put('web2', 'c1', 'vip.added', vip, 'VI_9'); // no state reported for VI_9: nothing to build on
    let st = fold(s);
    assert.deepEqual(st.nodes['web1']?.members, { VI_1: { state: 'MASTER', priority: 150, vip: true }, VI_2: { state: 'BACKUP', priority: 100, vip: false } });
    assert.deepEqual(st.nodes['web2']?.members, { VI_1: { state: 'BACKUP', priority: 90, vip: false } });
    assert.equal(st.seq, 5);
    assert.equal(st.folded, 5);

    s.put('web1', 'b2', 'vrrp.transition', transition('BACKUP', 150), 'VI_1'); // web1 restarted
    st = fold(s, st, 6);
    assert.deepEqual(st.nodes['web1']?.members, { VI_1: { state: 'BACKUP', priority: 150, vip: false } });
    assert.equal(st.nodes['web1']?.bootId, 'b2');
  });

  test('node.gone drops what the node said until it speaks again', () => {
    const s = new Stream();
    s.put('web1', 'b1', 'vrrp.transition', transition('MASTER'), 'VI_1');
    s.put('arb1', 'r1', 'node.gone', { reason: 'heartbeats stopped', subject: 'web1', epoch: 3 }, 'VI_1');
    let st = fold(s);
    assert.equal(st.nodes['web1']?.gone, true);
    assert.deepEqual(st.nodes['web1']?.members, {});
    s.put('web1', 'b1', 'vrrp.transition', transition('BACKUP'), 'VI_1');
    st = fold(s, st, 3);
    assert.equal(st.nodes['web1']?.gone, false);
    assert.deepEqual(st.nodes['web1']?.members, { VI_1: { state: 'BACKUP', priority: 100, vip: false } });
  });

  test('fences: requested is in progress, a result confirms or fails it, a result published before its request (no backend) stays', () => {
    const s = new Stream();
    s.put('arb1', 'r1', 'fence.requested', { reason: 'silent', subject: 'web1', epoch: 4, facts: { attempt: 1 } }, 'VI_1', T0 + 100);
    let st = fold(s);
    assert.deepEqual(st.nodes['web1']?.fence, { status: 'inProgress', instance: 'VI_1', epoch: 4, attempt: 1, requestedAt: T0 + 100 });
    s.put(
      'arb1',
      'r1',
      'fence.result',
      { subject: 'web1', epoch: 4, attempt: 1, backend: 'webhook', ok: true, confirmed: true, durationMs: 50, idempotencyKey: 'dc1.VI_1:e4:web1:off', reason: 'fenced' },
      'VI_1',
      T0 + 150,
    );
    st = fold(s, st, 2);
    assert.deepEqual(st.nodes['web1']?.fence, { status: 'confirmed', instance: 'VI_1', epoch: 4, attempt: 1, requestedAt: T0 + 100, finishedAt: T0 + 150 });

    const s2 = new Stream();
    s2.put('arb1', 'r1', 'fence.result', { subject: 'web3', epoch: 2, attempt: 1, backend: 'webhook', ok: false, confirmed: false, durationMs: 0, idempotencyKey: 'k', reason: 'no fencing backend configured for node web3' }, 'VI_1', T0 + 5);
    s2.put('arb1', 'r1', 'fence.requested', { reason: 'silent', subject: 'web3', epoch: 2, facts: { attempt: 1 } }, 'VI_1', T0 + 6);
    const st2 = fold(s2);
    assert.equal(st2.nodes['web3']?.fence?.status, 'failed');
    assert.equal(st2.nodes['web3']?.fence?.detail, 'no fencing backend configured for node web3');
  });

  test('a new run of a fenced node voids its fence; records already covered are not folded twice', () => {
    const s = new Stream();
    s.put('web1', 'b1', 'vrrp.transition', transition('MASTER'), 'VI_1');
    s.put('arb1', 'r1', 'fence.requested', { reason: 'silent', subject: 'web1', epoch: 4, facts: { attempt: 1 } }, 'VI_1');
    s.put('web1', 'b2', 'vrrp.transition', transition('BACKUP'), 'VI_1');
    const st = fold(s);
    assert.equal(st.nodes['web1']?.fence, undefined);
    const again = foldRecords(structuredClone(st), s.records(), s.last);
    assert.deepEqual(again, st);
  });

  test('folding in pieces (a snapshot, then the tail) gives the state of one fold over everything', () => {
    const s = new Stream();
    const nodes = ['a', 'b', 'c', 'd'];
    for (let i = 0; i < 400; i++) {
      const node = nodes[i % 4]!;
      const boot = i > 200 && node === 'c' ? 'c2' : `${node}1`;
      const k = i % 7;
      if (k === 0) s.put(node, boot, 'vrrp.transition', transition(i % 3 === 0 ? 'MASTER' : 'BACKUP', 100 + (i % 50)), `VI_${i % 5}`);
      else if (k === 1) s.put(node, boot, 'vip.added', vip, `VI_${(i - 1) % 5}`);
      else if (k === 2) s.put(node, boot, 'vip.removed', vip, `VI_${(i - 2) % 5}`);
      else if (k === 3) s.put('arb', 'r', 'fence.requested', { reason: 'x', subject: node, epoch: i, facts: { attempt: 1 } }, `VI_${i % 5}`);
      else if (k === 4) s.put('arb', 'r', 'fence.result', { subject: node, epoch: i - 1, attempt: 1, backend: 'webhook', ok: true, confirmed: i % 2 === 0, durationMs: 3, idempotencyKey: 'k', reason: 'r' }, `VI_${i % 5}`);
      else if (k === 5) s.put('arb', 'r', 'node.gone', { reason: 'x', subject: node }, `VI_${i % 5}`);
      else s.put(node, boot, 'check.result', { check: 'gw', ok: true, latencyMs: 1, output: '' });
    }
    const whole = fold(s);
    for (const cut of [1, 57, 200, 399]) {
      // The snapshot goes through its encoding, as it does through the KV.
      const first = foldRecords(emptyReplayState(C), s.records(1, cut), cut);
      const snap = decodeSnapshot(encodeSnapshot(first, { writtenAt: new Date(T0), writtenBy: 'arb' }), C);
      assert.ok(typeof snap !== 'string', String(snap));
      const rest = foldRecords(snap, s.records(cut + 1), s.last);
      assert.deepEqual(rest, whole, `cut at ${cut}`);
    }
  });

  test('mergeBySeq puts per-consumer lists back in stream order', () => {
    const s = new Stream();
    s.put('a', 'b', 'vrrp.transition', transition('MASTER'), 'VI_1');
    s.put('arb', 'r', 'fence.requested', { reason: 'x', subject: 'a', epoch: 1, facts: { attempt: 1 } }, 'VI_1');
    s.put('a', 'b', 'vip.added', vip, 'VI_1');
    s.put('a', 'b', 'vrrp.transition', transition('BACKUP'), 'VI_1');
    const all = s.records();
    const merged = mergeBySeq([all.filter((r) => r.kind === 'transition'), all.filter((r) => r.kind === 'vip'), all.filter((r) => r.kind === 'fenceRequested'), []]);
    assert.deepEqual(merged.map((r) => r.seq), [1, 2, 3, 4]);
  });
});

describe('replay: into the view', () => {
  test('members are known, nodes not connected, a fence in progress stays in progress and is to be resumed; gone nodes and instances not arbitrated are left out', () => {
    const s = new Stream();
    s.put('web1', 'b1', 'vrrp.transition', transition('MASTER', 150), 'VI_1');
    s.put('web1', 'b1', 'vip.added', vip, 'VI_1');
    s.put('web2', 'c1', 'vrrp.transition', transition('BACKUP', 100), 'VI_1');
    s.put('web2', 'c1', 'vrrp.transition', transition('BACKUP', 100), 'VI_OTHER');
    s.put('web3', 'd1', 'vrrp.transition', transition('BACKUP', 100), 'VI_1');
    s.put('arb1', 'r1', 'node.gone', { reason: 'heartbeats stopped', subject: 'web3' }, 'VI_1');
    s.put('arb1', 'r1', 'fence.requested', { reason: 'silent', subject: 'web1', epoch: 7, facts: { attempt: 2 } }, 'VI_1', T0 + 500);
    s.put('arb1', 'r1', 'fence.requested', { reason: 'manual fence of web4 by ops', subject: 'web4', facts: { by: 'ops', manual: true } }, undefined, T0 + 600);
    const st = fold(s);
    const r = applyReplay(view(['VI_1']), st, anyone(['VI_1']));
    assert.deepEqual(r.view.instances['VI_1']?.members, {
      web1: { state: 'MASTER', priority: 150, vip: true },
      web2: { state: 'BACKUP', priority: 100, vip: false },
    });
    assert.equal(r.view.nodes['web1']?.connected, false);
    assert.equal(r.view.nodes['web1']?.gateway, 'unknown');
    assert.deepEqual(r.view.nodes['web1']?.fence, { status: 'inProgress', attempt: 2, requestedAt: T0 + 500 });
    assert.equal(r.view.nodes['web3'], undefined);
    assert.equal(r.view.nodes['web4']?.fence?.status, 'failed', 'a manual fence in progress cannot be taken up: its outcome is unknown');
    assert.deepEqual(r.resume, [
      {
        type: 'fence',
        node: 'web1',
        instance: 'VI_1',
        epoch: 7,
        attempt: 2,
        idempotencyKey: 'dc1.VI_1:e7:web1:off',
        reason: 'taking up the fence of web1 (epoch 7, attempt 2) that was in progress when this replica last stopped (event stream)',
      },
    ]);
    assert.deepEqual(r.seeds, [
      { node: 'web1', bootId: 'b1', instances: ['VI_1'] },
      { node: 'web2', bootId: 'c1', instances: ['VI_1'] },
    ]);
    const only = applyReplay(view(['VI_1']), st, new Map([['VI_1', new Set(['web2'])]]));
    assert.deepEqual(Object.keys(only.view.instances['VI_1']?.members ?? {}), ['web2']);
  });

  test("a seeded member's first heartbeat of the same run keeps it and drops what it no longer reports; silence past the warm-up makes it gone", () => {
    const s = new Stream();
    s.put('web1', 'b1', 'vrrp.transition', transition('MASTER', 150), 'VI_1');
    s.put('web1', 'b1', 'vrrp.transition', transition('BACKUP', 150), 'VI_2');
    s.put('web2', 'c1', 'vrrp.transition', transition('BACKUP', 100), 'VI_1');
    const instances = ['VI_1', 'VI_2'];
    const r = applyReplay(view(instances), fold(s), anyone(instances));
    const m = new Membership(3, anyone(instances));
    for (const seed of r.seeds) m.seed(seed.node, seed.bootId, seed.instances, 1000, 300);
    const hb = m.heartbeat(
      r.view,
      { v: 1, node: 'web1', bootId: 'b1', intervalMs: 100, gateway: 'up', instances: [{ instance: 'VI_1', state: 'MASTER', priority: 150, vip: true, mode: 'strict', fencing: 'off' }] },
      1100,
      T0 + 1100,
    );
    assert.equal(hb.connected, true);
    assert.deepEqual(hb.view.instances['VI_1']?.members['web1'], { state: 'MASTER', priority: 150, vip: true });
    assert.equal(hb.view.instances['VI_2']?.members['web1'], undefined, 'VI_2 is no longer reported');
    assert.equal(hb.view.nodes['web1']?.connected, true);
    const sw = m.sweep(hb.view, 1000 + 301, T0 + 1301);
    assert.deepEqual(sw.gone, ['web2']);
    assert.equal(sw.view.instances['VI_1']?.members['web2'], undefined);
    assert.ok(sw.view.instances['VI_1']?.members['web1']);
  });
});

describe('snapshot: encoding and policy', () => {
  test('a snapshot decodes to the state it was made of; a large one is gzipped; garbage and another cluster are refused with a reason', () => {
    const st = emptyReplayState(C);
    st.stream = { name: 'HA_EVENTS', created: '2026-11-25T00:00:00Z' };
    st.seq = 42;
    st.nodes['web1'] = { bootId: 'b1', lastAt: T0, gone: false, members: { VI_1: { state: 'MASTER', priority: 1, vip: true } }, fence: { status: 'inProgress', instance: 'VI_1', epoch: 3, attempt: 1, requestedAt: T0 } };
    const bytes = encodeSnapshot(st, { writtenAt: new Date(T0), writtenBy: 'arb1' });
    assert.equal(new TextDecoder().decode(bytes).startsWith('{'), true, 'small: plain JSON, readable with nats kv get');
    assert.deepEqual(decodeSnapshot(bytes, C), st);
    for (let i = 0; i < 5000; i++) st.nodes[`n${i}`] = { bootId: 'x', lastAt: T0, gone: false, members: { VI_1: { state: 'BACKUP', priority: 100, vip: false } } };
    const big = encodeSnapshot(st, { writtenAt: new Date(T0), writtenBy: 'arb1' });
    assert.equal(big[0], 0x1f);
    assert.deepEqual(decodeSnapshot(big, C), st);
    assert.match(String(decodeSnapshot(bytes, 'dc2')), /cluster dc1, not dc2/);
    assert.equal(decodeSnapshot(new TextEncoder().encode('{"v":1}'), C).toString().startsWith('not a snapshot'), true);
  });

  test('due after N stream messages or M ms with any, never with none', () => {
    const p = { ...DEFAULT_SNAPSHOT_POLICY, everyEvents: 100, everyMs: 1000 };
    assert.equal(snapshotDue(p, 0, 1e9), false);
    assert.equal(snapshotDue(p, 99, 999), false);
    assert.equal(snapshotDue(p, 100, 0), true);
    assert.equal(snapshotDue(p, 1, 1000), true);
  });
});
