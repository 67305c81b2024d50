/**
 * The keepalived.conf corpus: real-world shaped files that must load (good/)
 * and files that must be refused with a precise message (broken/). Each broken
 * file's expectations name the line, the key and words of the message.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDiagnostics, loadKeepalivedConf, type Diagnostic } from '../src/mod.js';
import { corpusFile, expectConfigError } from './helpers.js';

function good(name: string, options = {}) {
  return loadKeepalivedConf(corpusFile('good', name), options);
}

function warningsOf(diags: readonly Diagnostic[], code?: string): Diagnostic[] {
  return diags.filter((d) => d.severity === 'warning' && (code === undefined || d.code === code));
}

describe('good corpus', () => {
  it('reads the classic keepalived + nginx tutorial: port check with weight, fall/rise, nopreempt, custom multicast group', () => {
    const { config, diagnostics } = good('nginx-classic.conf');
    assert.equal(config.node.id, 'LVS_DEVEL_1');
    assert.equal(config.global.mcastGroup4, '224.0.0.51');
    assert.equal(config.global.enableScriptSecurity, true);
    assert.equal(config.global.skipCheckAdvAddr, true);
    assert.deepEqual(config.global.scriptUser, { user: 'root' });
    assert.deepEqual(
      { ...config.scripts.chk_nginx, source: undefined },
      {
        script: "/usr/bin/timeout 2 /bin/bash -c '</dev/tcp/127.0.0.1/80'",
        intervalS: 2,
        timeoutS: 2,
        weight: -20,
        weightReverse: false,
        fall: 3,
        rise: 2,
        initFail: false,
        source: undefined,
      },
    );
    const [vi] = config.instances;
    assert.ok(vi);
    assert.equal(vi.name, 'VI_1');
    assert.equal(vi.interface, 'eth0');
    assert.equal(vi.vrid, 51);
    assert.equal(vi.priority, 101);
    assert.equal(vi.advertIntervalCs, 100);
    assert.equal(vi.version, 2);
    assert.equal(vi.family, 4);
    assert.equal(vi.initialState, 'BACKUP');
    assert.equal(vi.preempt, false);
    assert.deepEqual(vi.authentication, { type: 'PASS', password: '1111' });
    assert.deepEqual(vi.virtualAddresses, [{ address: '192.168.1.100', prefixLength: 24, device: 'eth0', label: 'eth0:vip' }]);
    assert.deepEqual(vi.trackScripts, [{ name: 'chk_nginx' }]);
    assert.deepEqual(vi.notify.master, { command: '/etc/keepalived/notify.sh MASTER' });
    assert.equal(vi.v3Checksum, 'pseudo-header');
    assert.ok(vi.source?.file.endsWith('nginx-classic.conf'));
    assert.equal(vi.source?.line, 29);
    // the SMTP settings: one warning each, naming file, line and key
    const ignored = warningsOf(diagnostics, 'KQ_WARN_CONFIG_NOT_IMPLEMENTED');
    assert.deepEqual(
      ignored.map((d) => [d.line, d.key]),
      [
        [6, 'global_defs > notification_email'],
        [9, 'global_defs > notification_email_from'],
        [10, 'global_defs > smtp_server'],
        [11, 'global_defs > smtp_connect_timeout'],
      ],
    );
    assert.ok(ignored.every((d) => d.file.endsWith('nginx-classic.conf')));
  });

  it('keeps the zero GARP intervals of the RHEL stock file as keepalived does: warned about, default kept', () => {
    const { config, diagnostics } = good('rhel-stock.conf');
    assert.equal(config.global.garp.intervalS, 0);
    assert.equal(config.global.garp.naIntervalS, 0);
    const adjusted = warningsOf(diagnostics, 'KQ_WARN_CONFIG_ADJUSTED');
    assert.deepEqual(adjusted.map((d) => d.line), [15, 16]);
    assert.match(adjusted[0]!.message, /found '0'.*ignored as keepalived ignores it/);
    const vi = config.instances[0]!;
    assert.equal(vi.initialState, 'MASTER');
    assert.equal(vi.priority, 100);
    assert.deepEqual(vi.virtualAddresses.map((v) => `${v.address}/${v.prefixLength}`), ['192.168.200.16/32', '192.168.200.17/32', '192.168.200.18/32']);
  });

  it('reads a unicast pair at VRRPv3 0.1 s and drops tracking of the own interface as keepalived does', () => {
    const { config, diagnostics } = good('unicast-pair.conf');
    const vi = config.instances[0]!;
    assert.equal(vi.version, 3);
    assert.equal(vi.advertIntervalCs, 10);
    assert.equal(vi.preemptDelayS, 5);
    assert.equal(vi.unicastSourceIp, '10.10.0.11');
    assert.deepEqual(vi.unicastPeers, ['10.10.0.12']);
    assert.deepEqual(vi.trackInterfaces, [{ name: 'ens224', weight: -30, reverse: false }]);
    const [own] = warningsOf(diagnostics);
    assert.equal(own?.line, 27);
    assert.match(own!.message, /own interface.*ignored, as keepalived ignores it/);
  });

  it('reads a sync group with its notify scripts and GARP settings', () => {
    const { config, diagnostics } = good('sync-group.conf');
    assert.deepEqual(warningsOf(diagnostics), []);
    assert.deepEqual(config.global.garp, { masterDelayS: 10, masterRepeat: 3, masterRefreshS: 60, masterRefreshRepeat: 2, intervalS: 0.001, naIntervalS: 0.000001 });
    assert.deepEqual(config.global.scriptUser, { user: 'keepalived_script' });
    const [group] = config.syncGroups;
    assert.equal(group?.name, 'VG_FW');
    assert.deepEqual(group?.instances, ['VI_OUTSIDE', 'VI_INSIDE']);
    assert.deepEqual(group?.notify.any, { command: '/etc/keepalived/fw-any.sh' });
    assert.deepEqual(group?.notify.fault, { command: '/etc/keepalived/fw-notify.sh fault' });
    const outside = config.instances[0]!;
    assert.deepEqual(outside.virtualAddresses[0], { address: '203.0.113.10', prefixLength: 24, broadcast: '203.0.113.255', device: 'eth0', label: 'eth0:1' });
    assert.deepEqual(outside.virtualAddresses[1], { address: '203.0.113.11', prefixLength: 24, device: 'eth0', scope: 'global' });
    assert.deepEqual(outside.virtualAddressesExcluded, [{ address: '2001:db8::10', prefixLength: 64, device: 'eth0' }]);
    assert.equal(outside.family, 4);
    assert.deepEqual(config.instances[1]!.notify.stop, { command: '/etc/keepalived/inside-stop.sh' });
  });

  it('runs an IPv6 instance as VRRPv3 whatever the default version', () => {
    const { config } = good('ipv6.conf');
    const vi = config.instances[0]!;
    assert.equal(vi.family, 6);
    assert.equal(vi.version, 3);
    assert.deepEqual(vi.virtualAddresses.map((v) => v.prefixLength), [64, 64]);
    assert.equal(vi.mcastSourceIp, 'fe80::1');
  });

  it('skips virtual_server, real_server checks, SMTP, SNMP and SSL with exactly one warning per block, never an error', () => {
    const { config, diagnostics } = good('lvs-with-vrrp.conf');
    assert.equal(config.instances.length, 1);
    const ignored = warningsOf(diagnostics, 'KQ_WARN_CONFIG_NOT_IMPLEMENTED');
    assert.deepEqual(
      ignored.map((d) => `${d.line} ${d.key}`),
      [
        '5 global_defs > notification_email',
        '9 global_defs > notification_email_from',
        '10 global_defs > smtp_server',
        '11 global_defs > smtp_connect_timeout',
        '13 global_defs > enable_snmp_vrrp',
        '22 vrrp_instance VI_LVS > smtp_alert',
        '32 virtual_server',
        '59 virtual_server',
        '76 SSL',
      ],
    );
    assert.match(ignored[6]!.message, /its block \(lines 32-57\) is skipped/);
    // nothing inside the skipped blocks (HTTP_GET, url, lb_algo…) was looked at
    assert.equal(diagnostics.length, ignored.length);
  });

  it('accepts what keepalived accepts: braces without spaces, a block brace on the next line, one-line blocks, comments inside lines', () => {
    const { config, diagnostics } = good('quirks.conf');
    assert.equal(config.node.id, 'quirky node');
    assert.equal(config.global.enableScriptSecurity, true);
    const chk = config.scripts.chk_api!;
    assert.equal(chk.script, "/usr/bin/curl -fsS 'http://127.0.0.1:8080/health?probe=1#frag' -o /dev/null");
    assert.equal(chk.weight, 10);
    assert.equal(chk.weightReverse, true);
    assert.equal(chk.timeoutS, 2);
    assert.equal(chk.user, 'root');
    assert.equal(chk.group, 'root');
    assert.equal(chk.initFail, true);
    const vi = config.instances[0]!;
    assert.equal(vi.name, 'VI_Q');
    assert.deepEqual(vi.virtualAddresses, [{ address: '10.77.0.1', prefixLength: 24 }]);
    assert.deepEqual(vi.trackScripts, [{ name: 'chk_api', weight: -15 }]);
    assert.deepEqual(vi.notify.any, { command: '/etc/keepalived/log-state.sh "VI Q"' });
    // keepalived's adjustments, mirrored with a warning each
    assert.equal(vi.advertIntervalCs, 100);
    assert.equal(vi.authentication?.password, 'averylongpassword');
    const adjusted = warningsOf(diagnostics, 'KQ_WARN_CONFIG_ADJUSTED');
    assert.deepEqual(adjusted.map((d) => d.key), ['vrrp_instance VI_Q > advert_int', 'vrrp_instance VI_Q > authentication > auth_pass']);
    assert.match(adjusted[0]!.message, /advert_int 0\.5 is rounded to 1, as keepalived rounds it/);
    assert.match(adjusted[1]!.message, /only the first 8 are sent/);
  });

  it('follows includes: brace and star globs relative to the including file, nested includes relative to their own file', () => {
    const { config, diagnostics } = good('includes/keepalived.conf');
    assert.deepEqual(warningsOf(diagnostics), []);
    assert.deepEqual(Object.keys(config.scripts), ['chk_http', 'chk_dns']);
    assert.deepEqual(config.instances.map((i) => i.name), ['VI_WEB', 'VI_DNS']);
    const web = config.instances[0]!;
    assert.ok(web.source?.file.endsWith('includes/conf.d/10-web.conf'));
    assert.equal(web.source?.line, 1);
    assert.deepEqual(web.notify.master, { command: '/etc/keepalived/web.sh up' });
    assert.ok(config.scripts.chk_dns?.source?.file.endsWith('includes/scripts/dns.conf'));
  });

  it('honours @config-id lines and $definitions, as keepalived -i does', () => {
    const lb1 = good('conditional.conf', { configId: 'lb1' }).config.instances[0]!;
    assert.equal(lb1.priority, 150);
    assert.equal(lb1.interface, 'eth0');
    assert.equal(lb1.unicastSourceIp, '172.16.5.11');
    assert.deepEqual(lb1.unicastPeers, ['172.16.5.12']);
    assert.deepEqual(lb1.virtualAddresses, [{ address: '172.16.5.100', prefixLength: 24, device: 'eth0' }]);
    const lb2 = good('conditional.conf', { configId: 'lb2' });
    assert.equal(lb2.config.node.id, 'lb2');
    assert.equal(lb2.config.instances[0]!.priority, 100);
    assert.deepEqual(lb2.config.instances[0]!.unicastPeers, ['172.16.5.11']);
  });

  it('returns frozen configs', () => {
    const { config } = good('sync-group.conf');
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.instances[0]!.virtualAddresses[0]));
    assert.throws(() => {
      (config.instances[0] as { priority: number }).priority = 1;
    }, TypeError);
  });
});

interface Expected {
  line: number;
  key: string;
  /** Every pattern must match the message. */
  message: RegExp[];
  file?: string;
}

const broken: Record<string, Expected[]> = {
  'unclosed-brace.conf': [
    { line: 6, key: 'virtual_ipaddress', message: [/found no '}' closing 'virtual_ipaddress \{' before line 8/, /'vrrp_instance VI_1 \{' \(line 1\) is never closed/] },
  ],
  'missing-close-before-next-block.conf': [
    { line: 1, key: 'vrrp_instance VI_1', message: [/found no '}' closing 'vrrp_instance VI_1 \{' before line 8/, /expected a '}' before line 8/] },
  ],
  'stray-brace.conf': [{ line: 10, key: '}', message: [/found a '}' that closes nothing/, /expected a '\{' before it/] }],
  'unknown-keyword.conf': [
    { line: 5, key: 'vrrp_instance VI_1 > priorty', message: [/found 'priorty', which keepalived does not know in vrrp_instance/, /did you mean 'priority'\?/, /expected one of state, interface/] },
  ],
  'duplicate-script.conf': [
    { line: 11, key: 'vrrp_script chk_nginx', message: [/vrrp_script 'chk_nginx' is already defined at .*duplicate-script\.conf:6/, /expected unique names/] },
  ],
  'duplicate-instance.conf': [
    { line: 9, key: 'vrrp_instance VI_1', message: [/vrrp_instance 'VI_1' is already defined at .*duplicate-instance\.conf:1/, /expected unique names/] },
  ],
  'duplicate-vrid.conf': [
    { line: 11, key: 'vrrp_instance VI_DB > virtual_router_id', message: [/VRID 51 is already used on eth0 \(IPv4\) by instance 'VI_WEB' at .*duplicate-vrid\.conf:1/, /expected a VRID unique per interface and family/] },
  ],
  'undefined-track-script.conf': [
    { line: 17, key: 'vrrp_instance VI_1 > track_script', message: [/found 'chk_ngnix', which is not a defined script/, /did you mean 'chk_nginx'\?/, /expected one of chk_nginx/] },
  ],
  'priority-out-of-range.conf': [
    { line: 5, key: 'vrrp_instance VI_1 > priority', message: [/found '300'; expected an integer from 1 to 255/] },
  ],
  'mixed-family.conf': [
    { line: 6, key: 'vrrp_instance VI_1 > virtual_ipaddress', message: [/found IPv6 address 2001:db8::100; expected an IPv4 address/, /virtual_ipaddress_excluded/] },
  ],
  'lowercase-state.conf': [{ line: 2, key: 'vrrp_instance VI_1 > state', message: [/found 'master'; expected MASTER or BACKUP/, /upper case/] }],
  'track-script-without-block.conf': [
    { line: 13, key: 'vrrp_instance VI_1 > track_script', message: [/found 'chk_nginx' on the same line; expected a block/] },
  ],
  'unterminated-quote.conf': [{ line: 7, key: 'script', message: [/found an unterminated double quote/, /expected a closing '"'/] }],
  'sync-group-unknown-member.conf': [
    { line: 4, key: 'vrrp_sync_group VG_1 > group', message: [/found 'VI_3', which is not a defined instance/, /expected one of VI_1, VI_2/] },
  ],
  'sequence-block.conf': [{ line: 5, key: '~SEQ', message: [/keepquorum does not expand sequence or list blocks/] }],
  'include-cycle/keepalived.conf': [
    {
      line: 8,
      file: 'include-cycle/instances.conf',
      key: 'include',
      message: [/including '.*include-cycle\/keepalived\.conf' would loop/, /keepalived\.conf -> .*instances\.conf -> .*keepalived\.conf/],
    },
  ],
  'many-errors.conf': [
    { line: 4, key: 'vrrp_script chk > weight', message: [/found '254'; expected an integer from -253 to 253/] },
    { line: 5, key: 'vrrp_script chk > fall', message: [/found '0'; expected an integer of at least 1/] },
    { line: 9, key: 'vrrp_instance VI_1 > state', message: [/found 'master'; expected MASTER or BACKUP/] },
    { line: 11, key: 'vrrp_instance VI_1 > virtual_router_id', message: [/found '256'; expected an integer from 1 to 255/] },
    { line: 12, key: 'vrrp_instance VI_1 > priority', message: [/found 'high'; expected an integer from 1 to 255/] },
    { line: 13, key: 'vrrp_instance VI_1 > advert_int', message: [/found '300'; expected a number of seconds from 0\.01 to 255/] },
    { line: 15, key: 'vrrp_instance VI_1 > virtual_ipaddress', message: [/found '192\.168\.1\.300\/24'; expected IP\[\/MASK\]/] },
    { line: 16, key: 'vrrp_instance VI_1 > virtual_ipaddress', message: [/found no value after 'dev'/] },
    { line: 19, key: 'vrrp_instance VI_1 > unicast_peer', message: [/found '192\.168\.1\.3' after the peer 192\.168\.1\.2 \(one peer per line\)/] },
  ],
};

describe('broken corpus', () => {
  for (const [name, expected] of Object.entries(broken)) {
    it(`refuses ${name} naming file:line, key, what was found and what was expected`, () => {
      const path = corpusFile('broken', name);
      const { error, errors } = expectConfigError(() => loadKeepalivedConf(path));
      const sorted = [...errors].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
      assert.equal(sorted.length, expected.length, `errors were:\n${formatDiagnostics(errors)}`);
      expected.forEach((exp, i) => {
        const d = sorted[i]!;
        assert.ok(d.file.endsWith(exp.file ?? name), `${d.file} should be ${exp.file ?? name}`);
        assert.equal(d.line, exp.line, formatDiagnostics([d]));
        assert.equal(d.key, exp.key, formatDiagnostics([d]));
        for (const re of exp.message) assert.match(d.message, re);
        // the thrown message lists every error with its location
        assert.ok(error.message.includes(`${d.file}:${d.line}`), error.message);
        assert.ok(error.message.includes(d.message), error.message);
      });
    });
  }
});
