/**
 * keepalived's own adjustments and defaults, mirrored with a warning each.
 * Every case here was checked against keepalived 2.2.7 (`keepalived -t -f`),
 * whose message is quoted in the test name where it helps.
 */
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadKeepalivedConf, parseKeepalivedConf, type Diagnostic } from '../src/mod.js';
import { expectConfigError, tempDir, writeTemp } from './helpers.js';

const FILE = '/virtual/keepalived.conf';

function instance(body: string, before = ''): string {
  return `${before}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n${body}\n}\n`;
}

const VIP = '  virtual_ipaddress {\n    10.0.0.1/24\n  }';
const VIP6 = '  virtual_ipaddress {\n    2001:db8::1/64\n  }';

function load(text: string) {
  const { config, diagnostics } = parseKeepalivedConf(text, FILE);
  return { vi: config.instances[0]!, config, diagnostics, messages: diagnostics.map((d) => d.message) };
}

function only(diags: readonly Diagnostic[], re: RegExp): Diagnostic {
  const hits = diags.filter((d) => re.test(d.message));
  assert.equal(hits.length, 1, `expected one diagnostic matching ${re}, got:\n${diags.map((d) => d.message).join('\n')}`);
  return hits[0]!;
}

describe('keepalived defaults and adjustments', () => {
  it('makes a MASTER without priority the address owner (255), and an owner without state MASTER', () => {
    const a = load(instance(`  state MASTER\n${VIP}`));
    assert.equal(a.vi.priority, 255);
    only(a.diagnostics, /state MASTER without a priority: keepalived makes the instance the address owner, priority 255/);
    const b = load(instance(`  priority 255\n${VIP}`));
    assert.equal(b.vi.initialState, 'MASTER');
    const c = load(instance(VIP));
    assert.deepEqual([c.vi.priority, c.vi.initialState, c.vi.preempt], [100, 'BACKUP', true]);
  });

  it('clears nopreempt with state MASTER ("nopreempt will not work with initial state MASTER - clearing")', () => {
    const { vi, diagnostics } = load(instance(`  state MASTER\n  priority 150\n  nopreempt\n${VIP}`));
    assert.equal(vi.preempt, true);
    assert.equal(only(diagnostics, /nopreempt does not work with state MASTER/).line, 7);
  });

  it('clears nopreempt for the address owner ("nopreempt is incompatible with priority 255")', () => {
    const { vi, diagnostics } = load(instance(`  priority 255\n  nopreempt\n${VIP}`));
    assert.equal(vi.preempt, true);
    only(diagnostics, /nopreempt does not apply to the address owner/);
  });

  it('resets preempt_delay with nopreempt ("preempt_delay is incompatible with nopreempt mode")', () => {
    const { vi, diagnostics } = load(instance(`  nopreempt\n  preempt_delay 30\n${VIP}`));
    assert.deepEqual([vi.preempt, vi.preemptDelayS], [false, 0]);
    only(diagnostics, /preempt_delay has no effect with nopreempt; it is reset to 0/);
    assert.equal(load(instance(`  preempt_delay 4.12\n${VIP}`)).vi.preemptDelayS, 4.12);
  });

  it('rounds a fractional VRRPv2 advert_int to whole seconds, half up, at least 1 ("must be an integer. rounding")', () => {
    for (const [written, cs] of [['1.5', 200], ['1.4', 100], ['0.4', 100], ['3', 300]] as const) {
      const { vi, diagnostics } = load(instance(`  advert_int ${written}\n${VIP}`));
      assert.equal(vi.advertIntervalCs, cs, written);
      assert.equal(diagnostics.length, written === '3' ? 0 : 1, written);
    }
  });

  it('rounds VRRPv3 advert_int to centiseconds and caps it at 40.95 s', () => {
    assert.equal(load(instance(`  version 3\n  advert_int 0.125\n${VIP}`)).vi.advertIntervalCs, 13);
    const capped = load(instance(`  version 3\n  advert_int 60\n${VIP}`));
    assert.equal(capped.vi.advertIntervalCs, 4095);
    only(capped.diagnostics, /VRRPv3 intervals stop at 40\.95 s/);
    assert.equal(load(instance(`  version 3\n  advert_int 0.01\n${VIP}`)).vi.advertIntervalCs, 1);
  });

  it('takes vrrp_priority as the VRRP thread\'s nice value (default -10) and names a value out of -20..19 with its line', () => {
    assert.equal(load(instance(VIP)).config.global.vrrpNice, -10);
    assert.equal(load(instance(VIP, 'global_defs {\n  vrrp_priority -15\n}')).config.global.vrrpNice, -15);
    assert.equal(load(instance(VIP, 'global_defs {\n  vrrp_priority 0\n}')).config.global.vrrpNice, 0);
    const { errors } = expectConfigError(() => parseKeepalivedConf(instance(VIP, 'global_defs {\n  vrrp_priority -21\n}'), FILE));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.line, 2);
    assert.equal(errors[0]!.key, 'global_defs > vrrp_priority');
    assert.match(errors[0]!.message, /a nice value from -20 to 19/);
  });

  it('takes the version from global_defs, wherever global_defs is, and runs IPv6 as VRRPv3 unless version 2 is asked for', () => {
    const text = instance(VIP) + 'global_defs {\n  vrrp_version 3\n}\n';
    assert.equal(load(text).vi.version, 3);
    assert.equal(load(instance(VIP6)).vi.version, 3);
    // keepalived 2.2.7 sends VRRPv2 over IPv6 when told to (libs/vrrp/test/fixtures/keepalived-2.2.7-v2-ipv6.json)...
    const v6 = load(instance(`  version 2\n${VIP6}`));
    assert.equal(v6.vi.version, 2);
    // ...except in strict mode.
    const strict = load('global_defs {\n  vrrp_strict\n}\n' + instance(`  version 2\n${VIP6}`));
    assert.equal(strict.vi.version, 3);
    assert.ok(strict.diagnostics.some((d) => /vrrp_strict: IPv6 cannot use VRRP version 2/.test(d.message)));
  });

  it('ignores authentication on VRRPv3 ("VRRP version 3 does not support authentication. Ignoring.")', () => {
    const { vi, diagnostics } = load(instance(`  version 3\n  authentication {\n    auth_type PASS\n    auth_pass x\n  }\n${VIP}`));
    assert.equal(vi.authentication, undefined);
    only(diagnostics, /VRRPv3 has no authentication/);
  });

  it('ignores authentication without a password ("Authentication specified but no password given")', () => {
    const { vi } = load(instance(`  authentication {\n    auth_type PASS\n  }\n${VIP}`));
    assert.equal(vi.authentication, undefined);
  });

  it('applies vrrp_strict as keepalived does: no authentication, MASTER only for the owner, no preempt_delay', () => {
    const { vi, config, diagnostics } = load(
      instance(`  state MASTER\n  priority 100\n  preempt_delay 5\n  authentication {\n    auth_type PASS\n    auth_pass x\n  }\n${VIP}`, 'global_defs {\n  vrrp_strict\n}'),
    );
    assert.equal(config.global.vrrpStrict, true);
    assert.deepEqual([vi.authentication, vi.initialState, vi.preemptDelayS], [undefined, 'BACKUP', 0]);
    assert.equal(diagnostics.length, 3);
  });

  it('starts an AH instance as BACKUP ("Initial state master is incompatible with AH authentication - clearing")', () => {
    const { vi, diagnostics } = load(instance(`  state MASTER\n  priority 200\n  authentication {\n    auth_type AH\n    auth_pass x\n  }\n${VIP}`));
    assert.equal(vi.initialState, 'BACKUP');
    only(diagnostics, /incompatible with AH authentication/);
  });

  it('keeps the last of a repeated setting and the first of a repeated notify script, saying so', () => {
    const { vi, diagnostics } = load(instance(`  priority 10\n  priority 20\n  notify_master /a.sh\n  notify_master /b.sh\n  state MASTER\n  state BACKUP\n${VIP}`));
    assert.equal(vi.priority, 20);
    assert.deepEqual(vi.notify.master, { command: '/a.sh' });
    assert.equal(vi.initialState, 'MASTER', 'keepalived ignores BACKUP after MASTER');
    assert.equal(diagnostics.length, 3);
  });

  it('treats vrrp_min_garp as one GARP with no second burst', () => {
    const { config } = load(instance(VIP, 'global_defs {\n  vrrp_min_garp\n}'));
    assert.deepEqual([config.global.garp.masterRepeat, config.global.garp.masterDelayS], [1, 0]);
  });

  it('warns once about address and peer options it does not implement, and refuses unknown ones', () => {
    const { vi, diagnostics } = load(
      instance(`  virtual_ipaddress {\n    10.0.0.1/24 dev eth0 no_track preferred_lft forever\n  }\n  unicast_peer {\n    10.0.0.2 min_ttl 250\n  }`),
    );
    assert.deepEqual(vi.virtualAddresses, [{ address: '10.0.0.1', prefixLength: 24, device: 'eth0' }]);
    assert.deepEqual(diagnostics.map((d) => [d.line, d.column]), [[6, 26], [6, 35], [9, 14]]);
    const { errors } = expectConfigError(() => parseKeepalivedConf(instance('  virtual_ipaddress {\n    10.0.0.1/24 dve eth0\n  }'), FILE));
    assert.match(errors[0]!.message, /found 'dve' after 10\.0\.0\.1 \(did you mean 'dev'\?\); expected one of the options dev, label, brd, scope/);
  });

  it('says which keyword wants a block and which does not', () => {
    const { errors } = expectConfigError(() => parseKeepalivedConf(instance(`  priority 100 {\n  }\n  virtual_ipaddress 10.0.0.1/24`), FILE));
    assert.deepEqual(errors.map((d) => d.line), [5, 7]);
    assert.match(errors[0]!.message, /found a '\{ … \}' block after 'priority'/);
    assert.match(errors[1]!.message, /found '10\.0\.0\.1\/24' on the same line; expected a block/);
  });

  it('reports a keyword keepalived does not know anywhere as an error, with a suggestion', () => {
    const { errors } = expectConfigError(() => parseKeepalivedConf('global_def {\n  router_id x\n}\n' + instance(VIP), FILE));
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /found 'global_def', which keepalived does not know at the top level \(did you mean 'global_defs'\?\)/);
  });
});

describe('keepalived includes', () => {
  it('warns when a plain include matches nothing, and fails an includea that matches nothing', () => {
    const dir = tempDir();
    const main = writeTemp(dir, 'keepalived.conf', `include conf.d/*.conf\n${instance(VIP)}`);
    const { diagnostics } = loadKeepalivedConf(main);
    assert.equal(diagnostics.length, 1);
    assert.match(diagnostics[0]!.message, /found no file matching 'conf\.d\/\*\.conf'.*nothing included/);
    const strict = writeTemp(dir, 'strict.conf', `includea conf.d/*.conf\n${instance(VIP)}`);
    const { errors } = expectConfigError(() => loadKeepalivedConf(strict));
    assert.deepEqual([errors[0]!.code, errors[0]!.line, errors[0]!.key], ['KQ_ERR_CONFIG_FILE', 1, 'includea']);
  });

  it('skips an executable included file as keepalived does, with a warning', () => {
    const dir = tempDir();
    chmodSync(writeTemp(dir, 'extra.conf', 'this would be an error if it were read\n'), 0o755);
    const main = writeTemp(dir, 'keepalived.conf', `include extra.conf\n${instance(VIP)}`);
    const { diagnostics } = loadKeepalivedConf(main);
    assert.equal(diagnostics.length, 1);
    assert.match(diagnostics[0]!.message, /is not a regular non-executable file; skipped, as keepalived skips it/);
  });

  it('names the included file and its own line in messages', () => {
    const dir = tempDir();
    writeTemp(dir, 'vi.conf', '\n\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 999\n}\n');
    const main = writeTemp(dir, 'keepalived.conf', 'include vi.conf\n');
    const { errors } = expectConfigError(() => loadKeepalivedConf(main));
    assert.ok(errors[0]!.file.endsWith('/vi.conf'));
    assert.deepEqual([errors[0]!.line, errors[0]!.key], [5, 'vrrp_instance VI_1 > virtual_router_id']);
  });
});
