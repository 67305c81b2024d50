/**
 * The arbiter's Prometheus metrics, served on its HTTP API as GET /metrics
 * (unauthenticated, as Prometheus expects: http.listen should be a management
 * address).
 *
 * The decision loop is not instrumented: what decide() publishes (grants,
 * vetoes, split-brain, fences...) is counted on its way through the events
 * port (observeEvents), each answer to an agent through the one `replied` call
 * of the loop, and the view (leases, holders, the write path) and the loop's
 * own counters are read at scrape time.
 *
 * Every series carries `cluster` and `replica` (the registry's default labels);
 * label values come from the configuration (instance, node) or closed sets
 * (event names, request and reply types), never from free text.
 */
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { ArbiterReply } from '../../../libs/arbiter/src/protocol.js';
import type { ArbiterRequest, ArbiterView } from '../../../libs/arbiter/src/types.js';
import { derivedMetric, registerEventLogMetrics, renderYielding, type EventLogReport, type Sample } from '../../../libs/common/src/metrics-derived.js';
import type { EventInput } from '../../../libs/events/src/mod.js';
import type { ArbiterEvents } from './events.js';

export interface ArbiterIdentity {
  cluster: string;
  replica: string;
  version: string;
}

/** What the scrape reads from the running arbiter (arbiter.ts Arbiter). */
export interface ArbiterReadout {
  snapshot(): ArbiterView;
  stats(): { requests: number; malformed: number; decisions: number; writes: number; conflicts: number; fences: number };
  readonly isReady: boolean;
}

const FENCE_DURATION_BUCKETS_S = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** A fence result as one word: confirmed (off and confirmed), unconfirmed (the backend said ok without confirming), failed. */
export function fenceOutcome(r: { ok: boolean; confirmed: boolean }): 'confirmed' | 'unconfirmed' | 'failed' {
  return r.ok && r.confirmed ? 'confirmed' : r.ok ? 'unconfirmed' : 'failed';
}

export class ArbiterMetrics {
  readonly registry = new Registry();
  private source: ArbiterReadout | null = null;
  /** The view and counters as of the scrape in progress (read once by render()). */
  private view: ArbiterView | null = null;
  private stats: ReturnType<ArbiterReadout['stats']> | null = null;
  private ready = false;
  private eventLog: () => EventLogReport = () => ({ backlog: null, stats: null });

  private readonly decisionEvents: Counter<'event' | 'instance'>;
  private readonly splitBrain: Counter<'instance'>;
  private readonly replies: Counter<'instance' | 'request' | 'reply'>;
  private readonly fenceRequests: Counter<'node'>;
  private readonly fenceAttempts: Counter<'node' | 'result'>;
  private readonly fenceDuration: Histogram<'node'>;

  constructor(
    readonly identity: ArbiterIdentity,
    opts: { processMetrics?: boolean } = {},
  ) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ cluster: identity.cluster, replica: identity.replica });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });

    const gauge = (name: string, help: string, collect: () => Sample[]) => derivedMetric(this.registry, name, help, 'gauge', collect);
    const counter = (name: string, help: string, pick: (s: NonNullable<ArbiterMetrics['stats']>) => number) =>
      derivedMetric(this.registry, name, help, 'counter', () => (this.stats ? [{ value: pick(this.stats) }] : []));
    const instances = () => Object.entries(this.view?.instances ?? {});

    gauge('keepquorum_arbiter_info', 'The arbiter replica: its version (value 1)', () => [{ labels: { version: identity.version }, value: 1 }]);
    gauge('keepquorum_arbiter_ready', '1 once the replica answers requests (after its warm-up)', () => (this.source ? [{ value: this.ready ? 1 : 0 }] : []));
    gauge('keepquorum_arbiter_write_path_available', '1 while the replica can write to the lease KV (JetStream quorum)', () => (this.view ? [{ value: this.view.writePath.available ? 1 : 0 }] : []));
    gauge('keepquorum_arbiter_gateway', "The replica's gateway ping is in this state (1) or not (0): up, down, unknown", () =>
      this.view ? (['up', 'down', 'unknown'] as const).map((status) => ({ labels: { status }, value: this.view!.gateway === status ? 1 : 0 })) : [],
    );
    gauge('keepquorum_arbiter_nodes', 'Nodes known from heartbeats, by NATS connection state', () => {
      if (!this.view) return [];
      const nodes = Object.values(this.view.nodes);
      const connected = nodes.filter((n) => n.connected).length;
      return [
        { labels: { state: 'connected' }, value: connected },
        { labels: { state: 'disconnected' }, value: nodes.length - connected },
      ];
    });
    gauge('keepquorum_arbiter_lease_live', 'The instance has a holder whose lease has not expired (1) or not (0)', () => {
      const now = Date.now();
      return instances().map(([instance, v]) => {
        const lv = v.lease?.value;
        return { labels: { instance }, value: lv && lv.holder !== null && now < lv.expiresAt ? 1 : 0 };
      });
    });
    gauge('keepquorum_arbiter_lease_holder', 'The node named holder of the lease (value 1; absent when free)', () =>
      instances().flatMap(([instance, v]) => {
        const holder = v.lease?.value?.holder;
        return holder ? [{ labels: { instance, holder }, value: 1 }] : [];
      }),
    );
    gauge('keepquorum_arbiter_lease_epoch', "Epoch of the instance's lease (absent before its first write)", () =>
      instances().flatMap(([instance, v]) => (v.lease?.value ? [{ labels: { instance }, value: v.lease.value.epoch }] : [])),
    );
    gauge('keepquorum_arbiter_lease_expires_in_seconds', "Time left on the holder's lease (0 once expired; absent when free)", () => {
      const now = Date.now();
      return instances().flatMap(([instance, v]) => {
        const lv = v.lease?.value;
        return lv && lv.holder !== null ? [{ labels: { instance }, value: Math.max(0, lv.expiresAt - now) / 1000 }] : [];
      });
    });
    gauge('keepquorum_arbiter_members', "Members of the instance heard in heartbeats, by the state they report", () =>
      instances().flatMap(([instance, v]) => {
        const by = new Map<string, number>();
        for (const m of Object.values(v.members)) by.set(m.state, (by.get(m.state) ?? 0) + 1);
        return [...by].map(([state, n]) => ({ labels: { instance, state }, value: n }));
      }),
    );
    counter('keepquorum_arbiter_messages_total', 'Requests received from agents on the request subject (well-formed or not)', (s) => s.requests);
    counter('keepquorum_arbiter_malformed_requests_total', 'Requests refused because they did not parse', (s) => s.malformed);
    counter('keepquorum_arbiter_decisions_total', 'Decisions taken by this replica (requests, reconciles, write results)', (s) => s.decisions);
    counter('keepquorum_arbiter_lease_writes_total', 'Lease writes (compare-and-set) issued to the KV', (s) => s.writes);
    counter('keepquorum_arbiter_lease_write_conflicts_total', 'Lease writes lost to another replica (the request is decided again)', (s) => s.conflicts);
    counter('keepquorum_arbiter_fences_run_total', 'Fences this replica ran (the backend was called)', (s) => s.fences);
    registerEventLogMetrics(this.registry, () => this.eventLog());

    this.decisionEvents = new Counter({ name: 'keepquorum_arbiter_decision_events_total', help: 'Events decide() published: lease.granted, claim.vetoed, splitbrain.detected, failover.started, node.gone...', labelNames: ['event', 'instance'], registers });
    this.splitBrain = new Counter({ name: 'keepquorum_arbiter_splitbrain_detections_total', help: 'Split-brains detected: two members reported the VIP (all but the holder are ordered down)', labelNames: ['instance'], registers });
    this.replies = new Counter({ name: 'keepquorum_arbiter_replies_total', help: "Answers to agents' requests, by request (claim, renew, release) and reply (grant, renewed, released, veto, refuse, wait)", labelNames: ['instance', 'request', 'reply'], registers });
    this.fenceRequests = new Counter({ name: 'keepquorum_arbiter_fence_requests_total', help: 'Fences asked (by a decision or an operator)', labelNames: ['node'], registers });
    this.fenceAttempts = new Counter({ name: 'keepquorum_arbiter_fence_attempts_total', help: 'Fence results: confirmed, unconfirmed (ok, not confirmed), failed', labelNames: ['node', 'result'], registers });
    this.fenceDuration = new Histogram({ name: 'keepquorum_arbiter_fence_duration_seconds', help: 'How long a fence took, from the call to its result', labelNames: ['node'], buckets: FENCE_DURATION_BUCKETS_S, registers });
  }

  /** Where the scrape reads the replica's view and counters from. */
  readFrom(source: ArbiterReadout): void {
    this.source = source;
  }

  /** The exposition: the view and counters read once, then every metric. */
  async render(): Promise<string> {
    const s = this.source;
    this.view = s ? s.snapshot() : null;
    this.stats = s ? s.stats() : null;
    this.ready = s ? s.isReady : false;
    try {
      return await renderYielding(this.registry);
    } finally {
      this.view = null;
      this.stats = null;
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The events port, with each decision event and fence counted on its way through. */
  observeEvents(events: ArbiterEvents): ArbiterEvents {
    this.eventLog = () => ({ backlog: (events.backlog?.() ?? null) as EventLogReport['backlog'], stats: (events.stats?.() ?? null) as EventLogReport['stats'] });
    const m = this;
    return {
      decision(a) {
        m.decisionEvents.inc({ event: a.name, instance: a.instance });
        if (a.name === 'splitbrain.detected') m.splitBrain.inc({ instance: a.instance });
        if (a.name === 'fence.requested' && a.node) m.fenceRequests.inc({ node: a.node });
        events.decision(a);
      },
      publish(type, data, instance) {
        if (type === 'fence.requested') {
          const d = data as EventInput<'fence.requested'>;
          if (d.subject) m.fenceRequests.inc({ node: d.subject });
        } else if (type === 'fence.result') {
          const d = data as EventInput<'fence.result'>;
          m.fenceAttempts.inc({ node: d.subject, result: fenceOutcome(d) });
          m.fenceDuration.observe({ node: d.subject }, Math.max(0, d.durationMs) / 1000);
        }
        events.publish(type, data, instance);
      },
      replied(request, reply) {
        m.countReply(request, reply);
        events.replied?.(request, reply);
      },
      stop: (timeoutMs) => events.stop(timeoutMs),
      ...(events.backlog ? { backlog: () => events.backlog!() } : {}),
      ...(events.stats ? { stats: () => events.stats!() } : {}),
    };
  }

  private countReply(request: ArbiterRequest, reply: ArbiterReply): void {
    if (!('instance' in request)) return;
    this.replies.inc({ instance: request.instance, request: request.type, reply: reply.type });
  }
}

