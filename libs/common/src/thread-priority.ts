/**
 * The nice value of one thread: keepalived's `vrrp_priority` for the agent's
 * VRRP thread.
 *
 * On Linux, setpriority(PRIO_PROCESS, 0) — Node's os.setPriority(0, n) — sets
 * the calling thread only, and threads and processes started afterwards by that
 * thread inherit its value. So the agent raises its main (VRRP) thread after
 * the event publisher's worker thread exists (the publisher keeps the starting
 * value), and every process it spawns afterwards (check and notify scripts) is
 * put back to the starting value with runAtStartingNice().
 */
import { getPriority, setPriority } from 'node:os';

export interface ThreadNiceChange {
  /** The thread's nice value before. */
  from: number;
  /** What was asked for. */
  wanted: number;
  /** The value now. */
  now: number;
  /** Why it was not changed, when it was not. */
  reason?: string;
}

/** The value spawned processes should run at; undefined while no thread was changed. */
let startingNice: number | undefined;

/** Sets the calling thread's nice value; never throws (no CAP_SYS_NICE is a reason, not a crash). */
export function setThisThreadNice(wanted: number): ThreadNiceChange {
  const from = getPriority(0);
  if (wanted === from) return { from, wanted, now: from, reason: 'already at that value' };
  try {
    setPriority(0, wanted);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { info?: { code?: string } };
    const code = e.info?.code ?? e.code;
    const why = code === 'EACCES' || code === 'EPERM' ? 'raising a thread needs root or CAP_SYS_NICE' : e.message;
    return { from, wanted, now: getPriority(0), reason: `setpriority refused (${code ?? 'error'}): ${why}` };
  }
  startingNice ??= from;
  return { from, wanted, now: getPriority(0) };
}

/**
 * Puts a process this thread just spawned back to the nice value the thread
 * started with, so scripts do not run at the VRRP thread's priority. A process
 * already gone is not an error.
 */
export function runAtStartingNice(pid: number | undefined): void {
  if (startingNice === undefined || pid === undefined) return;
  try {
    setPriority(pid, startingNice);
  } catch {
    // exited already, or not ours to change: nothing to do
  }
}
