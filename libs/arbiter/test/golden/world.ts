/**
 * The cluster the golden cases start from, and a builder to change it.
 *
 * lab/web: three members. node-a (priority 200) holds the lease at epoch 4,
 * KV revision 10, renewed 500 ms before T0, running out 1500 ms after T0;
 * node-b (100) and node-c (50) are BACKUP. Everyone is connected, every gateway
 * answers, the write path is up, the mode is strict and fencing is off.
 * Timing is the default for a 1 s advert interval: TTL 2000, renew 1000,
 * request timeout 250, safety margin 500.
 */
import type {
  ArbiterMode,
  ArbiterView,
  FencingPolicy,
  LeaseValue,
  MemberView,
  NodeView,
  PendingWrite,
  Reachability,
} from '../../src/types.js';
import { defaultLeaseTiming } from '../../src/timing.js';

export const T0 = 1_700_000_000_000;
export const TIMING = defaultLeaseTiming(1000);
export const CLUSTER = 'lab';
export const INSTANCE = 'web';
export const KEY = 'lab.web';

export const HELD: LeaseValue = {
  holder: 'node-a',
  epoch: 4,
  grantedAt: T0 - 60_000,
  renewedAt: T0 - 500,
  expiresAt: T0 + 1500,
  reason: 'the lease is free: granted to node-a',
};

export const FREE_AT_4: LeaseValue = { holder: null, epoch: 4, grantedAt: 0, renewedAt: T0 - 5000, expiresAt: 0, reason: 'node-a released epoch 4' };

/** After `hactl failover web --to node-c`: node-a's epoch 4 revoked, the lease at epoch 5 reserved for node-c. */
export const REVOKED: LeaseValue = {
  holder: null,
  epoch: 5,
  grantedAt: 0,
  renewedAt: T0 - 100,
  expiresAt: 0,
  reason: 'forced failover by ops: revoking epoch 4 of node-a, reserved for node-c',
  outgoing: { node: 'node-a', epoch: 4, grantedAt: T0 - 60_000, until: T0 + 1500 },
  reservedFor: 'node-c',
};

export interface Spec {
  mode?: ArbiterMode;
  fencing?: FencingPolicy;
  /** null: the key does not exist. */
  lease?: Partial<LeaseValue> | null;
  /** Replaces the lease value whole (for values without holder fields). */
  leaseValue?: LeaseValue;
  revision?: number;
  nodes?: Record<string, Partial<NodeView>>;
  members?: Record<string, Partial<MemberView> | null>;
  gateway?: Reachability;
  writePath?: { available: boolean; detail?: string };
  pendingWrite?: PendingWrite;
}

const up = (): NodeView => ({ connected: true, since: T0 - 3_600_000, gateway: 'up', reachableFromArbiter: 'up' });

export function world(spec: Spec = {}): ArbiterView {
  const nodes: Record<string, NodeView> = { 'node-a': up(), 'node-b': up(), 'node-c': up() };
  for (const [n, change] of Object.entries(spec.nodes ?? {})) nodes[n] = { ...(nodes[n] ?? up()), ...change };
  const members: Record<string, MemberView> = {
    'node-a': { priority: 200, state: 'MASTER', vip: true },
    'node-b': { priority: 100, state: 'BACKUP', vip: false },
    'node-c': { priority: 50, state: 'BACKUP', vip: false },
  };
  for (const [n, change] of Object.entries(spec.members ?? {})) {
    if (change === null) delete members[n];
    else members[n] = { ...(members[n] ?? { priority: 100, state: 'BACKUP', vip: false }), ...change };
  }
  const value = spec.leaseValue ?? (spec.lease === null ? null : { ...HELD, ...(spec.lease ?? {}) });
  return {
    cluster: CLUSTER,
    writePath: spec.writePath ?? { available: true },
    gateway: spec.gateway ?? 'up',
    nodes,
    instances: {
      [INSTANCE]: {
        policy: { mode: spec.mode ?? 'strict', fencing: spec.fencing ?? 'off', timing: TIMING },
        lease: value === null ? null : { revision: spec.revision ?? 10, value },
        members,
        ...(spec.pendingWrite ? { pendingWrite: spec.pendingWrite } : {}),
      },
    },
  };
}

/**
 * Does `actual` have every field of `expected`, recursively? RegExps match
 * strings; arrays must have the same length. Returns the first difference.
 */
export function mismatch(actual: unknown, expected: unknown, path = '$'): string | null {
  if (expected instanceof RegExp) {
    return typeof actual === 'string' && expected.test(actual) ? null : `${path}: ${JSON.stringify(actual)} does not match ${expected}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected an array, got ${JSON.stringify(actual)}`;
    if (actual.length !== expected.length) return `${path}: expected ${expected.length} items, got ${actual.length}: ${JSON.stringify(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const m = mismatch(actual[i], expected[i], `${path}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') return `${path}: expected an object, got ${JSON.stringify(actual)}`;
    for (const [k, v] of Object.entries(expected)) {
      const m = mismatch((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
      if (m) return m;
    }
    return null;
  }
  return Object.is(actual, expected) ? null : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}
