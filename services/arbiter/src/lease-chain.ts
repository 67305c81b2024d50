/**
 * The chain rule of the lease KV: which records of a key count.
 *
 * nats-server before 2.9.21 (nats-server#4320) may store two compare-and-sets
 * naming the same revision of a replicated stream. So the compare-and-set is
 * made exact above the server: every lease value written carries a link,
 * `{ id, prev, n }`: its own random id, the id of the record it builds on
 * (null: it builds on no live value, the key being new or deleted) and its
 * generation (the record it builds on's plus one). Every reader applies the
 * same rule to the key's records in stream order:
 *
 *   a linked record is valid iff it builds on the key's last valid record
 *   before it (prev null: iff there is none, or it is a delete or purge
 *   marker). A record without a link (an older arbiter's value) and a delete
 *   or purge marker are valid. Any other record is void: a racer the server
 *   should have refused, never read as the lease.
 *
 * So among the records building on one record, the first in the stream wins,
 * and every replica, watch or reader agrees which one it is. Records are
 * named by id, not by stream sequence: replicas of a 2.9.10 stream that went
 * through crashes were seen numbering the same records differently (off by
 * one to three), and a rule over sequences would then void everything.
 *
 * A reader that starts late sees only the key's retained history (the bucket
 * keeps `history` revisions per key): in `window` mode the first valid record
 * is the one, among those building on a record outside the window, with the
 * highest generation (the first of them on a tie). Writers only ever build on
 * valid records, so the window's first valid record builds on the last valid
 * one before it, and no void record building outside the window can be of a
 * later generation. That holds while the window holds a valid record, that
 * is while fewer racers than `history` follow the last valid record: keep
 * more revisions than there are arbiter replicas (the default is 5).
 *
 * Pure: records in, verdicts out, each with its reason.
 */

export interface ChainLink {
  /** The id of the record this one builds on; null: on no live value (a new or deleted key). */
  readonly prev: string | null;
  /** Generation: the record it builds on's plus one (1 on no live value or on an unlinked record). */
  readonly n: number;
}

export interface ChainRecord {
  /** Stream sequence: orders the records (and names them in reasons). */
  readonly seq: number;
  /** The record's id: its link's id, else one derived from its bytes. */
  readonly id: string;
  /** A linked value, an unlinked one (an older arbiter's), or a delete or purge marker. */
  readonly link: ChainLink | 'unlinked' | 'deleted';
}

/** The key's last valid record: its id and whether it is a delete or purge marker; null: none. */
export type LastValid = { readonly id: string; readonly deleted: boolean } | null;

export interface ChainVerdict {
  readonly seq: number;
  readonly valid: boolean;
  readonly reason: string;
}

export interface ChainJudgement {
  /** One per record, in order. */
  readonly verdicts: ChainVerdict[];
  /** Index of the last valid record among the records; -1 when none of them is valid. */
  readonly lastValid: number;
}

/**
 * Where the records start:
 * - `{ after }`: they are every record of the key after its last valid record
 *   `after` (null: the key had none);
 * - `{ window: true }`: they are the key's retained records, oldest first, and
 *   nothing is known of the records before them; `knownValid` is the id of a
 *   record of the window already known to be valid, if any.
 */
export type ChainStart = { readonly after: LastValid } | { readonly window: true; readonly knownValid?: string };

function checkRecords(records: readonly ChainRecord[]): void {
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (!Number.isSafeInteger(r.seq) || r.seq < 1) throw new Error(`judgeChain: records[${i}].seq: ${String(r.seq)} is not a positive integer`);
    if (typeof r.id !== 'string' || r.id === '') throw new Error(`judgeChain: records[${i}].id: not a non-empty string`);
    if (typeof r.link === 'object') {
      if (r.link.prev !== null && (typeof r.link.prev !== 'string' || r.link.prev === '')) throw new Error(`judgeChain: records[${i}].link.prev: not null or a non-empty string`);
      if (!Number.isSafeInteger(r.link.n) || r.link.n < 1) throw new Error(`judgeChain: records[${i}].link.n: ${String(r.link.n)} is not a positive integer`);
    } else if (r.link !== 'unlinked' && r.link !== 'deleted') {
      throw new Error(`judgeChain: records[${i}].link: ${String(r.link)} is not a link, 'unlinked' or 'deleted'`);
    }
    if (i > 0 && r.seq <= records[i - 1]!.seq) throw new Error(`judgeChain: records[${i}].seq: ${r.seq} is not above records[${i - 1}].seq ${records[i - 1]!.seq} (records must be in stream order)`);
  }
}

/** One record by the exact rule, after the key's last valid record `last`. */
export function judgeRecord(last: LastValid, r: ChainRecord): ChainVerdict {
  if (r.link === 'unlinked') return { seq: r.seq, valid: true, reason: 'carries no link (an older arbiter): valid' };
  if (r.link === 'deleted') return { seq: r.seq, valid: true, reason: 'a delete or purge marker: valid' };
  const on = r.link.prev;
  if (on === null) {
    if (last === null || last.deleted) return { seq: r.seq, valid: true, reason: `builds on no live value and the key has none: valid` };
    return { seq: r.seq, valid: false, reason: `builds on no live value but the key's last valid record is ${last.id}: void (a compare-and-set the server should have refused)` };
  }
  if (last !== null && !last.deleted && last.id === on) return { seq: r.seq, valid: true, reason: `builds on ${on}, the key's last valid record: valid` };
  return {
    seq: r.seq,
    valid: false,
    reason: `builds on ${on} but the key's last valid record before it is ${last === null ? 'none' : last.deleted ? `the delete marker ${last.id}` : last.id}: void (a compare-and-set the server should have refused)`,
  };
}

function judgeAfter(records: readonly ChainRecord[], after: LastValid, offset: number): { verdicts: ChainVerdict[]; lastValid: number } {
  let last = after;
  let lastValid = -1;
  const verdicts: ChainVerdict[] = [];
  records.forEach((r, i) => {
    const v = judgeRecord(last, r);
    verdicts.push(v);
    if (v.valid) {
      last = { id: r.id, deleted: r.link === 'deleted' };
      lastValid = offset + i;
    }
  });
  return { verdicts, lastValid };
}

const asLast = (r: ChainRecord): LastValid => ({ id: r.id, deleted: r.link === 'deleted' });

/** Judges the records of one key, in stream order. Throws on records out of order or malformed (a caller's bug). */
export function judgeChain(records: readonly ChainRecord[], start: ChainStart): ChainJudgement {
  checkRecords(records);
  if ('after' in start) return judgeAfter(records, start.after, 0);
  if (records.length === 0) return { verdicts: [], lastValid: -1 };
  const known = start.knownValid === undefined ? -1 : records.findIndex((r) => r.id === start.knownValid);
  if (known >= 0) {
    const before = known > 0 ? judgeChain(records.slice(0, known), { window: true }).verdicts : [];
    const rest = judgeAfter(records.slice(known + 1), asLast(records[known]!), known + 1);
    return { verdicts: [...before, { seq: records[known]!.seq, valid: true, reason: 'known valid' }, ...rest.verdicts], lastValid: rest.lastValid >= 0 ? rest.lastValid : known };
  }
  // From a record without a link on, the rule is exact: that record is valid whatever came before.
  let bare = records.findIndex((r) => typeof r.link !== 'object');
  if (bare < 0) bare = records.length;
  // The first valid record of the window builds outside it, with the highest generation; the first such on a tie.
  let chosen = -1;
  const seen = new Set<string>();
  for (let i = 0; i < bare; i++) {
    const link = records[i]!.link as ChainLink;
    const outside = link.prev === null || !seen.has(link.prev);
    seen.add(records[i]!.id);
    if (outside && (chosen < 0 || link.n > (records[chosen]!.link as ChainLink).n)) chosen = i;
  }
  const first = chosen >= 0 ? chosen : bare;
  const verdicts: ChainVerdict[] = [];
  for (let i = 0; i < first; i++) {
    const r = records[i]!;
    const link = r.link as ChainLink;
    verdicts.push({
      seq: r.seq,
      valid: false,
      reason:
        chosen >= 0
          ? `generation ${link.n}; revision ${records[chosen]!.seq} builds outside the window at generation ${(records[chosen]!.link as ChainLink).n}: void`
          : `no record of the window before revision ${records[first]?.seq ?? 'its end'} continues a chain from before it: void`,
    });
  }
  if (first >= records.length) return { verdicts, lastValid: -1 };
  const head = records[first]!;
  verdicts.push({
    seq: head.seq,
    valid: true,
    reason: typeof head.link === 'object' ? `builds outside the window at the highest generation (${head.link.n}): valid` : judgeRecord(null, head).reason,
  });
  const rest = judgeAfter(records.slice(first + 1), asLast(head), first + 1);
  return { verdicts: [...verdicts, ...rest.verdicts], lastValid: rest.lastValid >= 0 ? rest.lastValid : first };
}
