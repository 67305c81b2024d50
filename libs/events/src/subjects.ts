/**
 * Subject names of the event log: `ha.<cluster>.evt.<node>.<type>`, all captured
 * by the stream HA_EVENTS over `ha.*.evt.>` (ARCHITECTURE.md, Events).
 *
 * Cluster and node names become single subject tokens, so they may not contain a
 * dot, whitespace or a wildcard; an event type is one or more dot-separated
 * lowercase tokens (`vrrp.transition`).
 */
import { KqError } from '../../common/src/errors.js';

export const STREAM_NAME = 'HA_EVENTS';
export const SUBJECT_PREFIX = 'ha';
/** Every event subject of every cluster: the stream's only subject. */
export const STREAM_SUBJECTS = ['ha.*.evt.>'] as const;

/** A cluster or node name that can stand as one subject token and in a file name. */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
/** An event type: dot-separated lowercase tokens, at least two (`agent.started`). */
const TYPE = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$/;

/** Why `name` cannot be a subject token, or null when it can. */
export function tokenProblem(name: string): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'is empty';
  if (name.length > 64) return `is ${name.length} characters long (at most 64)`;
  if (name.includes('.')) return 'contains a dot, which would split the subject';
  if (/\s/.test(name)) return 'contains whitespace';
  if (name.includes('*') || name.includes('>')) return 'contains a NATS wildcard (* or >)';
  if (!TOKEN.test(name)) return 'may only contain letters, digits, "-" and "_"';
  return null;
}

/** Throws KQ_ERR_EVENT_NAME when `name` cannot be the cluster or node token of a subject. */
export function assertToken(what: 'cluster' | 'node', name: string): void {
  const problem = tokenProblem(name);
  if (problem !== null) {
    throw new KqError(
      'KQ_ERR_EVENT_NAME',
      `${what} name ${JSON.stringify(name)} ${problem}; it becomes a token of the subject ha.<cluster>.evt.<node>.<type>: use letters, digits, "-" and "_" only`,
    );
  }
}

export function isEventTypeName(type: string): boolean {
  return typeof type === 'string' && type.length <= 64 && TYPE.test(type);
}

/** The subject an event of `type` from `node` in `cluster` is published on. */
export function eventSubject(cluster: string, node: string, type: string): string {
  assertToken('cluster', cluster);
  assertToken('node', node);
  if (!isEventTypeName(type)) {
    throw new KqError('KQ_ERR_EVENT_NAME', `event type ${JSON.stringify(type)} is not dot-separated lowercase tokens such as "vrrp.transition"`);
  }
  return `${SUBJECT_PREFIX}.${cluster}.evt.${node}.${type}`;
}

export interface SubjectParts {
  cluster: string;
  node: string;
  type: string;
}

/** Splits an event subject; null when it is not one. */
export function parseSubject(subject: string): SubjectParts | null {
  const parts = subject.split('.');
  if (parts.length < 6 || parts[0] !== SUBJECT_PREFIX || parts[2] !== 'evt') return null;
  const cluster = parts[1]!;
  const node = parts[3]!;
  const type = parts.slice(4).join('.');
  if (tokenProblem(cluster) !== null || tokenProblem(node) !== null || !isEventTypeName(type)) return null;
  return { cluster, node, type };
}

export interface SubjectFilter {
  cluster?: string | undefined;
  node?: string | undefined;
  /** An exact type (`vrrp.transition`) or a family (`vrrp.>` or `vrrp.*`). */
  type?: string | undefined;
}

/**
 * The tightest single filter subject for these filters (nats-server 2.9 takes one
 * filter per consumer): unset parts become wildcards.
 */
export function filterSubject(filter: SubjectFilter = {}): string {
  if (filter.cluster !== undefined) assertToken('cluster', filter.cluster);
  if (filter.node !== undefined) assertToken('node', filter.node);
  let type = '>';
  if (filter.type !== undefined) {
    const t = filter.type;
    const family = /^([a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*)\.([*>])$/.exec(t);
    if (!isEventTypeName(t) && family === null && t !== '>') {
      throw new KqError('KQ_ERR_EVENT_NAME', `type filter ${JSON.stringify(t)} is neither an event type ("vrrp.transition") nor a family ("vrrp.>")`);
    }
    type = t;
  }
  return `${SUBJECT_PREFIX}.${filter.cluster ?? '*'}.evt.${filter.node ?? '*'}.${type}`;
}
