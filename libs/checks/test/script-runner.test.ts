import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { KqError } from '../../common/src/errors.js';
import { checkScript, isExecutableBy, prepareScript, resolveRunAs, runScript, type RunAs } from '../src/mod.js';
import { eventually, isRoot, tempDir, writeScript } from '../fixtures/helpers.js';

const ROOT: RunAs = { uid: 0, gid: 0, user: 'root', group: 'root' };
/** Whoever runs the tests: what needs no root uses it. */
const ME: RunAs = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, user: 'me', group: 'me' };
const asRoot = { skip: isRoot() ? false : 'needs root (runs scripts as root and as nobody)' };
const secure = { enableScriptSecurity: true };

function kq(code: string, pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof KqError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  };
}

test('a script that exits 0 is ok, with its exit code and output', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeScript(dir, 'ok.sh', 'echo hello');
    const r = await runScript({ argv: [path] }, { timeoutMs: 10_000 });
    assert.equal(r.ok, true);
    assert.equal(r.exitCode, 0);
    assert.equal(r.signal, null);
    assert.equal(r.timedOut, false);
    assert.equal(r.output, 'hello\n');
    assert.ok(r.durationMs >= 0);
  } finally {
    cleanup();
  }
});

test('a script that exits non-zero fails with that exit code', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeScript(dir, 'fail.sh', 'echo "nginx is down" >&2; exit 3');
    const r = await runScript({ argv: [path] }, { timeoutMs: 10_000 });
    assert.equal(r.ok, false);
    assert.equal(r.exitCode, 3);
    assert.equal(r.timedOut, false);
    assert.equal(r.output, 'nginx is down\n');
  } finally {
    cleanup();
  }
});

test('arguments reach the script as separate words, with no shell in between', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeScript(dir, 'args.sh', 'for a in "$@"; do echo "[$a]"; done');
    const prepared = await checkScript(`${path} "two words" '$HOME' ;`, ME, { enableScriptSecurity: false });
    const r = await runScript(prepared, { timeoutMs: 10_000, extraArgs: ['INSTANCE'] });
    assert.equal(r.output, '[two words]\n[$HOME]\n[;]\n[INSTANCE]\n');
  } finally {
    cleanup();
  }
});

test('a script past its timeout gets SIGTERM and fails as timed out', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeScript(dir, 'hang.sh', 'exec sleep 60');
    const r = await runScript({ argv: [path] }, { timeoutMs: 100, killGraceMs: 10_000 });
    assert.equal(r.ok, false);
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGTERM');
    assert.equal(r.exitCode, null);
  } finally {
    cleanup();
  }
});

test('a script that ignores SIGTERM is SIGKILLed after the grace period, with what it started', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // The child sleep ignores SIGTERM too (inherited), so only SIGKILL to the group ends it.
    const path = writeScript(dir, 'stubborn.sh', `trap '' TERM\nsleep 60 &\necho $!\nwait; wait; wait`);
    const r = await runScript({ argv: [path] }, { timeoutMs: 200, killGraceMs: 200 });
    assert.equal(r.ok, false);
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGKILL');
    const child = Number(r.output.trim());
    assert.ok(child > 0, r.output);
    await eventually(`the script's child ${child} is gone`, () => {
      if (!existsSync(`/proc/${child}/stat`)) return true;
      try {
        return readFileSync(`/proc/${child}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
      } catch {
        return true;
      }
    });
  } finally {
    cleanup();
  }
});

test('the output kept is the first 200 bytes of stdout and stderr', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeScript(dir, 'loud.sh', `i=0; while [ $i -lt 100 ]; do echo "line $i of noise"; i=$((i+1)); done; echo tail >&2`);
    const r = await runScript({ argv: [path] }, { timeoutMs: 10_000 });
    assert.equal(r.ok, true);
    assert.equal(Buffer.byteLength(r.output), 200);
    assert.ok(r.output.startsWith('line 0 of noise\nline 1 of noise\n'));
    const both = writeScript(dir, 'both.sh', 'echo out; echo err >&2');
    // Two pipes: which one is read first is the scheduler's call.
    assert.deepEqual((await runScript({ argv: [both] }, { timeoutMs: 10_000 })).output.split('\n').sort(), ['', 'err', 'out']);
    const small = await runScript({ argv: [path] }, { timeoutMs: 10_000, outputBytes: 6 });
    assert.equal(small.output, 'line 0');
  } finally {
    cleanup();
  }
});

test('a program that cannot start is a failed result, never an exception', async () => {
  const r = await runScript({ argv: ['/nonexistent/kq-no-such-script'] }, { timeoutMs: 10_000 });
  assert.equal(r.ok, false);
  assert.equal(r.exitCode, null);
  assert.match(r.error ?? '', /ENOENT/);
});

test('an aborted run stops the script like a timeout', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeScript(dir, 'hang.sh', 'exec sleep 60');
    const abort = new AbortController();
    const running = runScript({ argv: [path] }, { timeoutMs: 60_000, signal: abort.signal });
    abort.abort();
    const r = await running;
    assert.equal(r.ok, false);
    assert.equal(r.signal, 'SIGTERM');
  } finally {
    cleanup();
  }
});

test('a script runs as the user and group it is given (nobody)', asRoot, async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeScript(dir, 'id.sh', 'id -u; id -g; id -G');
    const prepared = await prepareScript(join(dir, 'id.sh'), { user: 'nobody' }, secure);
    assert.equal(prepared.runAs.uid, 65534);
    const r = await runScript(prepared, { timeoutMs: 10_000 });
    assert.equal(r.ok, true, r.output);
    const [uid, gid, groups] = r.output.trim().split('\n');
    assert.equal(uid, '65534');
    assert.equal(gid, String(prepared.runAs.gid));
    // Supplementary groups dropped, as keepalived's setgroups(1, &gid).
    assert.equal(groups, String(prepared.runAs.gid));
  } finally {
    cleanup();
  }
});

test('users and groups resolve by name or by number; an unknown one is named in the error', asRoot, async () => {
  assert.deepEqual(await resolveRunAs('root'), { uid: 0, gid: 0, user: 'root', group: 'root' });
  const nobody = await resolveRunAs('nobody', 'nogroup');
  assert.equal(nobody.uid, 65534);
  assert.equal(nobody.gid, 65534);
  assert.equal((await resolveRunAs('4242', '4343')).gid, 4343);
  assert.equal((await resolveRunAs('4242')).gid, 4242);
  await assert.rejects(resolveRunAs('kq-no-such-user'), kq('KQ_ERR_SCRIPT_USER', /kq-no-such-user/));
  await assert.rejects(resolveRunAs('root', 'kq-no-such-group'), kq('KQ_ERR_SCRIPT_USER', /kq-no-such-group/));
});

test('enable_script_security refuses a world-writable script that would run as root, naming the file', asRoot, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeScript(dir, 'chk.sh', 'exit 0', 0o777);
    await assert.rejects(
      prepareScript(path, {}, { scriptUser: { user: 'root' }, ...secure }, { what: 'vrrp_script chk_nginx', location: { file: '/etc/keepalived/keepalived.conf', line: 12, key: 'script' } }),
      kq('KQ_ERR_SCRIPT_INSECURE', new RegExp(`^/etc/keepalived/keepalived.conf:12 \\(script\\): script ${path} \\(vrrp_script chk_nginx\\) would run as root, but file ${path} is writable by everyone \\(mode 0777\\)`)),
    );
    // Without enable_script_security it runs, with keepalived's warning.
    const warned = await prepareScript(path, {}, { scriptUser: { user: 'root' }, enableScriptSecurity: false });
    assert.equal(warned.warnings.length, 1);
    assert.match(warned.warnings[0]!, /writable by everyone/);
    // As a non-root user nothing needs protecting.
    const asNobody = await prepareScript(path, { user: 'nobody' }, secure);
    assert.deepEqual(asNobody.warnings, []);
  } finally {
    cleanup();
  }
});

test('enable_script_security refuses a root script in a world-writable directory, naming the directory', asRoot, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const path = writeScript(open, 'chk.sh', 'exit 0');
    await assert.rejects(
      checkScript(path, ROOT, secure),
      kq('KQ_ERR_SCRIPT_INSECURE', new RegExp(`directory ${open} is writable by everyone \\(mode 0777, no sticky bit\\)`)),
    );
    // A sticky directory (as /tmp) is safe: nobody can replace another's file there.
    chmodSync(open, 0o1777);
    await checkScript(path, ROOT, secure);
  } finally {
    cleanup();
  }
});

test('enable_script_security refuses a root script owned by another user or writable by a non-root group', asRoot, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const owned = writeScript(dir, 'owned.sh', 'exit 0');
    chownSync(owned, 65534, 0);
    await assert.rejects(checkScript(owned, ROOT, secure), kq('KQ_ERR_SCRIPT_INSECURE', /file .*owned\.sh is owned by uid 65534, not root/));
    const group = writeScript(dir, 'group.sh', 'exit 0', 0o775);
    chownSync(group, 0, 65534);
    await assert.rejects(checkScript(group, ROOT, secure), kq('KQ_ERR_SCRIPT_INSECURE', /group\.sh is writable by group 65534 \(mode 0775\)/));
    // Group root may write: keepalived trusts gid 0.
    chownSync(group, 0, 0);
    await checkScript(group, ROOT, secure);
  } finally {
    cleanup();
  }
});

test('a symbolic link is checked where it points, and runs by the name it was given', asRoot, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const target = writeScript(open, 'real.sh', 'exit 0');
    const link = join(dir, 'link.sh');
    symlinkSync(target, link);
    await assert.rejects(checkScript(link, ROOT, secure), kq('KQ_ERR_SCRIPT_INSECURE', new RegExp(`directory ${open} is writable by everyone`)));
    chmodSync(open, 0o755);
    const ok = await checkScript(`${link} arg`, ROOT, secure);
    assert.deepEqual(ok.argv, [target, 'arg']);
    // A link beside its target keeps its own name (some programs act on the name they are called by).
    const alias = join(open, 'alias.sh');
    symlinkSync('real.sh', alias);
    assert.deepEqual((await checkScript(alias, ROOT, secure)).argv, [alias]);
  } finally {
    cleanup();
  }
});

test('a missing script and a script that is not executable are refused, naming them', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const missing = join(dir, 'nope.sh');
    await assert.rejects(checkScript(`${missing} --flag`, ME, secure), kq('KQ_ERR_SCRIPT_NOT_FOUND', new RegExp(`script ${missing} does not exist`)));
    const plain = writeScript(dir, 'plain.sh', 'exit 0', 0o644);
    await assert.rejects(checkScript(plain, ME, secure), kq('KQ_ERR_SCRIPT_NOT_EXECUTABLE', new RegExp(`script ${plain} is not executable by user me .*mode 0644`)));
    await assert.rejects(checkScript(dir, ME, secure), kq('KQ_ERR_SCRIPT_NOT_EXECUTABLE', /is a directory/));
    await assert.rejects(checkScript('kq-no-such-command-anywhere', ME, secure), kq('KQ_ERR_SCRIPT_NOT_FOUND', /not found in PATH/));
    await assert.rejects(checkScript('"unterminated', ME, secure), kq('KQ_ERR_CONFIG_VALUE', /unterminated/));
  } finally {
    cleanup();
  }
});

test('a script the user cannot reach is refused, naming the closed directory', asRoot, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const closed = join(dir, 'closed');
    mkdirSync(closed);
    chmodSync(closed, 0o700);
    const path = writeScript(closed, 'chk.sh', 'exit 0');
    const nobody = await resolveRunAs('nobody');
    await assert.rejects(checkScript(path, nobody, secure), kq('KQ_ERR_SCRIPT_NOT_EXECUTABLE', new RegExp(`directory ${closed} .* does not let it in`)));
  } finally {
    cleanup();
  }
});

test('a bare command name is found in PATH, with a warning to give the full path', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeScript(dir, 'kq-probe-cmd', 'exit 0');
    const prepared = await checkScript('kq-probe-cmd x', ME, { enableScriptSecurity: true, pathEnv: `/nonexistent:${dir}` });
    assert.deepEqual(prepared.argv, [join(dir, 'kq-probe-cmd'), 'x']);
    assert.match(prepared.warnings[0] ?? '', /resolved by PATH search to .*kq-probe-cmd; give the full path/);
  } finally {
    cleanup();
  }
});

test('who may execute a file follows keepalived: root needs any x bit, others their own class', () => {
  const file = (mode: number, uid = 1000, gid = 1000) => ({ mode: 0o100000 | mode, uid, gid });
  assert.equal(isExecutableBy(file(0o001), 0, 0), true);
  assert.equal(isExecutableBy(file(0o644), 0, 0), false);
  assert.equal(isExecutableBy(file(0o100), 1000, 5), true);
  assert.equal(isExecutableBy(file(0o011), 1000, 1000), false);
  assert.equal(isExecutableBy(file(0o010), 7, 1000), true);
  assert.equal(isExecutableBy(file(0o001), 7, 1000), false);
  assert.equal(isExecutableBy(file(0o001), 7, 8), true);
});
