/**
 * A keepquorum pair (a MASTER at priority 100, b BACKUP at 90) and a third
 * host on the same segment that sends hand-made protocol-112 packets at them
 * (proc/vrrp-sender.js): what the bad-packet and packet-fuzz tests start from.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type LabHost } from './lab.js';
import { agentPair } from './topology.js';
import { startAgent, type AgentHandle } from './agent.js';

const SENDER = fileURLToPath(new URL('./proc/vrrp-sender.js', import.meta.url));

export interface AttackedPair {
  lab: Lab;
  /** The sending host. */
  x: LabHost;
  agentA: AgentHandle;
  agentB: AgentHandle;
}

/** Builds the lab: pair 1 running `conf(100)` and `conf(90)` (settled MASTER/BACKUP on VI_1), and the attacker. */
export async function startAttackedPair(attacker: { name: string; ipv4: string }, conf: (priority: number) => string): Promise<AttackedPair> {
  const lab = await Lab.create();
  const pair = agentPair(1);
  const a = await lab.addHost(pair.a);
  const b = await lab.addHost(pair.b);
  const x = await lab.addHost(attacker);
  const agentA = await startAgent(a, conf(100));
  const agentB = await startAgent(b, conf(90));
  await agentA.waitForState('VI_1', 'MASTER', 15_000);
  await agentB.waitForState('VI_1', 'BACKUP', 15_000);
  return { lab, x, agentA, agentB };
}

export interface RawPacket {
  label: string;
  payload: Buffer;
  ttl: number;
  /** Times it is sent (default 1). */
  repeat?: number;
}

/** Sends the packets from `host`'s eth0 to `destination`, in order, and waits for the sender to finish. */
export async function sendRawVrrp(host: LabHost, name: string, packets: readonly RawPacket[], destination = '224.0.0.18'): Promise<void> {
  const file = join(host.lab.dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ interface: 'eth0', destination, packets: packets.map((p) => ({ label: p.label, hex: p.payload.toString('hex'), ttl: p.ttl, repeat: p.repeat ?? 1 })) }));
  const proc = host.spawnNode(name, SENDER, [file]);
  const { code } = await proc.exited;
  assert.equal(code, 0, `sender exited with ${code} (log ${proc.logFile})`);
}
