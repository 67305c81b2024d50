import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { KqError } from '../../common/src/errors.js';
import {
  FenceAgentFencer,
  formatAgentStdin,
  parseFenceAgentMetadata,
  probeFenceAgentMetadata,
  redactText,
  runFenceAgent,
  type FenceAgentFencerOptions,
  type FenceAttempt,
  type FenceRequest,
} from '../src/mod.js';
import { tempDir, writeAgent } from '../fixtures/helpers.js';

const FENCE_DUMMY = '/usr/sbin/fence_dummy';
const haveDummy = existsSync(FENCE_DUMMY) ? {} : { skip: `${FENCE_DUMMY} is not installed (apt install fence-agents)` };
const PASSWORD = 'hunter2-correct-horse';
const REQUEST: FenceRequest = { action: 'off', node: 'b', cluster: 'lab', reason: 'holder b silent' };

function agent(path: string, options: Partial<FenceAgentFencerOptions> = {}): FenceAgentFencer {
  return new FenceAgentFencer({ agent: path, timeoutMs: 10_000, killGraceMs: 200, retries: 1, backoffMs: 1, maxBackoffMs: 5, ...options });
}

test('fence_dummy: metadata names its options and actions', haveDummy, async () => {
  const meta = await probeFenceAgentMetadata(FENCE_DUMMY);
  assert.equal(meta.name, 'fence_dummy');
  const statusFile = meta.parameters.find((p) => p.name === 'status_file');
  assert.ok(statusFile, 'status_file parameter');
  assert.equal(statusFile.default, '/tmp/fence_dummy.status');
  assert.equal(meta.parameters.find((p) => p.name === 'action')?.required, true);
  for (const a of ['on', 'off', 'reboot', 'status', 'monitor', 'metadata']) assert.ok(meta.actions.includes(a), a);
});

test('fence_dummy: off, status, on, status through its status file; off is confirmed by status exit 2', haveDummy, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const statusFile = join(dir, 'status');
    writeFileSync(statusFile, 'on');
    const f = agent(FENCE_DUMMY, { options: { status_file: statusFile }, hostArgument: 'none' });

    const attempts: FenceAttempt[] = [];
    const off = await f.fence(REQUEST, { onAttempt: (a) => attempts.push(a) });
    assert.equal(off.ok, true, off.reason);
    assert.equal(off.confirmed, true);
    assert.equal(off.power, 'off');
    assert.equal(off.attempts, 2);
    assert.equal(off.code, undefined);
    assert.match(off.reason, /fence_dummy off of node b exited 0; status confirms it is off \(exit 2\)/);
    assert.equal(readFileSync(statusFile, 'utf8'), 'off');
    assert.deepEqual(attempts.map((a) => [a.action, a.kind, a.status, a.outcome]), [
      ['off', 'request', 0, 'done'],
      ['status', 'confirm', 2, 'done'],
    ]);
    assert.match(attempts[0]!.excerpt!, /Success: Powered OFF/);
    assert.match(attempts[1]!.excerpt!, /Status: OFF/);

    const status = await f.fence({ ...REQUEST, action: 'status' });
    assert.equal(status.ok, true);
    assert.equal(status.power, 'off');
    assert.equal(status.attempts, 1);

    const on = await f.fence({ ...REQUEST, action: 'on' });
    assert.equal(on.ok, true, on.reason);
    assert.equal(on.confirmed, true);
    assert.equal(on.power, 'on');
    assert.equal(readFileSync(statusFile, 'utf8'), 'on');

    const again = await f.fence({ ...REQUEST, action: 'status' });
    assert.equal(again.power, 'on');
  } finally {
    cleanup();
  }
});

test('fence_dummy: a password it echoes back in a warning is redacted from every excerpt', haveDummy, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const statusFile = join(dir, 'status');
    writeFileSync(statusFile, 'on');
    // fence_dummy takes no password: fence-agents warns "Ignoring unknown option 'passwd=...'" on stderr.
    const f = agent(FENCE_DUMMY, { options: { status_file: statusFile, login: 'admin', passwd: PASSWORD } });
    const attempts: FenceAttempt[] = [];
    const r = await f.fence(REQUEST, { onAttempt: (a) => attempts.push(a) });
    assert.equal(r.ok, true, r.reason);
    assert.match(attempts[0]!.excerpt!, /passwd=\*\*\*/);
    // The plug it was given is named (it is no secret), and it also warned about it.
    assert.match(attempts[0]!.excerpt!, /plug=b/);
    const everything = JSON.stringify([r, attempts]) + inspect(f, { showHidden: true, depth: 5 });
    assert.ok(!everything.includes(PASSWORD), everything);
    assert.ok(!everything.includes('hunter2'));
  } finally {
    cleanup();
  }
});

test('the stdin is key=value lines: action, the plug (or its hostMap entry), the options, nodename', () => {
  const f = agent('/usr/sbin/fence_ipmilan', { options: { ip: '10.0.0.9', username: 'admin', password: PASSWORD, lanplus: true, ipport: 623 }, hostMap: { b: 'bmc-b' } });
  assert.equal(f.stdinFor('off', 'b'), `action=off\nplug=bmc-b\nip=10.0.0.9\nusername=admin\npassword=${PASSWORD}\nlanplus=1\nipport=623\nnodename=b\n`);
  assert.equal(f.stdinFor('status', 'c'), `action=status\nplug=c\nip=10.0.0.9\nusername=admin\npassword=${PASSWORD}\nlanplus=1\nipport=623\nnodename=c\n`);
  const fixed = agent('/usr/sbin/fence_ipmilan', { options: { plug: 'slot3' } });
  assert.equal(fixed.stdinFor('off', 'b'), 'action=off\nplug=slot3\nnodename=b\n');
  const none = agent('/usr/sbin/fence_ipmilan', { hostArgument: 'none' });
  assert.equal(none.stdinFor('reboot', 'b'), 'action=reboot\nnodename=b\n');
});

test('options that would break the stdin protocol are refused, without naming the value', () => {
  const cases: Array<[Partial<FenceAgentFencerOptions>, RegExp]> = [
    [{ options: { passwd: `x\naction=on` } }, /option passwd holds a line break/],
    [{ options: { action: 'on' } }, /option action is set by keepquorum/],
    [{ options: { 'bad key': 'x' } }, /option name 'bad key'/],
    [{ agent: 'fence_ipmilan' }, /absolute path/],
    [{ timeoutMs: 0 }, /timeoutMs must be/],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => agent('/usr/sbin/fence_ipmilan', options),
      (e: unknown) => e instanceof KqError && e.code === 'KQ_ERR_FENCE_CONFIG' && message.test(e.message) && !e.message.includes('action=on'),
      JSON.stringify(options),
    );
  }
  assert.equal(formatAgentStdin({ a: 'x=y', b: false }), 'a=x=y\nb=0\n');
});

test('a failing agent (exit 1) is retried, then fails with its exit code and last words', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeAgent(dir, 'fence_fail', `echo "Failed: Unable to connect/login to fencing device" >&2\nexit 1`);
    const attempts: FenceAttempt[] = [];
    const r = await agent(path, { retries: 2 }).fence(REQUEST, { onAttempt: (a) => attempts.push(a) });
    assert.equal(r.ok, false);
    assert.equal(r.confirmed, false);
    assert.equal(r.code, 'KQ_ERR_FENCE_FAILED');
    assert.equal(r.attempts, 3);
    assert.match(r.reason, /fence_fail off node b failed: exit 1 \(Failed: Unable to connect\/login to fencing device\), after 3 runs/);
    assert.deepEqual(attempts.map((a) => [a.status, a.outcome]), [
      [1, 'retryable'],
      [1, 'retryable'],
      [1, 'failed'],
    ]);
  } finally {
    cleanup();
  }
});

test('a hanging agent is stopped at its timeout with SIGTERM', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeAgent(dir, 'fence_hang', 'exec sleep 600');
    const r = await agent(path, { timeoutMs: 150, retries: 0 }).fence(REQUEST);
    assert.equal(r.ok, false);
    assert.equal(r.code, 'KQ_ERR_FENCE_TIMEOUT');
    assert.match(r.reason, /killed at the 150 ms timeout \(SIGTERM\)/);
  } finally {
    cleanup();
  }
});

test('an agent that ignores SIGTERM is killed with SIGKILL after the grace', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const pidFile = join(dir, 'pid');
    // The trap comes first, and the timeout is long enough for a loaded machine to reach it.
    const path = join(dir, 'fence_stubborn');
    writeFileSync(path, `#!/bin/sh\ntrap '' TERM\necho $$ > ${pidFile}\nwhile :; do sleep 1; done\n`, { mode: 0o755 });
    const run = await runFenceAgent(path, 'action=off\n', { timeoutMs: 1_000, killGraceMs: 100 });
    assert.equal(run.timedOut, true);
    assert.equal(run.exitCode, null);
    assert.equal(run.signal, 'SIGKILL');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
  } finally {
    cleanup();
  }
});

test('status exit codes: 0 is on, 2 is off, anything else is unknown', async () => {
  const { dir, cleanup } = tempDir();
  try {
    for (const [code, power] of [[0, 'on'], [2, 'off']] as const) {
      const path = writeAgent(dir, `fence_status_${code}`, `exit ${code}`);
      const r = await agent(path).fence({ ...REQUEST, action: 'status' });
      assert.equal(r.ok, true);
      assert.equal(r.power, power);
    }
    const path = writeAgent(dir, 'fence_status_1', 'echo "Failed: Unable to obtain correct plug status" >&2; exit 1');
    const r = await agent(path, { retries: 0 }).fence({ ...REQUEST, action: 'status' });
    assert.equal(r.ok, false);
    assert.equal(r.power, undefined);
    assert.equal(r.code, 'KQ_ERR_FENCE_FAILED');
    assert.match(r.reason, /could not read the power state: exit 1/);
  } finally {
    cleanup();
  }
});

test('off that exits 0 while status still says on is not a fence', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // A liar: every action "succeeds", status exit 0 says the target is on.
    const path = writeAgent(dir, 'fence_liar', 'echo "Success: $action"; exit 0');
    const r = await agent(path).fence(REQUEST);
    assert.equal(r.ok, false);
    assert.equal(r.confirmed, false);
    assert.equal(r.power, 'on');
    assert.equal(r.code, 'KQ_ERR_FENCE_UNCONFIRMED');
    assert.match(r.reason, /but status says it is on \(exit 0\): not fenced/);
    // Trusting the exit code, as Pacemaker does, is a choice the config makes.
    const trusting = await agent(path, { confirm: false }).fence(REQUEST);
    assert.equal(trusting.ok, true);
    assert.equal(trusting.confirmed, true);
    assert.equal(trusting.attempts, 1);
    assert.match(trusting.reason, /confirm is off/);
  } finally {
    cleanup();
  }
});

test('off that exits 0 when status cannot answer is done but unconfirmed', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = writeAgent(dir, 'fence_nostatus', '[ "$action" = off ] && exit 0\necho "Failed: no status on this device" >&2; exit 8');
    const attempts: FenceAttempt[] = [];
    const r = await agent(path, { retries: 1 }).fence(REQUEST, { onAttempt: (a) => attempts.push(a) });
    assert.equal(r.ok, true);
    assert.equal(r.confirmed, false);
    assert.equal(r.code, 'KQ_ERR_FENCE_UNCONFIRMED');
    assert.match(r.reason, /status could not confirm it: exit 8/);
    assert.deepEqual(attempts.map((a) => [a.kind, a.status]), [
      ['request', 0],
      ['confirm', 8],
      ['confirm', 8],
    ]);
  } finally {
    cleanup();
  }
});

test('the agent reads exactly the documented stdin', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const seen = join(dir, 'seen');
    const path = writeAgent(dir, 'fence_record', `printf "%b" "$input" > ${seen}\nexit 0`);
    const r = await agent(path, { options: { ip: '10.0.0.9', passwd: PASSWORD }, confirm: false }).fence(REQUEST);
    assert.equal(r.ok, true, r.reason);
    assert.equal(readFileSync(seen, 'utf8'), `action=off\nplug=b\nip=10.0.0.9\npasswd=${PASSWORD}\nnodename=b\n`);
  } finally {
    cleanup();
  }
});

test('an agent that cannot start is a failure with a reason, not an exception', async () => {
  const r = await agent('/nonexistent/fence_nothing', { retries: 0 }).fence(REQUEST);
  assert.equal(r.ok, false);
  assert.equal(r.code, 'KQ_ERR_FENCE_FAILED');
  assert.match(r.reason, /cannot start \/nonexistent\/fence_nothing: ENOENT/);
});

test('an abort kills a running agent and says so', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const started = join(dir, 'started');
    const path = writeAgent(dir, 'fence_slow', `touch ${started}\nexec sleep 600`);
    const controller = new AbortController();
    const pending = agent(path).fence(REQUEST, { signal: controller.signal });
    while (!existsSync(started)) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    const r = await pending;
    assert.equal(r.ok, false);
    assert.equal(r.code, 'KQ_ERR_FENCE_ABORTED');
  } finally {
    cleanup();
  }
});

test('redaction: secret values anywhere, and any secret-named key=value', () => {
  const text = `login ok\nWARNING: Ignoring unknown option 'passwd=${PASSWORD}'\nsnmp_priv_passwd: abc123 community=public -p ${PASSWORD}x api_key="k-1"\nplug=b`;
  const out = redactText(text, [PASSWORD]);
  assert.ok(!out.includes(PASSWORD));
  assert.match(out, /passwd=\*\*\*'/);
  assert.match(out, /snmp_priv_passwd: \*\*\*/);
  assert.match(out, /community=\*\*\*/);
  assert.match(out, /-p \*\*\*x/);
  assert.match(out, /api_key="\*\*\*"/);
  assert.match(out, /plug=b/);
  assert.match(out, /login ok/);
});

test('metadata XML is read without an XML library', () => {
  const meta = parseFenceAgentMetadata(`<?xml version="1.0" ?>
<resource-agent name="fence_x" shortdesc="X &amp; Y" >
<parameters>
  <parameter name="ip" unique="0" required="1"><getopt mixed="-a" /><content type="string"  /><shortdesc lang="en">IP address</shortdesc></parameter>
  <parameter name="method" unique="0" required="0"><content type="select" default="onoff"  /></parameter>
</parameters>
<actions><action name="on" automatic="0"/><action name="off" /></actions>
</resource-agent>`);
  assert.deepEqual(meta, {
    name: 'fence_x',
    shortdesc: 'X & Y',
    parameters: [
      { name: 'ip', required: true, type: 'string', shortdesc: 'IP address' },
      { name: 'method', required: false, type: 'select', default: 'onoff' },
    ],
    actions: ['on', 'off'],
  });
});
