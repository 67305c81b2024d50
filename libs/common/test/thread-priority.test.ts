import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';

/** The nice value of a process's main thread, as the kernel reports it (field 19 of /proc/PID/stat). */
function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** Runs the check in a worker thread: the test runner's own thread keeps its priority. */
function inWorker(code: string): Promise<Record<string, unknown>> {
  const module = new URL('../src/thread-priority.js', import.meta.url).href;
  const worker = new Worker(
    `import('${module}').then(async (m) => { const { parentPort } = await import('node:worker_threads'); const os = await import('node:os'); const cp = await import('node:child_process'); ${code} });`,
    { eval: true },
  );
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

const isRoot = process.getuid?.() === 0;

describe('thread priority (vrrp_priority)', () => {
  it('raises only the calling thread; the process\'s other threads keep their value', { skip: !isRoot && 'needs root or CAP_SYS_NICE' }, async () => {
    const before = getPriority(0);
    const r = await inWorker(`const change = m.setThisThreadNice(-7); parentPort.postMessage({ change, here: os.getPriority(0) });`);
    assert.deepEqual(r.change, { from: before, wanted: -7, now: -7 });
    assert.equal(r.here, -7);
    assert.equal(getPriority(0), before, 'the test runner\'s thread is unchanged');
  });

  it('puts a process spawned after the raise back to the starting value', { skip: !isRoot && 'needs root or CAP_SYS_NICE' }, async () => {
    const start = getPriority(0);
    const r = await inWorker(`
      m.setThisThreadNice(-6);
      const inherits = cp.spawn('sleep', ['5']);
      const restored = cp.spawn('sleep', ['5']);
      m.runAtStartingNice(restored.pid);
      parentPort.postMessage({ inherits: inherits.pid, restored: restored.pid });`);
    try {
      assert.equal(niceOf(r.inherits as number), -6, 'a child inherits the raised value (why runAtStartingNice exists)');
      assert.equal(niceOf(r.restored as number), start);
    } finally {
      for (const pid of [r.inherits, r.restored]) process.kill(pid as number, 'SIGKILL');
    }
  });

  it('reports a refused change as a reason, not an exception', async () => {
    // Lowering is always allowed, raising above 19 is not a value: -21 is refused by the kernel's range check in Node.
    const r = await inWorker(`let change; try { change = m.setThisThreadNice(-21); } catch (e) { change = { threw: String(e) }; } parentPort.postMessage({ change });`);
    const change = r.change as { now: number; reason?: string; threw?: string };
    assert.equal(change.threw, undefined);
    assert.match(change.reason ?? '', /setpriority refused/);
  });
});
