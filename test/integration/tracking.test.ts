/**
 * keepalived's operational surface, in the lab: the classic keepalived + nginx
 * setup (a port-check vrrp_script with weight, fall/rise, a custom multicast
 * group, a notify script) read as is; a weight-0 check that means FAULT;
 * notify scripts in transition order under rapid transitions; a sync group
 * moving together on a tracked interface; a built-in HTTP probe from the
 * native YAML config.
 *
 * Asserted: who is master, the reasons logged, the order of the notify calls.
 * Timings are not asserted (shared machine).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, labUnavailableReason, type LabHost } from '../lab/lab.js';
import { agentPair, CLIENT, vipOf } from '../lab/topology.js';
import { startNginx, type NginxHandle } from '../lab/nginx.js';
import { startClient } from '../lab/client.js';
import { startAgent, type AgentHandle } from '../lab/agent.js';
import { waitUntil } from '../lab/wait.js';

const skip = labUnavailableReason();
const VIP1 = vipOf(1);
const VIP2 = vipOf(2);
const MCAST = '224.0.0.112';
const CURL = '/usr/bin/curl';

/** The tutorial's keepalived.conf, with what this file needs around it. */
function tutorialConf(host: LabHost, priority: number, files: { notify: string; flag: string }): string {
  return `global_defs {
  router_id ${host.name}
  vrrp_mcast_group4 ${MCAST}
  enable_script_security
  script_user root
}

vrrp_script chk_nginx {
  script "${CURL} -sf -o /dev/null --max-time 1 http://127.0.0.1/"
  interval 1
  timeout 2
  weight -20
  fall 2
  rise 2
}

vrrp_script chk_maintenance {
  script "/usr/bin/test ! -e ${files.flag}"
  interval 1
  weight 0
}

vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id ${VIP1.vrid}
  priority ${priority}
  advert_int 0.1
  version 3
  track_script {
    chk_nginx
    chk_maintenance
  }
  notify ${files.notify}
  virtual_ipaddress {
    ${VIP1.ipv4Cidr}
  }
}
`;
}

/** Appends its arguments to a file, slowly enough that transitions queue up behind it. */
function writeNotifyScript(path: string, out: string): void {
  writeFileSync(path, `#!/bin/sh\nsleep 0.05\necho "$*" >> ${out}\n`);
  chmodSync(path, 0o755);
}

describe('tracked scripts, notify and the classic keepalived + nginx setup', { skip }, () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  let cl: LabHost;
  let nginxA: NginxHandle;
  let agentA: AgentHandle;
  let agentB: AgentHandle;
  const files = (h: LabHost) => ({
    notify: join(h.lab.dir, `${h.name}-notify.sh`),
    out: join(h.lab.dir, `${h.name}-notify.out`),
    flag: join(h.lab.dir, `${h.name}-maintenance`),
  });

  before(async () => {
    lab = await Lab.create();
    const pair = agentPair(1);
    a = await lab.addHost(pair.a);
    b = await lab.addHost(pair.b);
    cl = await lab.addHost(CLIENT);
    nginxA = await startNginx(a);
    await startNginx(b);
    for (const h of [a, b]) writeNotifyScript(files(h).notify, files(h).out);
    agentA = await startAgent(a, tutorialConf(a, 100, files(a)));
    agentB = await startAgent(b, tutorialConf(b, 90, files(b)));
    await agentA.waitForState('VI_1', 'MASTER', 15_000);
    await agentB.waitForState('VI_1', 'BACKUP', 15_000);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('nginx stopping on the master lowers its priority by the weight and the backup preempts', async () => {
    await nginxA.stop();
    const takeover = await agentB.waitForState('VI_1', 'MASTER', 15_000);
    assert.match(takeover!.reason, /^preempting master 198\.18\.1\.1 \(priority 80 < ours 90\)$/);
    await agentA.waitForState('VI_1', 'BACKUP', 5000);
    assert.ok(agentA.process.lines.some((l) => l.includes('"check chk_nginx: failing"')), 'the check verdict is logged');
    assert.ok(agentA.process.lines.some((l) => /effective priority 100 -> 80 \(priority 80: base 100, chk_nginx failing \(weight -20\) -20\)/.test(l)));
    const client = startClient(cl, VIP1.ipv4, { durationMs: 2000 });
    await client.waitFor((r) => r.ok && r.server === 'b1', 2000);
    await client.stop();
  });

  test('nginx back on the former master: after rise successes its priority returns and it preempts back', async () => {
    nginxA = await startNginx(a);
    const back = await agentA.waitForState('VI_1', 'MASTER', 15_000);
    assert.match(back!.reason, /^preempting master 198\.18\.1\.2 \(priority 90 < ours 100\)$/);
    await agentB.waitForState('VI_1', 'BACKUP', 5000);
  });

  test('a failing weight-0 check puts the instance in FAULT; the backup serves; clearing it returns to election', async () => {
    writeFileSync(files(a).flag, 'maintenance\n');
    const fault = await agentA.waitForState('VI_1', 'FAULT', 10_000);
    assert.match(fault!.reason, /^fault: track chk_maintenance: FAULT: chk_maintenance failing \(weight 0\)/);
    await agentB.waitForState('VI_1', 'MASTER', 5000);
    assert.equal(await a.hasAddress(VIP1.ipv4), false);
    rmSync(files(a).flag);
    await agentA.waitForState('VI_1', 'MASTER', 10_000);
    const recovered = agentA.transitions.filter((t) => t.from === 'FAULT').at(-1)!;
    assert.match(recovered.reason, /recovered from fault \(track chk_maintenance/);
  });

  test('notify scripts run one at a time, in transition order, even under rapid transitions', async () => {
    // Rapid link flaps on the master: FAULT, BACKUP, FAULT, ... faster than the notify script runs.
    for (let i = 0; i < 5; i++) {
      await a.setInterface(false);
      await new Promise((r) => setTimeout(r, 30));
      await a.setInterface(true);
      await new Promise((r) => setTimeout(r, 30));
    }
    await agentA.waitForState('VI_1', 'MASTER', 10_000);
    const expected = agentA.transitions.map((t) => `INSTANCE VI_1 ${t.to === 'INIT' ? 'STOP' : t.to}`);
    await waitUntil('every notify call written', () => existsSync(files(a).out) && readFileSync(files(a).out, 'utf8').trim().split('\n').length >= expected.length, 15_000);
    const written = readFileSync(files(a).out, 'utf8').trim().split('\n').map((l) => l.split(' ').slice(0, 3).join(' '));
    assert.ok(expected.length >= 10, `the flaps produced ${expected.length} transitions`);
    assert.deepEqual(written, expected);
    // keepalived's argument format: TYPE NAME STATE PRIORITY.
    assert.match(readFileSync(files(a).out, 'utf8').split('\n')[0]!, /^INSTANCE VI_1 BACKUP 100$/);
  });
});

describe('a sync group moves together when one member tracks a failing interface', { skip }, () => {
  let lab: Lab;
  let a: LabHost;
  let agentA: AgentHandle;
  let agentB: AgentHandle;

  const conf = (priority: number) => `global_defs {
  router_id r${priority}
}
vrrp_sync_group G1 {
  group {
    VI_1
    VI_2
  }
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id ${VIP1.vrid}
  priority ${priority}
  advert_int 0.1
  version 3
  virtual_ipaddress {
    ${VIP1.ipv4Cidr}
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id ${VIP2.vrid}
  priority ${priority}
  advert_int 0.1
  version 3
  track_interface {
    eth1
  }
  virtual_ipaddress {
    ${VIP2.ipv4Cidr}
  }
}
`;

  before(async () => {
    lab = await Lab.create();
    const pair = agentPair(1);
    a = await lab.addHost(pair.a);
    const b = await lab.addHost(pair.b);
    // The tracked link: a second interface on each host (an uplink, say).
    // (A veth pair inside the host: this kernel has no dummy interfaces.)
    for (const h of [a, b]) {
      await h.ip(['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1p']);
      await h.ip(['link', 'set', 'eth1p', 'up']);
      await h.ip(['link', 'set', 'eth1', 'up']);
    }
    agentA = await startAgent(a, conf(100));
    agentB = await startAgent(b, conf(90));
    for (const i of ['VI_1', 'VI_2']) {
      await agentA.waitForState(i, 'MASTER', 15_000);
      await agentB.waitForState(i, 'BACKUP', 15_000);
    }
  });

  after(async () => {
    await lab?.destroy();
  });

  test("VI_2's tracked interface going down faults VI_2 and, through the group, VI_1; the other node takes both", async () => {
    await a.ip(['link', 'set', 'eth1', 'down']);
    const own = await agentA.waitForState('VI_2', 'FAULT', 5000);
    assert.match(own!.reason, /track interface eth1/);
    const pulled = await agentA.waitForState('VI_1', 'FAULT', 5000);
    assert.match(pulled!.reason, /^fault: sync group G1: VI_2 faulty/);
    await agentB.waitForState('VI_1', 'MASTER', 5000);
    await agentB.waitForState('VI_2', 'MASTER', 5000);
    assert.equal(await a.hasAddress(VIP1.ipv4), false);
    assert.equal(await a.hasAddress(VIP2.ipv4), false);
  });

  test('the interface back up: both members recover together and the higher priority takes both back', async () => {
    await a.ip(['link', 'set', 'eth1', 'up']);
    await agentA.waitForState('VI_1', 'MASTER', 10_000);
    await agentA.waitForState('VI_2', 'MASTER', 10_000);
    await agentB.waitForState('VI_1', 'BACKUP', 5000);
    await agentB.waitForState('VI_2', 'BACKUP', 5000);
  });
});

describe('a built-in HTTP probe from the native YAML config', { skip }, () => {
  let lab: Lab;
  let nginxA: NginxHandle;
  let agentA: AgentHandle;
  let agentB: AgentHandle;

  const yaml = (id: string, priority: number) => `node:
  id: ${id}
scripts:
  web:
    http:
      address: 127.0.0.1
      path: /
    intervalS: 1
    timeoutS: 1
    fall: 2
    rise: 2
    weight: -20
instances:
  - name: VI_1
    interface: eth0
    vrid: ${VIP1.vrid}
    priority: ${priority}
    version: 3
    advertIntervalCs: 10
    trackScripts:
      - name: web
    virtualAddresses:
      - ${VIP1.ipv4Cidr}
`;

  before(async () => {
    lab = await Lab.create();
    const pair = agentPair(1);
    const a = await lab.addHost(pair.a);
    const b = await lab.addHost(pair.b);
    nginxA = await startNginx(a);
    await startNginx(b);
    agentA = await startAgent(a, yaml('a1', 100), { format: 'yaml' });
    agentB = await startAgent(b, yaml('b1', 90), { format: 'yaml' });
    await agentA.waitForState('VI_1', 'MASTER', 15_000);
    await agentB.waitForState('VI_1', 'BACKUP', 15_000);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('the probe fails when nginx stops, the weight lowers the priority and the backup preempts', async () => {
    await nginxA.stop();
    const takeover = await agentB.waitForState('VI_1', 'MASTER', 15_000);
    assert.match(takeover!.reason, /preempting master 198\.18\.1\.1 \(priority 80 < ours 90\)/);
    assert.ok(agentA.process.lines.some((l) => l.includes('"check web: failing"')));
  });
});
