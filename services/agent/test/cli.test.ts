import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseAgentArgs } from '../src/cli.js';

test('the agent takes a keepalived.conf or a native config, not both and not neither', () => {
  assert.equal(parseAgentArgs(['--keepalived-conf', '/etc/keepalived/keepalived.conf']).keepalivedConf, '/etc/keepalived/keepalived.conf');
  assert.equal(parseAgentArgs(['--config=/etc/keepquorum/agent.yaml']).config, '/etc/keepquorum/agent.yaml');
  assert.throws(() => parseAgentArgs([]), /a configuration is needed/);
  assert.throws(() => parseAgentArgs(['--config', 'a.yaml', '--keepalived-conf', 'b.conf']), /not both/);
  assert.throws(() => parseAgentArgs(['--config']), /--config needs a value/);
  assert.throws(() => parseAgentArgs(['--config', 'a.yaml', '--bogus']), /unknown option --bogus/);
  assert.throws(() => parseAgentArgs(['--config', 'a.yaml', '--log-level', 'loud']), /--log-level loud/);
});

test('--check and --cleanup select their modes', () => {
  assert.equal(parseAgentArgs(['--check', '--config', 'a.yaml']).mode, 'check');
  assert.equal(parseAgentArgs(['--keepalived-conf', 'k.conf', '--cleanup']).mode, 'cleanup');
  assert.equal(parseAgentArgs(['--help']).mode, 'help');
});

const HA_AGENT = fileURLToPath(new URL('../../../../bin/ha-agent', import.meta.url));

test('ha-agent --check reports a broken keepalived.conf with file:line and exits 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-check-'));
  const f = join(dir, 'keepalived.conf');
  writeFileSync(f, 'vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 900\n');
  const r = spawnSync(process.execPath, [HA_AGENT, '--check', '--keepalived-conf', f], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`keepalived\\.conf:\\d+`));
});

test('ha-agent --check accepts a valid file and warns about a missing interface instead of failing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-check-'));
  const f = join(dir, 'keepalived.conf');
  writeFileSync(f, 'vrrp_instance VI_1 {\n  interface kq-no-such-if\n  virtual_router_id 51\n  priority 100\n  virtual_ipaddress {\n    198.18.10.1/16\n  }\n}\n');
  const r = spawnSync(process.execPath, [HA_AGENT, '--check', '--keepalived-conf', f], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /interface kq-no-such-if does not exist here/);
  assert.match(r.stdout, /configuration valid: 1 VRRP instance/);
});

test('ha-agent with no arguments is a usage error (exit 2)', () => {
  const r = spawnSync(process.execPath, [HA_AGENT], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /Usage: ha-agent/);
});

test('ha-agent --check refuses a tracked script that a non-root user could change under enable_script_security', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-check-'));
  const script = join(dir, 'chk.sh');
  writeFileSync(script, '#!/bin/sh\nexit 0\n');
  chmodSync(script, 0o777); // world-writable, whatever the umask
  const f = join(dir, 'keepalived.conf');
  writeFileSync(
    f,
    `global_defs {\n  enable_script_security\n  script_user root\n}\nvrrp_script chk {\n  script "${script}"\n}\nvrrp_instance VI_1 {\n  interface lo\n  virtual_router_id 51\n  priority 100\n  track_script {\n    chk\n  }\n  virtual_ipaddress {\n    198.18.10.1/16\n  }\n}\n`,
  );
  const r = spawnSync(process.execPath, [HA_AGENT, '--check', '--keepalived-conf', f], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /chk\.sh/);
  assert.match(r.stderr, /KQ_ERR_SCRIPT_INSECURE/);
});

const KEEPALIVED_CONF = 'vrrp_instance VI_1 {\n  interface kq-no-such-if\n  virtual_router_id 51\n  priority 100\n  advert_int 0.1\n  version 3\n  virtual_ipaddress {\n    198.18.10.1/16\n  }\n}\n';

test('the arbiter flags sit beside --keepalived-conf; wrong values are usage errors', () => {
  const o = parseAgentArgs(['--keepalived-conf', 'k.conf', '--mode', 'strict', '--gateway=198.18.0.1', '--fencing', 'required']).overrides;
  assert.deepEqual({ mode: o.arbiterMode, gateway: o.gateway, fencing: o.fencing }, { mode: 'strict', gateway: '198.18.0.1', fencing: 'required' });
  assert.throws(() => parseAgentArgs(['--keepalived-conf', 'k.conf', '--mode', 'quorum']), /--mode quorum: expected strict, failsafe or off/);
  assert.throws(() => parseAgentArgs(['--keepalived-conf', 'k.conf', '--fencing', 'yes']), /--fencing yes: expected off, best-effort or required/);
});

test('a keepalived.conf with --nats, --gateway, --mode and --fencing runs under the arbiter, the overlay keeping what the flags do not set', async () => {
  const { loadConfigHere } = await import('../src/config-loader.js');
  const { resolveArbiter } = await import('../../../libs/config/src/mod.js');
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-flags-'));
  const f = join(dir, 'keepalived.conf');
  writeFileSync(f, KEEPALIVED_CONF);
  const overlay = join(dir, 'overlay.yaml');
  writeFileSync(overlay, 'node: { id: web1 }\narbiter:\n  fencing: best-effort\n  timing: { leaseTtlMs: 600 }\n');
  const loaded = await loadConfigHere({ keepalivedConf: f, overrides: { overlay, nats: ['nats://127.0.0.1:4222'], gateway: '198.18.0.1', arbiterMode: 'strict' } });
  assert.equal(loaded.config.node.id, 'web1');
  assert.equal(loaded.config.node.gateway?.address, '198.18.0.1');
  const [r] = resolveArbiter(loaded.config).instances;
  assert.deepEqual({ mode: r!.mode, fencing: r!.fencing, ttl: r!.timing.leaseTtlMs }, { mode: 'strict', fencing: 'best-effort', ttl: 600 });
});

test('--mode strict without --gateway is refused, naming the command line', async () => {
  const { loadConfigHere } = await import('../src/config-loader.js');
  const { ConfigError } = await import('../../../libs/config/src/mod.js');
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-flags-'));
  const f = join(dir, 'keepalived.conf');
  writeFileSync(f, KEEPALIVED_CONF);
  await assert.rejects(
    loadConfigHere({ keepalivedConf: f, overrides: { nats: ['nats://127.0.0.1:4222'], arbiterMode: 'strict' } }),
    (err: unknown) => err instanceof ConfigError && /\(command line\):1: error: arbiter\.mode: instance VI_1: mode strict needs the node's gateway/.test(err.message),
  );
});

test('--mode without NATS warns and runs plain VRRP', async () => {
  const { loadConfigHere } = await import('../src/config-loader.js');
  const { resolveArbiter } = await import('../../../libs/config/src/mod.js');
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-flags-'));
  const f = join(dir, 'keepalived.conf');
  writeFileSync(f, KEEPALIVED_CONF);
  const loaded = await loadConfigHere({ keepalivedConf: f, overrides: { arbiterMode: 'failsafe', gateway: '198.18.0.1' } });
  assert.equal(resolveArbiter(loaded.config).instances[0]!.mode, 'off');
  assert.ok(loaded.diagnostics.some((d) => d.severity === 'warning' && /VI_1 \(failsafe\) runs as plain VRRP \(mode off\)/.test(d.message)));
});

test('ha-agent --check reports the lease timing per instance', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-check-'));
  const f = join(dir, 'keepalived.conf');
  writeFileSync(f, KEEPALIVED_CONF);
  const r = spawnSync(process.execPath, [HA_AGENT, '--check', '--keepalived-conf', f, '--nats', 'nats://127.0.0.1:4222', '--gateway', '198.18.0.1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /instance VI_1: arbiter mode failsafe, fencing off; lease TTL 450 ms, renewal every 250 ms, request timeout 50 ms, safety margin 100 ms \(R \+ 2Q \+ M = 450 <= T 450\); Master_Down_Interval 360\.9 ms; all from the advert interval/);
  // The lease outlives Master_Down_Interval without fencing: said, not refused.
  assert.match(r.stderr, /leaseTtlMs 450 ms exceeds Master_Down_Interval 361 ms and fencing is off/);
});

test('--metrics takes HOST:PORT (or [IPV6]:PORT); a bad value is a usage error naming the flag', () => {
  assert.equal(parseAgentArgs(['--config', 'a.yaml', '--metrics', '127.0.0.1:9650']).metrics, '127.0.0.1:9650');
  assert.equal(parseAgentArgs(['--config', 'a.yaml', '--metrics=[::1]:9650']).metrics, '[::1]:9650');
  assert.equal(parseAgentArgs(['--config', 'a.yaml']).metrics, undefined);
  assert.throws(() => parseAgentArgs(['--config', 'a.yaml', '--metrics', '9650']), (e: Error & { code?: string }) => e.code === 'KQ_ERR_USAGE' && /^--metrics 9650: expected HOST:PORT/.test(e.message));
});
