/**
 * `hactl status`, pure: the arbiter's /v1/status document or the entries of
 * the KV bucket HA_LEASES in, rows out; rows as a table for people or as
 * NDJSON for scripts. No I/O here, so the format is tested without a server.
 *
 *   CLUSTER  INSTANCE  MODE      FENCING  HOLDER  EPOCH  EXPIRES  MEMBERS                               REASON
 *   lab      VI_1      failsafe  off      web1    4      in 1.8s  web1 MASTER 200 vip, web2 BACKUP 100  web1 holds VI_1 at epoch 4 ...
 */

export interface MemberRow {
  readonly node: string;
  readonly state: string;
  readonly priority: number | null;
  readonly vip: boolean;
  /** As the arbiter sees the node's NATS connection; undefined when it does not say. */
  readonly connected?: boolean;
}

export interface StatusRow {
  readonly cluster: string;
  readonly instance: string;
  /** Where the row comes from: an arbiter's view or the KV itself. */
  readonly source: 'arbiter' | 'kv';
  readonly mode?: string;
  readonly fencing?: string;
  readonly holder: string | null;
  readonly epoch: number | null;
  readonly revision: number | null;
  readonly grantedAt: string | null;
  readonly expiresAt: string | null;
  /** Milliseconds the lease runs on (negative: ran out that long ago); null when nobody holds it. */
  readonly expiresInMs: number | null;
  readonly live: boolean;
  readonly reason: string | null;
  readonly reservedFor?: string;
  readonly outgoing?: { readonly node: string; readonly epoch: number };
  readonly members?: readonly MemberRow[];
  /** The KV entry could not be read as a lease. */
  readonly problem?: string;
}

export interface ArbiterHeader {
  readonly cluster: string;
  readonly replica: string;
  readonly ready: boolean;
  readonly writePath: string;
  readonly gateway: string;
  readonly url: string;
}

type Obj = Record<string, unknown>;
const obj = (x: unknown): Obj => (typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Obj) : {});
const str = (x: unknown): string | null => (typeof x === 'string' ? x : null);
const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const iso = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null);

function byName<T extends { cluster: string; instance: string }>(a: T, b: T): number {
  return a.cluster.localeCompare(b.cluster) || a.instance.localeCompare(b.instance);
}

/** The arbiter's /v1/status document (services/arbiter/src/http-api.ts statusDocument) as rows. */
export function rowsFromStatus(doc: unknown, url: string): { header: ArbiterHeader; rows: StatusRow[] } {
  const d = obj(doc);
  const cluster = str(d['cluster']) ?? '?';
  const nodes = obj(d['nodes']);
  const wp = obj(d['writePath']);
  const header: ArbiterHeader = {
    cluster,
    replica: str(d['replica']) ?? '?',
    ready: d['ready'] === true,
    writePath: wp['available'] === true ? 'ok' : `DOWN${str(wp['detail']) ? ` (${str(wp['detail'])})` : ''}`,
    gateway: str(d['gateway']) ?? '?',
    url,
  };
  const rows: StatusRow[] = [];
  for (const [instance, raw] of Object.entries(obj(d['instances']))) {
    const i = obj(raw);
    const lease = i['lease'] === null || i['lease'] === undefined ? null : obj(i['lease']);
    const members: MemberRow[] = Object.entries(obj(i['members'])).map(([node, m]) => {
      const mm = obj(m);
      const n = nodes[node] === undefined ? undefined : obj(nodes[node]);
      return {
        node,
        state: str(mm['state']) ?? '?',
        priority: num(mm['priority']),
        vip: mm['vip'] === true,
        ...(n && typeof n['connected'] === 'boolean' ? { connected: n['connected'] } : {}),
      };
    });
    members.sort((a, b) => (b.priority ?? -1) - (a.priority ?? -1) || a.node.localeCompare(b.node));
    const out = lease ? obj(lease['outgoing']) : {};
    const holder = lease ? str(lease['holder']) : null;
    rows.push({
      cluster,
      instance,
      source: 'arbiter',
      mode: str(i['mode']) ?? '?',
      fencing: str(i['fencing']) ?? '?',
      holder,
      epoch: lease ? num(lease['epoch']) : null,
      revision: lease ? num(lease['revision']) : null,
      grantedAt: lease ? str(lease['grantedAt']) : null,
      expiresAt: lease ? str(lease['expiresAt']) : null,
      expiresInMs: holder === null || !lease ? null : lease['live'] === true ? (num(lease['expiresInMs']) ?? 0) : relativeTo(str(lease['expiresAt']), str(d['at'])),
      live: lease?.['live'] === true,
      reason: lease ? str(lease['reason']) : null,
      ...(lease && str(lease['reservedFor']) ? { reservedFor: str(lease['reservedFor'])! } : {}),
      ...(str(out['node']) ? { outgoing: { node: str(out['node'])!, epoch: num(out['epoch']) ?? 0 } } : {}),
      members,
    });
  }
  return { header, rows: rows.sort(byName) };
}

/** expiresAt - at, both ISO (the arbiter's clock): how long ago an expired lease ran out. */
function relativeTo(expiresAt: string | null, at: string | null): number | null {
  if (!expiresAt || !at) return null;
  const e = Date.parse(expiresAt);
  const a = Date.parse(at);
  return Number.isNaN(e) || Number.isNaN(a) ? null : e - a;
}

export interface KvEntry {
  readonly key: string;
  readonly revision: number;
  /** The value as JSON (or undefined when it is not JSON). */
  readonly value: unknown;
}

/**
 * The entries of HA_LEASES (key `<cluster>.<instance>`, value a LeaseValue of
 * libs/arbiter/src/types.ts) as rows; `now` is this host's clock, so the
 * relative expiry carries the skew between it and the arbiter's.
 */
export function rowsFromKv(entries: readonly KvEntry[], now: number, cluster?: string): StatusRow[] {
  const rows: StatusRow[] = [];
  for (const e of entries) {
    const dot = e.key.indexOf('.');
    const c = dot > 0 ? e.key.slice(0, dot) : e.key;
    const instance = dot > 0 ? e.key.slice(dot + 1) : '?';
    if (cluster !== undefined && c !== cluster) continue;
    const v = obj(e.value);
    const holder = v['holder'] === null ? null : str(v['holder']);
    const epoch = num(v['epoch']);
    const expiresAt = num(v['expiresAt']) ?? 0;
    const problem =
      e.value === undefined ? 'the value is not JSON' : epoch === null || !('holder' in v) ? 'the value is not a lease (no holder or epoch)' : undefined;
    const out = obj(v['outgoing']);
    rows.push({
      cluster: c,
      instance,
      source: 'kv',
      holder,
      epoch,
      revision: e.revision,
      grantedAt: iso(num(v['grantedAt']) ?? 0),
      expiresAt: iso(expiresAt),
      expiresInMs: holder === null || expiresAt === 0 ? null : expiresAt - now,
      live: holder !== null && now < expiresAt,
      reason: str(v['reason']),
      ...(str(v['reservedFor']) ? { reservedFor: str(v['reservedFor'])! } : {}),
      ...(str(out['node']) ? { outgoing: { node: str(out['node'])!, epoch: num(out['epoch']) ?? 0 } } : {}),
      ...(problem ? { problem } : {}),
    });
  }
  return rows.sort(byName);
}

/** 850ms, 1.8s, 4m05s, 2h03m, 3d04h. */
export function formatDuration(ms: number): string {
  const a = Math.abs(ms);
  if (a < 1000) return `${Math.round(a)}ms`;
  if (a < 60_000) return `${(a / 1000).toFixed(1)}s`;
  const s = Math.floor(a / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

/** "in 1.8s", "expired 3.0s ago", "-" (nobody holds it). */
export function formatExpiry(row: Pick<StatusRow, 'holder' | 'expiresInMs'>): string {
  if (row.holder === null || row.expiresInMs === null) return '-';
  return row.expiresInMs > 0 ? `in ${formatDuration(row.expiresInMs)}` : `expired ${formatDuration(row.expiresInMs)} ago`;
}

export function formatMember(m: MemberRow): string {
  return `${m.node} ${m.state} ${m.priority ?? '?'}${m.vip ? ' vip' : ''}${m.connected === false ? ' (disconnected)' : ''}`;
}

/** What the REASON column says: a failover in progress first, then the lease's own reason. */
function note(r: StatusRow): string {
  const parts: string[] = [];
  if (r.problem) parts.push(`UNREADABLE: ${r.problem}`);
  if (r.reservedFor) parts.push(`failover to ${r.reservedFor} in progress${r.outgoing ? ` (${r.outgoing.node}, epoch ${r.outgoing.epoch}, demoting)` : ''}`);
  if (r.reason) parts.push(r.reason);
  return parts.join('; ') || '-';
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function statusTable(rows: readonly StatusRow[]): string {
  const fromArbiter = rows.some((r) => r.source === 'arbiter');
  if (fromArbiter) {
    return renderTable(
      ['CLUSTER', 'INSTANCE', 'MODE', 'FENCING', 'HOLDER', 'EPOCH', 'EXPIRES', 'MEMBERS', 'REASON'],
      rows.map((r) => [
        r.cluster,
        r.instance,
        r.mode ?? '-',
        r.fencing ?? '-',
        r.holder ?? '-',
        r.epoch === null ? '-' : String(r.epoch),
        formatExpiry(r),
        r.members && r.members.length > 0 ? r.members.map(formatMember).join(', ') : '-',
        note(r),
      ]),
    );
  }
  return renderTable(
    ['CLUSTER', 'INSTANCE', 'HOLDER', 'EPOCH', 'EXPIRES', 'REVISION', 'REASON'],
    rows.map((r) => [r.cluster, r.instance, r.holder ?? '-', r.epoch === null ? '-' : String(r.epoch), formatExpiry(r), r.revision === null ? '-' : String(r.revision), note(r)]),
  );
}

export function headerLine(h: ArbiterHeader): string {
  return `arbiter ${h.cluster}/${h.replica} at ${h.url}: ${h.ready ? 'ready' : 'NOT READY (warming up)'}, lease writes ${h.writePath}, gateway ${h.gateway}`;
}

/** One JSON object per row, one per line. */
export function statusJsonLines(rows: readonly StatusRow[], extra: Record<string, unknown> = {}): string {
  return rows.map((r) => `${JSON.stringify({ ...r, ...extra })}\n`).join('');
}
