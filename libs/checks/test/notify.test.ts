import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KqError } from '../../common/src/errors.js';
import { NotifySchema } from '../../config/src/model.js';
import { Notifier, notifyArguments, notifyInvocations, prepareNotify, type NotifyRunEvent, type NotifyState, type PreparedScript } from '../src/mod.js';
import { isRoot, tempDir, writeScript } from '../fixtures/helpers.js';

const me = String(process.getuid?.() ?? 0);
const globals = { enableScriptSecurity: true, scriptUser: { user: me } };
const script = (path: string): PreparedScript => ({ command: path, argv: [path], runAs: { uid: 0, gid: 0, user: 'root', group: 'root' }, warnings: [] });

test('notify gets TYPE NAME STATE PRIORITY, and a group always priority 0', () => {
  assert.deepEqual(notifyArguments({ type: 'INSTANCE', name: 'VI_1', state: 'MASTER', priority: 150 }), ['INSTANCE', 'VI_1', 'MASTER', '150']);
  assert.deepEqual(notifyArguments({ type: 'INSTANCE', name: 'VI_1', state: 'FAULT', priority: 1 }), ['INSTANCE', 'VI_1', 'FAULT', '1']);
  assert.deepEqual(notifyArguments({ type: 'GROUP', name: 'G1', state: 'BACKUP', priority: 100 }), ['GROUP', 'G1', 'BACKUP', '0']);
  assert.deepEqual(notifyArguments({ type: 'INSTANCE', name: 'VI_1', state: 'STOP', priority: 100 }), ['INSTANCE', 'VI_1', 'STOP', '100']);
});

test("a transition runs the state's own script as written, then notify with the four arguments", () => {
  const prepared = { master: script('/m'), backup: script('/b'), stop: script('/s'), any: script('/n') };
  const t = { type: 'INSTANCE' as const, name: 'VI_1', state: 'MASTER' as const, priority: 101 };
  assert.deepEqual(
    notifyInvocations(prepared, t).map((i) => [i.key, i.script.argv[0], i.extraArgs]),
    [
      ['master', '/m', []],
      ['any', '/n', ['INSTANCE', 'VI_1', 'MASTER', '101']],
    ],
  );
  assert.deepEqual(
    notifyInvocations(prepared, { ...t, state: 'FAULT' }).map((i) => i.key),
    ['any'],
  );
  assert.deepEqual(notifyInvocations({}, t), []);
});

test('under a burst of 20 rapid transitions the scripts run one at a time, in transition order', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const log = join(dir, 'notify.log');
    // The state scripts take a while, so a later transition would overtake an earlier one if they ran at once.
    for (const state of ['master', 'backup', 'fault', 'stop']) writeScript(dir, `${state}.sh`, `sleep 0.02\necho "${state} $*" >> ${log}`);
    writeScript(dir, 'notify.sh', `echo "notify $*" >> ${log}`);
    const config = NotifySchema.parse({
      master: `${dir}/master.sh`,
      backup: `${dir}/backup.sh`,
      fault: `${dir}/fault.sh`,
      stop: `${dir}/stop.sh`,
      any: `"${dir}/notify.sh" --from-keepquorum`,
    });
    const { prepared } = await prepareNotify(config, globals, { owner: 'VI_1' });
    const notifier = new Notifier({ timeoutMs: 10_000 });
    const states: NotifyState[] = ['BACKUP', 'MASTER', 'FAULT', 'BACKUP', 'MASTER'];
    const expected: string[] = [];
    const done: Array<Promise<void>> = [];
    for (let i = 0; i < 20; i++) {
      const state = i === 19 ? 'STOP' : states[i % states.length]!;
      const priority = 100 + i;
      done.push(notifier.notify(prepared, { type: 'INSTANCE', name: 'VI_1', state, priority }));
      expected.push(`${state.toLowerCase()} `, `notify --from-keepquorum INSTANCE VI_1 ${state} ${priority}`);
    }
    assert.equal(notifier.pending('INSTANCE', 'VI_1'), 20);
    await Promise.all(done);
    await notifier.idle();
    assert.equal(notifier.pending('INSTANCE', 'VI_1'), 0);
    assert.deepEqual(readFileSync(log, 'utf8').split('\n').slice(0, -1), expected);
  } finally {
    cleanup();
  }
});

test('each instance and group has its own queue; each keeps its own order', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeScript(dir, 'notify.sh', `echo "$*" >> ${dir}/$2.log`);
    const { prepared } = await prepareNotify(NotifySchema.parse({ any: `${dir}/notify.sh` }), globals, { owner: 'VI_1' });
    const notifier = new Notifier();
    for (let i = 0; i < 5; i++) {
      void notifier.notify(prepared, { type: 'INSTANCE', name: 'VI_1', state: i % 2 ? 'MASTER' : 'BACKUP', priority: i });
      void notifier.notify(prepared, { type: 'INSTANCE', name: 'VI_2', state: i % 2 ? 'BACKUP' : 'MASTER', priority: 50 + i });
      void notifier.notify(prepared, { type: 'GROUP', name: 'G1', state: i % 2 ? 'MASTER' : 'BACKUP', priority: 7 });
    }
    await notifier.idle();
    const lines = (name: string) => readFileSync(join(dir, `${name}.log`), 'utf8').trim().split('\n');
    assert.deepEqual(lines('VI_1'), [0, 1, 2, 3, 4].map((i) => `INSTANCE VI_1 ${i % 2 ? 'MASTER' : 'BACKUP'} ${i}`));
    assert.deepEqual(lines('VI_2'), [0, 1, 2, 3, 4].map((i) => `INSTANCE VI_2 ${i % 2 ? 'BACKUP' : 'MASTER'} ${50 + i}`));
    assert.deepEqual(lines('G1'), [0, 1, 2, 3, 4].map((i) => `GROUP G1 ${i % 2 ? 'MASTER' : 'BACKUP'} 0`));
  } finally {
    cleanup();
  }
});

test('a notify script past its timeout is killed and the queue goes on', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeScript(dir, 'hang.sh', 'exec sleep 60');
    writeScript(dir, 'quick.sh', 'echo "$@"');
    const { prepared } = await prepareNotify(NotifySchema.parse({ master: `${dir}/hang.sh`, backup: `${dir}/quick.sh` }), globals, { owner: 'VI_1' });
    const runs: NotifyRunEvent[] = [];
    const notifier = new Notifier({ timeoutMs: 200, killGraceMs: 200, onRun: (e) => runs.push(e) });
    void notifier.notify(prepared, { type: 'INSTANCE', name: 'VI_1', state: 'MASTER', priority: 100 });
    void notifier.notify(prepared, { type: 'INSTANCE', name: 'VI_1', state: 'BACKUP', priority: 90 });
    await notifier.idle();
    assert.deepEqual(
      runs.map((r) => [r.key, r.result.timedOut, r.result.ok]),
      [
        ['master', true, false],
        ['backup', false, true],
      ],
    );
    // notify_backup runs as given: no arguments appended.
    assert.equal(runs[1]!.result.output, '\n');
  } finally {
    cleanup();
  }
});

test('notify scripts run as script_user, or as their own user', { skip: isRoot() ? false : 'needs root to run as nobody' }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeScript(dir, 'id.sh', 'id -u');
    const config = NotifySchema.parse({ master: { command: `${dir}/id.sh`, user: 'nobody' }, backup: `${dir}/id.sh` });
    const { prepared } = await prepareNotify(config, { enableScriptSecurity: true, scriptUser: { user: 'root' } }, { owner: 'VI_1' });
    const runs: NotifyRunEvent[] = [];
    const notifier = new Notifier({ onRun: (e) => runs.push(e) });
    void notifier.notify(prepared, { type: 'INSTANCE', name: 'VI_1', state: 'MASTER', priority: 100 });
    void notifier.notify(prepared, { type: 'INSTANCE', name: 'VI_1', state: 'BACKUP', priority: 100 });
    await notifier.idle();
    assert.deepEqual(
      runs.map((r) => r.result.output),
      ['65534\n', '0\n'],
    );
  } finally {
    cleanup();
  }
});

test('under enable_script_security an unsafe root notify script is refused at start, naming the key and the file', { skip: isRoot() ? false : 'needs root' }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeScript(dir, 'master.sh', 'exit 0', 0o777);
    await assert.rejects(
      prepareNotify(NotifySchema.parse({ master: path }), { enableScriptSecurity: true, scriptUser: { user: 'root' } }, { owner: 'VI_1', source: { file: 'keepalived.conf', line: 30 } }),
      (e: unknown) => {
        assert.ok(e instanceof KqError);
        assert.equal(e.code, 'KQ_ERR_SCRIPT_INSECURE');
        assert.match(e.message, new RegExp(`^keepalived.conf:30 \\(notify_master\\): script ${path} \\(notify_master of VI_1\\) would run as root, but file ${path} is writable by everyone`));
        return true;
      },
    );
  } finally {
    cleanup();
  }
});

test('close({abort}) stops a running notify script and takes no new transitions', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeScript(dir, 'hang.sh', 'exec sleep 60');
    const { prepared } = await prepareNotify(NotifySchema.parse({ master: `${dir}/hang.sh` }), globals, { owner: 'VI_1' });
    const runs: NotifyRunEvent[] = [];
    const notifier = new Notifier({ timeoutMs: 60_000, onRun: (e) => runs.push(e) });
    void notifier.notify(prepared, { type: 'INSTANCE', name: 'VI_1', state: 'MASTER', priority: 100 });
    await new Promise((r) => setTimeout(r, 50));
    await notifier.close({ abort: true });
    await notifier.notify(prepared, { type: 'INSTANCE', name: 'VI_1', state: 'MASTER', priority: 100 });
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.result.ok, false);
  } finally {
    cleanup();
  }
});
