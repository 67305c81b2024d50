/**
 * What the agent tells the audit trail: every transition, check result, VIP
 * change, gratuitous ARP burst, the refusals (aggregated) and start/stop.
 *
 * The sink never sits on the failover's path: a call records the event with
 * its time and returns; the events are journaled (libs/events) on the next
 * turn of the loop, after the VIP work that produced them. Without NATS
 * settings the agent uses the silent sink and never loads the event library
 * (nats and zod cost the process 15-20 MB).
 */
import { hostname } from 'node:os';
import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { KqError } from '../../../libs/common/src/errors.js';
import type { AgentConfig } from '../../../libs/config/src/mod.js';
import type { HolderLeaseEvent } from '../../../libs/arbiter/src/holder.js';
import type { EventPublishing } from '../../../libs/events/src/publisher-thread.js';

export type AgentStateName = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'CLAIMING';

export interface TransitionEvent {
  instance: string;
  vrid: number;
  from: AgentStateName;
  to: AgentStateName;
  reason: string;
  priority: number;
  effectivePriority: number;
  masterSeen: { address: string; priority: number } | null;
  lateMs?: number;
}

export interface CheckEvent {
  check: string;
  kind: string;
  ok: boolean;
  latencyMs: number;
  output: string;
  status: 'init' | 'good' | 'failing';
  changed: boolean;
  reason: string;
}

export interface VipEvent {
  instance: string;
  address: string;
  prefix: number;
  interface: string;
  changed: boolean;
  reason?: string;
}

export interface EventSink {
  readonly enabled: boolean;
  started(instances: string[]): void;
  /** `hash`: sha256 of the configuration as loaded (config-loader.ts computes it). */
  configLoaded(config: AgentConfig, hash: string, source: string, format: 'native' | 'keepalived', warnings: number): void;
  transition(e: TransitionEvent): void;
  checkResult(e: CheckEvent): void;
  vipAdded(e: VipEvent): void;
  vipRemoved(e: VipEvent): void;
  garpSent(instance: string, iface: string, address: string): void;
  packetsRejected(iface: string, periodMs: number, counts: Record<string, number>): void;
  /** The holder's side of its lease: a renewal that failed, a self-demotion. */
  lease(instance: string, e: HolderLeaseEvent): void;
  /** Records agent.stopped and flushes what it can within `timeoutMs`. */
  stop(reason: string, signal: string | undefined, released: string[], timeoutMs: number): Promise<void>;
  backlog(): unknown;
  /** The publisher's counters and ack latency (libs/events PublisherStats); null without an event log. */
  stats(): unknown;
}

export const SILENT_SINK: EventSink = {
  enabled: false,
  started: () => {},
  configLoaded: () => {},
  transition: () => {},
  checkResult: () => {},
  vipAdded: () => {},
  vipRemoved: () => {},
  garpSent: () => {},
  packetsRejected: () => {},
  lease: () => {},
  stop: async () => {},
  backlog: () => null,
  stats: () => null,
};

type Pending = { publish: (p: EventPublishing) => void };

class PublishingSink implements EventSink {
  readonly enabled = true;
  private readonly pending: Pending[] = [];
  private scheduled = false;
  private readonly startedAt = Date.now();
  /** Gratuitous ARPs of one turn of the loop, merged into one event per instance and interface. */
  private garps = new Map<string, { instance: string; iface: string; family: 'ipv4' | 'ipv6'; addresses: Set<string>; count: number; at: Date }>();

  constructor(
    private readonly publisher: EventPublishing,
    private readonly version: string,
    private readonly log: Logger,
  ) {}

  private later(publish: Pending['publish']): void {
    this.pending.push({ publish });
    if (this.scheduled) return;
    this.scheduled = true;
    // After the current turn: the takeover (advert, VIP, gratuitous ARP) first.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending.splice(0);
    for (const g of this.garps.values()) {
      batch.push({
        publish: (p) =>
          p.publish('garp.sent', { interface: g.iface, family: g.family, addresses: [...g.addresses], count: g.count }, { instance: g.instance, at: g.at }),
      });
    }
    this.garps.clear();
    for (const item of batch) {
      try {
        item.publish(this.publisher);
      } catch (err) {
        // A refused event is a bug of ours; it must not stop the agent.
        this.log.error({ err }, 'event not recorded');
      }
    }
  }

  started(instances: string[]): void {
    const at = new Date();
    const replaying = this.publisher.recovery.unacknowledged;
    this.later((p) => p.publish('agent.started', { version: this.version, pid: process.pid, hostname: hostname(), bootId: p.bootId, instances, replaying }, { at }));
  }

  configLoaded(config: AgentConfig, hash: string, source: string, format: 'native' | 'keepalived', warnings: number): void {
    const at = new Date();
    const instances = config.instances.map((i) => i.name);
    this.later((p) => p.publish('config.loaded', { hash, source, format, instances, warnings }, { at }));
  }

  transition(e: TransitionEvent): void {
    const at = new Date();
    const { instance, ...data } = e;
    this.later((p) => p.publish('vrrp.transition', data, { instance, at }));
  }

  checkResult(e: CheckEvent): void {
    const at = new Date();
    this.later((p) => p.publish('check.result', { ...e, output: e.output.slice(0, 200) }, { at }));
  }

  vipAdded(e: VipEvent): void {
    const at = new Date();
    const { instance, ...data } = e;
    this.later((p) => p.publish('vip.added', data, { instance, at }));
  }

  vipRemoved(e: VipEvent): void {
    const at = new Date();
    const { instance, ...data } = e;
    this.later((p) => p.publish('vip.removed', data, { instance, at }));
  }

  garpSent(instance: string, iface: string, address: string): void {
    const family = address.includes(':') ? 'ipv6' : 'ipv4';
    const key = `${instance}/${iface}/${family}`;
    let g = this.garps.get(key);
    if (!g) {
      g = { instance, iface, family, addresses: new Set(), count: 0, at: new Date() };
      this.garps.set(key, g);
    }
    g.addresses.add(address);
    g.count++;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  packetsRejected(iface: string, periodMs: number, counts: Record<string, number>): void {
    const at = new Date();
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (total === 0) return;
    this.later((p) => p.publish('packet.rejected', { interface: iface, periodMs, total, counts }, { at }));
  }

  lease(instance: string, e: HolderLeaseEvent): void {
    const at = new Date();
    if (e.name === 'lease.renewal_failed') this.later((p) => p.publish('lease.renewal_failed', e.data, { instance, at }));
    else this.later((p) => p.publish('lease.self_demoted', e.data, { instance, at }));
  }

  async stop(reason: string, signal: string | undefined, released: string[], timeoutMs: number): Promise<void> {
    this.flush();
    try {
      this.publisher.publish('agent.stopped', { reason, ...(signal ? { signal } : {}), uptimeMs: Date.now() - this.startedAt, released });
    } catch (err) {
      this.log.error({ err }, 'event not recorded');
    }
    const { flushed, backlog } = await this.publisher.stop(timeoutMs);
    if (!flushed) this.log.warn({ backlog }, 'events: stopped with events not yet acknowledged; they stay in the journal and go out at the next start');
  }

  backlog(): unknown {
    return this.publisher.backlog();
  }

  stats(): unknown {
    return this.publisher.stats();
  }
}

/**
 * The sink for this configuration: publishing when `nats` is set, silent
 * otherwise. The node id and cluster name become subject tokens.
 */
export async function openEventSink(config: AgentConfig, version: string, log: Logger): Promise<EventSink> {
  if (!config.nats) return SILENT_SINK;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(config.node.id)) {
    throw new KqError(
      'KQ_ERR_CONFIG_VALUE',
      `node id '${config.node.id}' cannot name this node in event subjects (letters, digits, '-' and '_' only): set --node-id, or node.id in the overlay or config`,
    );
  }
  try {
    mkdirSync(config.stateDir, { recursive: true, mode: 0o750 });
  } catch (err) {
    throw new KqError('KQ_ERR_CONFIG_FILE', `state dir ${config.stateDir}: ${(err as Error).message} (set --state-dir)`);
  }
  // The publisher runs in a worker thread: its JSON, NATS and garbage-collection
  // work stay off the thread that sends adverts (libs/events publisher-thread.ts).
  const { ThreadedEventPublisher } = await import('../../../libs/events/src/publisher-thread.js');
  const publisher = await ThreadedEventPublisher.open({
    cluster: config.cluster,
    node: config.node.id,
    stateDir: config.stateDir,
    nats: { ...config.nats, name: `ha-agent ${config.node.id}` },
    logName: 'ha-agent',
    logLevel: log.level,
    logBindings: { component: 'events' },
    // The agent creates the stream when it is missing (R3 on a cluster); `hactl stream init` shows the plan first.
    provision: {},
  });
  return new PublishingSink(publisher, version, log);
}
