import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from '../../common/src/log.js';
import { nodeJournalFs, type JournalFile, type JournalFs } from '../src/mod.js';

export async function tempDir(prefix = 'kq-events-'): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** What a crash would leave: the directory's files as they are now, copied elsewhere. */
export async function crashImage(dir: string, into: string): Promise<void> {
  await cp(dir, into, { recursive: true });
}

/** A logger that keeps its lines, to assert what was said. */
export function memoryLogger(): { log: Logger; lines: { level: number; msg: string; [k: string]: unknown }[] } {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) }) as unknown as Logger;
  return { log, lines };
}

/**
 * Waits until `cond` holds, checking on every turn of the event loop and then
 * every few ms. Not a timing assertion: the deadline only stops a broken test
 * from hanging.
 */
export async function until(cond: () => boolean | Promise<boolean>, what: string, deadlineMs = 60_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (let i = 0; ; i++) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => (i < 100 ? setImmediate(r) : setTimeout(r, 10)));
  }
}

export interface FaultControl {
  /** Error code thrown by writes (after writing half of the first attempt), or null. */
  writeError: string | null;
  syncError: string | null;
  createError: string | null;
  writes: number;
  syncs: number;
}

/** node:fs with switchable faults: a full disk, a failing fsync, no room for a new file. */
export function faultyFs(): { fs: JournalFs; control: FaultControl } {
  const control: FaultControl = { writeError: null, syncError: null, createError: null, writes: 0, syncs: 0 };
  const err = (code: string) => Object.assign(new Error(`${code}: simulated, write`), { code });
  const wrap = (f: JournalFile): JournalFile => {
    let halfDone = false;
    return {
      write: async (data, offset, length, position) => {
        if (control.writeError) {
          if (!halfDone && length > 1) {
            // A full disk takes part of a write, then refuses the rest.
            halfDone = true;
            control.writes++;
            return f.write(data, offset, Math.floor(length / 2), position);
          }
          throw err(control.writeError);
        }
        halfDone = false;
        control.writes++;
        return f.write(data, offset, length, position);
      },
      datasync: async () => {
        if (control.syncError) throw err(control.syncError);
        control.syncs++;
        return f.datasync();
      },
      truncate: (n) => f.truncate(n),
      close: () => f.close(),
    };
  };
  const fs: JournalFs = {
    ...nodeJournalFs,
    createExclusive: async (path) => {
      if (control.createError) throw err(control.createError);
      return wrap(await nodeJournalFs.createExclusive(path));
    },
  };
  return { fs, control };
}

export function envelopeJson(seq: number, extra = ''): string {
  return JSON.stringify({ id: `n1-b-${seq}`, type: 'check.result', seq, note: `event number ${seq}${extra}` });
}
