/**
 * The agent's wiring: configuration → instances → ports. It decides nothing:
 * the VRRP state machine decides, libs/net executes.
 */
import type { Logger } from 'pino';
import type { VrrpEvent, VrrpStateName } from '../../../libs/vrrp/src/mod.js';
import { monotonicMs } from '../../../libs/common/src/clock.js';
import {
  AuthType,
  encodeAdvertisement,
  type Advertisement,
  type InstanceExpectation,
  type InstanceParams,
  type IpFamily,
} from '../../../libs/vrrp/src/mod.js';
import {
  announceAddress,
  announceAddressNow,
  getInterface,
  openVrrpSocket,
  watchLinks,
  type InterfaceInfo,
  type LinkState,
  type LinkWatch,
  type VrrpSocket,
} from '../../../libs/net/src/mod.js';
import type { AgentConfig, VrrpInstanceConfig } from '../../../libs/config/src/mod.js';
import {
  CheckRunner,
  icmpCheck,
  Notifier,
  prepareNotify,
  trackScriptCheck,
  type CheckResultEvent,
  type NotifyState,
  type PreparedNotify,
  type ScriptGlobals,
} from '../../../libs/checks/src/mod.js';
import { InstanceRunner, type LeasePort, type Transition } from './instance-runner.js';
import { resolveArbiter, type ResolvedArbiter } from '../../../libs/config/src/arbiter.js';
import type { Reachability } from '../../../libs/arbiter/src/types.js';
import type { InstanceReport } from '../../../libs/arbiter/src/protocol.js';
import type { ArbiterLink } from './lease-client.js';
import { TimerPool } from './timer-pool.js';
import { InstanceTracking, trackedItems } from './tracking.js';
import { followTransition, groupFaults, groupState, type SyncGroup } from './sync-groups.js';
import { PacketIntake } from './packet-intake.js';
import { Announcer } from './announcer.js';
import { addAll, anyChanged, cleanupLeftoverVips, placedVips, removeAll, type PlacedVip, type VipChange } from './vips.js';
import { SILENT_SINK, type EventSink } from './events.js';

/** An instance with everything resolved that its runner and sockets need. */
interface LiveInstance {
  config: VrrpInstanceConfig;
  runner: InstanceRunner;
  vips: PlacedVip[];
  announcer: Announcer;
  socket: VrrpSocket | null;
  expectation: InstanceExpectation;
  template: Advertisement;
  tracking: InstanceTracking;
  notify: PreparedNotify;
  started: boolean;
  /** Mode, fencing and lease timing (mode off: plain VRRP). */
  arbiter: ResolvedArbiter;
  /** The state notify scripts last heard about: CLAIMING is BACKUP to them. */
  notified: NotifyState | null;
  /**
   * Encoded adverts by priority and destination: a steady master sends the
   * same bytes every interval, so they are encoded once (cleared when the
   * source address changes).
   */
  encoded: Map<string, Buffer>;
}

interface LiveGroup {
  group: SyncGroup;
  notify: PreparedNotify;
  state: NotifyState | null;
}

export interface AgentStatus {
  node: string;
  instances: Array<{
    name: string;
    state: string;
    priority: number;
    effectivePriority: number;
    master: string | null;
    since: number;
    faults: readonly string[];
    counters: InstanceRunner['counters'];
    arbiter?: { mode: string; phase: string; epoch: number | null; arbiter: string };
  }>;
  arbiter?: unknown;
  refused: Record<string, Record<string, number>>;
  memory: NodeJS.MemoryUsage;
  timers: { wakeups: number; fired: number };
  events: unknown;
}

export class Agent {
  private readonly instances: LiveInstance[] = [];
  private readonly intakes = new Map<string, PacketIntake>();
  private readonly sockets = new Map<string, VrrpSocket>();
  private linkWatch: LinkWatch | null = null;
  private stopping = false;
  /** One timer for every instance's adverts (timer-pool.ts). */
  private readonly timers = new TimerPool(monotonicMs);
  private refusalTimer: NodeJS.Timeout | null = null;
  /**
   * Interface facts (MAC, index) for gratuitous ARP/NA, looked up once and
   * forgotten when the link changes: a burst of announcements must not cost a
   * netlink dump each.
   */
  private readonly interfaceInfo = new Map<string, Promise<InterfaceInfo>>();
  /** The same, once looked up: what the takeover announces with, synchronously. */
  private readonly interfaceKnown = new Map<string, InterfaceInfo>();
  /** Interface indexes seen by sockets and the link watch: the VIP path needs no lookup. */
  private readonly ifindexes = new Map<string, number>();
  private readonly indexHint = (name: string): number | undefined => this.ifindexes.get(name);
  private readonly checks = new Map<string, CheckRunner>();
  private readonly groups: LiveGroup[] = [];
  private readonly notifier: Notifier;
  /** Each instance's use of the arbiter, resolved once (libs/config arbiter.ts). */
  private readonly policies: Map<string, ResolvedArbiter>;
  /** The node's gateway check's name, when the arbiter needs one. */
  private readonly gatewayCheck: string | null;
  private gateway: Reachability = 'unknown';

  private constructor(
    readonly config: AgentConfig,
    private readonly log: Logger,
    private readonly onTransition: (t: Transition) => void,
    private readonly events: EventSink,
    private readonly arbiter: ArbiterLink | null,
  ) {
    this.policies = new Map(resolveArbiter(config).instances.map((r) => [r.instance, r]));
    const anyArbiter = [...this.policies.values()].some((p) => p.mode !== 'off');
    this.gatewayCheck = anyArbiter && config.node.gateway ? `gateway ${config.node.gateway.address}` : null;
    this.notifier = new Notifier({
      onRun: (e) => {
        const fields = { instance: e.transition.name, state: e.transition.state, argv: e.argv, ok: e.result.ok, exitCode: e.result.exitCode, timedOut: e.result.timedOut, ms: Math.round(e.result.durationMs) };
        if (e.result.ok) this.log.info(fields, 'notify script ran');
        else this.log.warn({ ...fields, output: e.result.output, error: e.result.error }, 'notify script failed');
      },
    });
  }

  private get scriptGlobals(): ScriptGlobals {
    return { scriptUser: this.config.global.scriptUser, enableScriptSecurity: this.config.global.enableScriptSecurity };
  }

  static async start(config: AgentConfig, log: Logger, opts: { onTransition?: (t: Transition) => void; events?: EventSink; arbiter?: ArbiterLink | null } = {}): Promise<Agent> {
    const agent = new Agent(config, log, opts.onTransition ?? (() => {}), opts.events ?? SILENT_SINK, opts.arbiter ?? null);
    await agent.boot();
    return agent;
  }

  private async boot(): Promise<void> {
    // Scripts are resolved and checked before anything changes on the host: an
    // insecure, missing or non-executable script stops the start with its reason.
    await this.prepareChecks();

    const removed = await cleanupLeftoverVips(this.config.instances, this.log);
    if (removed.length > 0) this.log.warn({ removed }, 'removed VIPs left by a previous run before joining the election');

    for (const config of this.config.instances) this.instances.push(await this.createInstance(config));
    for (const g of this.config.syncGroups) {
      const { prepared } = await prepareNotify(g.notify, this.scriptGlobals, { owner: `vrrp_sync_group ${g.name}`, source: g.source });
      this.groups.push({ group: { name: g.name, members: g.instances }, notify: prepared, state: null });
    }
    for (const inst of this.instances) await this.attachSocket(inst);

    const interfaces = new Set(this.instances.map((i) => i.config.interface));
    for (const i of this.instances) for (const t of i.config.trackInterfaces) interfaces.add(t.name);
    this.linkWatch = await watchLinks({
      interfaces: [...interfaces],
      onLink: (state) => this.onLink(state),
      onError: (err) => this.log.error({ err: err.message }, 'link watch error'),
    });
    for (const inst of this.instances) {
      const link = this.linkWatch.state(inst.config.interface);
      if (link) this.applyLink(inst, link);
      for (const t of inst.config.trackInterfaces) {
        const tracked = this.linkWatch.state(t.name);
        if (tracked) await this.applyTracking(inst, 'interface', t.name, tracked.running ? 'good' : 'failing');
      }
    }
    if (this.arbiter) {
      // Heartbeats as often as the most frequent renewal: the arbiter counts a node gone after a few missed.
      const renewals = this.instances.filter((i) => i.arbiter.mode !== 'off').map((i) => i.arbiter.timing.renewIntervalMs);
      this.arbiter.start(Math.min(5000, Math.max(250, Math.min(...renewals))), () => this.heartbeatReport());
    }
    for (const check of this.checks.values()) check.start();
    for (const inst of this.instances) await this.startWhenReady(inst);
    if (this.events.enabled) this.reportRefusals();
    this.events.started(this.instances.map((i) => i.config.name));
    this.log.info({ node: this.config.node.id, instances: this.instances.map((i) => i.config.name) }, 'agent started');
  }

  /** One runner per tracked script or probe, however many instances track it (as keepalived runs a vrrp_script once). */
  private async prepareChecks(): Promise<void> {
    const used = new Set(this.config.instances.flatMap((i) => i.trackScripts.map((t) => t.name)));
    for (const name of used) {
      const scriptConfig = this.config.scripts[name];
      if (!scriptConfig) continue;
      const { definition, script } = await trackScriptCheck(name, scriptConfig, this.scriptGlobals);
      for (const w of script?.warnings ?? []) this.log.warn({ check: name }, w);
      this.checks.set(name, new CheckRunner(definition, { onResult: (r) => this.onCheckResult(r), onError: (err) => this.log.error({ check: name, err }, 'check failed to run') }));
    }
    const gw = this.config.node.gateway;
    if (this.gatewayCheck && gw) {
      // The gateway: an ICMP check every instance under the arbiter tracks with weight 0 (FAULT when it fails).
      const name = this.gatewayCheck;
      const definition = { name, intervalMs: gw.intervalMs, rise: gw.rise, fall: gw.fall, run: icmpCheck({ address: gw.address, timeoutMs: gw.timeoutMs }) };
      this.checks.set(name, new CheckRunner(definition, { onResult: (r) => this.onCheckResult(r), onError: (err) => this.log.error({ check: name, err }, 'check failed to run') }));
    }
  }

  /** The heartbeat's content: the gateway verdict and every instance's state. */
  private heartbeatReport(): { gateway: Reachability; instances: InstanceReport[] } {
    return {
      gateway: this.gateway,
      instances: this.instances.map((i) => {
        const report: InstanceReport = {
          instance: i.config.name,
          state: i.runner.agentState,
          priority: i.runner.state.effectivePriority,
          vip: i.runner.state.name === 'MASTER',
          mode: i.arbiter.mode,
          fencing: i.arbiter.fencing,
          timing: {
            leaseTtlMs: i.arbiter.timing.leaseTtlMs,
            renewIntervalMs: i.arbiter.timing.renewIntervalMs,
            requestTimeoutMs: i.arbiter.timing.requestTimeoutMs,
            safetyMarginMs: i.arbiter.timing.safetyMarginMs,
          },
        };
        const epoch = i.runner.holderState?.lease?.epoch;
        return epoch !== undefined ? { ...report, epoch } : report;
      }),
    };
  }

  private onCheckResult(r: CheckResultEvent): void {
    const fields = { check: r.name, ok: r.ok, latencyMs: Math.round(r.latencyMs * 10) / 10, status: r.status, output: r.output };
    const kind = this.config.scripts[r.name];
    const isGateway = r.name === this.gatewayCheck;
    this.events.checkResult({
      check: r.name,
      kind: kind?.icmp || isGateway ? 'icmp' : kind?.tcp ? 'tcp' : kind?.http ? 'http' : 'script',
      ok: r.ok,
      latencyMs: r.latencyMs,
      output: r.output,
      status: r.status,
      changed: r.changed,
      reason: r.reason,
    });
    if (r.changed) this.log.info({ ...fields, reason: r.reason }, `check ${r.name}: ${r.status}`);
    else this.log.debug(fields, 'check result');
    if (isGateway) {
      const status: Reachability = r.status === 'good' ? 'up' : r.status === 'failing' ? 'down' : 'unknown';
      if (status !== this.gateway) {
        this.gateway = status;
        for (const inst of this.instances) void inst.runner.leaseEvent({ type: 'gateway', status });
        this.arbiter?.reportSoon();
      }
    }
    for (const inst of this.instances) {
      if (inst.tracking.tracks('check', r.name)) void this.applyTracking(inst, 'check', r.name, r.status);
    }
  }

  /** Feed a tracked status to an instance: its priority and faults follow. */
  private async applyTracking(inst: LiveInstance, kind: 'check' | 'interface', key: string, status: 'good' | 'failing' | 'init'): Promise<void> {
    const change = inst.tracking.update(kind, key, status);
    if (!change) return;
    if (change.priorityChanged) {
      await inst.runner.handle({ type: 'priority', priority: change.verdict.priority, detail: change.verdict.reason });
    }
    for (const f of change.faults) {
      await inst.runner.handle({ type: 'fault', source: f.source, active: f.active, detail: change.verdict.reason });
    }
    if (change.faults.length > 0) await this.applyGroupFaults(inst.config.name);
    if (change.ready) await this.startWhenReady(inst);
  }

  /** keepalived holds an instance in INIT until every weight-0 check has reported once. */
  private async startWhenReady(inst: LiveInstance): Promise<void> {
    if (inst.started || this.stopping) return;
    if (!inst.tracking.ready) {
      this.log.info({ instance: inst.config.name, waiting: inst.tracking.verdict.pending }, 'waiting for the first result of weight-0 checks');
      return;
    }
    inst.started = true;
    await inst.runner.handle({ type: 'start' });
  }

  private async createInstance(config: VrrpInstanceConfig): Promise<LiveInstance> {
    const log = this.log.child({ instance: config.name });
    const vips = placedVips(config);
    const auth = config.authentication;
    const template: Advertisement = {
      version: config.version,
      family: config.family,
      vrid: config.vrid,
      priority: config.priority,
      advertIntervalCs: config.advertIntervalCs,
      addresses: config.virtualAddresses.map((v) => v.address),
      authType: auth?.type === 'PASS' && config.version === 2 ? AuthType.SimpleText : AuthType.None,
      authPassword: auth?.type === 'PASS' && config.version === 2 ? auth.password : '',
    };
    const expectation: InstanceExpectation = {
      vrid: config.vrid,
      version: config.version,
      advertIntervalCs: config.advertIntervalCs,
      addresses: template.addresses,
      authType: template.authType,
      authPassword: template.authPassword,
      skipCheckAdvAddr: this.config.global.skipCheckAdvAddr,
    };
    const announcer = new Announcer(
      vips.map((v) => ({ interface: v.interface, address: v.vip.address })),
      this.config.global.garp,
      (t) => {
        const known = this.interfaceKnown.get(t.interface);
        if (known) {
          announceAddressNow(known, t.address);
          this.events.garpSent(config.name, t.interface, t.address);
          return;
        }
        return this.lookupInterface(t.interface)
          .then((info) => announceAddress(info, t.address))
          .then(() => this.events.garpSent(config.name, t.interface, t.address));
      },
      log,
    );
    const policy = this.policies.get(config.name)!;
    const items = trackedItems(config, this.config);
    if (this.gatewayCheck && policy.mode !== 'off') items.push({ label: this.gatewayCheck, kind: 'check', key: this.gatewayCheck, weight: 0, reverse: false });
    const tracking = new InstanceTracking(config.priority, items);
    const { prepared: notify } = await prepareNotify(config.notify, this.scriptGlobals, { owner: `vrrp_instance ${config.name}`, source: config.source });
    const live: LiveInstance = {
      config,
      vips,
      announcer,
      socket: null,
      expectation,
      template,
      tracking,
      notify,
      started: false,
      arbiter: policy,
      notified: null,
      encoded: new Map(),
      runner: undefined as unknown as InstanceRunner,
    };
    const params: InstanceParams = {
      vrid: config.vrid,
      version: config.version,
      priority: config.priority,
      advertIntervalCs: config.advertIntervalCs,
      preempt: config.preempt,
      preemptDelayMs: config.preemptDelayS * 1000,
      primaryAddress: this.configuredSource(config) ?? (config.family === 4 ? '0.0.0.0' : '::'),
      // Instances with the same interval advertise together: one wakeup for all (timer-pool.ts).
      alignAdverts: true,
    };
    live.runner = new InstanceRunner(
      config.name,
      params,
      {
        now: monotonicMs,
        sendAdvert: (priority) => this.sendAdvert(live, priority),
        addVips: () => this.vipsChanged(config.name, 'added', addAll(vips, this.indexHint)),
        removeVips: () => this.vipsChanged(config.name, 'removed', removeAll(vips, log, this.indexHint)),
        startAnnouncing: () => announcer.start(),
        stopAnnouncing: () => announcer.stop(),
        onTransition: (t) => this.transitioned(live, t),
      },
      log,
      this.timers,
      this.leasePort(config.name, policy),
    );
    if (live.runner.holderState) this.arbiter!.register(config.name, (e) => void live.runner.leaseEvent(e));
    return live;
  }

  private leasePort(instance: string, policy: ResolvedArbiter): LeasePort | null {
    const link = this.arbiter;
    if (!link || policy.mode === 'off') return null;
    return {
      params: { mode: policy.mode, timing: policy.timing, gatewayConfigured: this.gatewayCheck !== null },
      send: (a) => link.send(instance, a, policy.timing.requestTimeoutMs),
      publish: (e) => this.events.lease(instance, e),
    };
  }

  private configuredSource(config: VrrpInstanceConfig): string | undefined {
    return config.mcastSourceIp ?? config.unicastSourceIp;
  }

  /** Open (or share) the socket for an instance. A missing interface is a FAULT, not a crash. */
  private async attachSocket(inst: LiveInstance): Promise<boolean> {
    const { config } = inst;
    const family: IpFamily = config.family;
    const group = family === 4 ? this.config.global.mcastGroup4 : this.config.global.mcastGroup6;
    const source = this.configuredSource(config);
    const key = `${config.interface}/${family}/${source ?? 'primary'}`;
    let socket = this.sockets.get(key);
    if (!socket) {
      try {
        const opts: Parameters<typeof openVrrpSocket>[0] = {
          family,
          interface: config.interface,
          multicastGroup: group,
          onError: (err) => this.log.warn({ socket: key, err: err.message }, 'socket error'),
        };
        if (source) opts.sourceAddress = source;
        socket = await openVrrpSocket(opts);
      } catch (err) {
        this.log.error({ instance: config.name, interface: config.interface, err: (err as Error).message }, 'cannot open the VRRP socket; instance stays in FAULT until the interface is usable');
        await inst.runner.handle({ type: 'fault', source: `interface ${config.interface}`, active: true, detail: (err as Error).message });
        return false;
      }
      this.sockets.set(key, socket);
      // One intake per interface and family sees every packet once; further
      // sockets on the same interface (another source address) only send.
      const intakeKey = `${config.interface}/${family}`;
      if (!this.intakes.has(intakeKey)) {
        const intake = new PacketIntake(intakeKey, config.v3Checksum, this.log.child({ socket: intakeKey }), monotonicMs);
        this.intakes.set(intakeKey, intake);
        socket.onPacket(intake.handle);
      } else {
        socket.onPacket(() => {});
      }
    }
    inst.socket = socket;
    inst.encoded.clear();
    inst.runner.setPrimaryAddress(socket.sourceAddress);
    this.ifindexes.set(config.interface, socket.ifindex);
    // Look the interface up now, not on the takeover path (gratuitous ARP needs its MAC).
    void this.lookupInterface(config.interface).catch(() => {});
    const intake = this.intakes.get(`${config.interface}/${family}`)!;
    intake.bind(config.vrid, {
      name: config.name,
      expectation: inst.expectation,
      listening: { unicast: config.unicastPeers.length > 0, multicastGroup: socket.multicastGroup },
      peers: config.unicastPeers,
      v3Checksum: config.v3Checksum,
      ownSource: () => inst.socket?.sourceAddress ?? '',
      accept: (advert, src) => inst.runner.advertReceived(advert, src),
      reject: (reason) => inst.runner.countRejected(reason),
    });
    return true;
  }

  private sendAdvert(inst: LiveInstance, priority: number): void {
    const socket = inst.socket;
    if (!socket || socket.closed) return;
    const peers = inst.config.unicastPeers;
    if (peers.length === 0) {
      socket.sendMulticast(this.encoded(inst, socket, priority, socket.multicastGroup));
      return;
    }
    // The v3 checksum covers the destination, so each peer gets its own encoding.
    for (const peer of peers) socket.send(this.encoded(inst, socket, priority, peer), peer);
  }

  private encoded(inst: LiveInstance, socket: VrrpSocket, priority: number, destination: string): Buffer {
    const key = `${priority}/${destination}`;
    let payload = inst.encoded.get(key);
    if (!payload) {
      const advert: Advertisement = { ...inst.template, priority };
      payload = encodeAdvertisement(advert, { source: socket.sourceAddress, destination, v3Checksum: inst.config.v3Checksum });
      inst.encoded.set(key, payload);
    }
    return payload;
  }

  private lookupInterface(name: string): Promise<InterfaceInfo> {
    let info = this.interfaceInfo.get(name);
    if (!info) {
      info = getInterface(name);
      this.interfaceInfo.set(name, info);
      info.then(
        (found) => {
          if (this.interfaceInfo.get(name) === info) this.interfaceKnown.set(name, found);
        },
        () => this.interfaceInfo.delete(name),
      );
    }
    return info;
  }

  private onLink(state: LinkState): void {
    this.interfaceInfo.delete(state.name);
    this.interfaceKnown.delete(state.name);
    if (state.present && state.index > 0) {
      this.ifindexes.set(state.name, state.index);
      void this.lookupInterface(state.name).catch(() => {});
    } else {
      this.ifindexes.delete(state.name);
    }
    for (const inst of this.instances) {
      if (inst.tracking.tracks('interface', state.name)) void this.applyTracking(inst, 'interface', state.name, state.running ? 'good' : 'failing');
    }
    for (const inst of this.instances) {
      if (inst.config.interface !== state.name) continue;
      void (async () => {
        if (!inst.socket && state.present && state.running) await this.attachSocket(inst);
        this.applyLink(inst, state);
      })();
    }
  }

  private applyLink(inst: LiveInstance, state: LinkState): void {
    if (this.stopping) return;
    const source = `interface ${inst.config.interface}`;
    const usable = state.present && state.running && inst.socket !== null;
    const detail = !state.present ? 'missing' : !state.up ? 'down' : !state.running ? 'no carrier' : inst.socket ? 'up' : 'socket not open';
    void inst.runner.handle({ type: 'fault', source, active: !usable, detail }).then(() => this.applyGroupFaults(inst.config.name));
  }

  /** Each VIP's change as an event; the instance only needs whether any changed. */
  private vipsChanged(instance: string, what: 'added' | 'removed', results: VipChange[] | Promise<VipChange[]>): boolean | Promise<boolean> {
    const record = (list: VipChange[]) => {
      for (const r of list) {
        const e = { instance, address: r.vip.vip.address, prefix: r.vip.vip.prefixLength, interface: r.vip.interface, changed: r.changed };
        if (what === 'added') this.events.vipAdded(e);
        else this.events.vipRemoved(e);
      }
      return list;
    };
    return anyChanged(Array.isArray(results) ? record(results) : results.then(record));
  }

  /** Refusals go to the event log aggregated: one event per socket and period, never one per packet. */
  private reportRefusals(): void {
    const periodMs = 10_000;
    const seen = new Map<string, Record<string, number>>();
    this.refusalTimer = setInterval(() => {
      for (const [key, intake] of this.intakes) {
        const before = seen.get(key) ?? {};
        const delta: Record<string, number> = {};
        for (const [reason, n] of Object.entries(intake.rejected)) if (n > (before[reason] ?? 0)) delta[reason] = n - (before[reason] ?? 0);
        seen.set(key, { ...intake.rejected });
        if (Object.keys(delta).length > 0) this.events.packetsRejected(key.split('/')[0]!, periodMs, delta);
      }
    }, periodMs);
    this.refusalTimer.unref();
  }

  private transitioned(inst: LiveInstance, t: Transition): void {
    // CLAIMING is keepquorum's: notify scripts and sync groups see BACKUP, as keepalived would show it.
    const asVrrp = (s: Transition['from']): VrrpStateName => (s === 'CLAIMING' ? 'BACKUP' : s);
    const state = (t.to === 'INIT' ? 'STOP' : asVrrp(t.to)) as NotifyState;
    const master = inst.runner.state.master;
    this.events.transition({
      instance: inst.config.name,
      vrid: inst.config.vrid,
      from: t.from,
      to: t.to,
      reason: t.reason,
      priority: inst.config.priority,
      effectivePriority: t.priority,
      masterSeen: master ? { address: master.address, priority: master.priority } : null,
      ...(t.lateMs !== undefined ? { lateMs: t.lateMs } : {}),
    });
    if (state !== inst.notified) {
      inst.notified = state;
      void this.notifier.notify(inst.notify, { type: 'INSTANCE', name: inst.config.name, state, priority: t.priority });
    }
    this.onTransition(t);
    this.arbiter?.reportSoon();
    const from = asVrrp(t.from);
    const to = asVrrp(t.to);
    if (from === to) return;
    for (const g of this.groups) {
      if (!g.group.members.includes(inst.config.name)) continue;
      if (!this.stopping) {
        for (const f of followTransition(g.group, { member: inst.config.name, from, to, reason: t.reason })) {
          void this.instanceNamed(f.member)?.runner.handle(f.event);
        }
      }
      this.notifyGroup(g);
    }
    if (to === 'FAULT' || from === 'FAULT') void this.applyGroupFaults(inst.config.name);
  }

  private notifyGroup(g: LiveGroup): void {
    const states: VrrpStateName[] = g.group.members.map((m) => this.instanceNamed(m)?.runner.state.name ?? 'INIT');
    const state = groupState(states);
    if (state === g.state) return;
    g.state = state;
    this.log.info({ group: g.group.name, state, members: Object.fromEntries(g.group.members.map((m, i) => [m, states[i]])) }, `sync group ${g.group.name}: ${state}`);
    void this.notifier.notify(g.notify, { type: 'GROUP', name: g.group.name, state, priority: 0 });
  }

  /** Spread (or clear) a member's own faults to the rest of its sync groups. */
  private async applyGroupFaults(member: string): Promise<void> {
    if (this.stopping) return;
    for (const g of this.groups) {
      if (!g.group.members.includes(member)) continue;
      const followUps = groupFaults(g.group, (m) => this.instanceNamed(m)?.runner.state.faults ?? []);
      for (const f of followUps) {
        const target = this.instanceNamed(f.member);
        if (target && !this.groupFaultUnchanged(target, f.event)) await target.runner.handle(f.event);
      }
    }
  }

  private groupFaultUnchanged(inst: LiveInstance, event: VrrpEvent): boolean {
    return event.type === 'fault' && inst.runner.state.faults.includes(event.source) === event.active;
  }

  private instanceNamed(name: string): LiveInstance | undefined {
    return this.instances.find((i) => i.config.name === name);
  }

  status(): AgentStatus {
    const refused: Record<string, Record<string, number>> = {};
    for (const [k, intake] of this.intakes) refused[k] = { ...intake.rejected };
    return {
      node: this.config.node.id,
      instances: this.instances.map((i) => ({
        name: i.config.name,
        state: i.runner.agentState,
        priority: i.config.priority,
        effectivePriority: i.runner.state.effectivePriority,
        master: i.runner.state.master?.address ?? null,
        since: i.runner.state.since,
        faults: i.runner.state.faults,
        counters: i.runner.counters,
        ...(i.runner.holderState
          ? { arbiter: { mode: i.arbiter.mode, phase: i.runner.agentState, epoch: i.runner.holderState.lease?.epoch ?? null, arbiter: i.runner.holderState.arbiter } }
          : {}),
      })),
      ...(this.arbiter ? { arbiter: this.arbiter.status() } : {}),
      refused,
      memory: process.memoryUsage(),
      timers: { ...this.timers.counters },
      events: this.events.backlog(),
    };
  }

  /** Release every VIP, send priority 0 where we were master, close the sockets, flush the events. */
  async stop(signal?: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const wasMaster = this.instances.filter((i) => i.runner.state.name === 'MASTER').map((i) => i.config.name);
    // Releasing the VIPs comes first: it is what the backup is waiting for.
    const released = Promise.all(this.instances.map((i) => i.runner.shutdown()));
    this.linkWatch?.close();
    await Promise.all([...this.checks.values()].map((c) => c.stop()));
    await released;
    if (this.arbiter) {
      // The releases went out after the VIPs were removed: give their answers a
      // moment (the arbiter may hand over at once), then close the link.
      await this.arbiter.drain(Math.max(250, ...this.instances.map((i) => 2 * i.arbiter.timing.requestTimeoutMs)));
      await this.arbiter.close();
    }
    // notify_stop and the last transitions' scripts run before we exit, but a
    // hung script must not hold the stop past systemd's patience: abort after 5 s.
    const closing = this.notifier.close();
    const cap = setTimeout(() => void this.notifier.close({ abort: true }), 5000);
    await closing;
    clearTimeout(cap);
    for (const i of this.instances) i.announcer.stop();
    // IPv4 sends wait a turn of the loop in raw-socket's queue: flush, or the
    // priority-0 advert never leaves.
    await Promise.all([...this.sockets.values()].map((s) => s.flush().catch(() => {})));
    for (const s of this.sockets.values()) s.close();
    if (this.refusalTimer) clearInterval(this.refusalTimer);
    await this.events.stop(signal ? `stopped by ${signal}` : 'stopped', signal, wasMaster, 3000);
    this.log.info({ node: this.config.node.id }, 'agent stopped');
  }
}
