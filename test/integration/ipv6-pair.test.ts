/**
 * VRRP over IPv6 only, in the lab, real kernel: a keepquorum pair (VRRPv3,
 * advert 0.1 s, priorities 100/90) in front of nginx with an IPv6 VIP, then
 * keepalived (Debian's) and keepquorum as one IPv6 pair, both ways. Adverts go
 * to ff02::12 from each host's link-local address, so that is the address the
 * agents name as master and break ties on.
 *
 * Asserted: who holds the VIP, the states and the reasons logged, split-brain 0
 * over the crash, the client's neighbour entry for the VIP following the new
 * master (unsolicited NA), and that no side refused the other's packets.
 * Timings are printed, never asserted.
 */
import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Lab, labUnavailableReason, LabError, type LabHost } from '../lab/lab.js';
import { agentPair, CLIENT, ipv6Twin, keepalivedPeer, vipOf, type Vip } from '../lab/topology.js';
import { KEEPALIVED, keepalivedConf, startKeepalived, type KeepalivedHandle } from '../lab/keepalived.js';
import { startAgent, type AgentHandle } from '../lab/agent.js';
import { startNginx } from '../lab/nginx.js';
import { startClient, summarizeClient } from '../lab/client.js';
import { startSplitBrainWatch } from '../lab/split-brain.js';
import { waitUntil } from '../lab/wait.js';

const skip = labUnavailableReason() ?? (existsSync(KEEPALIVED) ? undefined : `${KEEPALIVED} is not installed`);

const INSTANCE = 'VI_1';
const STATE_TIMEOUT_MS = 30_000;
const VIP: Vip = vipOf(1);

const conf = (priority: number): string =>
  keepalivedConf({ vrid: VIP.vrid, priority, advertInt: 0.1, version: 3, vips: [VIP.ipv6Cidr] });

/** See keepalived-interop.test.ts: what keepalived logs when it refuses or distrusts a packet. */
const KEEPALIVED_REFUSAL = /bad|invalid|mismatch|bogus|wrong|not present|not a unicast peer|checksum|interval changed|equal priority advert|dropping/i;
const KEEPALIVED_PREEMPTING = /received lower priority \(\d+\) advert from \S+ - discarding/;

/** The host's IPv6 link-local address on eth0: the source of its VRRP adverts. */
async function linkLocal(host: LabHost): Promise<string> {
  const out = await host.ip(['-6', '-o', 'addr', 'show', 'dev', host.ifname, 'scope', 'link']);
  const m = /\sinet6\s+(fe80:[0-9a-f:]+)\//i.exec(out);
  if (!m?.[1]) throw new LabError(`${host.ns}: no IPv6 link-local address on ${host.ifname}`);
  return m[1];
}

describe('VRRPv3 over IPv6 (advert 0.1 s)', { skip, timeout: 300_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  let ka: LabHost;
  let cl: LabHost;
  let agentA: AgentHandle;
  let agentB: AgentHandle;
  const poweredOff = new Set<LabHost>();

  const holders = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const h of [a, b, ka]) if (!poweredOff.has(h) && (await h.hasAddress(VIP.ipv6))) out.push(h.name);
    return out;
  };
  const assertSoleHolder = async (host: LabHost): Promise<void> => {
    await waitUntil(`${host.name} as the only holder of ${VIP.ipv6}`, async () => (await holders()).join() === host.name, 10_000).catch(() => {});
    assert.deepEqual(await holders(), [host.name], `${host.name} alone holds ${VIP.ipv6}`);
  };
  const assertAgentRefusedNothing = async (agent: AgentHandle): Promise<void> => {
    const status = await agent.status();
    const refused = Object.fromEntries(Object.entries(status.refused).filter(([, reasons]) => Object.keys(reasons).length > 0));
    assert.deepEqual(refused, {}, `${agent.process.name} refused no packet`);
    for (const inst of status.instances) assert.deepEqual(inst.counters.rejected, {}, `${inst.name} rejected no advert`);
  };
  const assertKeepalivedRefusedNothing = (keepalived: KeepalivedHandle): void => {
    const complaints = keepalived.process.lines.filter((l) => KEEPALIVED_REFUSAL.test(l) && !KEEPALIVED_PREEMPTING.test(l));
    assert.deepEqual(complaints, [], 'keepalived logged no refusal of our packets');
  };

  before(async () => {
    lab = await Lab.create();
    const pair = agentPair(1);
    a = await lab.addHost({ ...pair.a, ipv6: ipv6Twin(pair.a.ipv4) });
    b = await lab.addHost({ ...pair.b, ipv6: ipv6Twin(pair.b.ipv4) });
    const peer = keepalivedPeer(1);
    ka = await lab.addHost({ ...peer, ipv6: ipv6Twin(peer.ipv4) });
    cl = await lab.addHost({ ...CLIENT, ipv6: ipv6Twin(CLIENT.ipv4) });
    await startNginx(a);
    await startNginx(b);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('the higher-priority agent becomes master over IPv6 and the client reaches it through the IPv6 VIP', async (t: TestContext) => {
    const startedAt = process.hrtime.bigint();
    agentA = await startAgent(a, conf(100), { name: 'agent' });
    agentB = await startAgent(b, conf(90), { name: 'agent' });
    await agentA.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
    await agentB.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
    await assertSoleHolder(a);
    const client = startClient(cl, VIP.ipv6, { durationMs: 1000 });
    const records = await client.finished;
    assert.ok(records.some((r) => r.ok && r.server === 'a1'), 'the client is served by a1 over IPv6');
    const status = await agentB.status();
    assert.equal(status.instances[0]!.state, 'BACKUP');
    assert.equal(status.instances[0]!.master, await linkLocal(a), "b1 follows a1's link-local address as master");
    assert.equal((await cl.neighbour(VIP.ipv6))?.lladdr, await a.macAddress(), "the client's neighbour entry for the VIP is a1's MAC");
    await assertAgentRefusedNothing(agentA);
    await assertAgentRefusedNothing(agentB);
    t.diagnostic(`IPv6 election: settled ${((Number(process.hrtime.bigint() - startedAt)) / 1e6).toFixed(1)} ms after the agents' start`);
  });

  test('when the master host powers off, the backup takes over the IPv6 VIP with no split-brain and its unsolicited NA repoints the client', async (t: TestContext) => {
    const watch = await startSplitBrainWatch([a, b], VIP.ipv6);
    // The client is quiet during the failover: nothing makes it solicit the VIP
    // again, so only b1's unsolicited NA (Override set) can change its entry.
    const before = await cl.neighbour(VIP.ipv6);
    assert.equal(before?.lladdr, await a.macAddress(), "before the crash the client's entry for the VIP is a1's MAC");
    const masterBefore = await linkLocal(a);
    const bMac = await b.macAddress();
    const crashAt = process.hrtime.bigint();
    await a.powerOff();
    poweredOff.add(a);
    const takeover = await agentB.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
    assert.equal(takeover!.reason, `no advertisement from master ${masterBefore} (priority 100) within Master_Down_Interval (364.8 ms)`);
    await assertSoleHolder(b);
    await waitUntil("the client's neighbour entry to name b1's MAC", async () => (await cl.neighbour(VIP.ipv6))?.lladdr === bMac, 10_000).catch(() => {});
    const after = await cl.neighbour(VIP.ipv6);
    const repointedAt = process.hrtime.bigint();
    assert.equal(after?.lladdr, bMac, "the client's neighbour entry for the VIP is b1's MAC");
    const sb = await watch.stop();
    assert.equal(sb.splitBrainMs, 0, 'split-brain ms');
    // And the client is served by b1 through that entry.
    const client = startClient(cl, VIP.ipv6, { durationMs: 1000 });
    const records = await client.finished;
    assert.ok(records.some((r) => r.ok && r.server === 'b1'), 'the client is served by b1 over IPv6');
    assert.equal(summarizeClient(records).servedBy.at(-1)?.server, 'b1');
    await assertAgentRefusedNothing(agentB);
    t.diagnostic(
      `IPv6 crash: b1 MASTER ${(takeover!.at - Number(crashAt) / 1e6).toFixed(1)} ms after the crash; client entry ${before?.state} -> ${after?.state} (b1's MAC) seen within ${(Number(repointedAt - crashAt) / 1e6).toFixed(1)} ms; split-brain ${sb.splitBrainMs} ms`,
    );
  });

  test('keepalived (100) and keepquorum (90) over IPv6: keepalived is elected, and its graceful stop hands the VIP to keepquorum', async (t: TestContext) => {
    // b1 alone is master; it makes way for a keepalived + keepquorum pair.
    assert.equal(await agentB.stop(), 0);
    const keepalived = await startKeepalived(ka, conf(100), { name: 'keepalived-100' });
    await keepalived.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
    agentB = await startAgent(b, conf(90), { name: 'agent-90' });
    await agentB.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
    await waitUntil('our agent to accept adverts from keepalived', async () => (await agentB.status()).instances[0]!.counters.advertsReceived >= 5, STATE_TIMEOUT_MS, 50);
    const status = await agentB.status();
    assert.equal(status.instances[0]!.state, 'BACKUP');
    assert.equal(status.instances[0]!.master, await linkLocal(ka), "keepquorum follows keepalived's link-local address as master");
    assert.equal(keepalived.state(INSTANCE), 'MASTER');
    await assertSoleHolder(ka);
    await assertAgentRefusedNothing(agentB);
    assertKeepalivedRefusedNothing(keepalived);

    const watch = await startSplitBrainWatch([b, ka], VIP.ipv6);
    const stopAt = process.hrtime.bigint();
    await keepalived.stop();
    const takeover = await agentB.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
    assert.equal(takeover!.reason, `master ${await linkLocal(ka)} gave up (priority 0) and Skew_Time (64.8 ms) elapsed`);
    await assertSoleHolder(b);
    const sb = await watch.stop();
    assert.equal(sb.splitBrainMs, 0, 'split-brain ms');
    await assertAgentRefusedNothing(agentB);
    assertKeepalivedRefusedNothing(keepalived);
    t.diagnostic(`IPv6 keepalived graceful stop: keepquorum MASTER ${(takeover!.at - Number(stopAt) / 1e6).toFixed(1)} ms after SIGTERM, split-brain ${sb.splitBrainMs} ms`);
  });

  test('keepquorum (100) and keepalived (90) over IPv6: keepquorum is elected, and its graceful stop hands the VIP to keepalived', async (t: TestContext) => {
    assert.equal(await agentB.stop(), 0);
    agentB = await startAgent(b, conf(100), { name: 'agent-100' });
    await agentB.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
    const keepalived = await startKeepalived(ka, conf(90), { name: 'keepalived-90' });
    await keepalived.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
    // keepalived stays backup over many of our adverts (its Master_Down_Interval is under 4 of them).
    const sent = (await agentB.status()).instances[0]!.counters.advertsSent;
    await waitUntil('ten more adverts from our agent', async () => (await agentB.status()).instances[0]!.counters.advertsSent >= sent + 10, STATE_TIMEOUT_MS, 50);
    assert.equal(keepalived.state(INSTANCE), 'BACKUP');
    assert.equal(agentB.state(INSTANCE), 'MASTER');
    await assertSoleHolder(b);
    await assertAgentRefusedNothing(agentB);
    assertKeepalivedRefusedNothing(keepalived);

    const watch = await startSplitBrainWatch([b, ka], VIP.ipv6);
    const stopAt = process.hrtime.bigint();
    assert.equal(await agentB.stop(), 0);
    await keepalived.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
    const masterAt = keepalived.transitions.at(-1)!.seenNs;
    assert.ok(
      keepalived.process.lines.some((l) => /\(VI_1\) Backup received priority 0 advertisement/.test(l)),
      "keepalived logged 'Backup received priority 0 advertisement'",
    );
    await assertSoleHolder(ka);
    const sb = await watch.stop();
    assert.equal(sb.splitBrainMs, 0, 'split-brain ms');
    assertKeepalivedRefusedNothing(keepalived);
    t.diagnostic(`IPv6 keepquorum graceful stop: keepalived MASTER seen ${(Number(masterAt - stopAt) / 1e6).toFixed(1)} ms after SIGTERM, split-brain ${sb.splitBrainMs} ms`);
    await keepalived.stop();
  });
});
