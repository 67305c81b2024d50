/**
 * The durable outbox: an append-only journal of events in the agent's state dir.
 *
 * On disk (one directory, owned by one process at a time through `lock`):
 *
 *   seg-<first seq, 16 digits>[-n].jnl   segments, written in seq order:
 *       #kq-journal 1\n                   a header line
 *       <crc32 hex8> <seq> <id> <subject> <envelope JSON>\n   one line per event;
 *                                         the crc covers everything after its space
 *   acked                                 two 256-byte slots, written alternately in
 *                                         place: "kq-acked 1 <counter> <seq> <crc32>";
 *                                         the valid slot with the higher counter says
 *                                         every event up to <seq> is in JetStream
 *   lock                                  the pid of the owner
 *
 * Durability rule: an event is durable when the fdatasync of the group commit that
 * wrote it has returned; only then is it handed to the publisher (onDurable). So
 * after a power cut every event that JetStream may hold is in the journal, and
 * events appended but not yet durable (the group in flight: a few ms) are lost
 * without a trace outside this host; their seqs are given again after the restart,
 * which leaves no gap because no one saw them. The ack pointer is written lazily
 * (every ackFlushMs); a crash replays what was acked since, and the stream drops
 * those copies by Nats-Msg-Id. A segment is deleted only after the ack pointer
 * covering all its events is durable, so the highest seq ever used is always in a
 * segment or below the pointer: seq continues after a restart.
 *
 * Nothing here blocks the caller: append() is synchronous and only queues; writes
 * and syncs run on libuv's thread pool, one group at a time (group commit: what
 * arrives while a group is being written goes in the next one). When the disk
 * refuses (ENOSPC, EIO) or the size cap is reached, events wait in a bounded memory
 * queue (the oldest are dropped past the bound, and counted), writing is retried
 * with backoff, and on recovery onDegradedEnd reports what happened.
 */
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../../common/src/log.js';
import { KqError } from '../../common/src/errors.js';

export interface JournalEntry {
  seq: number;
  id: string;
  subject: string;
  /** The envelope as published (JSON, UTF-8). */
  payload: Uint8Array;
}

/** An entry with its line on disk, waiting to be written. */
interface QueuedEntry extends JournalEntry {
  line: Buffer;
}

// ---------------------------------------------------------------------------
// The file system port: node:fs by default; tests inject failures (ENOSPC, EIO).

export interface JournalFile {
  write(data: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface JournalFs {
  /** Creates a new file for appending; fails with EEXIST if it exists. */
  createExclusive(path: string): Promise<JournalFile>;
  /** Opens a file for reading and writing in place, creating it if missing. */
  openInPlace(path: string): Promise<JournalFile & { read(buf: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }> }>;
  readFile(path: string): Promise<Buffer>;
  readdir(dir: string): Promise<string[]>;
  unlink(path: string): Promise<void>;
  /** fsync of a directory, so that a created file's name survives a power cut. */
  syncDir(dir: string): Promise<void>;
}

export const nodeJournalFs: JournalFs = {
  createExclusive: (path) => open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_APPEND, 0o600),
  openInPlace: (path) => open(path, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o600),
  readFile: (path) => readFile(path),
  readdir: (dir) => readdir(dir),
  unlink: (path) => unlink(path),
  syncDir: async (dir) => {
    const fh: FileHandle = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};

// ---------------------------------------------------------------------------
// Line format

const HEADER = Buffer.from('#kq-journal 1\n');
const NEWLINE = 0x0a;
const SPACE = 0x20;
const HASH = 0x23;

function crcHex(data: string | Uint8Array): string {
  return crc32(data).toString(16).padStart(8, '0');
}

/** The line for an entry: `<crc> <seq> <id> <subject> <json>\n`. */
export function encodeLine(seq: number, id: string, subject: string, json: string): { line: Buffer; payload: Buffer } {
  if (/[\s]/.test(id) || /[\s]/.test(subject)) throw new KqError('KQ_ERR_EVENT_INVALID', `journal: id and subject may not contain whitespace (${id} ${subject})`);
  const rest = `${seq} ${id} ${subject} ${json}`;
  const line = Buffer.from(`${crcHex(rest)} ${rest}\n`);
  const payload = line.subarray(line.length - 1 - Buffer.byteLength(json), line.length - 1);
  return { line, payload };
}

export interface SegmentScan {
  /** Entries with a valid checksum, in file order. */
  valid: number;
  firstSeq: number;
  lastSeq: number;
  /** Invalid lines followed by a valid one. */
  corrupt: number;
  /** Bytes after the last valid line: a write the crash cut short, or garbage. */
  tornBytes: number;
  /** Valid entries whose seq is not above the previous one (written twice after a failed sync). */
  duplicates: number;
}

/**
 * Reads a segment's bytes line by line. `visit` gets each valid entry in order
 * whose seq is above every earlier one; the payload is a view into `buf`.
 */
export function scanSegment(buf: Buffer, visit?: (entry: JournalEntry) => boolean | void, afterSeq = 0): SegmentScan {
  const scan: SegmentScan = { valid: 0, firstSeq: 0, lastSeq: 0, corrupt: 0, tornBytes: 0, duplicates: 0 };
  let pos = 0;
  let invalidSinceValid = 0;
  let invalidBytesSinceValid = 0;
  let highest = afterSeq;
  let stopped = false;
  while (pos < buf.length) {
    const nl = buf.indexOf(NEWLINE, pos);
    const end = nl === -1 ? buf.length : nl;
    const lineBytes = end - pos + (nl === -1 ? 0 : 1);
    if (nl === -1) {
      // A last line without its newline: the write was cut short.
      invalidBytesSinceValid += lineBytes;
      break;
    }
    if (buf[pos] === HASH && invalidSinceValid === 0 && scan.valid === 0) {
      pos = nl + 1; // header
      continue;
    }
    const entry = stopped ? null : parseLine(buf, pos, end);
    if (stopped) {
      pos = nl + 1;
      continue;
    }
    if (entry === null) {
      invalidSinceValid++;
      invalidBytesSinceValid += lineBytes;
    } else {
      scan.corrupt += invalidSinceValid;
      invalidSinceValid = 0;
      invalidBytesSinceValid = 0;
      scan.valid++;
      if (scan.firstSeq === 0) scan.firstSeq = entry.seq;
      scan.lastSeq = Math.max(scan.lastSeq, entry.seq);
      if (entry.seq <= highest) {
        scan.duplicates++;
      } else {
        highest = entry.seq;
        if (visit && visit(entry) === false) stopped = true;
      }
    }
    pos = nl + 1;
  }
  scan.tornBytes = invalidBytesSinceValid;
  return scan;
}

function parseLine(buf: Buffer, start: number, end: number): JournalEntry | null {
  if (end - start < 16 || buf[start + 8] !== SPACE) return null;
  const crcText = buf.toString('latin1', start, start + 8);
  if (!/^[0-9a-f]{8}$/.test(crcText)) return null;
  const rest = buf.subarray(start + 9, end);
  if (crc32(rest) !== parseInt(crcText, 16)) return null;
  const s1 = rest.indexOf(SPACE);
  const s2 = s1 < 0 ? -1 : rest.indexOf(SPACE, s1 + 1);
  const s3 = s2 < 0 ? -1 : rest.indexOf(SPACE, s2 + 1);
  if (s1 <= 0 || s2 <= s1 + 1 || s3 <= s2 + 1 || s3 + 1 >= rest.length) return null;
  const seq = Number(rest.toString('latin1', 0, s1));
  if (!Number.isSafeInteger(seq) || seq <= 0) return null;
  return {
    seq,
    id: rest.toString('utf8', s1 + 1, s2),
    subject: rest.toString('utf8', s2 + 1, s3),
    payload: rest.subarray(s3 + 1),
  };
}

// ---------------------------------------------------------------------------
// Ack pointer

const ACK_SLOT = 256;

export function encodeAckSlot(counter: number, ackedThrough: number): Buffer {
  const body = `kq-acked 1 ${counter} ${ackedThrough}`;
  const slot = Buffer.alloc(ACK_SLOT, SPACE);
  slot.write(`${body} ${crcHex(body)}\n`);
  return slot;
}

export function decodeAckSlot(slot: Buffer): { counter: number; ackedThrough: number } | null {
  const m = /^kq-acked 1 (\d+) (\d+) ([0-9a-f]{8})\n/.exec(slot.toString('latin1'));
  if (!m) return null;
  const body = `kq-acked 1 ${m[1]} ${m[2]}`;
  if (crcHex(body) !== m[3]) return null;
  return { counter: Number(m[1]), ackedThrough: Number(m[2]) };
}

// ---------------------------------------------------------------------------

interface Segment {
  path: string;
  name: string;
  firstSeq: number;
  /** Highest seq in it; 0 when it holds none. */
  lastSeq: number;
  bytes: number;
}

const SEGMENT_NAME = /^seg-(\d{16})(?:-(\d+))?\.jnl$/;

export interface JournalRecovery {
  segments: number;
  /** Valid entries above the ack pointer: what will be replayed. */
  unacknowledged: number;
  ackedThrough: number;
  nextSeq: number;
  tornTails: number;
  tornBytes: number;
  corruptEntries: number;
  duplicateEntries: number;
  /** An ack pointer was found but neither slot was valid: everything journaled is replayed. */
  ackPointerDamaged: boolean;
}

export interface DegradedReport {
  reason: 'write-error' | 'size-cap';
  error: string;
  code?: string;
  since: Date;
  durationMs: number;
  heldMax: number;
  dropped: number;
  droppedSeqs?: { first: number; last: number };
}

export interface JournalOptions {
  dir: string;
  /** Cap on the journal's size on disk, bytes. Default 128 MiB. */
  maxBytes?: number;
  /** A segment is closed and a new one begun past this size. Default 4 MiB (at most maxBytes/4). */
  segmentBytes?: number;
  /** Bound of the memory queue while the disk cannot take writes. Default 10,000 events. */
  maxPendingEvents?: number;
  /** How long ack pointer updates are gathered before one write. Default 200 ms. */
  ackFlushMs?: number;
  /** Backoff of write retries after an error, ms. Default 250 → 10,000. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  log?: Logger;
  fs?: JournalFs;
  /** Entries that just became durable, in seq order. */
  onDurable?: (entries: JournalEntry[]) => void;
  /** The size cap was just reached. */
  onFull?: (info: { maxBytes: number; bytes: number }) => void;
  /** Writing works again after a degraded period. */
  onDegradedEnd?: (report: DegradedReport) => void;
}

export interface JournalStats {
  bytes: number;
  segments: number;
  /** Appended, not yet durable (queued or being written). */
  pendingWrites: number;
  durableThrough: number;
  ackedThrough: number;
  nextSeq: number;
  degraded: Omit<DegradedReport, 'durationMs'> | null;
  droppedTotal: number;
}

const lockedDirs = new Set<string>();

export class Journal {
  readonly dir: string;
  readonly recovery: JournalRecovery;
  private readonly fs: JournalFs;
  private readonly log: Logger | undefined;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly maxPending: number;
  private readonly ackFlushMs: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly opts: JournalOptions;

  private segments: Segment[];
  private active: { segment: Segment; file: JournalFile } | null = null;
  private totalBytes: number;
  private next: number;
  private durable: number;
  private acked: number;
  private persistedAck: number;
  private ackCounter: number;
  private ackFile: Awaited<ReturnType<JournalFs['openInPlace']>> | null = null;

  private pending: QueuedEntry[] = [];
  private groupInFlight = 0;
  private writing: Promise<void> | null = null;
  private writeScheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private degraded: (Omit<DegradedReport, 'durationMs'> & { sinceMs: number }) | null = null;
  private capBlocked = false;
  private droppedTotal = 0;

  private ackTimer: NodeJS.Timeout | null = null;
  private ackWriting: Promise<void> | null = null;
  private ackDirty = false;
  private closed = false;
  private closing = false;
  private idleWaiters: (() => void)[] = [];

  private constructor(opts: JournalOptions, state: { segments: Segment[]; recovery: JournalRecovery; ackCounter: number; ackFile: Journal['ackFile'] }) {
    this.opts = opts;
    this.dir = opts.dir;
    this.fs = opts.fs ?? nodeJournalFs;
    this.log = opts.log;
    this.maxBytes = opts.maxBytes ?? 128 * 1024 * 1024;
    this.segmentBytes = Math.max(64 * 1024, Math.min(opts.segmentBytes ?? 4 * 1024 * 1024, Math.floor(this.maxBytes / 4)));
    this.maxPending = opts.maxPendingEvents ?? 10_000;
    this.ackFlushMs = opts.ackFlushMs ?? 200;
    this.retryInitialMs = opts.retryInitialMs ?? 250;
    this.retryMaxMs = opts.retryMaxMs ?? 10_000;
    this.retryDelay = this.retryInitialMs;
    this.segments = state.segments;
    this.recovery = state.recovery;
    this.totalBytes = state.segments.reduce((n, s) => n + s.bytes, 0);
    this.next = state.recovery.nextSeq;
    this.durable = state.recovery.nextSeq - 1;
    this.acked = state.recovery.ackedThrough;
    this.persistedAck = state.recovery.ackedThrough;
    this.ackCounter = state.ackCounter;
    this.ackFile = state.ackFile;
  }

  /**
   * Opens (creating if needed) the journal in `dir` and recovers it: reads the ack
   * pointer and every segment, counts what is unacknowledged, skips damaged lines.
   * Throws KQ_ERR_JOURNAL_LOCKED if another live process owns the directory, and
   * KQ_ERR_JOURNAL_IO if the directory cannot be used at all.
   */
  static async open(opts: JournalOptions): Promise<Journal> {
    const fs = opts.fs ?? nodeJournalFs;
    const dir = opts.dir;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new KqError('KQ_ERR_JOURNAL_IO', `state dir ${dir}: cannot create it (${(e as Error).message}); give --state-dir a writable directory`, undefined, { cause: e });
    }
    await takeLock(dir);
    try {
      const ackFile = await fs.openInPlace(join(dir, 'acked'));
      const slots = Buffer.alloc(ACK_SLOT * 2);
      const { bytesRead } = await ackFile.read(slots, 0, slots.length, 0);
      let best: { counter: number; ackedThrough: number } | null = null;
      for (let i = 0; i < 2; i++) {
        const s = bytesRead >= (i + 1) * ACK_SLOT ? decodeAckSlot(slots.subarray(i * ACK_SLOT, (i + 1) * ACK_SLOT)) : null;
        if (s && (!best || s.counter > best.counter)) best = s;
      }
      const ackPointerDamaged = bytesRead > 0 && best === null;
      const ackedThrough = best?.ackedThrough ?? 0;

      const names = (await fs.readdir(dir)).filter((n) => SEGMENT_NAME.test(n));
      names.sort((a, b) => {
        const ma = SEGMENT_NAME.exec(a)!;
        const mb = SEGMENT_NAME.exec(b)!;
        return Number(ma[1]) - Number(mb[1]) || Number(ma[2] ?? 0) - Number(mb[2] ?? 0);
      });
      const segments: Segment[] = [];
      const recovery: JournalRecovery = {
        segments: names.length,
        unacknowledged: 0,
        ackedThrough,
        nextSeq: ackedThrough + 1,
        tornTails: 0,
        tornBytes: 0,
        corruptEntries: 0,
        duplicateEntries: 0,
        ackPointerDamaged,
      };
      let highest = 0;
      for (const name of names) {
        const path = join(dir, name);
        // One segment in memory at a time: a segment is at most segmentBytes.
        const buf = await fs.readFile(path);
        const scan = scanSegment(buf, (e) => {
          if (e.seq > ackedThrough) recovery.unacknowledged++;
        }, highest);
        if (scan.tornBytes > 0) {
          recovery.tornTails++;
          recovery.tornBytes += scan.tornBytes;
          opts.log?.warn({ segment: name, bytes: scan.tornBytes }, 'journal: torn tail after a crash (a write cut short or garbage), ignored');
        }
        if (scan.corrupt > 0) {
          recovery.corruptEntries += scan.corrupt;
          opts.log?.warn({ segment: name, entries: scan.corrupt }, 'journal: corrupt entries skipped');
        }
        recovery.duplicateEntries += scan.duplicates;
        highest = Math.max(highest, scan.lastSeq);
        segments.push({ path, name, firstSeq: Number(SEGMENT_NAME.exec(name)![1]), lastSeq: scan.lastSeq, bytes: buf.length });
      }
      if (ackPointerDamaged) opts.log?.warn({ dir }, 'journal: ack pointer unreadable; everything journaled will be replayed (the stream drops copies by id)');
      recovery.nextSeq = Math.max(ackedThrough, highest) + 1;
      const journal = new Journal(opts, { segments, recovery, ackCounter: best?.counter ?? 0, ackFile });
      opts.log?.info({ dir, ...recovery }, 'journal opened');
      // Segments wholly acknowledged (or holding nothing valid) can go now.
      await journal.deleteAckedSegments();
      return journal;
    } catch (e) {
      await releaseLock(dir);
      if (e instanceof KqError) throw e;
      throw new KqError('KQ_ERR_JOURNAL_IO', `journal in ${dir}: ${(e as Error).message}`, undefined, { cause: e });
    }
  }

  /** The seq the next event gets; allocate it with allocateSeq(). */
  get nextSeq(): number {
    return this.next;
  }

  allocateSeq(): number {
    return this.next++;
  }

  get durableThrough(): number {
    return this.durable;
  }

  get ackedThrough(): number {
    return this.acked;
  }

  get isDegraded(): boolean {
    return this.degraded !== null;
  }

  /**
   * Queues an event for the next group commit. Synchronous, never throws for I/O:
   * a disk problem shows in stats() and, once over, through onDegradedEnd.
   * Entries must come in seq order.
   */
  append(seq: number, id: string, subject: string, json: string): void {
    if (this.closed) throw new KqError('KQ_ERR_EVENTS_CLOSED', 'journal: append after close');
    const { line, payload } = encodeLine(seq, id, subject, json);
    this.pending.push({ seq, id, subject, payload, line });
    if (this.pending.length > this.maxPending) this.dropOldest(this.pending.length - this.maxPending);
    this.scheduleWrite();
  }

  /** Everything up to `seq` is in JetStream (or was lost): it may leave the journal. */
  ack(seq: number): void {
    if (seq <= this.acked) return;
    this.acked = Math.min(seq, this.durable);
    if (this.ackTimer === null && !this.closed) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = null;
        void this.flushAck();
      }, this.ackFlushMs);
      this.ackTimer.unref();
    }
  }

  /**
   * Durable entries with from <= seq <= through, in seq order, at most `limit`
   * (replay after a restart, or after the publisher's memory window overflowed).
   */
  async read(from: number, options: { limit?: number; through?: number } = {}): Promise<JournalEntry[]> {
    const limit = options.limit ?? 1000;
    const through = Math.min(options.through ?? this.durable, this.durable);
    const out: JournalEntry[] = [];
    if (from > through) return out;
    let start = 0;
    for (let i = 0; i < this.segments.length; i++) if (this.segments[i]!.firstSeq <= from) start = i;
    let highest = from - 1;
    for (let i = start; i < this.segments.length && out.length < limit; i++) {
      const seg = this.segments[i]!;
      if (seg.firstSeq > through) break;
      let buf: Buffer;
      try {
        buf = await this.fs.readFile(seg.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted meanwhile: acknowledged
        throw e;
      }
      scanSegment(
        buf,
        (entry) => {
          if (entry.seq > through) return false;
          out.push(entry);
          highest = entry.seq;
          return out.length < limit;
        },
        highest,
      );
    }
    return out;
  }

  /** Resolves when every appended event is durable, or writing is blocked (disk error, size cap). */
  async flush(): Promise<void> {
    for (;;) {
      if (this.writing) {
        await this.writing;
        continue;
      }
      if (this.pending.length === 0 || this.retryTimer !== null || this.capBlocked || this.closed) return;
      this.scheduleWrite();
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  stats(): JournalStats {
    let degraded: JournalStats['degraded'] = null;
    if (this.degraded) {
      const { sinceMs: _s, ...rest } = this.degraded;
      degraded = rest;
    }
    return {
      bytes: this.totalBytes,
      segments: this.segments.length,
      pendingWrites: this.pending.length + this.groupInFlight,
      durableThrough: this.durable,
      ackedThrough: this.acked,
      nextSeq: this.next,
      degraded,
      droppedTotal: this.droppedTotal,
    };
  }

  /** Writes what is queued (one attempt), persists the ack pointer, closes the files and the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.closing = true;
    if (this.pending.length > 0 && !this.capBlocked) await this.flush();
    if (this.writing) await this.writing;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.closed = true;
    if (this.ackTimer) {
      clearTimeout(this.ackTimer);
      this.ackTimer = null;
    }
    await this.flushAck();
    if (this.pending.length > 0) this.log?.warn({ lost: this.pending.length, first: this.pending[0]!.seq }, 'journal: closed with events not written (disk unavailable)');
    const files = [this.active?.file, this.ackFile];
    this.active = null;
    this.ackFile = null;
    for (const f of files) await f?.close().catch(() => undefined);
    await releaseLock(this.dir);
    this.notifyIdle();
  }

  // -------------------------------------------------------------------------

  private scheduleWrite(): void {
    if (this.writeScheduled || this.writing || this.retryTimer !== null || this.capBlocked || this.closed) return;
    this.writeScheduled = true;
    // setImmediate: the events of this turn of the event loop go in one group.
    setImmediate(() => {
      this.writeScheduled = false;
      if (this.writing || this.pending.length === 0) return this.notifyIdle();
      this.writing = this.writeGroups().finally(() => {
        this.writing = null;
        if (this.pending.length > 0 && this.retryTimer === null && !this.capBlocked) this.scheduleWrite();
        else this.notifyIdle();
      });
    });
  }

  private notifyIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private async writeGroups(): Promise<void> {
    while (this.pending.length > 0) {
      const group = this.takeGroup();
      let bytes = 0;
      for (const e of group) bytes += e.line.length;
      if (this.totalBytes + bytes + HEADER.length > this.maxBytes) {
        this.pending.unshift(...group);
        this.enterCap();
        return;
      }
      this.groupInFlight = group.length;
      try {
        await this.writeGroup(group, bytes);
      } catch (e) {
        this.groupInFlight = 0;
        this.pending.unshift(...group);
        if (this.pending.length > this.maxPending) this.dropOldest(this.pending.length - this.maxPending);
        await this.abandonSegment();
        this.enterWriteError(e as NodeJS.ErrnoException);
        return;
      }
      this.groupInFlight = 0;
      this.durable = group[group.length - 1]!.seq;
      this.retryDelay = this.retryInitialMs;
      if (this.degraded) this.leaveDegraded();
      const entries: JournalEntry[] = group.map(({ seq, id, subject, payload }) => ({ seq, id, subject, payload }));
      try {
        this.opts.onDurable?.(entries);
      } catch (e) {
        this.log?.error({ err: e }, 'journal: onDurable failed');
      }
    }
  }

  private takeGroup(): QueuedEntry[] {
    // At most a segment (and 1 MiB) per write: a backlog after an outage goes in
    // steps, and segments stay near their size so acknowledged ones free space soon.
    const max = Math.min(1024 * 1024, this.segmentBytes);
    let n = 0;
    let bytes = 0;
    while (n < this.pending.length && (n === 0 || bytes + this.pending[n]!.line.length <= max)) {
      bytes += this.pending[n]!.line.length;
      n++;
    }
    return this.pending.splice(0, n);
  }

  private async writeGroup(group: QueuedEntry[], bytes: number): Promise<void> {
    if (this.active && this.active.segment.bytes > 0 && this.active.segment.bytes + bytes > this.segmentBytes) {
      const old = this.active;
      this.active = null;
      await old.file.close();
    }
    if (!this.active) await this.createSegment(group[0]!.seq);
    const { segment, file } = this.active!;
    const parts = segment.bytes === 0 ? [HEADER, ...group.map((e) => e.line)] : group.map((e) => e.line);
    const buf = Buffer.concat(parts);
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await file.write(buf, off, buf.length - off, null);
      if (bytesWritten <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
      off += bytesWritten;
    }
    await file.datasync();
    segment.bytes += buf.length;
    this.totalBytes += buf.length;
    segment.lastSeq = group[group.length - 1]!.seq;
  }

  private async createSegment(firstSeq: number): Promise<void> {
    const base = `seg-${String(firstSeq).padStart(16, '0')}`;
    for (let n = 0; ; n++) {
      const name = n === 0 ? `${base}.jnl` : `${base}-${n}.jnl`;
      const path = join(this.dir, name);
      try {
        const file = await this.fs.createExclusive(path);
        const segment: Segment = { path, name, firstSeq, lastSeq: 0, bytes: 0 };
        this.segments.push(segment);
        this.active = { segment, file };
        await this.fs.syncDir(this.dir);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || n > 100) throw e;
      }
    }
  }

  /**
   * After a failed write or sync the segment's tail is unknown (and after a failed
   * fsync its cached pages may be gone): cut it back to what was durable and start
   * the next group in a new segment. An entry written twice is read once.
   */
  private async abandonSegment(): Promise<void> {
    const a = this.active;
    if (!a) return;
    this.active = null;
    await a.file.truncate(a.segment.bytes).catch(() => undefined);
    await a.file.close().catch(() => undefined);
    if (a.segment.bytes === 0) {
      this.segments = this.segments.filter((s) => s !== a.segment);
      await this.fs.unlink(a.segment.path).catch(() => undefined);
    }
  }

  private dropOldest(n: number): void {
    const dropped = this.pending.splice(0, n);
    if (dropped.length === 0) return;
    this.droppedTotal += dropped.length;
    const first = dropped[0]!.seq;
    const last = dropped[dropped.length - 1]!.seq;
    if (this.degraded) {
      this.degraded.dropped += dropped.length;
      this.degraded.droppedSeqs = { first: this.degraded.droppedSeqs?.first ?? first, last };
    }
    this.log?.error({ dropped: dropped.length, first, last }, 'journal: memory queue full while the disk cannot take writes; oldest events dropped');
  }

  private noteHeld(): void {
    if (this.degraded) this.degraded.heldMax = Math.max(this.degraded.heldMax, this.pending.length);
  }

  private enterWriteError(e: NodeJS.ErrnoException): void {
    const code = typeof e.code === 'string' ? e.code : undefined;
    if (!this.degraded || this.degraded.reason !== 'write-error') {
      this.degraded = {
        reason: 'write-error',
        error: String(e.message ?? e).slice(0, 1024),
        ...(code ? { code } : {}),
        since: this.degraded?.since ?? new Date(),
        sinceMs: this.degraded?.sinceMs ?? Date.now(),
        heldMax: this.pending.length,
        dropped: this.degraded?.dropped ?? 0,
        ...(this.degraded?.droppedSeqs ? { droppedSeqs: this.degraded.droppedSeqs } : {}),
      };
      this.log?.error({ err: e, code, held: this.pending.length, dir: this.dir }, 'journal: write failed; events wait in memory, retrying');
    } else {
      this.log?.debug({ code, held: this.pending.length }, 'journal: write failed again');
    }
    this.noteHeld();
    if (this.closing) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.scheduleWrite();
    }, this.retryDelay);
    this.retryTimer.unref();
    this.retryDelay = Math.min(this.retryDelay * 2, this.retryMaxMs);
  }

  private enterCap(): void {
    this.capBlocked = true;
    this.noteHeld();
    if (this.degraded) return;
    this.degraded = {
      reason: 'size-cap',
      error: `journal reached its cap of ${this.maxBytes} bytes while JetStream acknowledges nothing`,
      since: new Date(),
      sinceMs: Date.now(),
      heldMax: this.pending.length,
      dropped: 0,
    };
    this.log?.error({ maxBytes: this.maxBytes, bytes: this.totalBytes, dir: this.dir }, 'journal: size cap reached; new events wait in memory until JetStream acknowledges older ones');
    const info = { maxBytes: this.maxBytes, bytes: this.totalBytes };
    queueMicrotask(() => this.opts.onFull?.(info));
  }

  private leaveDegraded(): void {
    const d = this.degraded!;
    this.degraded = null;
    const { sinceMs, ...rest } = d;
    const report: DegradedReport = { ...rest, durationMs: Math.max(0, Date.now() - sinceMs) };
    this.log?.warn({ ...report }, 'journal: writing again');
    queueMicrotask(() => this.opts.onDegradedEnd?.(report));
  }

  private async flushAck(): Promise<void> {
    if (this.ackWriting) {
      this.ackDirty = true;
      return this.ackWriting;
    }
    if (this.acked <= this.persistedAck || !this.ackFile) return;
    this.ackWriting = (async () => {
      do {
        this.ackDirty = false;
        const value = this.acked;
        const counter = this.ackCounter + 1;
        try {
          await this.ackFile!.write(encodeAckSlot(counter, value), 0, ACK_SLOT, (counter % 2) * ACK_SLOT);
          await this.ackFile!.datasync();
          this.ackCounter = counter;
          this.persistedAck = value;
        } catch (e) {
          // Not fatal: the events stay in the journal and are replayed later (deduplicated).
          this.log?.warn({ err: e }, 'journal: ack pointer not written');
          break;
        }
        await this.deleteAckedSegments();
      } while (this.ackDirty && this.acked > this.persistedAck && this.ackFile);
    })().finally(() => {
      this.ackWriting = null;
    });
    return this.ackWriting;
  }

  private async deleteAckedSegments(): Promise<void> {
    const gone = this.segments.filter((s) => s !== this.active?.segment && s.lastSeq <= this.persistedAck);
    for (const s of gone) {
      try {
        await this.fs.unlink(s.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.log?.warn({ err: e, segment: s.name }, 'journal: acknowledged segment not deleted');
          continue;
        }
      }
      this.segments = this.segments.filter((x) => x !== s);
      this.totalBytes -= s.bytes;
    }
    if (gone.length > 0 && this.capBlocked && this.totalBytes + this.segmentBytes <= this.maxBytes) {
      this.capBlocked = false;
      this.scheduleWrite();
    }
  }
}

// ---------------------------------------------------------------------------
// One owner per state dir.

async function takeLock(dir: string): Promise<void> {
  const path = join(dir, 'lock');
  if (lockedDirs.has(dir)) throw new KqError('KQ_ERR_JOURNAL_LOCKED', `state dir ${dir} is already open in this process`);
  let handle: FileHandle | null = null;
  for (let attempt = 0; attempt < 2 && handle === null; attempt++) {
    try {
      handle = await open(path, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new KqError('KQ_ERR_JOURNAL_LOCKED', `state dir ${dir} is in use by process ${owner}; two agents cannot share a state dir (give each its own --state-dir)`);
      }
      await unlink(path).catch(() => undefined); // left by a process that died
    }
  }
  if (!handle) throw new KqError('KQ_ERR_JOURNAL_LOCKED', `state dir ${dir}: cannot take the lock`);
  try {
    await handle.writeFile(`${process.pid}\n`);
  } finally {
    await handle.close();
  }
  lockedDirs.add(dir);
}

async function releaseLock(dir: string): Promise<void> {
  if (!lockedDirs.delete(dir)) return;
  const path = join(dir, 'lock');
  const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  if (owner === process.pid) await unlink(path).catch(() => undefined);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
