/**
 * keepquorum and real keepalived (Debian's) in ONE VRID, both directions, each
 * reading the same keepalived.conf form (keepalivedConf(), only the priority
 * differs): VRRPv2 with PASS authentication at advert_int 1, then VRRPv3 at
 * advert_int 0.1.
 *
 * Per version, in one lab: keepalived master / keepquorum backup (election,
 * graceful stop, preempt on return, power-off), then keepquorum master /
 * keepalived backup (election, graceful stop, preempt on return, power-off).
 * The VRRPv2 run uses a short password first and, from the second half on, one
 * longer than 8 characters (both sides send and compare only its first 8).
 *
 * Asserted: exactly one holder of the VIP after each step, both sides' states,
 * the reason our agent logs, split-brain 0 over every failover, and that neither
 * side refused the other's packets. Timings are printed, never asserted.
 */
import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Lab, labUnavailableReason, type LabHost } from '../lab/lab.js';
import { agentPair, keepalivedPeer, vipOf, type Vip } from '../lab/topology.js';
import { KEEPALIVED, keepalivedConf, startKeepalived, type KeepalivedHandle } from '../lab/keepalived.js';
import { startAgent, type AgentHandle } from '../lab/agent.js';
import { startSplitBrainWatch, type SplitBrainWatch } from '../lab/split-brain.js';
import { waitUntil } from '../lab/wait.js';

const skip = labUnavailableReason() ?? (existsSync(KEEPALIVED) ? undefined : `${KEEPALIVED} is not installed`);

const INSTANCE = 'VI_1';
/** Upper bounds that turn a hang into a failure; never a timing assertion. */
const STATE_TIMEOUT_MS = 30_000;

/**
 * keepalived's log lines that say it refused or distrusted a peer's packet
 * (its vrrp_in_chk and friends): "Invalid TTL", "Invalid VRRPv3 checksum",
 * "received an invalid passwd", "advertisement interval mismatch", "received an
 * invalid ip number count", "ip address associated with VRID … not present in
 * MASTER advert", "bogus VRRP packet", "Setting unicast VRRPv3 checksum to old
 * version", "advertisement interval changed", "WARNING - equal priority advert …".
 */
const KEEPALIVED_REFUSAL = /bad|invalid|mismatch|bogus|wrong|not present|not a unicast peer|checksum|interval changed|equal priority advert|dropping/i;
/** What a preempting keepalived logs about the lower-priority master it outranks: normal, not a refusal. */
const KEEPALIVED_PREEMPTING = /received lower priority \(\d+\) advert from \S+ - discarding/;

interface Phase {
  version: 2 | 3;
  advertInt: number;
  vip: Vip;
  /** VRRPv2: the password of the first half, then of the second half (> 8 characters). */
  passwords?: [string, string];
  /** Master_Down_Interval and Skew_Time of the priority-90 side, as keepquorum writes them in its reasons. */
  masterDownInterval90: string;
  skewTime90: string;
}

const PHASES: Phase[] = [
  {
    version: 2,
    advertInt: 1,
    vip: vipOf(1),
    passwords: ['kq-pass', 'interop-secret'],
    // v2: 3 × 1 s + (256 - 90) / 256 s
    masterDownInterval90: '3648.4 ms',
    skewTime90: '648.4 ms',
  },
  {
    version: 3,
    advertInt: 0.1,
    vip: vipOf(2),
    // v3: 3 × 100 ms + (256 - 90) × 100 / 256 ms
    masterDownInterval90: '364.8 ms',
    skewTime90: '64.8 ms',
  },
];

const nsToMs = (ns: bigint): string => `${(Number(ns) / 1e6).toFixed(1)} ms`;

describe('keepquorum and keepalived 2.2 in one VRID', { skip, timeout: 600_000 }, () => {
  let lab: Lab;
  let kqHost: LabHost;
  let kaHost: LabHost;
  const poweredOff = new Set<LabHost>();

  before(async () => {
    lab = await Lab.create();
    kqHost = await lab.addHost(agentPair(1).a);
    kaHost = await lab.addHost(keepalivedPeer(1));
  });

  after(async () => {
    await lab?.destroy();
  });

  /** The powered-on hosts holding the VIP (a powered-off host's leftover address serves nobody). */
  const holders = async (vip: string): Promise<string[]> => {
    const out: string[] = [];
    for (const h of [kqHost, kaHost]) if (!poweredOff.has(h) && (await h.hasAddress(vip))) out.push(h.name);
    return out;
  };

  /** Exactly `host` holds the VIP, once the step's address changes have landed. */
  const assertSoleHolder = async (vip: string, host: LabHost): Promise<void> => {
    await waitUntil(`${host.name} as the only holder of ${vip}`, async () => (await holders(vip)).join() === host.name, 10_000).catch(() => {});
    assert.deepEqual(await holders(vip), [host.name], `${host.name} alone holds ${vip}`);
  };

  /** Neither side refused the other's packets so far. */
  const assertNothingRefused = async (agent: AgentHandle | undefined, keepalived: KeepalivedHandle | undefined): Promise<void> => {
    if (agent?.process.running) {
      const status = await agent.status();
      const refused = Object.fromEntries(Object.entries(status.refused).filter(([, reasons]) => Object.keys(reasons).length > 0));
      assert.deepEqual(refused, {}, 'keepquorum refused no packet');
      for (const inst of status.instances) assert.deepEqual(inst.counters.rejected, {}, `${inst.name} rejected no advert`);
    }
    if (keepalived) {
      const complaints = keepalived.process.lines.filter((l) => KEEPALIVED_REFUSAL.test(l) && !KEEPALIVED_PREEMPTING.test(l));
      assert.deepEqual(complaints, [], 'keepalived logged no refusal of our packets');
    }
  };

  for (const phase of PHASES) {
    const { vip, version } = phase;
    const conf = (priority: number, password?: string): string =>
      keepalivedConf({
        vrid: vip.vrid,
        priority,
        advertInt: phase.advertInt,
        version,
        vips: [vip.ipv4Cidr],
        ...(password !== undefined ? { authPass: password } : {}),
      });
    const [shortPass, longPass] = phase.passwords ?? [undefined, undefined];
    const label = version === 2 ? `VRRPv2, PASS auth, advert_int ${phase.advertInt}` : `VRRPv3, advert_int ${phase.advertInt}`;

    describe(label, () => {
      let agent: AgentHandle | undefined;
      let keepalived: KeepalivedHandle | undefined;
      let runs = 0;
      const next = (what: string): string => `${what}-v${version}-${++runs}`;

      /** A watch over both hosts for one failover. */
      const watch = (): Promise<SplitBrainWatch> => startSplitBrainWatch([kqHost, kaHost], vip.ipv4, { durationMs: 120_000 });

      test(`keepalived (100) is master, keepquorum (90) backs it up: one holder, no packet refused${shortPass ? ` (password '${shortPass}')` : ''}`, async (t: TestContext) => {
        const startedAt = process.hrtime.bigint();
        keepalived = await startKeepalived(kaHost, conf(100, shortPass), { name: next('keepalived') });
        await keepalived.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
        agent = await startAgent(kqHost, conf(90, shortPass), { name: next('agent') });
        await agent.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
        await assertSoleHolder(vip.ipv4, kaHost);
        // A few adverts after our agent joined: it follows keepalived as master.
        await waitUntil('our agent to accept adverts from keepalived', async () => (await agent!.status()).instances[0]!.counters.advertsReceived >= 3, STATE_TIMEOUT_MS, 100);
        const status = await agent.status();
        assert.equal(status.instances[0]!.state, 'BACKUP');
        assert.equal(status.instances[0]!.master, kaHost.ipv4);
        assert.equal(agent.state(INSTANCE), 'BACKUP');
        assert.equal(keepalived.state(INSTANCE), 'MASTER');
        await assertNothingRefused(agent, keepalived);
        t.diagnostic(`v${version} election (keepalived master): settled ${nsToMs(process.hrtime.bigint() - startedAt)} after keepalived's start`);
      });

      test('keepalived stopped gracefully: keepquorum takes over on its priority-0 advert after Skew_Time', async (t: TestContext) => {
        const w = await watch();
        const stopAt = process.hrtime.bigint();
        await keepalived!.stop();
        const takeover = await agent!.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
        assert.equal(
          takeover!.reason,
          `master ${kaHost.ipv4} gave up (priority 0) and Skew_Time (${phase.skewTime90}) elapsed`,
        );
        await assertSoleHolder(vip.ipv4, kqHost);
        const sb = await w.stop();
        assert.equal(sb.splitBrainMs, 0, 'split-brain ms');
        await assertNothingRefused(agent, keepalived);
        t.diagnostic(`v${version} graceful stop of keepalived: keepquorum MASTER ${(takeover!.at - Number(stopAt) / 1e6).toFixed(1)} ms after SIGTERM, split-brain ${sb.splitBrainMs} ms`);
      });

      test('keepalived returns with the higher priority and preempts keepquorum', async (t: TestContext) => {
        const w = await watch();
        const startAt = process.hrtime.bigint();
        keepalived = await startKeepalived(kaHost, conf(100, shortPass), { name: next('keepalived') });
        await keepalived.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
        const demotion = await agent!.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
        assert.equal(demotion!.reason, `higher priority advert from ${kaHost.ipv4} (100 > ours 90)`);
        await assertSoleHolder(vip.ipv4, kaHost);
        // Preemption is not a failover: the preempting router takes the VIP as it
        // announces itself (RFC 5798 §6.4.2), the old master drops it when that
        // advert arrives. The overlap (one packet's trip plus a netlink delete) is
        // printed, not asserted.
        const sb = await w.stop();
        await assertNothingRefused(agent, keepalived);
        t.diagnostic(`v${version} keepalived preempts: keepquorum BACKUP ${(demotion!.at - Number(startAt) / 1e6).toFixed(1)} ms after keepalived's start, overlap while preempting ${sb.splitBrainMs.toFixed(1)} ms`);
      });

      test("keepalived's host powers off: keepquorum takes over after Master_Down_Interval with no split-brain", async (t: TestContext) => {
        const w = await watch();
        const crashAt = process.hrtime.bigint();
        await kaHost.powerOff();
        poweredOff.add(kaHost);
        const takeover = await agent!.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
        // A powered-off host sends nothing, not even keepalived's priority-0
        // resignation: the takeover waits out Master_Down_Interval.
        assert.equal(
          takeover!.reason,
          `no advertisement from master ${kaHost.ipv4} (priority 100) within Master_Down_Interval (${phase.masterDownInterval90})`,
        );
        await assertSoleHolder(vip.ipv4, kqHost);
        const sb = await w.stop();
        assert.equal(sb.splitBrainMs, 0, 'split-brain ms');
        await assertNothingRefused(agent, undefined);
        t.diagnostic(`v${version} keepalived host powered off: keepquorum MASTER ${(takeover!.at - Number(crashAt) / 1e6).toFixed(1)} ms after the crash, split-brain ${sb.splitBrainMs} ms`);
      });

      test(`keepquorum (100) is master, keepalived (90) backs it up: one holder, no packet refused${longPass ? ` (password '${longPass}', ${longPass.length} characters)` : ''}`, async (t: TestContext) => {
        // Our agent restarts with the higher priority while keepalived's host is still off.
        assert.equal(await agent!.stop(), 0);
        await kaHost.powerOn();
        poweredOff.delete(kaHost);
        const startedAt = process.hrtime.bigint();
        agent = await startAgent(kqHost, conf(100, longPass), { name: next('agent') });
        await agent.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
        keepalived = await startKeepalived(kaHost, conf(90, longPass), { name: next('keepalived') });
        await keepalived.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
        await assertSoleHolder(vip.ipv4, kqHost);
        // keepalived stays backup while our adverts keep coming: more than its
        // Master_Down_Interval's worth of them.
        const sent = (await agent.status()).instances[0]!.counters.advertsSent;
        await waitUntil('four more adverts from our agent', async () => (await agent!.status()).instances[0]!.counters.advertsSent >= sent + 4, STATE_TIMEOUT_MS, 100);
        assert.equal(keepalived.state(INSTANCE), 'BACKUP');
        assert.equal(agent.state(INSTANCE), 'MASTER');
        await assertSoleHolder(vip.ipv4, kqHost);
        await assertNothingRefused(agent, keepalived);
        t.diagnostic(`v${version} election (keepquorum master): settled ${nsToMs(process.hrtime.bigint() - startedAt)} after our agent's start`);
      });

      test('keepquorum stopped gracefully: keepalived takes over on the priority-0 advert', async (t: TestContext) => {
        const w = await watch();
        const stopAt = process.hrtime.bigint();
        assert.equal(await agent!.stop(), 0);
        await keepalived!.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
        const masterAt = keepalived!.transitions.at(-1)!.seenNs;
        // keepalived says so when a master resigns with priority 0.
        assert.ok(
          keepalived!.process.lines.some((l) => /\(VI_1\) Backup received priority 0 advertisement/.test(l)),
          "keepalived logged 'Backup received priority 0 advertisement'",
        );
        await assertSoleHolder(vip.ipv4, kaHost);
        const sb = await w.stop();
        assert.equal(sb.splitBrainMs, 0, 'split-brain ms');
        await assertNothingRefused(undefined, keepalived);
        t.diagnostic(`v${version} graceful stop of keepquorum: keepalived MASTER seen ${nsToMs(masterAt - stopAt)} after SIGTERM, split-brain ${sb.splitBrainMs} ms`);
      });

      test('keepquorum returns with the higher priority and preempts keepalived', async (t: TestContext) => {
        const w = await watch();
        const startAt = process.hrtime.bigint();
        agent = await startAgent(kqHost, conf(100, longPass), { name: next('agent') });
        const takeover = await agent.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
        // keepalived's lower-priority adverts are ignored while we preempt: the
        // down timer runs out and we take over.
        assert.match(takeover!.reason, /^preempting master \S+ \(priority 90 < ours 100\)$/);
        await keepalived!.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
        await assertSoleHolder(vip.ipv4, kqHost);
        // As above: the preemption overlap is keepalived's time to drop the VIP
        // once our advert arrives; printed, not asserted.
        const sb = await w.stop();
        await assertNothingRefused(agent, keepalived);
        t.diagnostic(`v${version} keepquorum preempts: MASTER ${(takeover!.at - Number(startAt) / 1e6).toFixed(1)} ms after its start, overlap while preempting ${sb.splitBrainMs.toFixed(1)} ms`);
      });

      test("keepquorum's host powers off: keepalived takes over with no split-brain", async (t: TestContext) => {
        const w = await watch();
        const crashAt = process.hrtime.bigint();
        await kqHost.powerOff();
        poweredOff.add(kqHost);
        await keepalived!.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
        const masterAt = keepalived!.transitions.at(-1)!.seenNs;
        await assertSoleHolder(vip.ipv4, kaHost);
        const sb = await w.stop();
        assert.equal(sb.splitBrainMs, 0, 'split-brain ms');
        await assertNothingRefused(undefined, keepalived);
        t.diagnostic(`v${version} keepquorum host powered off: keepalived MASTER seen ${nsToMs(masterAt - crashAt)} after the crash, split-brain ${sb.splitBrainMs} ms`);

        // Leave the lab as the next phase wants it: both hosts on, nothing running.
        await keepalived!.stop();
        await kqHost.powerOn();
        poweredOff.delete(kqHost);
        assert.equal(await kaHost.hasAddress(vip.ipv4), false, 'keepalived released the VIP on stop');
      });
    });
  }
});
