/**
 * Failover downtime, keepquorum against keepalived, in one lab run.
 *
 * Two pairs side by side on one segment, under the same timers (VRRPv3, advert
 * 0.1 s, priorities 100/90), each in front of nginx with one client per VIP:
 *
 *   keepquorum  a1 (198.18.1.1, 100) / b1 (198.18.1.2, 90)   VIP 198.18.10.1, VRID 51
 *   keepalived ka1 (198.18.2.1, 100) / ka2 (198.18.2.2, 90)  VIP 198.18.10.2, VRID 52
 *
 * Scenarios, each run `runs` times per implementation:
 *   crash     the master's host powers off (cable pulled, every process SIGKILLed)
 *   graceful  SIGTERM to the master's daemon
 *
 * Within a round both implementations see the same scenario back to back, in
 * an order that alternates from round to round, so drift on the machine does
 * not favour one. A crash's downtime depends on when it hits relative to the
 * master's last advert (anywhere in one advert interval): the rounds spread
 * that phase evenly over the interval, the same phase for both implementations
 * in a round, and every run records the phase it really got, read off the wire.
 *
 * The figures come from instruments outside the daemons: the lab client
 * (requests every 10 ms, summarizeClient from the fault), the VIP samplers
 * (split-brain, when each host held the VIP) and a VRRP listener in the
 * client's namespace (when each advert crossed the segment).
 *
 * A crash starts when the bench freezes (SIGSTOP) every process of the master's
 * host, at an instant it stamps to the microsecond; powerOff() then pulls the
 * cable and kills them. Spawning `ip` takes milliseconds on a loaded machine,
 * so the power-off command alone would start the crash at no known instant.
 */
import { Lab, run, type LabHost } from '../test/lab/lab.js';
import { buildSegment, vipOf, type Vip } from '../test/lab/topology.js';
import { startNginx, type NginxHandle } from '../test/lab/nginx.js';
import { DEFAULT_INTERVAL_MS, DEFAULT_TIMEOUT_MS, startClient, summarizeClient, type ClientHandle } from '../test/lab/client.js';
import { startSplitBrainWatch, type SplitBrainResult, type SplitBrainWatch } from '../test/lab/split-brain.js';
import { keepalivedConf, startKeepalived, type KeepalivedHandle } from '../test/lab/keepalived.js';
import { startAgent, type AgentHandle } from '../test/lab/agent.js';
import { sleep, waitUntil } from '../test/lab/wait.js';
import { distribution, ratio, round2, tail, type Distribution } from './stats.js';
import { progress, target, type BenchOptions, type Suite, type SuiteResult, type Target } from './suite.js';
import { machineLoad } from './environment.js';
import { startWireWatch, type Instrument, type WireAdvert } from './instruments.js';

const SUITE = 'failover';
const INSTANCE = 'VI_1';
const VRRP_VERSION = 3;
const ADVERT_INTERVAL_MS = 100;
const MASTER_PRIORITY = 100;
const BACKUP_PRIORITY = 90;

/**
 * RFC 5798 §6.1, computed here rather than taken from the product, so the
 * bench does not trust the arithmetic it measures. Skew_Time is what the
 * backup (the one that takes over) adds.
 */
export const SKEW_TIME_MS = ((256 - BACKUP_PRIORITY) * ADVERT_INTERVAL_MS) / 256;
export const MASTER_DOWN_INTERVAL_MS = 3 * ADVERT_INTERVAL_MS + SKEW_TIME_MS;
/** The crash target: Master_Down_Interval plus this much takeover time. */
const CRASH_TAKEOVER_ALLOWANCE_MS = 30;
/**
 * Faults hit a master in its steady state: past the second set of gratuitous
 * ARPs that both implementations send vrrp_garp_master_delay (5 s) after
 * taking over. Without this, the bench's own rhythm put the graceful stop of
 * every run within ~0.5 s of that burst, the same instant each time.
 */
const STEADY_MASTER_MS = 6000;

type Impl = 'keepquorum' | 'keepalived';
type Scenario = 'crash' | 'graceful';
const IMPLS: readonly Impl[] = ['keepquorum', 'keepalived'];
const SCENARIOS: readonly Scenario[] = ['crash', 'graceful'];

/** A VRRP daemon of either implementation, seen through the lab's handles. */
interface Daemon {
  readonly logFile: string;
  running(): boolean;
  /** Resolves with the CLOCK_MONOTONIC ns of the transition: the agent's own stamp, or when keepalived's log line was read. */
  waitForState(state: 'MASTER' | 'BACKUP', timeoutMs: number): Promise<bigint>;
  stop(): Promise<void>;
}

function agentDaemon(h: AgentHandle): Daemon {
  return {
    logFile: h.process.logFile,
    running: () => h.process.running,
    async waitForState(state, timeoutMs) {
      const t = await h.waitForState(INSTANCE, state, timeoutMs);
      return t ? BigInt(Math.round(t.at * 1e6)) : process.hrtime.bigint();
    },
    async stop() {
      await h.stop();
    },
  };
}

function keepalivedDaemon(h: KeepalivedHandle): Daemon {
  return {
    logFile: h.process.logFile,
    running: () => h.process.running,
    async waitForState(state, timeoutMs) {
      await h.waitForState(INSTANCE, state, timeoutMs);
      const t = [...h.transitions].reverse().find((x) => x.instance === INSTANCE);
      return t?.seenNs ?? process.hrtime.bigint();
    },
    stop: () => h.stop(),
  };
}

/** One pair under test, with what it takes to start, restore and reset it. */
class Rig {
  readonly daemons = new Map<string, Daemon>();
  private readonly nginx = new Map<string, NginxHandle>();
  private starts = 0;
  /** Set when the pair could not be brought back: its remaining runs are failures. */
  broken: string | undefined;
  /** When the original master was last seen to hold the VIP after (re)starting (CLOCK_MONOTONIC ns). */
  masterSince = 0n;

  constructor(
    readonly impl: Impl,
    readonly master: LabHost,
    readonly backup: LabHost,
    readonly vip: Vip,
  ) {}

  /** The one keepalived.conf form both implementations read. */
  conf(host: LabHost): string {
    return keepalivedConf({
      routerId: host.name,
      vrid: this.vip.vrid,
      priority: host === this.master ? MASTER_PRIORITY : BACKUP_PRIORITY,
      advertInt: ADVERT_INTERVAL_MS / 1000,
      version: VRRP_VERSION,
      vips: [this.vip.ipv4Cidr],
    });
  }

  async startDaemon(host: LabHost): Promise<void> {
    this.starts++;
    const daemon =
      this.impl === 'keepquorum'
        ? agentDaemon(await startAgent(host, this.conf(host), { name: `agent-${this.starts}` }))
        : keepalivedDaemon(await startKeepalived(host, this.conf(host), { name: `keepalived-${this.starts}` }));
    this.daemons.set(host.name, daemon);
  }

  daemon(host: LabHost): Daemon {
    const d = this.daemons.get(host.name);
    if (!d) throw new Error(`${this.impl}: no daemon on ${host.name}`);
    return d;
  }

  async ensureNginx(host: LabHost): Promise<void> {
    if (this.nginx.get(host.name)?.process.running) return;
    this.nginx.set(host.name, await startNginx(host));
  }

  /** The original master holds the VIP, alone, and both daemons agree. */
  async steady(timeoutMs: number): Promise<void> {
    await this.daemon(this.master).waitForState('MASTER', timeoutMs);
    await this.daemon(this.backup).waitForState('BACKUP', timeoutMs);
    await waitUntil(
      `${this.vip.ipv4} on ${this.master.name} only`,
      async () => (await this.master.hasAddress(this.vip.ipv4)) && !(await this.backup.hasAddress(this.vip.ipv4)),
      timeoutMs,
      20,
    );
    this.masterSince = process.hrtime.bigint();
  }

  /** A host that reboots comes back without the addresses configured at run time. */
  async forgetVip(host: LabHost): Promise<void> {
    await host.ip(['addr', 'del', this.vip.ipv4Cidr, 'dev', host.ifname], { allowFail: true });
  }

  /** From any state to the starting one: both daemons restarted, the master holding the VIP. */
  async reset(timeoutMs: number): Promise<void> {
    for (const d of this.daemons.values()) await d.stop().catch(() => undefined);
    this.daemons.clear();
    for (const host of [this.master, this.backup]) {
      await this.forgetVip(host);
      await host.powerOn();
      await this.ensureNginx(host);
    }
    await this.startDaemon(this.master);
    await this.startDaemon(this.backup);
    await this.steady(timeoutMs);
  }
}

/** One measured failover. Times are ms relative to the fault (negative: before it); null: not observed. */
export interface RunRecord {
  impl: Impl;
  scenario: Scenario;
  round: number;
  ok: boolean;
  error?: string;
  /** Client downtime: summarizeClient from the fault. */
  downtimeMs: number | null;
  splitBrainMs: number | null;
  /** How long the master had held the VIP (since the bench saw it do so) when the fault came. */
  masterUptimeMs?: number;
  /** crash: the delay after an advert of the master (as the bench heard of it) at which the host froze. */
  aimedPhaseMs?: number;
  /** crash: when powerOff() had pulled the cable and killed the frozen processes. */
  cablePulledMs?: number | null;
  /** crash: how long before the fault the master's last advert crossed the segment (from the wire). */
  sinceMasterAdvertMs?: number | null;
  /** keepquorum crash: the same, from the backup's logged takeover minus Master_Down_Interval (includes its timer lateness). */
  sinceMasterAdvertFromLogMs?: number | null;
  /** graceful: the master's priority-0 advert on the wire. */
  priorityZeroMs?: number | null;
  /** When the protocol lets the backup take over: last advert + Master_Down_Interval (crash), priority 0 + Skew_Time (graceful). */
  protocolDeadlineMs: number | null;
  /** The backup's transition to MASTER: keepquorum's own stamp; keepalived's log line as read (its stamps have 1 s resolution). */
  backupMasterLoggedMs: number | null;
  /** The new master's first advert on the wire. */
  backupFirstAdvertMs: number | null;
  /** The VIP sampler: when the old master stopped holding the VIP, when the backup started to. */
  vipLeftMasterMs: number | null;
  vipOnBackupMs: number | null;
  /** Completion of the first request the backup answered. */
  firstServedByBackupMs: number | null;
  /** backupFirstAdvertMs - protocolDeadlineMs: timer lateness and the work before the first advert. */
  takeoverLateMs: number | null;
  /** firstServedByBackupMs - protocolDeadlineMs: from when the backup may take over to the first answer it gave. */
  servedLateMs: number | null;
  /**
   * crash: downtimeMs - protocolDeadlineMs, the part of the downtime that is not
   * the protocol's mandated wait, whatever the phase of the crash. Within ±5 ms:
   * the client's last success before the fault was up to one request interval earlier.
   */
  downtimeBeyondProtocolMs: number | null;
}

const relMs = (t: bigint | undefined | null, t0: bigint): number | null => (t === undefined || t === null ? null : round2(Number(t - t0) / 1e6));
const sub = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : round2(a - b));

/** A fixed shuffle of 0..n-1 (the same every run of the bench), so phases do not rise with drift. */
function shuffledIndices(n: number): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  let seed = 0x5eed;
  const next = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j] as number, out[i] as number];
  }
  return out;
}

interface Timing {
  settleMs: number;
  restoreSettleMs: number;
  takeoverTimeoutMs: number;
  steadyTimeoutMs: number;
}

interface Instruments {
  client: LabHost;
  wire: Instrument<WireAdvert>;
  timing: Timing;
}

/** The processes running in a host's namespace now, but for the bench itself and the given ones. */
async function namespacePids(host: LabHost, spare: ReadonlySet<number>): Promise<number[]> {
  const out = await run('ip', ['netns', 'pids', host.ns], { allowFail: true });
  return out
    .split('\n')
    .map((s) => Number.parseInt(s, 10))
    .filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid && !spare.has(n));
}

async function measure(rig: Rig, scenario: Scenario, round: number, aimedPhaseMs: number, lab: Instruments): Promise<RunRecord> {
  const { master, backup, vip } = rig;
  const record: RunRecord = {
    impl: rig.impl,
    scenario,
    round,
    ok: false,
    downtimeMs: null,
    splitBrainMs: null,
    protocolDeadlineMs: null,
    backupMasterLoggedMs: null,
    backupFirstAdvertMs: null,
    vipLeftMasterMs: null,
    vipOnBackupMs: null,
    firstServedByBackupMs: null,
    takeoverLateMs: null,
    servedLateMs: null,
    downtimeBeyondProtocolMs: null,
  };
  if (scenario === 'crash') record.aimedPhaseMs = round2(aimedPhaseMs);
  if (rig.broken) {
    record.error = `not run: ${rig.broken}`;
    return record;
  }
  const fromMaster = (a: WireAdvert): boolean => a.src === master.ipv4 && a.vrid === vip.vrid;
  const fromBackup = (a: WireAdvert): boolean => a.src === backup.ipv4 && a.vrid === vip.vrid;
  let watch: SplitBrainWatch | undefined;
  let client: ClientHandle | undefined;
  let stopping: Promise<void> | undefined;
  let faultAt: bigint | undefined;
  let failure: string | undefined;
  let sb: SplitBrainResult | undefined;
  try {
    watch = await startSplitBrainWatch([master, backup], vip.ipv4, { durationMs: 60_000 });
    client = startClient(lab.client, vip.ipv4, { name: `client-${rig.impl}-${scenario}-${round}`, durationMs: 30_000 });
    await client.waitFor((r) => r.ok && r.server === master.name, 5000);
    await sleep(lab.timing.settleMs);
    const uptimeMs = Number(process.hrtime.bigint() - rig.masterSince) / 1e6;
    if (uptimeMs < STEADY_MASTER_MS) await sleep(STEADY_MASTER_MS - uptimeMs);
    const backupDaemon = rig.daemon(backup);
    if (scenario === 'crash') {
      // The VIP samplers are instruments, not the host's software: they stay.
      const samplers = new Set([...watch.samplers.values()].map((p) => p.pid).filter((p): p is number => p !== undefined));
      const pids = await namespacePids(master, samplers);
      await lab.wire.next((a) => fromMaster(a) && a.prio > 0, 2000);
      await sleep(aimedPhaseMs);
      faultAt = process.hrtime.bigint();
      record.masterUptimeMs = relMs(faultAt, rig.masterSince) as number;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGSTOP');
        } catch {
          // gone already
        }
      }
      // Freezes again whatever started since (nothing should have), pulls the cable, kills.
      await master.powerOff();
      record.cablePulledMs = relMs(process.hrtime.bigint(), faultAt);
    } else {
      faultAt = process.hrtime.bigint();
      record.masterUptimeMs = relMs(faultAt, rig.masterSince) as number;
      stopping = rig.daemon(master).stop();
    }
    const t0 = faultAt;
    try {
      const logged = await backupDaemon.waitForState('MASTER', lab.timing.takeoverTimeoutMs);
      record.backupMasterLoggedMs = relMs(logged, t0);
      await client.waitFor((r) => r.ok && r.server === backup.name && r.t > t0, lab.timing.takeoverTimeoutMs);
    } catch (e) {
      failure = `no takeover: ${(e as Error).message}`;
    }
    // Watch the service a little longer after it came back, so a relapse counts.
    await sleep(300);
  } catch (e) {
    failure = (e as Error).message;
  }
  const records = client ? await client.stop().catch(() => client!.records()) : [];
  if (watch) sb = await watch.stop().catch(() => undefined);
  if (stopping) await stopping.catch(() => undefined);
  if (faultAt === undefined) {
    record.error = failure ?? 'the fault was never injected';
    return record;
  }
  const t0 = faultAt;

  const summary = summarizeClient(records, { from: t0, intervalMs: DEFAULT_INTERVAL_MS });
  record.downtimeMs = round2(summary.downtimeMs);
  if (sb) {
    record.splitBrainMs = round2(sb.splitBrainMs);
    const left = sb.holders.find((s) => s.toNs > t0 && !s.holders.includes(master.name));
    const taken = sb.holders.find((s) => s.toNs > t0 && s.holders.includes(backup.name));
    record.vipLeftMasterMs = left ? relMs(left.fromNs > t0 ? left.fromNs : t0, t0) : null;
    record.vipOnBackupMs = taken ? relMs(taken.fromNs, t0) : null;
  }
  const served = records.find((r) => r.ok && r.server === backup.name && r.t > t0);
  record.firstServedByBackupMs = served ? relMs(served.t + BigInt(Math.round(served.ms * 1e6)), t0) : null;

  const backupFirst = lab.wire.firstAfter(t0, (a) => fromBackup(a) && a.prio > 0);
  record.backupFirstAdvertMs = relMs(backupFirst?.t, t0);
  if (scenario === 'crash') {
    // The master's last advert to reach the segment: the one the backup timed out from.
    const horizon = backupFirst?.t ?? process.hrtime.bigint();
    const last = lab.wire.lastBefore(horizon, (a) => fromMaster(a) && a.prio > 0);
    record.sinceMasterAdvertMs = last ? round2(-Number(last.t - t0) / 1e6) : null;
    record.protocolDeadlineMs = last ? round2(Number(last.t - t0) / 1e6 + MASTER_DOWN_INTERVAL_MS) : null;
    // A host that lost power says nothing more; a priority-0 advert would make this a graceful hand-over.
    const escaped = lab.wire.firstAfter(t0, (a) => fromMaster(a) && a.prio === 0);
    if (escaped && (backupFirst === undefined || escaped.t < backupFirst.t)) {
      failure ??= `the crashed master sent a priority-0 advert ${relMs(escaped.t, t0)} ms after the fault: not a crash`;
    }
    if (rig.impl === 'keepquorum' && record.backupMasterLoggedMs !== null) {
      record.sinceMasterAdvertFromLogMs = round2(MASTER_DOWN_INTERVAL_MS - record.backupMasterLoggedMs);
    }
  } else {
    const zero = lab.wire.firstAfter(t0, (a) => fromMaster(a) && a.prio === 0);
    record.priorityZeroMs = relMs(zero?.t, t0);
    record.protocolDeadlineMs = record.priorityZeroMs === null ? null : round2(record.priorityZeroMs + SKEW_TIME_MS);
  }
  record.takeoverLateMs = sub(record.backupFirstAdvertMs, record.protocolDeadlineMs);
  record.servedLateMs = sub(record.firstServedByBackupMs, record.protocolDeadlineMs);
  // A crash stops the service at the fault instant; a graceful stop whenever the
  // master gets to remove its VIP, so there the difference would mean nothing.
  record.downtimeBeyondProtocolMs = scenario === 'crash' ? sub(record.downtimeMs, record.protocolDeadlineMs) : null;

  if (!failure && summary.servedBy.at(-1)?.server !== backup.name) failure = `the client was last served by ${summary.servedBy.at(-1)?.server ?? 'nobody'}, not ${backup.name}`;
  if (!failure && (record.splitBrainMs ?? 0) > 0) failure = `split-brain: ${record.splitBrainMs} ms with two holders of ${vip.ipv4}`;
  if (failure) record.error = failure;
  else record.ok = true;
  return record;
}

/** Back to the starting state after a run: the original master serving. */
async function restore(rig: Rig, scenario: Scenario, timing: Timing): Promise<void> {
  const { master } = rig;
  if (scenario === 'crash') {
    await rig.forgetVip(master);
    await master.powerOn();
    // Power off killed nginx with everything else on the host.
    await rig.ensureNginx(master);
  } else {
    await rig.daemon(master).stop();
  }
  await rig.startDaemon(master);
  await rig.steady(timing.steadyTimeoutMs);
  // Past the first set of gratuitous ARPs and the backup's demotion.
  await sleep(timing.restoreSettleMs);
}

interface ScenarioFigures {
  ok: number;
  failed: number;
  downtimeMs: Distribution;
  splitBrainMs: Distribution;
  protocolDeadlineMs: Distribution;
  downtimeBeyondProtocolMs: Distribution;
  takeoverLateMs: Distribution;
  servedLateMs: Distribution;
  /** crash: the phase each run got (time since the master's last advert). */
  sinceMasterAdvertMs?: Distribution;
  priorityZeroMs?: Distribution;
}

function figures(runs: readonly RunRecord[]): ScenarioFigures {
  const ok = runs.filter((r) => r.ok);
  const pick = (key: keyof RunRecord): number[] => ok.map((r) => r[key]).filter((v): v is number => typeof v === 'number');
  const out: ScenarioFigures = {
    ok: ok.length,
    failed: runs.length - ok.length,
    downtimeMs: distribution(pick('downtimeMs')),
    splitBrainMs: distribution(runs.map((r) => r.splitBrainMs).filter((v): v is number => v !== null)),
    protocolDeadlineMs: distribution(pick('protocolDeadlineMs')),
    downtimeBeyondProtocolMs: distribution(pick('downtimeBeyondProtocolMs')),
    takeoverLateMs: distribution(pick('takeoverLateMs')),
    servedLateMs: distribution(pick('servedLateMs')),
  };
  if (runs[0]?.scenario === 'crash') out.sinceMasterAdvertMs = distribution(pick('sinceMasterAdvertMs'));
  else out.priorityZeroMs = distribution(pick('priorityZeroMs'));
  return out;
}

/** Per round where both ran fine: keepquorum minus keepalived. Same phase, neighbouring in time. */
type PairedKey = 'downtimeMs' | 'downtimeBeyondProtocolMs' | 'takeoverLateMs' | 'servedLateMs';

function pairedDifference(runs: readonly RunRecord[], key: PairedKey): Distribution {
  const diffs: number[] = [];
  const rounds = new Set(runs.map((r) => r.round));
  for (const round of rounds) {
    const kq = runs.find((r) => r.round === round && r.impl === 'keepquorum' && r.ok)?.[key];
    const ka = runs.find((r) => r.round === round && r.impl === 'keepalived' && r.ok)?.[key];
    if (typeof kq === 'number' && typeof ka === 'number') diffs.push(kq - ka);
  }
  return distribution(diffs);
}

/** Steady-state gaps between consecutive adverts of one sender (gaps over two intervals are transitions, left out). */
function advertCadence(adverts: readonly WireAdvert[], vrid: number): ReturnType<typeof tail> {
  const lastBySource = new Map<string, bigint>();
  const gaps: number[] = [];
  for (const a of adverts) {
    if (a.vrid !== vrid || a.prio === 0) continue;
    const prev = lastBySource.get(a.src);
    lastBySource.set(a.src, a.t);
    if (prev === undefined) continue;
    const gap = Number(a.t - prev) / 1e6;
    if (gap > 0 && gap < 2 * ADVERT_INTERVAL_MS) gaps.push(gap);
  }
  return tail(gaps);
}

async function runFailover(options: BenchOptions): Promise<SuiteResult> {
  const timing: Timing = {
    settleMs: options.quick ? 300 : 500,
    restoreSettleMs: options.quick ? 300 : 1000,
    takeoverTimeoutMs: 5000,
    steadyTimeoutMs: 15_000,
  };
  const failures: string[] = [];
  const runs: RunRecord[] = [];
  const loadBefore = await machineLoad();
  const lab = await Lab.create();
  let wire: Instrument<WireAdvert> | undefined;
  let adverts: readonly WireAdvert[] = [];
  const rigs = new Map<Impl, Rig>();
  try {
    progress(SUITE, `lab ${lab.prefix}: two pairs, a client, a VRRP listener`);
    const segment = await buildSegment(lab, { pairs: 1, keepalivedPeers: 2, client: true, ipv6: false });
    const pair = segment.pairs[0];
    const [ka1, ka2] = segment.keepalived;
    const client = segment.client;
    if (!pair || !ka1 || !ka2 || !client) throw new Error('the segment lacks a host it was asked for');
    rigs.set('keepquorum', new Rig('keepquorum', pair.a, pair.b, pair.vip));
    rigs.set('keepalived', new Rig('keepalived', ka1, ka2, vipOf(2)));
    wire = await startWireWatch(client, { durationMs: options.runs * SCENARIOS.length * IMPLS.length * 30_000 + 120_000 });
    for (const rig of rigs.values()) {
      progress(SUITE, `${rig.impl}: nginx and daemons on ${rig.master.name} (${MASTER_PRIORITY}) and ${rig.backup.name} (${BACKUP_PRIORITY})`);
      await rig.reset(timing.steadyTimeoutMs);
    }
    await sleep(timing.restoreSettleMs);

    const order = shuffledIndices(options.runs);
    for (let round = 0; round < options.runs; round++) {
      const phaseMs = (((order[round] as number) + 0.5) / options.runs) * ADVERT_INTERVAL_MS;
      const impls = round % 2 === 0 ? IMPLS : [...IMPLS].reverse();
      for (const scenario of SCENARIOS) {
        for (const impl of impls) {
          const rig = rigs.get(impl) as Rig;
          const rec = await measure(rig, scenario, round, phaseMs, { client, wire, timing });
          runs.push(rec);
          const line = !rec.ok
            ? `FAILED: ${rec.error}`
            : scenario === 'crash'
              ? `downtime ${rec.downtimeMs} ms (${rec.sinceMasterAdvertMs} ms after an advert; ${rec.downtimeBeyondProtocolMs} ms beyond the protocol's wait; first answer ${rec.servedLateMs} ms after the deadline)`
              : `downtime ${rec.downtimeMs} ms (priority 0 after ${rec.priorityZeroMs} ms; first answer ${rec.servedLateMs} ms after the deadline)`;
          progress(SUITE, `round ${round + 1}/${options.runs} ${scenario} ${impl}: ${line}`);
          if (!rec.ok) failures.push(`${impl} ${scenario} round ${round + 1}: ${rec.error}`);
          if (rig.broken) continue;
          try {
            await restore(rig, scenario, timing);
          } catch (e) {
            progress(SUITE, `${impl}: restore failed (${(e as Error).message}); resetting the pair`);
            try {
              await rig.reset(timing.steadyTimeoutMs);
              await sleep(timing.restoreSettleMs);
            } catch (e2) {
              rig.broken = `the ${impl} pair could not be restored: ${(e2 as Error).message}`;
              failures.push(rig.broken);
            }
          }
        }
      }
    }
    adverts = wire.seen;
  } catch (e) {
    failures.push(`failover suite aborted: ${(e as Error).message}`);
  } finally {
    await wire?.stop().catch(() => undefined);
    await lab.destroy();
  }

  const bySet = (impl: Impl, scenario: Scenario): RunRecord[] => runs.filter((r) => r.impl === impl && r.scenario === scenario);
  const results: Record<string, unknown> = {};
  const median = (impl: Impl, scenario: Scenario): number | null => figures(bySet(impl, scenario)).downtimeMs.median;
  const medianDiff = (scenario: Scenario, key: PairedKey): number | null => {
    const kq = figures(bySet('keepquorum', scenario))[key].median;
    const ka = figures(bySet('keepalived', scenario))[key].median;
    return kq === null || ka === null ? null : round2(kq - ka);
  };
  for (const scenario of SCENARIOS) {
    const inScenario = runs.filter((r) => r.scenario === scenario);
    const keys: PairedKey[] = scenario === 'crash' ? ['downtimeMs', 'downtimeBeyondProtocolMs', 'takeoverLateMs', 'servedLateMs'] : ['downtimeMs', 'takeoverLateMs', 'servedLateMs'];
    results[scenario] = {
      keepquorum: figures(bySet('keepquorum', scenario)),
      keepalived: figures(bySet('keepalived', scenario)),
      ratioOfMedians: { downtimeMs: ratio(median('keepquorum', scenario), median('keepalived', scenario)) },
      /** keepquorum's median minus keepalived's. */
      differenceOfMediansMs: Object.fromEntries(keys.map((k) => [k, medianDiff(scenario, k)])),
      /** Per round (same phase, neighbouring in time), keepquorum minus keepalived. */
      pairedDifferenceMs: Object.fromEntries(keys.map((k) => [k, pairedDifference(inScenario, k)])),
    };
  }

  const kqCrash = figures(bySet('keepquorum', 'crash'));
  const kqSplit = runs.filter((r) => r.impl === 'keepquorum').reduce((s, r) => s + (r.splitBrainMs ?? 0), 0);
  const targets: Record<string, Target> = {
    crashRatio: target(ratio(median('keepquorum', 'crash'), median('keepalived', 'crash')), '<=', 1.0, 'median crash downtime, keepquorum / keepalived'),
    gracefulRatio: target(ratio(median('keepquorum', 'graceful'), median('keepalived', 'graceful')), '<=', 1.0, 'median graceful-stop downtime, keepquorum / keepalived'),
    crashWithinMdiPlus30: target(
      kqCrash.downtimeMs.max,
      '<=',
      round2(MASTER_DOWN_INTERVAL_MS + CRASH_TAKEOVER_ALLOWANCE_MS),
      `every keepquorum crash downtime (the max) within Master_Down_Interval (${round2(MASTER_DOWN_INTERVAL_MS)} ms) + ${CRASH_TAKEOVER_ALLOWANCE_MS} ms`,
    ),
    splitBrainZero: target(round2(kqSplit), '<=', 0, 'total split-brain ms over every keepquorum run'),
  };
  const expected = options.runs * SCENARIOS.length * IMPLS.length;
  if (runs.length < expected && failures.length === 0) failures.push(`only ${runs.length} of ${expected} runs took place`);

  return {
    ok: failures.length === 0,
    failures,
    targets,
    setup: {
      vrrpVersion: VRRP_VERSION,
      advertIntervalMs: ADVERT_INTERVAL_MS,
      priorities: { master: MASTER_PRIORITY, backup: BACKUP_PRIORITY },
      masterDownIntervalMs: round2(MASTER_DOWN_INTERVAL_MS),
      skewTimeMs: round2(SKEW_TIME_MS),
      client: { intervalMs: DEFAULT_INTERVAL_MS, timeoutMs: DEFAULT_TIMEOUT_MS },
      runsPerScenario: options.runs,
      pairs: Object.fromEntries(
        [...rigs].map(([impl, rig]) => [impl, { master: `${rig.master.name} ${rig.master.ipv4}`, backup: `${rig.backup.name} ${rig.backup.ipv4}`, vip: rig.vip.ipv4, vrid: rig.vip.vrid }]),
      ),
      order: 'each round: crash then graceful, both implementations back to back, keepquorum first in even rounds (0, 2, …), keepalived first in odd ones',
      crashPhase: 'round k crashes the master a fixed delay after one of its adverts, spread evenly over the advert interval (same delay for both implementations in a round); sinceMasterAdvertMs is what the wire saw',
      times: 'per run, ms from the fault (negative: before it)',
    },
    crash: results['crash'],
    graceful: results['graceful'],
    advertIntervalMs: {
      keepquorum: advertCadence(adverts, vipOf(1).vrid),
      keepalived: advertCadence(adverts, vipOf(2).vrid),
    },
    load: { before: loadBefore, after: await machineLoad() },
    logs: process.env['KQ_LAB_KEEP_LOGS'] === '1' ? lab.dir : null,
    runs,
  };
}

export const failoverSuite: Suite = {
  name: SUITE,
  description: 'client-observed downtime on master crash and graceful stop, keepquorum vs keepalived (VRRPv3, advert 0.1 s, priorities 100/90)',
  run: runFailover,
};
