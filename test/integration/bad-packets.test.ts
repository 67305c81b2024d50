/**
 * A third host on the segment sends broken and hostile VRRP packets at a
 * running pair: each kind is dropped, counted under its reason, and changes
 * nothing; the agents keep running. The last packet is a valid one from the
 * same sender, which the master must obey: proof that the bad ones did reach
 * the agents and were refused, not lost on the way.
 *
 * VRRPv2 with PASS authentication, so the auth and interval checks are live.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, labUnavailableReason, type LabHost } from '../lab/lab.js';
import { vipOf } from '../lab/topology.js';
import { keepalivedConf } from '../lab/keepalived.js';
import { type AgentHandle } from '../lab/agent.js';
import { sendRawVrrp, startAttackedPair } from '../lab/attacked-pair.js';
import { encodeAdvertisement, type Advertisement } from '../../libs/vrrp/src/mod.js';

const skip = labUnavailableReason();
const VIP = vipOf(1);
const PASSWORD = 'kq-pass1';
const ATTACKER = { name: 'x1', ipv4: '198.18.1.99' };
const GROUP = '224.0.0.18';
const REPEAT = 5;

const conf = (priority: number) =>
  keepalivedConf({ vrid: VIP.vrid, priority, advertInt: 1, version: 2, authPass: PASSWORD, vips: [VIP.ipv4Cidr] });

/** A valid advert from the attacker with a priority that would win: what each bad packet is made from. */
const winning: Advertisement = {
  version: 2,
  family: 4,
  vrid: VIP.vrid,
  priority: 254,
  advertIntervalCs: 100,
  addresses: [VIP.ipv4],
  authType: 1,
  authPassword: PASSWORD,
};
const encode = (a: Partial<Advertisement>) =>
  encodeAdvertisement({ ...winning, ...a }, { source: ATTACKER.ipv4, destination: GROUP });

function mutate(buf: Buffer, f: (b: Buffer) => void): Buffer {
  const copy = Buffer.from(buf);
  f(copy);
  return copy;
}

/** Each bad packet and the reason it must be counted under. */
function badPackets(): Array<{ label: string; reason: string; payload: Buffer; ttl: number }> {
  const good = encode({});
  return [
    { label: 'ttl 64', reason: 'ttl', payload: good, ttl: 64 },
    { label: 'checksum', reason: 'checksum', payload: mutate(good, (b) => (b[6] = b[6]! ^ 0xff)), ttl: 255 },
    { label: 'version 1', reason: 'version', payload: mutate(good, (b) => (b[0] = 0x11)), ttl: 255 },
    { label: 'type 2', reason: 'type', payload: mutate(good, (b) => (b[0] = 0x22)), ttl: 255 },
    { label: 'truncated', reason: 'truncated', payload: good.subarray(0, 6), ttl: 255 },
    { label: 'unknown VRID', reason: 'vrid', payload: encode({ vrid: 99 }), ttl: 255 },
    { label: 'wrong password', reason: 'auth', payload: encode({ authPassword: 'guessed!' }), ttl: 255 },
    { label: 'no auth', reason: 'auth', payload: encode({ authType: 0, authPassword: '' }), ttl: 255 },
    { label: 'interval 3 s', reason: 'interval', payload: encode({ advertIntervalCs: 300 }), ttl: 255 },
    { label: 'other VIP', reason: 'address_list', payload: encode({ addresses: ['198.18.10.77'] }), ttl: 255 },
    { label: 'two VIPs', reason: 'address_count', payload: encode({ addresses: [VIP.ipv4, '198.18.10.77'] }), ttl: 255 },
  ];
}

describe('bad VRRP packets from a third host', { skip }, () => {
  let lab: Lab;
  let x: LabHost;
  let agentA: AgentHandle;
  let agentB: AgentHandle;

  before(async () => {
    ({ lab, x, agentA, agentB } = await startAttackedPair(ATTACKER, conf));
  });

  after(async () => {
    await lab?.destroy();
  });

  test('every kind is dropped and counted under its reason, and no state changes', async () => {
    const packets = badPackets();
    const transitionsBefore = agentA.transitions.length + agentB.transitions.length;
    await sendRawVrrp(x, 'bad-packets', packets.map((p) => ({ ...p, repeat: REPEAT })), GROUP);
    // Let both agents drain their sockets, then read their counters.
    await new Promise((r) => setTimeout(r, 500));
    for (const agent of [agentA, agentB]) {
      const status = await agent.status();
      const refused = status.refused['eth0/4'] ?? {};
      const expected = new Map<string, number>();
      for (const p of packets) expected.set(p.reason, (expected.get(p.reason) ?? 0) + REPEAT);
      for (const [reason, count] of expected) {
        assert.ok((refused[reason] ?? 0) >= count, `${agent.host.name}: ${reason} refused ${refused[reason] ?? 0} times, expected ${count} (${JSON.stringify(refused)})`);
      }
      assert.equal(status.instances[0]!.state, agent === agentA ? 'MASTER' : 'BACKUP');
      assert.ok(agent.process.running, `${agent.host.name}'s agent is still running`);
    }
    assert.equal(agentA.transitions.length + agentB.transitions.length, transitionsBefore, 'no transition happened');
  });

  test('random bytes on protocol 112 never crash an agent', async () => {
    // A seeded generator: the same bytes every run.
    let seed = 0x6b71;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16) & 0xff;
    const junk = Array.from({ length: 200 }, (_, i) => ({
      label: `junk ${i}`,
      payload: Buffer.from(Array.from({ length: 1 + (rand() % 60) }, rand)),
      ttl: 255,
      repeat: 1,
    }));
    await sendRawVrrp(x, 'junk', junk, GROUP);
    await new Promise((r) => setTimeout(r, 300));
    for (const agent of [agentA, agentB]) {
      const status = await agent.status();
      assert.ok(agent.process.running);
      assert.equal(status.instances[0]!.state, agent === agentA ? 'MASTER' : 'BACKUP');
    }
  });

  test('the same sender with a valid higher-priority advert is obeyed (the bad ones did arrive)', async () => {
    await sendRawVrrp(x, 'good-packet', [{ label: 'valid', payload: encode({}), ttl: 255, repeat: 1 }], GROUP);
    const demoted = await agentA.waitForState('VI_1', 'BACKUP', 5000);
    assert.match(demoted!.reason, /higher priority advert from 198\.18\.1\.99 \(254 > ours 100\)/);
    // The attacker goes silent: the pair elects again by itself.
    await agentA.waitForState('VI_1', 'MASTER', 15_000);
  });
});
