/**
 * The agent's wiring: configuration → instances → ports. It decides nothing:
 * the VRRP state machine decides, libs/net executes.
 */
import type { Logger } from 'pino';
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
  getInterface,
  openVrrpSocket,
  watchLinks,
  type InterfaceInfo,
  type LinkState,
  type LinkWatch,
  type VrrpSocket,
} from '../../../libs/net/src/mod.js';
import type { AgentConfig, VrrpInstanceConfig } from '../../../libs/config/src/mod.js';
import { InstanceRunner, type Transition } from './instance-runner.js';
import { PacketIntake } from './packet-intake.js';
import { Announcer } from './announcer.js';
import { addAll, cleanupLeftoverVips, placedVips, removeAll, type PlacedVip } from './vips.js';

/** An instance with everything resolved that its runner and sockets need. */
interface LiveInstance {
  config: VrrpInstanceConfig;
  runner: InstanceRunner;
  vips: PlacedVip[];
  announcer: Announcer;
  socket: VrrpSocket | null;
  expectation: InstanceExpectation;
  template: Advertisement;
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
  }>;
  refused: Record<string, Record<string, number>>;
}

export class Agent {
  private readonly instances: LiveInstance[] = [];
  private readonly intakes = new Map<string, PacketIntake>();
  private readonly sockets = new Map<string, VrrpSocket>();
  private linkWatch: LinkWatch | null = null;
  private stopping = false;
  /**
   * Interface facts (MAC, index) for gratuitous ARP/NA, looked up once and
   * forgotten when the link changes: a burst of announcements must not cost a
   * netlink dump each.
   */
  private readonly interfaceInfo = new Map<string, Promise<InterfaceInfo>>();

  private constructor(
    readonly config: AgentConfig,
    private readonly log: Logger,
    private readonly onTransition: (t: Transition) => void,
  ) {}

  static async start(config: AgentConfig, log: Logger, opts: { onTransition?: (t: Transition) => void } = {}): Promise<Agent> {
    const agent = new Agent(config, log, opts.onTransition ?? (() => {}));
    await agent.boot();
    return agent;
  }

  private async boot(): Promise<void> {
    const removed = await cleanupLeftoverVips(this.config.instances, this.log);
    if (removed.length > 0) this.log.warn({ removed }, 'removed VIPs left by a previous run before joining the election');

    for (const config of this.config.instances) this.instances.push(this.createInstance(config));
    for (const inst of this.instances) await this.attachSocket(inst);

    const interfaces = [...new Set(this.instances.map((i) => i.config.interface))];
    this.linkWatch = await watchLinks({
      interfaces,
      onLink: (state) => this.onLink(state),
      onError: (err) => this.log.error({ err: err.message }, 'link watch error'),
    });
    for (const inst of this.instances) {
      const link = this.linkWatch.state(inst.config.interface);
      if (link) this.applyLink(inst, link);
      await inst.runner.handle({ type: 'start' });
    }
    this.log.info({ node: this.config.node.id, instances: this.instances.map((i) => i.config.name) }, 'agent started');
  }

  private createInstance(config: VrrpInstanceConfig): LiveInstance {
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
      async (t) => announceAddress(await this.lookupInterface(t.interface), t.address),
      log,
    );
    const live: LiveInstance = {
      config,
      vips,
      announcer,
      socket: null,
      expectation,
      template,
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
    };
    live.runner = new InstanceRunner(
      config.name,
      params,
      {
        now: monotonicMs,
        sendAdvert: (priority) => this.sendAdvert(live, priority),
        addVips: () => addAll(vips),
        removeVips: () => removeAll(vips, log),
        startAnnouncing: () => announcer.start(),
        stopAnnouncing: () => announcer.stop(),
        onTransition: (t) => this.onTransition(t),
      },
      log,
    );
    return live;
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
    inst.runner.setPrimaryAddress(socket.sourceAddress);
    const intake = this.intakes.get(`${config.interface}/${family}`)!;
    intake.bind(config.vrid, {
      name: config.name,
      expectation: inst.expectation,
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
    const advert: Advertisement = { ...inst.template, priority };
    const peers = inst.config.unicastPeers;
    if (peers.length === 0) {
      const payload = encodeAdvertisement(advert, { source: socket.sourceAddress, destination: socket.multicastGroup, v3Checksum: inst.config.v3Checksum });
      socket.sendMulticast(payload);
      return;
    }
    for (const peer of peers) {
      // The v3 checksum covers the destination, so each peer gets its own encoding.
      const payload = encodeAdvertisement(advert, { source: socket.sourceAddress, destination: peer, v3Checksum: inst.config.v3Checksum });
      socket.send(payload, peer);
    }
  }

  private lookupInterface(name: string): Promise<InterfaceInfo> {
    let info = this.interfaceInfo.get(name);
    if (!info) {
      info = getInterface(name);
      this.interfaceInfo.set(name, info);
      info.catch(() => this.interfaceInfo.delete(name));
    }
    return info;
  }

  private onLink(state: LinkState): void {
    this.interfaceInfo.delete(state.name);
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
    void inst.runner.handle({ type: 'fault', source, active: !usable, detail });
  }

  status(): AgentStatus {
    const refused: Record<string, Record<string, number>> = {};
    for (const [k, intake] of this.intakes) refused[k] = { ...intake.rejected };
    return {
      node: this.config.node.id,
      instances: this.instances.map((i) => ({
        name: i.config.name,
        state: i.runner.state.name,
        priority: i.config.priority,
        effectivePriority: i.runner.state.effectivePriority,
        master: i.runner.state.master?.address ?? null,
        since: i.runner.state.since,
        faults: i.runner.state.faults,
        counters: i.runner.counters,
      })),
      refused,
    };
  }

  /** Release every VIP, send priority 0 where we were master, close the sockets. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.linkWatch?.close();
    await Promise.all(this.instances.map((i) => i.runner.shutdown()));
    for (const i of this.instances) i.announcer.stop();
    // IPv4 sends wait a turn of the loop in raw-socket's queue: flush, or the
    // priority-0 advert never leaves.
    await Promise.all([...this.sockets.values()].map((s) => s.flush().catch(() => {})));
    for (const s of this.sockets.values()) s.close();
    this.log.info({ node: this.config.node.id }, 'agent stopped');
  }
}
