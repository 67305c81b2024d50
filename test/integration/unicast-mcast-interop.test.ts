/**
 * keepquorum and real keepalived (Debian's 2.2) where multicast VRRP does not
 * get through, and on a multicast group of the user's choosing.
 *
 * Unicast: both sides read the same keepalived.conf form with `unicast_src_ip`
 * and `unicast_peer { other }`, on a segment where every host drops incoming
 * protocol-112 multicast (an nftables rule in its namespace), so a test that
 * passed through multicast by accident fails. First the block is shown to
 * bite: the same pair configured for multicast splits, both MASTER. Then, per
 * VRRP version (v3 at 0.1 s, v2 with PASS at 1 s), both directions: election,
 * graceful stop (priority 0 honoured), preempt on return, power-off; nothing
 * refused either side, split-brain 0, and the rule's counters show that
 * neither side even tried multicast while unicast carried every advert. Last,
 * without the block: a unicast instance does not follow a multicast master
 * (keepalived's unicast socket never joins the group), so both are MASTER.
 *
 * Custom group: `vrrp_mcast_group4 224.0.0.112` on both sides: election and
 * failover both ways; then a peer left on the default group (224.0.0.18) in the
 * same VRID does not see them and becomes MASTER too, and the pair does not
 * see a higher-priority master on the default group either.
 *
 * Asserted: holders, states, the reason our agent logs, split-brain 0 over
 * every failover, no refusal. Timings are printed, never asserted.
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

const NFT = '/usr/sbin/nft';
const skip =
  labUnavailableReason() ??
  (existsSync(KEEPALIVED) ? undefined : `${KEEPALIVED} is not installed`) ??
  (existsSync(NFT) ? undefined : `${NFT} (nftables) is not installed`);

const INSTANCE = 'VI_1';
/** Upper bounds that turn a hang into a failure; never a timing assertion. */
const STATE_TIMEOUT_MS = 30_000;
const CUSTOM_GROUP = '224.0.0.112';

/** As in keepalived-interop.test.ts: keepalived's log lines that refuse or distrust a peer's packet. */
const KEEPALIVED_REFUSAL = /bad|invalid|mismatch|bogus|wrong|not present|not a unicast peer|checksum|interval changed|equal priority advert|dropping/i;
/** What a preempting keepalived logs about the lower-priority master it outranks: normal, not a refusal. */
const KEEPALIVED_PREEMPTING = /received lower priority \(\d+\) advert from \S+ - discarding/;

const nsToMs = (ns: bigint): string => `${(Number(ns) / 1e6).toFixed(1)} ms`;

interface ConfSpec {
  vip: Vip;
  priority: number;
  version: 2 | 3;
  advertInt: number;
  password?: string | undefined;
  /** Unicast: our source address and the one peer. */
  unicast?: { source: string; peer: string } | undefined;
  /** global_defs vrrp_mcast_group4. */
  mcastGroup4?: string | undefined;
}

/**
 * The lab's shared keepalived.conf form (keepalivedConf()) plus the keywords
 * under test, placed where a user writes them: vrrp_mcast_group4 in
 * global_defs, unicast_src_ip and unicast_peer in the instance.
 */
function conf(spec: ConfSpec): string {
  let text = keepalivedConf({
    vrid: spec.vip.vrid,
    priority: spec.priority,
    advertInt: spec.advertInt,
    version: spec.version,
    vips: [spec.vip.ipv4Cidr],
    ...(spec.password !== undefined ? { authPass: spec.password } : {}),
  });
  if (spec.mcastGroup4 !== undefined) {
    text = replaceOnce(text, 'global_defs {\n', `global_defs {\n  vrrp_mcast_group4 ${spec.mcastGroup4}\n`);
  }
  if (spec.unicast) {
    text = replaceOnce(
      text,
      '  virtual_ipaddress {\n',
      `  unicast_src_ip ${spec.unicast.source}\n  unicast_peer {\n    ${spec.unicast.peer}\n  }\n  virtual_ipaddress {\n`,
    );
  }
  return text;
}

function replaceOnce(text: string, anchor: string, replacement: string): string {
  const at = text.indexOf(anchor);
  assert.ok(at >= 0 && text.indexOf(anchor, at + 1) < 0, `keepalivedConf() output has exactly one ${JSON.stringify(anchor)}`);
  return text.slice(0, at) + replacement + text.slice(at + anchor.length);
}

// --- the multicast block: nftables in each host's namespace -----------------

const NFT_TABLE = 'kq_no_vrrp_multicast';

interface VrrpPacketCounts {
  /** Incoming protocol 112 to 224.0.0.0/4: dropped. */
  multicastInDropped: number;
  /** Outgoing protocol 112 to 224.0.0.0/4: counted only (a sender that tried multicast). */
  multicastOut: number;
  unicastIn: number;
  unicastOut: number;
}

/**
 * Drop every incoming protocol-112 packet sent to 224.0.0.0/4 on this host:
 * multicast VRRP never reaches keepalived's or our socket (the input hook runs
 * before raw sockets get their copy). Only on input, so senders see no error
 * and nothing changes their behaviour; outgoing packets are only counted.
 */
async function blockMulticastVrrp(host: LabHost): Promise<void> {
  const rule = (comment: string, match: string, verdict = ''): string => `    ip protocol 112 ${match} counter ${verdict} comment "${comment}"`;
  await host.exec(NFT, ['-f', '-'], {
    input: [
      `table ip ${NFT_TABLE} {`,
      '  chain input {',
      '    type filter hook input priority filter; policy accept;',
      rule('multicastInDropped', 'ip daddr 224.0.0.0/4', 'drop'),
      rule('unicastIn', 'ip daddr != 224.0.0.0/4'),
      '  }',
      '  chain output {',
      '    type filter hook output priority filter; policy accept;',
      rule('multicastOut', 'ip daddr 224.0.0.0/4'),
      rule('unicastOut', 'ip daddr != 224.0.0.0/4'),
      '  }',
      '}',
      '',
    ].join('\n'),
  });
}

async function unblockMulticastVrrp(host: LabHost): Promise<void> {
  await host.exec(NFT, ['delete', 'table', 'ip', NFT_TABLE], { allowFail: true });
}

async function vrrpPacketCounts(host: LabHost): Promise<VrrpPacketCounts> {
  const out = JSON.parse(await host.exec(NFT, ['-j', 'list', 'table', 'ip', NFT_TABLE])) as {
    nftables: Array<{ rule?: { comment?: string; expr: Array<{ counter?: { packets: number } }> } }>;
  };
  const counts: Record<string, number> = {};
  for (const item of out.nftables) {
    const rule = item.rule;
    if (!rule?.comment) continue;
    const counter = rule.expr.find((e) => e.counter)?.counter;
    if (counter) counts[rule.comment] = counter.packets;
  }
  for (const key of ['multicastInDropped', 'multicastOut', 'unicastIn', 'unicastOut']) {
    assert.equal(typeof counts[key], 'number', `nft counter ${key} on ${host.name}`);
  }
  return counts as unknown as VrrpPacketCounts;
}

const delta = (after: VrrpPacketCounts, before: VrrpPacketCounts): VrrpPacketCounts => ({
  multicastInDropped: after.multicastInDropped - before.multicastInDropped,
  multicastOut: after.multicastOut - before.multicastOut,
  unicastIn: after.unicastIn - before.unicastIn,
  unicastOut: after.unicastOut - before.unicastOut,
});

const showCounts = (c: VrrpPacketCounts): string =>
  `multicast out ${c.multicastOut}, multicast in dropped ${c.multicastInDropped}, unicast out ${c.unicastOut}, unicast in ${c.unicastIn}`;

// ---------------------------------------------------------------------------

describe('keepquorum and keepalived 2.2: unicast, and a custom multicast group', { skip, timeout: 900_000 }, () => {
  let lab: Lab;
  let kqHost: LabHost;
  let kaHost: LabHost;
  /** The peers left on the default group. */
  let kaDefaultHost: LabHost;
  let kqDefaultHost: LabHost;
  const poweredOff = new Set<LabHost>();
  /** Whatever still runs when a test fails halfway, stopped before the next section. */
  const running = new Set<{ stop(): Promise<unknown> }>();

  before(async () => {
    lab = await Lab.create();
    kqHost = await lab.addHost(agentPair(1).a);
    kaHost = await lab.addHost(keepalivedPeer(1));
    kaDefaultHost = await lab.addHost(keepalivedPeer(2));
    kqDefaultHost = await lab.addHost(agentPair(1).b);
  });

  after(async () => {
    await lab?.destroy();
  });

  const started = <T extends { stop(): Promise<unknown> }>(handle: T): T => {
    running.add(handle);
    return handle;
  };
  const stopAll = async (): Promise<void> => {
    for (const h of running) await h.stop();
    running.clear();
  };

  /** The powered-on hosts holding the VIP (a powered-off host's leftover address serves nobody). */
  const holders = async (vip: string, hosts: LabHost[] = [kqHost, kaHost]): Promise<string[]> => {
    const out: string[] = [];
    for (const h of hosts) if (!poweredOff.has(h) && (await h.hasAddress(vip))) out.push(h.name);
    return out;
  };

  /** Exactly `expected` hold the VIP, once the step's address changes have landed. */
  const assertHolders = async (vip: string, expected: LabHost[], among: LabHost[] = [kqHost, kaHost]): Promise<void> => {
    const names = expected.map((h) => h.name).sort();
    await waitUntil(`${names.join(' and ')} holding ${vip}`, async () => (await holders(vip, among)).sort().join() === names.join(), 10_000).catch(() => {});
    assert.deepEqual((await holders(vip, among)).sort(), names, `${names.join(' and ')} hold ${vip}`);
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

  const advertsReceived = async (agent: AgentHandle): Promise<number> => (await agent.status()).instances[0]!.counters.advertsReceived;
  const advertsSent = async (agent: AgentHandle): Promise<number> => (await agent.status()).instances[0]!.counters.advertsSent;

  describe('unicast, multicast VRRP dropped on every host', () => {
    let countsAtStart: Map<LabHost, VrrpPacketCounts>;

    before(async () => {
      await blockMulticastVrrp(kqHost);
      await blockMulticastVrrp(kaHost);
    });

    after(async () => {
      await stopAll();
      for (const h of [kqHost, kaHost]) if (poweredOff.delete(h)) await h.powerOn();
      await unblockMulticastVrrp(kqHost);
      await unblockMulticastVrrp(kaHost);
    });

    test('the block bites: the same pair configured for multicast splits, both MASTER', async (t: TestContext) => {
      const vip = vipOf(4);
      const spec = { vip, version: 3 as const, advertInt: 0.1 };
      const before = new Map([[kqHost, await vrrpPacketCounts(kqHost)], [kaHost, await vrrpPacketCounts(kaHost)]]);
      const keepalived = started(await startKeepalived(kaHost, conf({ ...spec, priority: 100 }), { name: 'keepalived-multicast' }));
      await keepalived.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
      const agent = started(await startAgent(kqHost, conf({ ...spec, priority: 90 }), { name: 'agent-multicast' }));
      // Without the block our agent would stay BACKUP behind keepalived's 100.
      const takeover = await agent.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
      assert.match(takeover!.reason, /^no advertisement from any master within Master_Down_Interval/);
      // keepalived stays MASTER: it never hears our adverts either.
      const sent = await advertsSent(agent);
      await waitUntil('five more adverts from our agent', async () => (await advertsSent(agent)) >= sent + 5, STATE_TIMEOUT_MS, 50);
      assert.equal(keepalived.state(INSTANCE), 'MASTER');
      assert.equal(agent.state(INSTANCE), 'MASTER');
      assert.equal(await advertsReceived(agent), 0, 'our agent received no advert');
      await assertHolders(vip.ipv4, [kqHost, kaHost]);
      const counts = new Map<LabHost, VrrpPacketCounts>();
      for (const h of [kqHost, kaHost]) counts.set(h, delta(await vrrpPacketCounts(h), before.get(h)!));
      for (const [h, c] of counts) {
        assert.ok(c.multicastOut > 0, `${h.name} sent multicast VRRP (${showCounts(c)})`);
        assert.ok(c.multicastInDropped > 0, `${h.name} dropped the other side's multicast VRRP (${showCounts(c)})`);
        t.diagnostic(`block check, ${h.name}: ${showCounts(c)}`);
      }
      await stopAll();
      assert.equal(await kaHost.hasAddress(vip.ipv4), false, 'keepalived released the VIP on stop');
      assert.equal(await kqHost.hasAddress(vip.ipv4), false, 'our agent released the VIP on stop');
    });

    const PHASES = [
      // v3: Master_Down_Interval 3 × 100 ms + (256 - 90) × 100 / 256 ms; Skew_Time the second term.
      { version: 3 as const, advertInt: 0.1, vip: vipOf(1), password: undefined, masterDownInterval90: '364.8 ms', skewTime90: '64.8 ms' },
      // v2: 3 × 1 s + (256 - 90) / 256 s.
      { version: 2 as const, advertInt: 1, vip: vipOf(2), password: 'kq-pass', masterDownInterval90: '3648.4 ms', skewTime90: '648.4 ms' },
    ];

    for (const phase of PHASES) {
      const { vip, version } = phase;
      const label = version === 2 ? `VRRPv2, PASS auth, advert_int ${phase.advertInt}` : `VRRPv3, advert_int ${phase.advertInt}`;
      const kqConf = (priority: number): string =>
        conf({ ...phase, priority, unicast: { source: kqHost.ipv4, peer: kaHost.ipv4 } });
      const kaConf = (priority: number): string =>
        conf({ ...phase, priority, unicast: { source: kaHost.ipv4, peer: kqHost.ipv4 } });

      describe(label, () => {
        let agent: AgentHandle | undefined;
        let keepalived: KeepalivedHandle | undefined;
        let runs = 0;
        const next = (what: string): string => `${what}-unicast-v${version}-${++runs}`;
        const watch = (): Promise<SplitBrainWatch> => startSplitBrainWatch([kqHost, kaHost], vip.ipv4, { durationMs: 120_000 });

        before(async () => {
          countsAtStart = new Map([[kqHost, await vrrpPacketCounts(kqHost)], [kaHost, await vrrpPacketCounts(kaHost)]]);
        });

        test('keepalived (100) is master, keepquorum (90) backs it up over unicast: one holder, no packet refused', async (t: TestContext) => {
          const startedAt = process.hrtime.bigint();
          keepalived = started(await startKeepalived(kaHost, kaConf(100), { name: next('keepalived') }));
          await keepalived.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
          agent = started(await startAgent(kqHost, kqConf(90), { name: next('agent') }));
          await agent.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
          await assertHolders(vip.ipv4, [kaHost]);
          await waitUntil('our agent to accept adverts from keepalived', async () => (await advertsReceived(agent!)) >= 3, STATE_TIMEOUT_MS, 100);
          const status = await agent.status();
          assert.equal(status.instances[0]!.state, 'BACKUP');
          assert.equal(status.instances[0]!.master, kaHost.ipv4);
          assert.equal(agent.state(INSTANCE), 'BACKUP');
          assert.equal(keepalived.state(INSTANCE), 'MASTER');
          await assertNothingRefused(agent, keepalived);
          t.diagnostic(`unicast v${version} election (keepalived master): settled ${nsToMs(process.hrtime.bigint() - startedAt)} after keepalived's start`);
        });

        test('keepalived stopped gracefully: keepquorum takes over on its unicast priority-0 advert after Skew_Time', async (t: TestContext) => {
          const w = await watch();
          const stopAt = process.hrtime.bigint();
          await keepalived!.stop();
          const takeover = await agent!.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
          assert.equal(takeover!.reason, `master ${kaHost.ipv4} gave up (priority 0) and Skew_Time (${phase.skewTime90}) elapsed`);
          await assertHolders(vip.ipv4, [kqHost]);
          const sb = await w.stop();
          assert.equal(sb.splitBrainMs, 0, 'split-brain ms');
          await assertNothingRefused(agent, keepalived);
          t.diagnostic(`unicast v${version} graceful stop of keepalived: keepquorum MASTER ${(takeover!.at - Number(stopAt) / 1e6).toFixed(1)} ms after SIGTERM, split-brain ${sb.splitBrainMs} ms`);
        });

        test('keepalived returns with the higher priority and preempts keepquorum', async (t: TestContext) => {
          const w = await watch();
          const startAt = process.hrtime.bigint();
          keepalived = started(await startKeepalived(kaHost, kaConf(100), { name: next('keepalived') }));
          await keepalived.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
          const demotion = await agent!.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
          assert.equal(demotion!.reason, `higher priority advert from ${kaHost.ipv4} (100 > ours 90)`);
          await assertHolders(vip.ipv4, [kaHost]);
          // Preemption is not a failover: the overlap is printed, not asserted (see keepalived-interop.test.ts).
          const sb = await w.stop();
          await assertNothingRefused(agent, keepalived);
          t.diagnostic(`unicast v${version} keepalived preempts: keepquorum BACKUP ${(demotion!.at - Number(startAt) / 1e6).toFixed(1)} ms after keepalived's start, overlap while preempting ${sb.splitBrainMs.toFixed(1)} ms`);
        });

        test("keepalived's host powers off: keepquorum takes over after Master_Down_Interval with no split-brain", async (t: TestContext) => {
          const w = await watch();
          const crashAt = process.hrtime.bigint();
          await kaHost.powerOff();
          poweredOff.add(kaHost);
          running.delete(keepalived!);
          const takeover = await agent!.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
          assert.equal(
            takeover!.reason,
            `no advertisement from master ${kaHost.ipv4} (priority 100) within Master_Down_Interval (${phase.masterDownInterval90})`,
          );
          await assertHolders(vip.ipv4, [kqHost]);
          const sb = await w.stop();
          assert.equal(sb.splitBrainMs, 0, 'split-brain ms');
          await assertNothingRefused(agent, undefined);
          t.diagnostic(`unicast v${version} keepalived host powered off: keepquorum MASTER ${(takeover!.at - Number(crashAt) / 1e6).toFixed(1)} ms after the crash, split-brain ${sb.splitBrainMs} ms`);
        });

        test('keepquorum (100) is master, keepalived (90) backs it up over unicast: one holder, no packet refused', async (t: TestContext) => {
          assert.equal(await agent!.stop(), 0);
          running.delete(agent!);
          await kaHost.powerOn();
          poweredOff.delete(kaHost);
          const startedAt = process.hrtime.bigint();
          agent = started(await startAgent(kqHost, kqConf(100), { name: next('agent') }));
          await agent.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
          keepalived = started(await startKeepalived(kaHost, kaConf(90), { name: next('keepalived') }));
          await keepalived.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
          await assertHolders(vip.ipv4, [kqHost]);
          // keepalived stays backup while our unicast adverts keep coming: more than its Master_Down_Interval's worth.
          const sent = await advertsSent(agent);
          await waitUntil('four more adverts from our agent', async () => (await advertsSent(agent!)) >= sent + 4, STATE_TIMEOUT_MS, 100);
          assert.equal(keepalived.state(INSTANCE), 'BACKUP');
          assert.equal(agent.state(INSTANCE), 'MASTER');
          await assertHolders(vip.ipv4, [kqHost]);
          await assertNothingRefused(agent, keepalived);
          t.diagnostic(`unicast v${version} election (keepquorum master): settled ${nsToMs(process.hrtime.bigint() - startedAt)} after our agent's start`);
        });

        test('keepquorum stopped gracefully: keepalived takes over on the unicast priority-0 advert', async (t: TestContext) => {
          const w = await watch();
          const stopAt = process.hrtime.bigint();
          assert.equal(await agent!.stop(), 0);
          running.delete(agent!);
          await keepalived!.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
          const masterAt = keepalived!.transitions.at(-1)!.seenNs;
          assert.ok(
            keepalived!.process.lines.some((l) => /\(VI_1\) Backup received priority 0 advertisement/.test(l)),
            "keepalived logged 'Backup received priority 0 advertisement'",
          );
          await assertHolders(vip.ipv4, [kaHost]);
          const sb = await w.stop();
          assert.equal(sb.splitBrainMs, 0, 'split-brain ms');
          await assertNothingRefused(undefined, keepalived);
          t.diagnostic(`unicast v${version} graceful stop of keepquorum: keepalived MASTER seen ${nsToMs(masterAt - stopAt)} after SIGTERM, split-brain ${sb.splitBrainMs} ms`);
        });

        test('keepquorum returns with the higher priority and preempts keepalived', async (t: TestContext) => {
          const w = await watch();
          const startAt = process.hrtime.bigint();
          agent = started(await startAgent(kqHost, kqConf(100), { name: next('agent') }));
          const takeover = await agent.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
          assert.equal(takeover!.reason, `preempting master ${kaHost.ipv4} (priority 90 < ours 100)`);
          await keepalived!.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
          await assertHolders(vip.ipv4, [kqHost]);
          const sb = await w.stop();
          await assertNothingRefused(agent, keepalived);
          t.diagnostic(`unicast v${version} keepquorum preempts: MASTER ${(takeover!.at - Number(startAt) / 1e6).toFixed(1)} ms after its start, overlap while preempting ${sb.splitBrainMs.toFixed(1)} ms`);
        });

        test("keepquorum's host powers off: keepalived takes over with no split-brain; unicast carried every advert", async (t: TestContext) => {
          const w = await watch();
          const crashAt = process.hrtime.bigint();
          await kqHost.powerOff();
          poweredOff.add(kqHost);
          running.delete(agent!);
          await keepalived!.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
          const masterAt = keepalived!.transitions.at(-1)!.seenNs;
          await assertHolders(vip.ipv4, [kaHost]);
          const sb = await w.stop();
          assert.equal(sb.splitBrainMs, 0, 'split-brain ms');
          await assertNothingRefused(undefined, keepalived);
          t.diagnostic(`unicast v${version} keepquorum host powered off: keepalived MASTER seen ${nsToMs(masterAt - crashAt)} after the crash, split-brain ${sb.splitBrainMs} ms`);

          // Over the whole phase neither side so much as tried multicast VRRP,
          // and unicast VRRP went both ways.
          for (const h of [kqHost, kaHost]) {
            const c = delta(await vrrpPacketCounts(h), countsAtStart.get(h)!);
            t.diagnostic(`unicast v${version} packets, ${h.name}: ${showCounts(c)}`);
            assert.equal(c.multicastOut, 0, `${h.name} sent no multicast VRRP (${showCounts(c)})`);
            assert.ok(c.unicastOut > 0 && c.unicastIn > 0, `${h.name} sent and received unicast VRRP (${showCounts(c)})`);
          }

          await keepalived!.stop();
          running.delete(keepalived!);
          await kqHost.powerOn();
          poweredOff.delete(kqHost);
          assert.equal(await kaHost.hasAddress(vip.ipv4), false, 'keepalived released the VIP on stop');
        });
      });
    }
  });

  describe('unicast and multicast do not mix', () => {
    after(stopAll);

    test('a unicast keepquorum does not follow a multicast keepalived master in its VRID: both MASTER, as two keepalived would be', async (t: TestContext) => {
      // No block here: keepalived's multicast adverts reach our host. keepalived's
      // own unicast instances never join the group (open_vrrp_read_socket), so
      // they never see them; ours must not act on them either.
      const vip = vipOf(5);
      const spec = { vip, version: 3 as const, advertInt: 0.1 };
      const keepalived = started(await startKeepalived(kaHost, conf({ ...spec, priority: 100 }), { name: 'keepalived-multicast-vs-unicast' }));
      await keepalived.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
      const agent = started(
        await startAgent(kqHost, conf({ ...spec, priority: 90, unicast: { source: kqHost.ipv4, peer: kaHost.ipv4 } }), { name: 'agent-unicast-vs-multicast' }),
      );
      const takeover = await agent.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
      assert.match(takeover!.reason, /^no advertisement from any master within Master_Down_Interval/);
      const sent = await advertsSent(agent);
      await waitUntil('five more adverts from our agent', async () => (await advertsSent(agent)) >= sent + 5, STATE_TIMEOUT_MS, 50);
      assert.equal(agent.state(INSTANCE), 'MASTER');
      assert.equal(keepalived.state(INSTANCE), 'MASTER');
      await assertHolders(vip.ipv4, [kqHost, kaHost]);
      const status = await agent.status();
      assert.equal(status.instances[0]!.counters.advertsReceived, 0, 'our unicast instance accepted no multicast advert');
      const ignored = status.instances[0]!.counters.rejected['destination'] ?? 0;
      assert.ok(ignored > 0, `keepalived's multicast adverts were seen and set aside (${JSON.stringify(status.instances[0]!.counters.rejected)})`);
      t.diagnostic(`unicast keepquorum beside a multicast keepalived: ${ignored} multicast adverts set aside, both MASTER`);
      await stopAll();
    });
  });

  describe(`custom multicast group ${CUSTOM_GROUP} (vrrp_mcast_group4)`, () => {
    const vip = vipOf(3);
    const spec = { vip, version: 3 as const, advertInt: 0.1, mcastGroup4: CUSTOM_GROUP };
    // v3 at 0.1 s: 3 × 100 ms + (256 - 80) × 100 / 256 ms, for our agent at priority 80.
    const masterDownInterval80 = '368.8 ms';
    let agent: AgentHandle | undefined;
    let keepalived: KeepalivedHandle | undefined;
    const watch = (): Promise<SplitBrainWatch> => startSplitBrainWatch([kqHost, kaHost], vip.ipv4, { durationMs: 120_000 });

    after(async () => {
      await stopAll();
      for (const h of [kqHost, kaHost]) if (poweredOff.delete(h)) await h.powerOn();
    });

    test('keepquorum (100) is master, keepalived (90) backs it up on the custom group', async (t: TestContext) => {
      const startedAt = process.hrtime.bigint();
      agent = started(await startAgent(kqHost, conf({ ...spec, priority: 100 }), { name: 'agent-group-1' }));
      await agent.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
      keepalived = started(await startKeepalived(kaHost, conf({ ...spec, priority: 90 }), { name: 'keepalived-group-1' }));
      await keepalived.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
      const sent = await advertsSent(agent);
      await waitUntil('four more adverts from our agent', async () => (await advertsSent(agent!)) >= sent + 4, STATE_TIMEOUT_MS, 100);
      assert.equal(keepalived.state(INSTANCE), 'BACKUP');
      assert.equal(agent.state(INSTANCE), 'MASTER');
      await assertHolders(vip.ipv4, [kqHost]);
      await assertNothingRefused(agent, keepalived);
      t.diagnostic(`group ${CUSTOM_GROUP} election (keepquorum master): settled ${nsToMs(process.hrtime.bigint() - startedAt)} after our agent's start`);
    });

    test('keepquorum stopped gracefully: keepalived takes over on the priority-0 advert sent to the custom group', async (t: TestContext) => {
      const w = await watch();
      const stopAt = process.hrtime.bigint();
      assert.equal(await agent!.stop(), 0);
      running.delete(agent!);
      await keepalived!.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
      const masterAt = keepalived!.transitions.at(-1)!.seenNs;
      assert.ok(
        keepalived!.process.lines.some((l) => /\(VI_1\) Backup received priority 0 advertisement/.test(l)),
        "keepalived logged 'Backup received priority 0 advertisement'",
      );
      await assertHolders(vip.ipv4, [kaHost]);
      const sb = await w.stop();
      assert.equal(sb.splitBrainMs, 0, 'split-brain ms');
      await assertNothingRefused(undefined, keepalived);
      t.diagnostic(`group ${CUSTOM_GROUP} graceful stop of keepquorum: keepalived MASTER seen ${nsToMs(masterAt - stopAt)} after SIGTERM, split-brain ${sb.splitBrainMs} ms`);
    });

    test('keepquorum (80) returns as backup of keepalived (90) on the custom group', async (t: TestContext) => {
      const startedAt = process.hrtime.bigint();
      agent = started(await startAgent(kqHost, conf({ ...spec, priority: 80 }), { name: 'agent-group-2' }));
      await agent.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
      await waitUntil('our agent to accept adverts from keepalived', async () => (await advertsReceived(agent!)) >= 3, STATE_TIMEOUT_MS, 100);
      const status = await agent.status();
      assert.equal(status.instances[0]!.state, 'BACKUP');
      assert.equal(status.instances[0]!.master, kaHost.ipv4);
      assert.equal(keepalived!.state(INSTANCE), 'MASTER');
      await assertHolders(vip.ipv4, [kaHost]);
      await assertNothingRefused(agent, keepalived);
      t.diagnostic(`group ${CUSTOM_GROUP} election (keepalived master): settled ${nsToMs(process.hrtime.bigint() - startedAt)} after our agent's start`);
    });

    test("keepalived's host powers off: keepquorum takes over after Master_Down_Interval with no split-brain", async (t: TestContext) => {
      const w = await watch();
      const crashAt = process.hrtime.bigint();
      await kaHost.powerOff();
      poweredOff.add(kaHost);
      running.delete(keepalived!);
      const takeover = await agent!.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
      assert.equal(takeover!.reason, `no advertisement from master ${kaHost.ipv4} (priority 90) within Master_Down_Interval (${masterDownInterval80})`);
      await assertHolders(vip.ipv4, [kqHost]);
      const sb = await w.stop();
      assert.equal(sb.splitBrainMs, 0, 'split-brain ms');
      await assertNothingRefused(agent, undefined);
      t.diagnostic(`group ${CUSTOM_GROUP} keepalived host powered off: keepquorum MASTER ${(takeover!.at - Number(crashAt) / 1e6).toFixed(1)} ms after the crash, split-brain ${sb.splitBrainMs} ms`);
    });

    test('a keepalived left on the default group (60) does not see them: it becomes MASTER too', async (t: TestContext) => {
      // Back to a pair on the custom group: keepquorum (80) master, keepalived (70) backup.
      await kaHost.powerOn();
      poweredOff.delete(kaHost);
      keepalived = started(await startKeepalived(kaHost, conf({ ...spec, priority: 70 }), { name: 'keepalived-group-2' }));
      await keepalived.waitForState(INSTANCE, 'BACKUP', STATE_TIMEOUT_MS);
      await assertHolders(vip.ipv4, [kqHost]);

      const all = [kqHost, kaHost, kaDefaultHost];
      const startedAt = process.hrtime.bigint();
      const stray = started(await startKeepalived(kaDefaultHost, conf({ ...spec, mcastGroup4: undefined, priority: 60 }), { name: 'keepalived-default-group' }));
      // Had our agent's adverts (80) gone to 224.0.0.18, this keepalived would stay BACKUP.
      await stray.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
      const sent = await advertsSent(agent!);
      await waitUntil('five more adverts from our agent', async () => (await advertsSent(agent!)) >= sent + 5, STATE_TIMEOUT_MS, 50);
      assert.equal(stray.state(INSTANCE), 'MASTER');
      assert.equal(agent!.state(INSTANCE), 'MASTER');
      assert.equal(keepalived.state(INSTANCE), 'BACKUP');
      await assertHolders(vip.ipv4, [kqHost, kaDefaultHost], all);
      await assertNothingRefused(agent, keepalived);
      t.diagnostic(`default-group keepalived (60) beside the ${CUSTOM_GROUP} pair: MASTER too ${nsToMs(process.hrtime.bigint() - startedAt)} after its start`);
      await stray.stop();
      running.delete(stray);
    });

    test('a keepquorum left on the default group does not see them (MASTER at 60), nor do they see it (MASTER at 150)', async (t: TestContext) => {
      const all = [kqHost, kaHost, kqDefaultHost];
      // Lower than the pair's master: it becomes MASTER only if it hears nobody.
      const low = started(await startAgent(kqDefaultHost, conf({ ...spec, mcastGroup4: undefined, priority: 60 }), { name: 'agent-default-group-60' }));
      const lowTakeover = await low.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
      assert.match(lowTakeover!.reason, /^no advertisement from any master within Master_Down_Interval/);
      assert.equal(await advertsReceived(low), 0, 'the default-group agent received no advert');
      await assertHolders(vip.ipv4, [kqHost, kqDefaultHost], all);
      assert.equal(await low.stop(), 0);
      running.delete(low);

      // Higher than both: the pair would yield to it if it heard it.
      const received = await advertsReceived(agent!);
      const high = started(await startAgent(kqDefaultHost, conf({ ...spec, mcastGroup4: undefined, priority: 150 }), { name: 'agent-default-group-150' }));
      await high.waitForState(INSTANCE, 'MASTER', STATE_TIMEOUT_MS);
      const sent = await advertsSent(high);
      await waitUntil('five adverts from the default-group agent', async () => (await advertsSent(high)) >= sent + 5, STATE_TIMEOUT_MS, 50);
      assert.equal(agent!.state(INSTANCE), 'MASTER');
      assert.equal(keepalived!.state(INSTANCE), 'BACKUP');
      assert.equal(await advertsReceived(agent!), received, 'our custom-group agent received no advert from the default group');
      await assertHolders(vip.ipv4, [kqHost, kqDefaultHost], all);
      await assertNothingRefused(agent, keepalived);
      await assertNothingRefused(high, undefined);
      t.diagnostic(`default-group keepquorum at 60 and at 150 beside the ${CUSTOM_GROUP} pair: MASTER both times, the pair unmoved`);
      await stopAll();
    });
  });
});
