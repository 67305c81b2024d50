/** One valid data sample per event type: a new type without a sample fails the schema tests. */
import type { EventInput, EventType } from '../src/mod.js';

export const SAMPLES: { [T in EventType]: EventInput<T> } = {
  'agent.started': { version: '0.1.0', pid: 4242, hostname: 'lb1', bootId: '0a1b2c3d', instances: ['VI_1', 'VI_2'], replaying: 0 },
  'agent.stopped': { reason: 'SIGTERM', signal: 'SIGTERM', uptimeMs: 86_400_000, released: ['VI_1'] },
  'config.loaded': { hash: 'a'.repeat(64), source: '/etc/keepalived/keepalived.conf', format: 'keepalived', instances: ['VI_1'], warnings: 2 },
  'vrrp.transition': {
    from: 'BACKUP',
    to: 'MASTER',
    reason: 'master down interval expired (3.61 s without an advert)',
    vrid: 51,
    priority: 100,
    effectivePriority: 90,
    masterSeen: { address: '192.0.2.1', priority: 120 },
    lateMs: 0.4,
  },
  'check.result': { check: 'chk_nginx', kind: 'script', ok: false, latencyMs: 12.5, output: 'connection refused', status: 'failing', changed: true, reason: 'fall 2 reached' },
  'vip.added': { address: '192.0.2.100', prefix: 24, interface: 'eth0', changed: true },
  'vip.removed': { address: '2001:db8::100', prefix: 64, interface: 'eth0', changed: false, reason: 'already absent' },
  'garp.sent': { interface: 'eth0', family: 'ipv4', addresses: ['192.0.2.100'], count: 5 },
  'packet.rejected': { periodMs: 60_000, interface: 'eth0', total: 7, counts: { ttl: 5, auth: 2 }, sources: ['192.0.2.7'] },
  'journal.recovered': { tornTails: 1, tornBytes: 37, corruptEntries: 0, replaying: 12, segments: 2 },
  'journal.full': { maxBytes: 1024, bytes: 1000, unacknowledged: 40 },
  'journal.degraded': {
    reason: 'write-error',
    error: 'ENOSPC: no space left on device, write',
    code: 'ENOSPC',
    since: '2024-05-01T03:12:00.000Z',
    durationMs: 30_000,
    heldMax: 120,
    dropped: 3,
    droppedSeqs: { first: 40, last: 42 },
  },
};
