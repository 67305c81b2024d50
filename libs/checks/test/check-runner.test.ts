import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckRunner, checkScript, scriptCheck, trackScriptCheck, type CheckOutcome, type CheckResultEvent, type CheckTimers } from '../src/mod.js';
import { TrackScriptSchema } from '../../config/src/model.js';
import { FAILURE_TIMEOUT_MS, tempDir, writeScript } from '../fixtures/helpers.js';

/** Timers on a clock the test moves: nothing waits for real time. */
class FakeTimers implements CheckTimers {
  time = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.time + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  get armed(): number {
    return this.pending.size;
  }
  /** Moves the clock, firing due timers in order, letting promise callbacks run in between. */
  async advanceTo(target: number): Promise<void> {
    for (;;) {
      await flush();
      const due = [...this.pending.entries()].filter(([, t]) => t.at <= target).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
    }
    this.time = target;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A check whose runs the test ends by hand. */
class ManualCheck {
  readonly starts: number[] = [];
  readonly signals: AbortSignal[] = [];
  private readonly resolvers: Array<(o: CheckOutcome) => void> = [];
  active = 0;
  maxActive = 0;
  constructor(private readonly timers: FakeTimers) {}
  run = (signal: AbortSignal): Promise<CheckOutcome> => {
    this.starts.push(this.timers.now());
    this.signals.push(signal);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    return new Promise((resolve) => {
      this.resolvers.push(resolve);
      // As a real check does: a stopped runner's run ends soon.
      signal.addEventListener('abort', () => this.finish(false, 'aborted'), { once: true });
    });
  };
  finish(ok: boolean, output = ''): void {
    const r = this.resolvers.shift();
    assert.ok(r, 'no run in progress');
    this.active--;
    r({ ok, latencyMs: 1, output });
  }
}

test('the first run starts at once, then one every interval, each result fed to the tracker', async () => {
  const timers = new FakeTimers();
  const check = new ManualCheck(timers);
  const events: CheckResultEvent[] = [];
  const runner = new CheckRunner({ name: 'check_nginx', intervalMs: 1000, rise: 2, fall: 2, run: check.run }, { onResult: (e) => events.push(e), timers });
  runner.start();
  await flush();
  assert.deepEqual(check.starts, [0]);
  check.finish(true, 'fine');
  await timers.advanceTo(1000);
  check.finish(false, 'exit code 1');
  await timers.advanceTo(2000);
  check.finish(false, 'exit code 1');
  await timers.advanceTo(3000);
  assert.deepEqual(check.starts, [0, 1000, 2000, 3000]);
  assert.deepEqual(
    events.map((e) => [e.ok, e.good, e.changed, e.reason]),
    [
      [true, true, true, 'check_nginx succeeded (first result): now good'],
      [false, true, false, 'check_nginx failed 1 of 2 times (fall 2): still good'],
      [false, false, true, 'check_nginx failed 2 times (fall 2): now failing'],
    ],
  );
  assert.equal(events[0]!.output, 'fine');
  assert.equal(events[0]!.name, 'check_nginx');
  await runner.stop();
});

test('a run that outlasts its interval delays the next to the following tick; two runs never overlap', async () => {
  const timers = new FakeTimers();
  const check = new ManualCheck(timers);
  const runner = new CheckRunner({ name: 'slow', intervalMs: 1000, rise: 1, fall: 1, run: check.run }, { onResult: () => {}, timers });
  runner.start();
  await timers.advanceTo(2500);
  // Still the first run: nothing was even scheduled while it went on.
  assert.deepEqual(check.starts, [0]);
  assert.equal(timers.armed, 0);
  check.finish(true);
  await timers.advanceTo(2999);
  assert.deepEqual(check.starts, [0]);
  await timers.advanceTo(3000);
  assert.deepEqual(check.starts, [0, 3000]);
  assert.equal(runner.skippedTicks, 2);
  check.finish(true);
  await timers.advanceTo(4000);
  assert.deepEqual(check.starts, [0, 3000, 4000]);
  assert.equal(check.maxActive, 1);
  await runner.stop();
});

test('stop() ends the schedule, tells the running check to stop and drops its result', async () => {
  const timers = new FakeTimers();
  const check = new ManualCheck(timers);
  const events: CheckResultEvent[] = [];
  const runner = new CheckRunner({ name: 'c', intervalMs: 1000, rise: 1, fall: 1, run: check.run }, { onResult: (e) => events.push(e), timers });
  runner.start();
  await flush();
  await runner.stop();
  assert.equal(check.signals[0]!.aborted, true);
  await timers.advanceTo(10_000);
  assert.deepEqual(events, []);
  assert.deepEqual(check.starts, [0]);
  assert.equal(runner.isRunning, false);
});

test('a check that throws counts as a failed run', async () => {
  const timers = new FakeTimers();
  const events: CheckResultEvent[] = [];
  const errors: unknown[] = [];
  const runner = new CheckRunner(
    {
      name: 'c',
      intervalMs: 1000,
      rise: 1,
      fall: 1,
      run: async () => {
        throw new Error('boom');
      },
    },
    { onResult: (e) => events.push(e), onError: (e) => errors.push(e), timers },
  );
  runner.start();
  await flush();
  assert.equal(events[0]?.ok, false);
  assert.equal(events[0]?.output, 'check threw: boom');
  assert.equal(errors.length, 1);
  await runner.stop();
});

test('a real script check runs on real timers and reports its output and verdict', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeScript(dir, 'flip.sh', `if [ -e ${dir}/down ]; then echo down; exit 1; fi\necho up`);
    const script = await checkScript(`${dir}/flip.sh`, { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, user: 'me', group: 'me' }, { enableScriptSecurity: false });
    const events: CheckResultEvent[] = [];
    let wake: (() => void) | undefined;
    const runner = new CheckRunner(
      { name: 'flip', intervalMs: 20, rise: 1, fall: 2, run: scriptCheck(script, { timeoutMs: 10_000 }) },
      {
        onResult: (e) => {
          events.push(e);
          wake?.();
        },
      },
    );
    const waitFor = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`fewer than ${n} results within ${FAILURE_TIMEOUT_MS} ms`)), FAILURE_TIMEOUT_MS);
        wake = () => {
          if (events.length >= n) {
            clearTimeout(timer);
            resolve();
          }
        };
        wake();
      });
    runner.start();
    await waitFor(1);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${dir}/down`, '');
    const from = events.length;
    await waitFor(from + 2);
    await runner.stop();
    assert.equal(events[0]!.ok, true);
    assert.equal(events[0]!.output, 'up\n');
    const failures = events.slice(from);
    assert.equal(failures[0]!.ok, false);
    assert.equal(failures[0]!.output, 'exit code 1: down\n');
    assert.equal(failures[1]!.reason, 'flip failed 2 times (fall 2): now failing');
  } finally {
    cleanup();
  }
});

test('a vrrp_script from the config model becomes a check with its interval, timeout, rise, fall and init_fail', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeScript(dir, 'chk.sh', 'exit 0');
    const config = TrackScriptSchema.parse({ script: `${dir}/chk.sh`, intervalS: 2, rise: 3, fall: 4, initFail: true, weight: -20 });
    const me = String(process.getuid?.() ?? 0);
    const { definition, script } = await trackScriptCheck('chk_web', config, { enableScriptSecurity: true, scriptUser: { user: me } });
    assert.equal(definition.name, 'chk_web');
    assert.equal(definition.intervalMs, 2000);
    assert.equal(definition.rise, 3);
    assert.equal(definition.fall, 4);
    assert.equal(definition.initFail, true);
    assert.deepEqual(script!.argv, [`${dir}/chk.sh`]);
    const outcome = await definition.run(new AbortController().signal);
    assert.equal(outcome.ok, true);
  } finally {
    cleanup();
  }
});

test('a tracked check configured as a built-in probe runs the probe, with the check timing of the config', async () => {
  const config = TrackScriptSchema.parse({ tcp: { address: '127.0.0.1', port: 1 }, intervalS: 3, timeoutS: 1, rise: 2, fall: 2 });
  const { definition, script } = await trackScriptCheck('tcp_closed', config, { enableScriptSecurity: false });
  assert.equal(script, undefined);
  assert.equal(definition.intervalMs, 3000);
  // Port 1 on loopback is closed: the probe fails with a reason, it does not throw.
  const outcome = await definition.run(new AbortController().signal);
  assert.equal(outcome.ok, false);
  assert.match(outcome.output, /ECONNREFUSED|refused/);
});

test('a tracked check must be exactly one of script, icmp, tcp or http', () => {
  assert.throws(() => TrackScriptSchema.parse({ intervalS: 1 }), /a command line \(script\), or one of the probes icmp, tcp or http/);
  assert.throws(() => TrackScriptSchema.parse({ script: '/bin/true', tcp: { address: '127.0.0.1', port: 80 } }), /only one of script, icmp, tcp or http/);
});
