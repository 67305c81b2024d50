/**
 * hactl status, pure: the arbiter's /v1/status document and HA_LEASES entries
 * as rows, the readable table and the NDJSON lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, formatExpiry, headerLine, renderTable, rowsFromKv, rowsFromStatus, statusJsonLines, statusTable } from '../src/status-view.js';

const AT = Date.parse('2026-11-25T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** As services/arbiter/src/http-api.ts statusDocument() writes it. */
const STATUS = {
  cluster: 'dc1',
  replica: 'arb-1',
  ready: true,
  at: iso(AT),
  writePath: { available: true },
  gateway: 'up',
  nodes: { web1: { connected: true, since: AT - 5000, gateway: 'up', reachableFromArbiter: 'unknown' }, web2: { connected: false, since: AT - 100, gateway: 'up', reachableFromArbiter: 'unknown' } },
  instances: {
    VI_2: {
      mode: 'strict',
      fencing: 'required',
      timing: { leaseTtlMs: 2000, renewIntervalMs: 1000, requestTimeoutMs: 250, safetyMarginMs: 500 },
      lease: { revision: 9, holder: null, epoch: 7, grantedAt: null, renewedAt: iso(AT - 10), expiresAt: null, expiresInMs: null, live: false, reason: 'forced failover by ops: revoking epoch 6 of web1, reserved for web2', outgoing: { node: 'web1', epoch: 6, grantedAt: AT - 9000, until: AT + 900 }, reservedFor: 'web2' },
      members: { web1: { priority: 100, state: 'MASTER', vip: true }, web2: { priority: 90, state: 'BACKUP', vip: false } },
    },
    VI_1: {
      mode: 'failsafe',
      fencing: 'off',
      timing: { leaseTtlMs: 2000, renewIntervalMs: 1000, requestTimeoutMs: 250, safetyMarginMs: 500 },
      lease: { revision: 41, holder: 'web1', epoch: 4, grantedAt: iso(AT - 60_000), renewedAt: iso(AT - 212), expiresAt: iso(AT + 1788), expiresInMs: 1788, live: true, reason: 'web1 holds VI_1 at epoch 4 (revision 41) for 1998 ms: the lease was free' },
      members: { web2: { priority: 90, state: 'BACKUP', vip: false }, web1: { priority: 200, state: 'MASTER', vip: true } },
    },
    VI_3: { mode: 'off', fencing: 'off', timing: {}, lease: null, members: {} },
  },
};

test('the arbiter status document becomes one row per instance, sorted, members by priority with their connection', () => {
  const { header, rows } = rowsFromStatus(STATUS, 'http://127.0.0.1:8440');
  assert.equal(headerLine(header), 'arbiter dc1/arb-1 at http://127.0.0.1:8440: ready, lease writes ok, gateway up');
  assert.deepEqual(rows.map((r) => r.instance), ['VI_1', 'VI_2', 'VI_3']);
  const [vi1, vi2, vi3] = rows;
  assert.equal(vi1!.holder, 'web1');
  assert.equal(vi1!.epoch, 4);
  assert.equal(vi1!.expiresInMs, 1788);
  assert.deepEqual(vi1!.members?.map((m) => m.node), ['web1', 'web2']);
  assert.equal(vi1!.members?.[1]?.connected, false);
  assert.equal(vi2!.holder, null);
  assert.equal(vi2!.reservedFor, 'web2');
  assert.deepEqual(vi2!.outgoing, { node: 'web1', epoch: 6 });
  assert.equal(vi3!.epoch, null);
  const down = rowsFromStatus({ ...STATUS, ready: false, writePath: { available: false, detail: 'the NATS connection is lost' } }, 'u').header;
  assert.equal(headerLine(down), 'arbiter dc1/arb-1 at u: NOT READY (warming up), lease writes DOWN (the NATS connection is lost), gateway up');
});

test('the status table: aligned columns, relative expiry, members with state and priority, the reason last', () => {
  const table = statusTable(rowsFromStatus(STATUS, 'u').rows);
  const lines = table.split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^CLUSTER  INSTANCE  MODE +FENCING +HOLDER  EPOCH  EXPIRES +MEMBERS +REASON$/);
  assert.match(lines[1]!, /^dc1 +VI_1 +failsafe +off +web1 +4 +in 1\.8s +web1 MASTER 200 vip, web2 BACKUP 90 \(disconnected\) +web1 holds VI_1 at epoch 4/);
  assert.match(lines[2]!, /^dc1 +VI_2 +strict +required +- +7 +- +web1 MASTER 100 vip, web2 BACKUP 90 \(disconnected\) +failover to web2 in progress \(web1, epoch 6, demoting\); forced failover by ops/);
  assert.match(lines[3]!, /^dc1 +VI_3 +off +off +- +- +- +- +-$/);
  // Every column starts at the same offset on every line.
  const col = (l: string, word: string) => l.indexOf(word);
  assert.equal(col(lines[1]!, 'web1'), col(lines[0]!, 'HOLDER'));
  assert.equal(col(lines[1]!, 'in 1.8s'), col(lines[0]!, 'EXPIRES'));
  assert.equal(col(lines[2]!, 'failover to'), col(lines[0]!, 'REASON'));
});

test('HA_LEASES entries become rows: cluster and instance from the key, expiry against the local clock, bad values flagged', () => {
  const entries = [
    { key: 'dc2.VI_9', revision: 3, value: { holder: 'b1', epoch: 2, grantedAt: AT - 5000, renewedAt: AT - 1000, expiresAt: AT - 3000, reason: 'b1 holds VI_9' } },
    { key: 'dc1.VI_1', revision: 41, value: { holder: 'web1', epoch: 4, grantedAt: AT - 60_000, renewedAt: AT - 212, expiresAt: AT + 1788, reason: 'web1 holds VI_1' } },
    { key: 'dc1.VI_2', revision: 5, value: { holder: null, epoch: 3, grantedAt: 0, renewedAt: AT, expiresAt: 0, reason: 'released by web2' } },
    { key: 'dc1.junk', revision: 6, value: undefined },
  ];
  const rows = rowsFromKv(entries, AT);
  assert.deepEqual(rows.map((r) => `${r.cluster}/${r.instance}`), ['dc1/junk', 'dc1/VI_1', 'dc1/VI_2', 'dc2/VI_9']);
  const vi1 = rows.find((r) => r.instance === 'VI_1')!;
  assert.equal(vi1.expiresInMs, 1788);
  assert.equal(vi1.live, true);
  assert.equal(vi1.expiresAt, iso(AT + 1788));
  const vi9 = rows.find((r) => r.instance === 'VI_9')!;
  assert.equal(vi9.live, false);
  assert.equal(formatExpiry(vi9), 'expired 3.0s ago');
  assert.equal(rows.find((r) => r.instance === 'junk')!.problem, 'the value is not JSON');
  assert.deepEqual(rowsFromKv(entries, AT, 'dc2').map((r) => r.instance), ['VI_9']);

  const lines = statusTable(rowsFromKv(entries, AT, 'dc1')).split('\n');
  assert.match(lines[0]!, /^CLUSTER  INSTANCE  HOLDER  EPOCH  EXPIRES  REVISION  REASON$/);
  assert.match(lines.find((l) => l.includes('VI_1'))!, /^dc1 +VI_1 +web1 +4 +in 1\.8s +41 +web1 holds VI_1$/);
  assert.match(lines.find((l) => l.includes('VI_2'))!, /^dc1 +VI_2 +- +3 +- +5 +released by web2$/);
  assert.match(lines.find((l) => l.includes('junk'))!, /UNREADABLE: the value is not JSON/);
});

test('NDJSON: one object per instance per line, with the extra fields', () => {
  const text = statusJsonLines(rowsFromStatus(STATUS, 'u').rows, { arbiter: 'u' });
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(first['instance'], 'VI_1');
  assert.equal(first['holder'], 'web1');
  assert.equal(first['arbiter'], 'u');
  assert.equal(first['source'], 'arbiter');
  assert.deepEqual((first['members'] as unknown[])[0], { node: 'web1', state: 'MASTER', priority: 200, vip: true, connected: true });
  assert.equal(statusJsonLines([]), '');
});

test('durations and tables', () => {
  assert.equal(formatDuration(850), '850ms');
  assert.equal(formatDuration(1788), '1.8s');
  assert.equal(formatDuration(-3000), '3.0s');
  assert.equal(formatDuration(245_000), '4m05s');
  assert.equal(formatDuration(7_380_000), '2h03m');
  assert.equal(formatDuration(273_600_000), '3d04h');
  assert.equal(formatExpiry({ holder: null, expiresInMs: null }), '-');
  assert.equal(renderTable(['A', 'LONGER', 'Z'], [['xxx', 'y', 'last column not padded'], ['', '', '']]), 'A    LONGER  Z\nxxx  y       last column not padded\n');
});
