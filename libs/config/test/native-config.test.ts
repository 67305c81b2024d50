/**
 * The native format (YAML/JSON): the same model as keepalived.conf, zod
 * validated, with messages that name the file, the line and the key path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AgentConfigSchema,
  formatDiagnostics,
  loadAgentConfig,
  loadKeepalivedConf,
  parseAgentConfig,
  type AgentConfig,
} from '../src/mod.js';
import { corpusFile, expectConfigError, tempDir, writeTemp } from './helpers.js';

const NGINX_YAML = `# the classic keepalived + nginx node, in keepquorum's own format
node:
  id: LVS_DEVEL_1
global:
  mcastGroup4: 224.0.0.51
  skipCheckAdvAddr: true
  enableScriptSecurity: true
  scriptUser: { user: root }
scripts:
  chk_nginx:
    script: "/usr/bin/timeout 2 /bin/bash -c '</dev/tcp/127.0.0.1/80'"
    intervalS: 2
    weight: -20
    fall: 3
    rise: 2
instances:
  - name: VI_1
    interface: eth0
    vrid: 51
    priority: 101
    advertIntervalCs: 100
    preempt: false
    authentication: { type: PASS, password: "1111" }
    virtualAddresses:
      - { address: 192.168.1.100, prefixLength: 24, device: eth0, label: "eth0:vip" }
    trackScripts:
      - name: chk_nginx
    notify:
      master: /etc/keepalived/notify.sh MASTER
      backup: /etc/keepalived/notify.sh BACKUP
      fault: /etc/keepalived/notify.sh FAULT
`;

function withoutSources(config: AgentConfig): unknown {
  return JSON.parse(JSON.stringify(config, (k, v) => (k === 'source' ? undefined : v)));
}

function yaml(text: string) {
  return parseAgentConfig(text, 'agent.yaml', 'yaml');
}

describe('native YAML/JSON configuration', () => {
  it('gives the same model as the equivalent keepalived.conf', () => {
    const fromYaml = yaml(NGINX_YAML);
    assert.deepEqual(fromYaml.diagnostics, []);
    const fromKeepalived = loadKeepalivedConf(corpusFile('good', 'nginx-classic.conf'));
    assert.deepEqual(withoutSources(fromYaml.config), withoutSources(fromKeepalived.config));
  });

  it('loads .yaml, .yml and .json files by extension', () => {
    const dir = tempDir();
    const minimal = { instances: [{ name: 'VI_1', interface: 'eth0', vrid: 7, virtualAddresses: ['10.0.0.7/24'] }] };
    for (const [name, text] of [
      ['a.yaml', NGINX_YAML],
      ['b.yml', NGINX_YAML],
      ['c.json', JSON.stringify(minimal, null, 2)],
    ] as const) {
      const { config } = loadAgentConfig(writeTemp(dir, name, text));
      assert.ok(config.instances.length === 1, name);
    }
    const { errors } = expectConfigError(() => loadAgentConfig(writeTemp(dir, 'd.toml', '')));
    assert.match(errors[0]!.message, /found the extension '\.toml'; expected \.yaml, \.yml or \.json/);
    const missing = expectConfigError(() => loadAgentConfig(`${dir}/nope.yaml`));
    assert.equal(missing.errors[0]!.code, 'KQ_ERR_CONFIG_FILE');
  });

  it('fills in keepalived defaults and resolves version and family per instance', () => {
    const { config, diagnostics } = yaml(`
scripts:
  chk: { script: /bin/true, intervalS: 3 }
instances:
  - { name: A, interface: eth0, vrid: 1, virtualAddresses: [10.0.0.1] }
  - { name: B, interface: eth0, vrid: 1, virtualAddresses: ["2001:db8::1/64"] }
  - { name: C, interface: eth0, vrid: 3, version: 3, virtualAddresses: [10.0.0.3/24] }
`);
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(config.global, {
      vrrpVersion: 2,
      mcastGroup4: '224.0.0.18',
      mcastGroup6: 'ff02::12',
      garp: { masterDelayS: 5, masterRepeat: 5, masterRefreshS: 0, masterRefreshRepeat: 1, intervalS: 0, naIntervalS: 0 },
      enableScriptSecurity: false,
      vrrpStrict: false,
      skipCheckAdvAddr: false,
      vrrpNice: -10,
    });
    assert.equal(config.scripts.chk!.timeoutS, 3, 'timeout defaults to the interval, as in keepalived');
    assert.deepEqual((withoutSources(config) as AgentConfig).scripts, { chk: { script: '/bin/true', intervalS: 3, timeoutS: 3, weight: 0, weightReverse: false, rise: 1, fall: 1, initFail: false } });
    assert.deepEqual(config.scripts.chk!.source, { file: 'agent.yaml', line: 3 }, 'YAML entries get their file:line too');
    const [a, b, c] = config.instances;
    assert.deepEqual(
      { priority: a!.priority, advert: a!.advertIntervalCs, state: a!.initialState, preempt: a!.preempt, delay: a!.preemptDelayS, version: a!.version, family: a!.family, vip: a!.virtualAddresses[0] },
      { priority: 100, advert: 100, state: 'BACKUP', preempt: true, delay: 0, version: 2, family: 4, vip: { address: '10.0.0.1', prefixLength: 32 } },
    );
    assert.deepEqual([b!.family, b!.version, b!.virtualAddresses[0]!.prefixLength], [6, 3, 64], 'IPv6 runs VRRPv3; VRID 1 may repeat across families');
    assert.equal(c!.version, 3);
    assert.ok(config.node.id.length > 0, 'node id defaults to the host name');
  });

  it('names the line, the key path, what was found and what was expected for a value out of range', () => {
    const { errors } = expectConfigError(() =>
      yaml(`instances:
  - name: VI_1
    interface: eth0
    vrid: 51
    priority: 300
    virtualAddresses: [10.0.0.1/24]
`),
    );
    assert.equal(errors.length, 1);
    assert.deepEqual([errors[0]!.file, errors[0]!.line, errors[0]!.key], ['agent.yaml', 5, 'instances[0].priority']);
    assert.equal(errors[0]!.message, 'found 300; expected an integer from 1 to 255');
  });

  it('reports every error of the file in one ConfigError', () => {
    const { error, errors } = expectConfigError(() =>
      yaml(`global:
  vrrpVersion: 4
  mcastGroup4: 10.0.0.1
instances:
  - name: VI_1
    interface: eth0
    prority: 100
    virtualAddresses:
      - 10.0.0.1/33
      - { address: nope }
    initialState: master
`),
    );
    const got = errors.map((d) => `${d.line} ${d.key}: ${d.message}`).sort();
    assert.deepEqual(got, [
      "11 instances[0].initialState: found 'master'; expected MASTER or BACKUP",
      '2 global.vrrpVersion: found 4; expected VRRP version 2 or 3',
      "3 global.mcastGroup4: found '10.0.0.1'; expected an IPv4 multicast address (224.0.0.0/4)",
      "5 instances[0].vrid: found nothing (the key is missing); expected an integer from 1 to 255",
      "7 instances[0].prority: unknown key 'prority' (did you mean 'priority'?); expected one of name, interface, vrid, priority, advertIntervalCs, version, initialState, preempt, preemptDelayS, authentication, virtualAddresses, virtualAddressesExcluded, family, unicastSourceIp, unicastPeers, mcastSourceIp, trackInterfaces, trackScripts, notify, v3Checksum, arbiter",
      '9 instances[0].virtualAddresses[0].prefixLength: found 33; expected a prefix length from 0 to 32',
      "10 instances[0].virtualAddresses[1].address: found 'nope'; expected an IPv4 or IPv6 address",
    ].sort());
    assert.match(error.message, /^agent\.yaml: 7 errors in the configuration:/);
    assert.equal(error.code, 'KQ_ERR_CONFIG_VALUE');
  });

  it('checks references and duplicates across sections', () => {
    const { errors } = expectConfigError(() =>
      yaml(`scripts:
  chk_nginx: { script: /bin/true }
instances:
  - name: VI_1
    interface: eth0
    vrid: 51
    virtualAddresses: [10.0.0.1/24]
    trackScripts: [{ name: chk_ngnix }]
  - name: VI_1
    interface: eth0
    vrid: 51
    virtualAddresses: [10.0.0.2/24, "2001:db8::2"]
syncGroups:
  - { name: G, instances: [VI_1, VI_9] }
`),
    );
    const got = errors.map((d) => `${d.line} ${d.key} ${d.code}`);
    assert.deepEqual(got, [
      '8 instances[0].trackScripts[0].name KQ_ERR_CONFIG_REFERENCE',
      '9 instances[1].name KQ_ERR_CONFIG_DUPLICATE',
      '12 instances[1].virtualAddresses[1] KQ_ERR_CONFIG_VALUE',
      '11 instances[1].vrid KQ_ERR_CONFIG_DUPLICATE',
      '14 syncGroups[0].instances[1] KQ_ERR_CONFIG_REFERENCE',
    ]);
    assert.match(errors[0]!.message, /found 'chk_ngnix', which is not a defined script \(did you mean 'chk_nginx'\?\)/);
    assert.match(errors[3]!.message, /VRID 51 is already used on eth0 \(IPv4\) by instance 'VI_1' at agent\.yaml:4/);
  });

  it('wants VRRPv2 intervals in whole seconds and no authentication on VRRPv3', () => {
    const { errors } = expectConfigError(() =>
      yaml(`instances:
  - { name: A, interface: eth0, vrid: 1, advertIntervalCs: 150, virtualAddresses: [10.0.0.1] }
  - { name: B, interface: eth0, vrid: 2, version: 3, authentication: { type: PASS, password: x }, virtualAddresses: [10.0.0.2] }
`),
    );
    assert.deepEqual(errors.map((d) => d.key), ['instances[0].advertIntervalCs', 'instances[1].authentication']);
    assert.match(errors[0]!.message, /found 150 cs; expected a multiple of 100 cs: VRRPv2 carries the interval in whole seconds/);
  });

  it('warns about what is legal but probably not meant', () => {
    const { diagnostics } = yaml(`instances:
  - name: A
    interface: eth0
    vrid: 1
    authentication: { type: PASS, password: "0123456789" }
  - { name: B, interface: eth0, vrid: 2, initialState: MASTER, preempt: false, virtualAddresses: [10.0.0.2] }
syncGroups:
  - { name: G, instances: [A] }
`);
    assert.deepEqual(
      diagnostics.map((d) => `${d.line} ${d.key}`),
      ['2 instances[0]', '5 instances[0].authentication.password', '6 instances[1].preempt', '8 syncGroups[0].instances'],
    );
    assert.ok(diagnostics.every((d) => d.severity === 'warning'));
    assert.match(diagnostics[1]!.message, /only the first 8 are sent/);
    assert.doesNotMatch(diagnostics[1]!.message, /01234567/, 'no part of a password in a message');
  });

  it('keeps the yaml library line and column for a YAML syntax error', () => {
    const { errors } = expectConfigError(() => yaml('instances:\n  - name: VI_1\n    vrid: [1, 2\n'));
    assert.equal(errors[0]!.code, 'KQ_ERR_CONFIG_SYNTAX');
    assert.equal(errors[0]!.file, 'agent.yaml');
    assert.ok(errors[0]!.line !== undefined && errors[0]!.line >= 3, formatDiagnostics(errors));
    const dup = expectConfigError(() => yaml('node: { id: a }\nnode: { id: b }\n'));
    assert.equal(dup.errors[0]!.line, 2);
  });

  it('gives the line of a JSON syntax error and locates JSON schema errors too', () => {
    const bad = expectConfigError(() => parseAgentConfig('{\n  "instances": [\n    {"name": "x",}\n  ]\n}\n', 'agent.json', 'json'));
    assert.equal(bad.errors[0]!.code, 'KQ_ERR_CONFIG_SYNTAX');
    assert.equal(bad.errors[0]!.line, 3);
    const { errors } = expectConfigError(() =>
      parseAgentConfig('{\n  "instances": [\n    {\n      "name": "x",\n      "interface": "eth0",\n      "vrid": 0\n    }\n  ]\n}\n', 'agent.json', 'json'),
    );
    assert.deepEqual([errors[0]!.line, errors[0]!.key, errors[0]!.message], [6, 'instances[0].vrid', 'found 0; expected an integer from 1 to 255']);
  });

  it('accepts the VIP and notify shorthands and normalises them', () => {
    const { config } = yaml(`instances:
  - name: A
    interface: eth0
    vrid: 1
    virtualAddresses: ["10.0.0.1/24", { address: 10.0.0.2, scope: link }]
    notify: { master: /x.sh, backup: { command: /y.sh up, user: nobody } }
`);
    assert.deepEqual(config.instances[0]!.virtualAddresses, [
      { address: '10.0.0.1', prefixLength: 24 },
      { address: '10.0.0.2', scope: 'link', prefixLength: 32 },
    ]);
    assert.deepEqual(config.instances[0]!.notify, { master: { command: '/x.sh' }, backup: { command: '/y.sh up', user: 'nobody' } });
  });

  it('freezes the config all the way down', () => {
    const { config } = yaml(NGINX_YAML);
    assert.ok(Object.isFrozen(config.instances[0]!.trackScripts));
    assert.throws(() => (config.global.garp as { masterRepeat: number }).masterRepeat++, TypeError);
  });

  it('exports the schema so other parts can validate fragments', () => {
    const parsed = AgentConfigSchema.parse({ instances: [{ name: 'A', interface: 'eth0', vrid: 9 }] });
    assert.equal(parsed.instances[0]!.priority, 100);
  });
});
