/**
 * The arbiter's settings in the native model and the overlay: per instance
 * mode/fencing/timing with top-level defaults, the node's gateway, and the
 * timing rules checked with file:line and key.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyOverlay, describeArbiter, parseAgentConfig, parseKeepalivedConf, parseOverlay, resolveArbiter } from '../src/mod.js';
import { expectConfigError } from './helpers.js';

const NATS = `nats:
  servers: [nats://127.0.0.1:4222]
`;

function yaml(body: string): string {
  return `node:
  id: web1
  gateway: 198.18.0.1
${NATS}instances:
  - name: VI_1
    interface: eth0
    vrid: 51
    priority: 100
    version: 3
    advertIntervalCs: 100
    virtualAddresses: [198.18.10.1/16]
${body}`;
}

describe('arbiter settings', () => {
  it('defaults: failsafe, fencing off, timing from the advert interval (A = 1 s: T 2000, R 1000, Q 250, M 500)', () => {
    const { config } = parseAgentConfig(yaml(''), 'agent.yaml', 'yaml');
    const r = resolveArbiter(config);
    assert.deepEqual(r.diagnostics, []);
    assert.equal(r.instances[0]!.mode, 'failsafe');
    assert.equal(r.instances[0]!.fencing, 'off');
    assert.deepEqual(r.instances[0]!.timing, { leaseTtlMs: 2000, renewIntervalMs: 1000, requestTimeoutMs: 250, safetyMarginMs: 500 });
    assert.equal(config.node.gateway?.address, '198.18.0.1');
    assert.equal(config.node.gateway?.intervalMs, 500);
    assert.equal(config.node.gateway?.timeoutMs, 400);
  });

  it("an instance's own settings win over the top-level defaults; unset timing keys follow the advert interval", () => {
    const text = `arbiter:
  mode: strict
  fencing: best-effort
  timing: { leaseTtlMs: 3000 }
${yaml(`    arbiter:
      fencing: required
      timing: { renewIntervalMs: 800 }
`)}`;
    const { config } = parseAgentConfig(text, 'agent.yaml', 'yaml');
    const [r] = resolveArbiter(config).instances;
    assert.equal(r!.mode, 'strict');
    assert.equal(r!.fencing, 'required');
    assert.deepEqual(r!.timing, { leaseTtlMs: 3000, renewIntervalMs: 800, requestTimeoutMs: 250, safetyMarginMs: 500 });
    assert.deepEqual(r!.timingSet, ['leaseTtlMs', 'renewIntervalMs']);
    assert.match(describeArbiter(r!), /arbiter mode strict, fencing required; lease TTL 3000 ms, renewal every 800 ms, request timeout 250 ms, safety margin 500 ms \(R \+ 2Q \+ M = 1800 <= T 3000\)/);
  });

  it('a lease too short for a renewal, a retry and the margin is an error naming the file, line and key', () => {
    const text = yaml(`    arbiter:
      timing:
        leaseTtlMs: 1200
`);
    const { config } = parseAgentConfig(text, 'agent.yaml', 'yaml');
    const errors = resolveArbiter(config).diagnostics.filter((d) => d.severity === 'error');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.file, 'agent.yaml');
    assert.equal(errors[0]!.line, 15); // the timing block's line; the key names the value
    assert.equal(errors[0]!.key, 'instances[0].arbiter.timing.leaseTtlMs');
    assert.match(errors[0]!.message, /instance VI_1: renewIntervalMs \+ 2\*requestTimeoutMs \+ safetyMarginMs = 1000 \+ 2\*250 \+ 500 = 2000 ms exceeds leaseTtlMs 1200 ms/);
  });

  it('a safety margin within the clock skew is an error at the top-level timing', () => {
    const text = `arbiter:
  maxClockSkewMs: 600
${yaml('')}`;
    const { config } = parseAgentConfig(text, 'agent.yaml', 'yaml');
    const [e] = resolveArbiter(config).diagnostics;
    assert.equal(e!.severity, 'error');
    assert.match(e!.message, /safetyMarginMs 500 ms must exceed the clock skew between arbiter replicas \(600 ms\).*follows from the advert interval 1000 ms/);
    assert.equal(e!.key, 'instances[0].advertIntervalCs');
  });

  it('without NATS every instance runs in mode off, with a warning only when a mode was asked for', () => {
    const plain = parseAgentConfig(yaml('').replace(NATS, ''), 'agent.yaml', 'yaml').config;
    const quiet = resolveArbiter(plain);
    assert.equal(quiet.instances[0]!.mode, 'off');
    assert.deepEqual(quiet.diagnostics, []);
    const asked = parseAgentConfig(`arbiter: { mode: strict }\n${yaml('').replace(NATS, '')}`, 'agent.yaml', 'yaml').config;
    const r = resolveArbiter(asked);
    assert.equal(r.instances[0]!.mode, 'off');
    assert.equal(r.diagnostics.length, 1);
    assert.equal(r.diagnostics[0]!.severity, 'warning');
    assert.equal(r.diagnostics[0]!.line, 1);
    assert.match(r.diagnostics[0]!.message, /no NATS servers are configured .*VI_1 \(strict\) runs as plain VRRP \(mode off\)/);
  });

  it('NATS without a gateway: mode off when nobody asked (the event log only), an error when a mode was asked', () => {
    const noGw = yaml('').replace('  gateway: 198.18.0.1\n', '');
    assert.equal(resolveArbiter(parseAgentConfig(noGw, 'agent.yaml', 'yaml').config).instances[0]!.mode, 'off');
    const asked = parseAgentConfig(noGw + '    arbiter: { mode: failsafe }\n', 'agent.yaml', 'yaml').config;
    const [e] = resolveArbiter(asked).diagnostics;
    assert.equal(e!.severity, 'error');
    assert.equal(e!.key, 'instances[0].arbiter.mode');
    assert.equal(e!.line, 13);
    assert.match(e!.message, /mode failsafe needs the node's gateway \(node.gateway, --gateway IP\)/);
  });

  it('wrong values are refused by the schema with their key', () => {
    const { errors } = expectConfigError(() => parseAgentConfig(yaml(`    arbiter: { mode: quorum, fencing: maybe, timing: { leaseTtl: 5 } }\n`), 'agent.yaml', 'yaml'));
    const text = errors.map((d) => `${d.line} ${d.key}: ${d.message}`).join('\n');
    assert.match(text, /14 instances\[0\]\.arbiter\.mode: found 'quorum'; expected strict, failsafe or off/);
    assert.match(text, /instances\[0\]\.arbiter\.fencing: found 'maybe'; expected off, best-effort or required/);
    assert.match(text, /unknown key 'leaseTtl' \(did you mean 'leaseTtlMs'\?\)/);
  });

  it('a gateway that is not an address is refused', () => {
    const { errors } = expectConfigError(() => parseAgentConfig(yaml('').replace('gateway: 198.18.0.1', 'gateway: gw.example'), 'agent.yaml', 'yaml'));
    assert.equal(errors[0]!.key, 'node.gateway.address');
    assert.equal(errors[0]!.line, 3);
  });
});

describe('overlay with the arbiter', () => {
  const KEEPALIVED = `vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 0.1
  version 3
  virtual_ipaddress {
    198.18.10.1/16
  }
}
`;

  it('sets mode, fencing, timing and the gateway for a keepalived.conf', () => {
    const { overlay, diagnostics } = parseOverlay(
      `node: { id: web1, gateway: 198.18.0.1 }
nats: { servers: [nats://127.0.0.1:4222] }
arbiter:
  mode: strict
  fencing: required
  timing: { leaseTtlMs: 600 }
`,
      'overlay.yaml',
      'yaml',
    );
    assert.deepEqual(diagnostics, []);
    const config = applyOverlay(parseKeepalivedConf(KEEPALIVED, 'keepalived.conf').config, overlay);
    const r = resolveArbiter(config);
    assert.deepEqual(r.diagnostics, []);
    assert.equal(r.instances[0]!.mode, 'strict');
    assert.equal(r.instances[0]!.fencing, 'required');
    // A = 100 ms: the floors, and the TTL as set.
    assert.deepEqual(r.instances[0]!.timing, { leaseTtlMs: 600, renewIntervalMs: 250, requestTimeoutMs: 50, safetyMarginMs: 100 });
  });

  it("an overlay's timing that breaks the rule for a keepalived.conf's interval names the overlay's line", () => {
    const { overlay } = parseOverlay(
      `node: { id: web1, gateway: 198.18.0.1 }
nats: { servers: [nats://127.0.0.1:4222] }
arbiter:
  timing:
    leaseTtlMs: 300
`,
      'overlay.yaml',
      'yaml',
    );
    const config = applyOverlay(parseKeepalivedConf(KEEPALIVED, 'keepalived.conf').config, overlay);
    const [e] = resolveArbiter(config).diagnostics;
    assert.equal(e!.severity, 'error');
    assert.equal(e!.file, 'overlay.yaml');
    assert.equal(e!.line, 4);
    assert.equal(e!.key, 'arbiter.timing.leaseTtlMs');
    assert.match(e!.message, /instance VI_1: .* = 450 ms exceeds leaseTtlMs 300 ms/);
  });

  it('an overlay still refuses what belongs in the keepalived.conf', () => {
    const { errors } = expectConfigError(() => parseOverlay('instances: []\n', 'overlay.yaml', 'yaml'));
    assert.match(errors[0]!.message, /an overlay sets only node, cluster, stateDir, nats, arbiter/);
  });
});
