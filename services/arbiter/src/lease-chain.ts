/**
 * The chain rule of the lease KV: which records of a key count.
 *
 * nats-server before 2.9.21 (nats-server#4320) may store two compare-and-sets
 * naming the same revision of a replicated stream. So the compare-and-set is
 * made exact above the server: every lease value written carries `prev`, the
 * revision of the key's last valid record it builds on (0: none), and every
 * reader applies the same rule to the key's records in stream order:
 *
 *   a record is valid iff its `prev` is the revision of the key's last valid
 *   record before it. A record without `prev` (written by an older arbiter, or
 *   a delete or purge marker) is valid. Any other record is void: a racer the
 *   server should have refused. Void records are never read as the lease.
 *
 * So among the records naming one revision, the first in the stream wins, and
 * every replica, watch or reader agrees which one it is.
 *
 * A reader that starts late sees only the key's retained history (the bucket
 * keeps `history` revisions per key): `judgeChain(records, { window: true })`
 * finds the first valid record of such a window as the record that builds on
 * the latest revision from before the window (the first of them on a tie):
 * writers only ever build on valid records, and the first valid record of a
 * window builds on the last valid one before it, which no void record before
 * or after it can build beyond. That holds while the window holds at least one
 * valid record, that is while fewer racers than `history` follow the last
 * valid record: history 2 or more with two arbiter replicas, more than the
 * replicas in general (the default is 5).
 *
 * Pure: records in, verdicts out, each with its reason.
 */

export interface ChainRecord {
  /** The record's stream sequence (the key's revision). */
  readonly seq: number;
  /** The revision it builds on (0: none); null when the record carries none. */
  readonly prev: number | null;
}

export interface ChainVerdict {
  readonly seq: number;
  readonly valid: boolean;
  readonly reason: string;
}

export interface ChainJudgement {
  /** One per record, in order. */
  readonly verdicts: ChainVerdict[];
  /** The last valid record's seq; null when there is none among the records (and none before them in `after` mode). */
  readonly lastValid: number | null;
}

/**
 * Where the records start:
 * - `{ after: n }`: they are every record of the key after revision n, and n is
 *   the key's last valid record before them (0: the key had none);
 * - `{ window: true }`: they are the key's retained records, oldest first, and
 *   nothing is known of the records before them; `knownValid` names a record of
 *   the window already known to be valid (judged exactly before), if any.
 */
export type ChainStart = { readonly after: number } | { readonly window: true; readonly knownValid?: number };

function checkOrder(records: readonly ChainRecord[]): void {
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (!Number.isSafeInteger(r.seq) || r.seq < 1) throw new Error(`judgeChain: records[${i}].seq: ${String(r.seq)} is not a positive integer`);
    if (r.prev !== null && (!Number.isSafeInteger(r.prev) || r.prev < 0)) throw new Error(`judgeChain: records[${i}].prev: ${String(r.prev)} is not null or a non-negative integer`);
    if (i > 0 && r.seq <= records[i - 1]!.seq) throw new Error(`judgeChain: records[${i}].seq: ${r.seq} is not above records[${i - 1}].seq ${records[i - 1]!.seq} (records must be in stream order)`);
  }
}

/** The exact rule from a known last valid record. */
function judgeAfter(records: readonly ChainRecord[], after: number): ChainJudgement {
  let last = after;
  let any = after > 0;
  const verdicts: ChainVerdict[] = [];
  for (const r of records) {
    if (r.prev === null) {
      verdicts.push({ seq: r.seq, valid: true, reason: 'carries no prev (an older arbiter, or a delete or purge): valid' });
    } else if (r.prev === last) {
      verdicts.push({ seq: r.seq, valid: true, reason: last === 0 ? 'builds on nothing and the key had no valid record: valid' : `builds on revision ${last}, the key's last valid record: valid` });
    } else {
      verdicts.push({
        seq: r.seq,
        valid: false,
        reason: `builds on revision ${r.prev} but the key's last valid record before it is ${last === 0 ? 'none' : `revision ${last}`}: void (a compare-and-set the server should have refused)`,
      });
      continue;
    }
    last = r.seq;
    any = true;
  }
  return { verdicts, lastValid: any ? last : null };
}

/** Judges the records of one key, in stream order. Throws on records out of order or malformed (a caller's bug). */
export function judgeChain(records: readonly ChainRecord[], start: ChainStart): ChainJudgement {
  checkOrder(records);
  if ('after' in start) {
    if (!Number.isSafeInteger(start.after) || start.after < 0) throw new Error(`judgeChain: start.after: ${String(start.after)} is not a non-negative integer`);
    if (records.length > 0 && records[0]!.seq <= start.after) throw new Error(`judgeChain: records[0].seq: ${records[0]!.seq} is not after start.after ${start.after}`);
    return judgeAfter(records, start.after);
  }
  if (records.length === 0) return { verdicts: [], lastValid: null };
  const known = start.knownValid === undefined ? -1 : records.findIndex((r) => r.seq === start.knownValid);
  if (known >= 0) {
    const before = known > 0 ? judgeChain(records.slice(0, known), { window: true }).verdicts : [];
    const rest = judgeAfter(records.slice(known + 1), records[known]!.seq);
    return { verdicts: [...before, { seq: records[known]!.seq, valid: true, reason: 'known valid' }, ...rest.verdicts], lastValid: rest.lastValid };
  }
  const first = records[0]!.seq;
  // From a record without prev on, the rule is exact: that record is valid whatever came before.
  let bare = records.findIndex((r) => r.prev === null);
  if (bare < 0) bare = records.length;
  // The first valid record of the window builds on the latest revision from before it; the first such on a tie.
  let chosen = -1;
  for (let i = 0; i < bare; i++) {
    const p = records[i]!.prev!;
    if (p < first && (chosen < 0 || p > records[chosen]!.prev!)) chosen = i;
  }
  const start0 = chosen >= 0 ? chosen : bare;
  const verdicts: ChainVerdict[] = [];
  for (let i = 0; i < start0; i++) {
    const r = records[i]!;
    verdicts.push({
      seq: r.seq,
      valid: false,
      reason:
        chosen >= 0
          ? `builds on revision ${r.prev}, before the window; revision ${records[chosen]!.seq} builds on a later one (${records[chosen]!.prev}): void`
          : `builds on revision ${r.prev}, and no record of the window before revision ${records[start0]?.seq ?? 'end'} continues the chain: void`,
    });
  }
  if (start0 >= records.length) return { verdicts, lastValid: null };
  const head = records[start0]!;
  verdicts.push({
    seq: head.seq,
    valid: true,
    reason: head.prev === null ? 'carries no prev (an older arbiter, or a delete or purge): valid' : `builds on revision ${head.prev}, the latest revision from before the window any record builds on: valid`,
  });
  const rest = judgeAfter(records.slice(start0 + 1), head.seq);
  return { verdicts: [...verdicts, ...rest.verdicts], lastValid: rest.lastValid };
}
