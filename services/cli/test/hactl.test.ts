import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const HACTL = fileURLToPath(new URL('../../../../bin/hactl', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [HACTL, ...args], { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'hactl-test-'));

test('check-config accepts a valid keepalived.conf and exits 0', () => {
  const f = join(dir, 'good.conf');
  writeFileSync(f, 'vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  virtual_ipaddress {\n    198.18.10.1/16\n  }\n}\n');
  const r = run('check-config', '--keepalived-conf', f);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /configuration valid: 1 VRRP instance/);
});

test('check-config names the file, line and key of an error and exits 1', () => {
  const f = join(dir, 'bad.conf');
  writeFileSync(f, 'vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 300\n}\n');
  const r = run('check-config', '--keepalived-conf', f);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`${f.replace(/[.]/g, '\\.')}:3`));
  assert.match(r.stderr, /virtual_router_id/);
});

test('check-config --json reports validity and diagnostics for scripts', () => {
  const f = join(dir, 'bad.yaml');
  writeFileSync(f, 'instances:\n  - name: VI_1\n    interface: eth0\n    vrid: 0\n');
  const r = run('check-config', '--config', f, '--json');
  assert.equal(r.status, 1);
  const out = JSON.parse(r.stdout) as { valid: boolean; diagnostics: Array<{ line: number; key: string }> };
  assert.equal(out.valid, false);
  assert.equal(out.diagnostics[0]!.line, 4);
});

test('an unknown command is a usage error (exit 2) with the usage text', () => {
  const r = run('frobnicate');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /Usage: hactl COMMAND/);
});

test('--help on every command: exit 0, the usage on stdout', () => {
  for (const cmd of [['status'], ['failover'], ['fence'], ['history'], ['tail'], ['stream', 'init'], ['check-config']]) {
    const r = run(...cmd, '--help');
    assert.equal(r.status, 0, `${cmd.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, cmd[0] === 'check-config' ? /Usage: hactl COMMAND/ : new RegExp(`^hactl ${cmd.join(' ')} `, 'm'), cmd.join(' '));
  }
  for (const cmd of ['failover', 'fence']) assert.match(run(cmd, '--help').stdout, /Exit codes:\n  0  accepted/);
});

test('failover and fence without an arbiter or a token are usage errors (exit 2) naming what is missing', () => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KQ_')));
  const noArbiter = spawnSync(process.execPath, [HACTL, 'failover', 'VI_1'], { encoding: 'utf8', env });
  assert.equal(noArbiter.status, 2);
  assert.match(noArbiter.stderr, /no arbiter: give --arbiter URL\[,URL\.\.\.\] or set \$KQ_ARBITER_URL/);
  const noToken = spawnSync(process.execPath, [HACTL, 'fence', 'web1', '--arbiter', 'http://127.0.0.1:9'], { encoding: 'utf8', env });
  assert.equal(noToken.status, 2);
  assert.match(noToken.stderr, /no token: give --token-file FILE or set \$KQ_ARBITER_TOKEN/);
});
