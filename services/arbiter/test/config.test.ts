import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../libs/config/src/diagnostics.js';
import { loadArbiterConfig, parseArbiterConfig } from '../src/config.js';

const BASE = `cluster: dc1
replica: arb-1
nats:
  servers: [nats://127.0.0.1:4222]
leases:
  replicas: 1
`;

function errorsOf(text: string, file = 'arbiter.yaml'): string[] {
  try {
    parseArbiterConfig(text, file);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.file}:${d.line ?? '-'} ${d.key ?? ''}: ${d.message}`);
  }
  assert.fail('expected a ConfigError');
}

describe('arbiter configuration', () => {
  test('the example in deploy/examples loads, with timing derived from the advert interval', () => {
    const { config, diagnostics } = loadArbiterConfig(new URL('../../../../deploy/examples/arbiter.yaml', import.meta.url).pathname);
    assert.deepEqual(diagnostics, []);
    const vi1 = config.instances.find((i) => i.name === 'VI_1')!;
    assert.deepEqual(vi1.policy, { mode: 'strict', fencing: 'required', timing: { leaseTtlMs: 450, renewIntervalMs: 250, requestTimeoutMs: 50, safetyMarginMs: 100 } });
    assert.equal(config.leases.replicas, 3);
    assert.ok(Object.isFrozen(config.instances[0]));
  });

  test('defaults: mode failsafe, fencing off, 1 s advert interval, history 5, 3 missed heartbeats', () => {
    const { config } = parseArbiterConfig(`${BASE}instances:\n  - name: VI_1\n`, 'a.yaml');
    const i = config.instances[0]!;
    assert.equal(i.policy.mode, 'failsafe');
    assert.equal(i.policy.fencing, 'off');
    assert.deepEqual(i.policy.timing, { leaseTtlMs: 2000, renewIntervalMs: 1000, requestTimeoutMs: 250, safetyMarginMs: 500 });
    assert.equal(config.leases.history, 5);
    assert.equal(config.heartbeats.missed, 3);
    assert.equal(config.stateDir, '/var/lib/keepquorum/arbiter');
  });

  test('the lease bucket replicas must be chosen: 1 or 3, nothing else, and missing is an error naming the key', () => {
    const missing = errorsOf(`cluster: dc1\nreplica: a\nnats: {servers: [nats://127.0.0.1:4222]}\nleases: {}\ninstances: [{name: VI_1}]\n`);
    assert.match(missing.join('\n'), /:4 leases\.replicas: found nothing \(the key is missing\); expected 1 \(a single NATS server\) or 3/);
    const two = errorsOf(BASE.replace('replicas: 1', 'replicas: 2') + 'instances: [{name: VI_1}]\n');
    assert.match(two.join('\n'), /arbiter\.yaml:6 leases\.replicas: found 2; expected 1 .* or 3/);
  });

  test('a lease timing that breaks R + 2Q + M <= T is refused at load with file:line, the key and the numbers', () => {
    const errs = errorsOf(`${BASE}instances:\n  - name: VI_1\n    timing:\n      leaseTtlMs: 300\n`);
    assert.equal(errs.length, 1);
    assert.match(errs[0]!, /^arbiter\.yaml:10 instances\[0\]\.timing\.leaseTtlMs: renewIntervalMs \+ 2\*requestTimeoutMs \+ safetyMarginMs = 1000 \+ 2\*250 \+ 500 = 2000 ms exceeds leaseTtlMs 300 ms/);
  });

  test('a default timing that breaks a rule names advertIntervalMs and the key to set', () => {
    const errs = errorsOf(`${BASE}leases:\n  replicas: 1\n  maxClockSkewMs: 200\ninstances:\n  - name: VI_1\n    advertIntervalMs: 100\n`.replace(`leases:\n  replicas: 1\n`, ''));
    assert.match(errs.join('\n'), /instances\[0\]\.advertIntervalMs: safetyMarginMs 100 ms must exceed the clock skew between arbiter replicas \(200 ms\).*set instances\[0\]\.timing\.safetyMarginMs/);
  });

  test('every error at once: unknown keys with a suggestion, a bad cluster token, a duplicate instance', () => {
    const text = `cluster: dc.1\nreplica: arb-1\nnats: {servers: [nats://127.0.0.1:4222]}\nleases: {replicas: 1, histroy: 3}\ninstances: [{name: VI_1}]\n`;
    const errs = errorsOf(text);
    assert.equal(errs.length, 2);
    assert.match(errs[0]!, /:1 cluster: found 'dc\.1'; expected a cluster name: letters, digits/);
    assert.match(errs[1]!, /:4 leases\.histroy: unknown key 'histroy' \(did you mean 'history'\?\); expected one of replicas, history/);
    const dup = errorsOf(`${BASE}instances:\n  - name: VI_1\n  - name: VI_1\n`);
    assert.match(dup.join('\n'), /:9 instances\[1\]\.name: instance 'VI_1' is already defined at instances\[0\]/);
  });

  test('fencing required without a gateway or without a backend for a member is refused; best-effort without a gateway warns', () => {
    const errs = errorsOf(`${BASE}instances:\n  - name: VI_1\n    fencing: required\n    members: [web1]\n`);
    assert.match(errs.join('\n'), /instances\[0\]\.fencing: fencing 'required' needs gateway\.address/);
    assert.match(errs.join('\n'), /instances\[0\]\.members: fencing 'required' but no fencing backend for web1/);
    const { diagnostics } = parseArbiterConfig(
      `${BASE}defaultFencing: {type: agent, agent: /usr/sbin/fence_dummy}\ninstances:\n  - name: VI_1\n    fencing: best-effort\n`,
      'a.yaml',
    );
    assert.equal(diagnostics.length, 1);
    assert.match(diagnostics[0]!.message, /fencing 'best-effort' needs gateway\.address/);
  });

  test('a webhook backend takes its secret from a file only: an inline secret is an unknown key', () => {
    const errs = errorsOf(`${BASE}nodes:\n  web1:\n    fencing: {type: webhook, url: 'http://127.0.0.1:9/f', secret: abc, secretFile: /x}\ninstances: [{name: VI_1}]\n`);
    assert.match(errs.join('\n'), /nodes\.web1\.fencing\.secret: unknown key 'secret'/);
  });

  test('HTTP without tokens is a warning: every POST would be refused', () => {
    const { diagnostics } = parseArbiterConfig(`${BASE}http: {listen: '127.0.0.1:8440'}\ninstances: [{name: VI_1}]\n`, 'a.yaml');
    assert.match(diagnostics.map((d) => d.message).join('\n'), /no tokensFile or tokensEnv: every POST/);
  });

  test('JSON works as well, and a broken file says where', () => {
    const { config } = parseArbiterConfig(JSON.stringify({ cluster: 'c', replica: 'r', nats: { servers: ['nats://127.0.0.1:4222'] }, leases: { replicas: 1 }, instances: [{ name: 'I' }] }), 'a.json');
    assert.equal(config.cluster, 'c');
    const errs = errorsOf('cluster: dc1\n  replica: [\n', 'b.yaml');
    assert.match(errs[0]!, /^b\.yaml:\d+ : invalid YAML\/JSON/);
  });

  test('a file that cannot be read or has another extension is refused with the reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kq-arb-cfg-'));
    assert.throws(() => loadArbiterConfig(join(dir, 'missing.yaml')), /cannot read the configuration file: ENOENT/);
    writeFileSync(join(dir, 'a.conf'), BASE);
    assert.throws(() => loadArbiterConfig(join(dir, 'a.conf')), /found the extension '\.conf'; expected \.yaml, \.yml or \.json/);
  });
});
