/** The agent's metrics endpoint in the native model and the overlay: `metrics.listen`. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyOverlay, parseAgentConfig, parseKeepalivedConf, parseOverlay } from '../src/mod.js';
import { expectConfigError } from './helpers.js';

const INSTANCE = `instances:
  - name: VI_1
    interface: eth0
    vrid: 51
    priority: 100
    virtualAddresses: [198.18.10.1/16]
`;

describe('metrics settings', () => {
  it('metrics.listen takes HOST:PORT or [IPV6]:PORT; without it there is no endpoint', () => {
    assert.equal(parseAgentConfig(INSTANCE, 'agent.yaml', 'yaml').config.metrics, undefined);
    assert.equal(parseAgentConfig(`metrics:\n  listen: 127.0.0.1:9650\n${INSTANCE}`, 'agent.yaml', 'yaml').config.metrics?.listen, '127.0.0.1:9650');
    assert.equal(parseAgentConfig(`metrics:\n  listen: "[::1]:9650"\n${INSTANCE}`, 'agent.yaml', 'yaml').config.metrics?.listen, '[::1]:9650');
  });

  it('a listen value that is not HOST:PORT, or an unknown key, is an error at its line naming the key', () => {
    const bad = expectConfigError(() => parseAgentConfig(`metrics:\n  listen: 9650\n${INSTANCE}`, 'agent.yaml', 'yaml'));
    assert.equal(bad.errors[0]!.key, 'metrics.listen');
    assert.equal(bad.errors[0]!.line, 2);
    const noPort = expectConfigError(() => parseAgentConfig(`metrics:\n  listen: 127.0.0.1\n${INSTANCE}`, 'agent.yaml', 'yaml'));
    assert.match(noPort.errors[0]!.message, /HOST:PORT/);
    const unknown = expectConfigError(() => parseAgentConfig(`metrics:\n  port: 9650\n${INSTANCE}`, 'agent.yaml', 'yaml'));
    assert.match(unknown.errors[0]!.key ?? '', /metrics/);
  });

  it('an overlay beside a keepalived.conf sets metrics.listen', () => {
    const { config } = parseKeepalivedConf('vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  virtual_ipaddress {\n    198.18.10.1/16\n  }\n}\n', 'keepalived.conf');
    const { overlay } = parseOverlay('metrics:\n  listen: 198.18.0.10:9650\n', 'overlay.yaml', 'yaml');
    assert.equal(applyOverlay(config, overlay).metrics?.listen, '198.18.0.10:9650');
  });
});
