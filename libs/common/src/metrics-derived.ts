/**
 * Metrics computed at scrape time from counters the code keeps anyway (an
 * instance's adverts, a publisher's stats): nothing is added to the path that
 * counts them, the scrape reads them. prom-client's Counter and Gauge only
 * count what is pushed into them, so these are registered as plain metric
 * objects whose values are read when the registry renders.
 *
 * Shared by the agent and the arbiter (services/agent/src/metrics.ts,
 * services/arbiter/src/metrics.ts); also the event log's metrics, the same in
 * both processes.
 */
import type { Metric, Registry } from 'prom-client';

export interface Sample {
  labels?: Record<string, string | number>;
  value: number;
  /** For histograms: the `_bucket`, `_sum` and `_count` series. */
  metricName?: string;
}

export type DerivedType = 'gauge' | 'counter' | 'histogram';

/** Registers `name`, whose samples `collect` gives at each scrape (an exception there fails the scrape, never the caller). */
export function derivedMetric(registry: Registry, name: string, help: string, type: DerivedType, collect: () => readonly Sample[]): void {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum' as const,
    get: async () => ({ name, help, type, aggregator: 'sum' as const, values: collect().map((s) => ({ labels: s.labels ?? {}, value: s.value, ...(s.metricName ? { metricName: s.metricName } : {}) })) }),
    reset: () => {},
  };
  registry.registerMetric(metric as unknown as Metric<string>);
}

/**
 * registry.metrics(), one metric per turn of the event loop: prom-client renders
 * a whole registry without yielding (about 30 ms for an agent with 1,000
 * instances on the lab machine), which would hold up every timer of the thread
 * that sends adverts. Between metrics, timers and sockets get their turn; the
 * values were read before (render's snapshot), so the exposition stays
 * consistent. Prometheus' text format only (the registry's default).
 */
export async function renderYielding(registry: Registry): Promise<string> {
  const render = registry as unknown as { getMetricsAsString(metric: unknown): Promise<string> };
  const parts: string[] = [];
  for (const metric of registry.getMetricsAsArray()) {
    parts.push(await render.getMetricsAsString(metric));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return `${parts.join('\n\n')}\n`;
}

/** A histogram kept elsewhere as plain data: per-bucket counts (not cumulative), the last above every bound. */
export interface BucketCounts {
  bounds: readonly number[];
  counts: readonly number[];
  sum: number;
  count: number;
}

/** The samples of a histogram metric from bucket counts. */
export function histogramSamples(name: string, h: BucketCounts, labels: Record<string, string | number> = {}): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  h.bounds.forEach((le, i) => {
    cumulative += h.counts[i] ?? 0;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative });
  });
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
  return out;
}

/** What the event log's publisher reports (libs/events Backlog and PublisherStats), as far as metrics need it. */
export interface EventLogReport {
  backlog: {
    unacknowledged: number;
    notDurable: number;
    inFlight: number;
    connected: boolean;
    journal: { bytes: number; droppedTotal: number };
  } | null;
  stats: {
    published: number;
    acknowledged: number;
    failures: number;
    resent: number;
    ackLatency?: BucketCounts;
  } | null;
}

/**
 * keepquorum_events_*: the journal's backlog and the publisher's counters.
 * `report` returns nulls when this process has no event log (no samples then).
 */
export function registerEventLogMetrics(registry: Registry, report: () => EventLogReport): void {
  const backlog = (pick: (b: NonNullable<EventLogReport['backlog']>) => number) => (): Sample[] => {
    const b = report().backlog;
    return b ? [{ value: pick(b) }] : [];
  };
  const stat = (pick: (s: NonNullable<EventLogReport['stats']>) => number) => (): Sample[] => {
    const s = report().stats;
    return s ? [{ value: pick(s) }] : [];
  };
  derivedMetric(registry, 'keepquorum_events_journal_backlog', 'Events in the local journal not yet acknowledged by JetStream', 'gauge', backlog((b) => b.unacknowledged));
  derivedMetric(registry, 'keepquorum_events_journal_not_durable', 'Events appended to the journal, waiting for the disk', 'gauge', backlog((b) => b.notDurable));
  derivedMetric(registry, 'keepquorum_events_journal_bytes', 'Size of the event journal on disk', 'gauge', backlog((b) => b.journal.bytes));
  derivedMetric(registry, 'keepquorum_events_in_flight', 'Events sent to JetStream, ack awaited', 'gauge', backlog((b) => b.inFlight));
  derivedMetric(registry, 'keepquorum_events_connected', '1 while the event publisher is connected to NATS', 'gauge', backlog((b) => (b.connected ? 1 : 0)));
  derivedMetric(registry, 'keepquorum_events_dropped_total', 'Events the journal could not keep (disk full or failing)', 'counter', backlog((b) => b.journal.droppedTotal));
  derivedMetric(registry, 'keepquorum_events_published_total', 'Events journaled by this process', 'counter', stat((s) => s.published));
  derivedMetric(registry, 'keepquorum_events_acknowledged_total', 'Events acknowledged by JetStream', 'counter', stat((s) => s.acknowledged));
  derivedMetric(registry, 'keepquorum_events_publish_failures_total', 'Failed publishes or lost connections that made the publisher resend', 'counter', stat((s) => s.failures));
  derivedMetric(registry, 'keepquorum_events_resent_total', 'Events sent again after a failure', 'counter', stat((s) => s.resent));
  const latency = 'keepquorum_events_publish_latency_seconds';
  derivedMetric(registry, latency, 'From publish (journal append) to the JetStream ack, events of this run', 'histogram', () => {
    const h = report().stats?.ackLatency;
    return h ? histogramSamples(latency, h) : [];
  });
}
