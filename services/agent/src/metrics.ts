/**
 * The agent's Prometheus metrics (`--metrics ADDR:PORT`, or `metrics.listen`).
 *
 * Nothing here sits on the VRRP path. What the agent counts anyway (adverts
 * sent and received, refusals, each instance's state and priority, the
 * arbiter link's heartbeats, the event journal's backlog) is read at scrape
 * time from Agent.status() and the event sink. What passes through the event
 * sink (transitions, check results, VIP changes, lease failures) and the
 * arbiter link (requests, replies, orders) is counted by thin wrappers around
 * them: a counter increment per transition or lease message, none per advert.
 *
 * This module loads prom-client; main.ts imports it only when metrics are
 * asked for, so an agent without them pays nothing.
 *
 * Every series carries `cluster` and `node` (the registry's default labels);
 * label values come from the configuration (instance, check, interface) or
 * from closed sets (states, reasons, reply types), never from the network.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HolderEvent } from '../../../libs/arbiter/src/holder.js';
import { derivedMetric, registerEventLogMetrics, renderYielding, type EventLogReport, type Sample } from '../../../libs/common/src/metrics-derived.js';
import type { AgentStatus } from './agent.js';
import type { EventSink } from './events.js';
import type { ArbiterLink } from './lease-client.js';

export const AGENT_STATES = ['INIT', 'BACKUP', 'CLAIMING', 'MASTER', 'FAULT'] as const;

export interface AgentIdentity {
  cluster: string;
  node: string;
  version: string;
}

const CHECK_DURATION_BUCKETS_S = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type InstanceStatus = AgentStatus['instances'][number];

/** A lease request failure's cause: NATS said nobody can answer (definitive), or no usable answer came. */
export function requestFailureCause(e: Extract<HolderEvent, { type: 'requestFailed' }>): 'unreachable' | 'unanswered' {
  return e.definitive ? 'unreachable' : 'unanswered';
}

/** The link's status() as far as metrics read it (lease-client.ts LeaseClient.status). */
function linkFacts(status: unknown): { connected: boolean; heartbeats: number; heartbeatErrors: number; malformed: number } | null {
  if (typeof status !== 'object' || status === null) return null;
  const s = status as { connected?: unknown; counters?: Record<string, unknown>; malformed?: Record<string, unknown> };
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    connected: s.connected === true,
    heartbeats: num(s.counters?.['heartbeats']),
    heartbeatErrors: num(s.counters?.['heartbeatErrors']),
    malformed: Object.values(s.malformed ?? {}).reduce<number>((a, v) => a + num(v), 0),
  };
}

export class AgentMetrics {
  readonly registry = new Registry();
  /** Agent.status() as of the scrape in progress (refreshed by render()). */
  private status: AgentStatus | null = null;
  private statusSource: (() => AgentStatus) | null = null;
  private sink: EventSink | null = null;

  private readonly transitions: Counter<'instance' | 'from' | 'to'>;
  private readonly checkResults: Counter<'check' | 'kind' | 'result'>;
  private readonly checkStatus: Gauge<'check' | 'status'>;
  private readonly checkDuration: Histogram<'check'>;
  private readonly vipChanges: Counter<'instance' | 'change'>;
  private readonly garps: Counter<'instance'>;
  private readonly renewalFailures: Counter<'instance'>;
  private readonly selfDemotions: Counter<'instance'>;
  private readonly leaseRequests: Counter<'instance' | 'kind'>;
  private readonly leaseReplies: Counter<'instance' | 'reply'>;
  private readonly leaseFailures: Counter<'instance' | 'cause'>;
  private readonly leaseOrders: Counter<'instance' | 'order'>;

  constructor(
    readonly identity: AgentIdentity,
    opts: { processMetrics?: boolean } = {},
  ) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ cluster: identity.cluster, node: identity.node });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });

    derivedMetric(this.registry, 'keepquorum_agent_info', 'The agent: its version (value 1)', 'gauge', () => [{ labels: { version: identity.version }, value: 1 }]);
    this.perInstance('keepquorum_vrrp_state', 'The instance is in this state (1) or not (0); CLAIMING: VRRP says MASTER, the lease is asked for', 'gauge', (i) =>
      AGENT_STATES.map((state) => ({ labels: { instance: i.name, state }, value: i.state === state ? 1 : 0 })),
    );
    this.perInstance('keepquorum_vrrp_priority', 'Configured priority', 'gauge', (i) => [{ labels: { instance: i.name }, value: i.priority }]);
    this.perInstance('keepquorum_vrrp_effective_priority', 'Priority after tracked scripts and interfaces (what the adverts carry)', 'gauge', (i) => [{ labels: { instance: i.name }, value: i.effectivePriority }]);
    this.perInstance('keepquorum_vrrp_faults', 'Active faults holding the instance in FAULT', 'gauge', (i) => [{ labels: { instance: i.name }, value: i.faults.length }]);
    this.perInstance('keepquorum_vrrp_adverts_sent_total', 'VRRP advertisements sent', 'counter', (i) => [{ labels: { instance: i.name }, value: i.counters.advertsSent }]);
    this.perInstance('keepquorum_vrrp_adverts_received_total', 'VRRP advertisements accepted for the instance', 'counter', (i) => [{ labels: { instance: i.name }, value: i.counters.advertsReceived }]);
    this.perInstance('keepquorum_vrrp_priority_zero_sent_total', 'Priority-0 advertisements sent (master stepping down)', 'counter', (i) => [{ labels: { instance: i.name }, value: i.counters.priorityZeroSent }]);
    this.perInstance('keepquorum_vrrp_priority_zero_received_total', 'Priority-0 advertisements received (the master stepping down)', 'counter', (i) => [{ labels: { instance: i.name }, value: i.counters.priorityZeroReceived }]);
    this.perInstance('keepquorum_vrrp_became_master_total', 'Times the instance became MASTER', 'counter', (i) => [{ labels: { instance: i.name }, value: i.counters.becameMaster }]);
    this.perInstance('keepquorum_vrrp_adverts_rejected_total', "Advertisements for the instance's VRID refused, by reason", 'counter', (i) =>
      Object.entries(i.counters.rejected).map(([reason, n]) => ({ labels: { instance: i.name, reason }, value: n })),
    );
    derivedMetric(this.registry, 'keepquorum_vrrp_packets_rejected_total', 'Packets refused on a socket (any VRID, including unconfigured ones), by reason', 'counter', () =>
      Object.entries(this.status?.refused ?? {}).flatMap(([key, counts]) => {
        const [iface = key, family = ''] = key.split('/');
        return Object.entries(counts).map(([reason, n]) => ({ labels: { interface: iface, family, reason }, value: n }));
      }),
    );
    this.perInstance('keepquorum_lease_held', 'The instance holds a lease from the arbiter (1) or not (0); absent in mode off', 'gauge', (i) =>
      i.arbiter ? [{ labels: { instance: i.name }, value: i.arbiter.epoch !== null ? 1 : 0 }] : [],
    );
    this.perInstance('keepquorum_lease_epoch', 'Epoch of the lease held (absent when none)', 'gauge', (i) => (i.arbiter?.epoch != null ? [{ labels: { instance: i.name }, value: i.arbiter.epoch }] : []));
    const link = () => linkFacts(this.status?.arbiter);
    derivedMetric(this.registry, 'keepquorum_arbiter_connected', "1 while the arbiter link's NATS connection is up", 'gauge', () => {
      const l = link();
      return l ? [{ value: l.connected ? 1 : 0 }] : [];
    });
    derivedMetric(this.registry, 'keepquorum_arbiter_heartbeats_total', 'Heartbeats published to the arbiters', 'counter', () => {
      const l = link();
      return l ? [{ value: l.heartbeats }] : [];
    });
    derivedMetric(this.registry, 'keepquorum_arbiter_heartbeat_failures_total', 'Heartbeats that could not be published', 'counter', () => {
      const l = link();
      return l ? [{ value: l.heartbeatErrors }] : [];
    });
    derivedMetric(this.registry, 'keepquorum_arbiter_malformed_messages_total', 'Messages from arbiters that did not parse (counted as no answer)', 'counter', () => {
      const l = link();
      return l ? [{ value: l.malformed }] : [];
    });
    registerEventLogMetrics(this.registry, () => this.eventLog());

    this.transitions = new Counter({ name: 'keepquorum_vrrp_transitions_total', help: 'State transitions, by from and to state', labelNames: ['instance', 'from', 'to'], registers });
    this.checkResults = new Counter({ name: 'keepquorum_check_results_total', help: 'Results of tracked scripts and probes (ok or failed)', labelNames: ['check', 'kind', 'result'], registers });
    this.checkStatus = new Gauge({ name: 'keepquorum_check_status', help: 'The check is in this status (1) or not (0): init, good, failing', labelNames: ['check', 'status'], registers });
    this.checkDuration = new Histogram({ name: 'keepquorum_check_duration_seconds', help: 'How long a check run took', labelNames: ['check'], buckets: CHECK_DURATION_BUCKETS_S, registers });
    this.vipChanges = new Counter({ name: 'keepquorum_vip_changes_total', help: 'Virtual addresses actually added to or removed from an interface', labelNames: ['instance', 'change'], registers });
    this.garps = new Counter({ name: 'keepquorum_garp_sent_total', help: 'Gratuitous ARPs and unsolicited neighbour advertisements sent', labelNames: ['instance'], registers });
    this.renewalFailures = new Counter({ name: 'keepquorum_lease_renewal_failures_total', help: 'Streaks of failed lease renewals while holding the VIP (counted at the first failure)', labelNames: ['instance'], registers });
    this.selfDemotions = new Counter({ name: 'keepquorum_lease_self_demotions_total', help: 'Times the holder gave the VIP up because its lease could not be renewed in time', labelNames: ['instance'], registers });
    this.leaseRequests = new Counter({ name: 'keepquorum_lease_requests_total', help: 'Requests sent to the arbiters: claim, renew, release', labelNames: ['instance', 'kind'], registers });
    this.leaseReplies = new Counter({ name: 'keepquorum_lease_replies_total', help: "Arbiters' answers: grant, renewed, released, veto, refuse, wait", labelNames: ['instance', 'reply'], registers });
    this.leaseFailures = new Counter({ name: 'keepquorum_lease_request_failures_total', help: 'Requests without a usable answer: unreachable (NATS down, no arbiter listening) or unanswered (timeout, malformed answer)', labelNames: ['instance', 'cause'], registers });
    this.leaseOrders = new Counter({ name: 'keepquorum_lease_orders_total', help: "Arbiters' orders to this node: offer, demote", labelNames: ['instance', 'order'], registers });
  }

  private perInstance(name: string, help: string, type: 'gauge' | 'counter', map: (i: InstanceStatus) => Sample[]): void {
    derivedMetric(this.registry, name, help, type, () => (this.status?.instances ?? []).flatMap(map));
  }

  private eventLog(): EventLogReport {
    return {
      backlog: (this.sink?.backlog() ?? null) as EventLogReport['backlog'],
      stats: (this.sink?.stats() ?? null) as EventLogReport['stats'],
    };
  }

  /** Where the scrape reads the agent's state from (Agent.status()). */
  readFrom(status: () => AgentStatus): void {
    this.statusSource = status;
  }

  /** The exposition: the agent's state read once, then every metric. */
  async render(): Promise<string> {
    this.status = this.statusSource ? this.statusSource() : null;
    try {
      return await renderYielding(this.registry);
    } finally {
      this.status = null;
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The sink, with each fact counted on its way through. */
  observeSink(sink: EventSink): EventSink {
    this.sink = sink;
    const m = this;
    return {
      get enabled() {
        return sink.enabled;
      },
      started: (instances) => sink.started(instances),
      configLoaded: (config, hash, source, format, warnings) => sink.configLoaded(config, hash, source, format, warnings),
      transition(e) {
        m.transitions.inc({ instance: e.instance, from: e.from, to: e.to });
        sink.transition(e);
      },
      checkResult(e) {
        m.checkResults.inc({ check: e.check, kind: e.kind, result: e.ok ? 'ok' : 'failed' });
        for (const status of ['init', 'good', 'failing'] as const) m.checkStatus.set({ check: e.check, status }, e.status === status ? 1 : 0);
        m.checkDuration.observe({ check: e.check }, Math.max(0, e.latencyMs) / 1000);
        sink.checkResult(e);
      },
      vipAdded(e) {
        if (e.changed) m.vipChanges.inc({ instance: e.instance, change: 'added' });
        sink.vipAdded(e);
      },
      vipRemoved(e) {
        if (e.changed) m.vipChanges.inc({ instance: e.instance, change: 'removed' });
        sink.vipRemoved(e);
      },
      garpSent(instance, iface, address) {
        m.garps.inc({ instance });
        sink.garpSent(instance, iface, address);
      },
      packetsRejected: (iface, periodMs, counts) => sink.packetsRejected(iface, periodMs, counts),
      lease(instance, e) {
        if (e.name === 'lease.renewal_failed') m.renewalFailures.inc({ instance });
        else m.selfDemotions.inc({ instance });
        sink.lease(instance, e);
      },
      stop: (reason, signal, released, timeoutMs) => sink.stop(reason, signal, released, timeoutMs),
      backlog: () => sink.backlog(),
      stats: () => sink.stats(),
    };
  }

  /** The arbiter link, with requests, answers and orders counted on their way through. */
  observeLink(link: ArbiterLink): ArbiterLink {
    const m = this;
    return {
      register(instance, deliver) {
        link.register(instance, (e) => {
          m.countDelivered(instance, e);
          deliver(e);
        });
      },
      send(instance, action, timeoutMs) {
        m.leaseRequests.inc({ instance, kind: action.type === 'sendClaim' ? 'claim' : action.type === 'sendRenew' ? 'renew' : 'release' });
        link.send(instance, action, timeoutMs);
      },
      start: (intervalMs, report) => link.start(intervalMs, report),
      reportSoon: () => link.reportSoon(),
      drain: (timeoutMs) => link.drain(timeoutMs),
      close: () => link.close(),
      status: () => link.status(),
    };
  }

  private countDelivered(instance: string, e: HolderEvent): void {
    switch (e.type) {
      case 'reply':
        this.leaseReplies.inc({ instance, reply: e.reply.type });
        break;
      case 'requestFailed':
        this.leaseFailures.inc({ instance, cause: requestFailureCause(e) });
        break;
      case 'offer':
        this.leaseOrders.inc({ instance, order: 'offer' });
        break;
      case 'orderDemote':
        this.leaseOrders.inc({ instance, order: 'demote' });
        break;
      default:
        break;
    }
  }
}
