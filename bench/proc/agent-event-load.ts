/**
 * An event load inside a real agent, for the bench only: preloaded with
 * `node --import <this> bin/ha-agent …`, it takes hold of the agent's own
 * ThreadedEventPublisher when the agent opens it (the same module instance the agent
 * imports) and, while switched on, publishes check.result events through it at
 * a paced rate: journaled, group-committed and sent to JetStream by the
 * agent's publisher (its thread; the events are made on the agent's event
 * loop, beside its adverts, as real sources make them). Nothing in
 * the product changes; without this preload the agent is what ships.
 *
 * No tracked check can do this: their intervals are whole seconds and each run
 * is one event, so a check source big enough for the publisher's full rate
 * would measure the probes more than the publishing.
 *
 * SIGUSR2 switches the load on and off (the agent does not use SIGUSR2). Each
 * switch prints one line on stdout (the agent's log stream, which the lab reads):
 *
 *   {"benchLoad":"on","t":"<CLOCK_MONOTONIC ns>","published":…,"acknowledged":…,
 *    "gcSinceLastSwitch":{"count":…,"totalMs":…,"maxMs":…,"over3ms":…}}
 *
 * (the garbage collector's pauses since the previous switch, as the agent's
 * own event loop suffered them).
 *
 * Environment: KQ_BENCH_EVENT_RATE events per second while on (default 10000);
 * KQ_BENCH_EVENT_BACKLOG most events published and not yet acknowledged
 * (default 4096: the producer waits rather than fill the journal's memory queue);
 * KQ_BENCH_EVENT_TICK_MS the pacing timer (default 1 ms: events come in small
 * groups, as from real sources, not in one long burst).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { ThreadedEventPublisher } from '../../libs/events/src/publisher-thread.js';
import type { EventInput } from '../../libs/events/src/schemas.js';

function envNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`agent-event-load: ${name} must be a positive number, got ${text}\n`);
    process.exit(2);
  }
  return n;
}

const rate = envNumber('KQ_BENCH_EVENT_RATE', 10_000);
const backlogLimit = Math.floor(envNumber('KQ_BENCH_EVENT_BACKLOG', 4096));
const tickMs = envNumber('KQ_BENCH_EVENT_TICK_MS', 1);

let publisher: ThreadedEventPublisher | null = null;
const open = ThreadedEventPublisher.open.bind(ThreadedEventPublisher);
ThreadedEventPublisher.open = async (opts) => {
  const p = await open(opts);
  publisher = p;
  return p;
};

function checkResult(i: number): EventInput<'check.result'> {
  return {
    check: 'chk_http_frontend',
    kind: 'http',
    ok: true,
    latencyMs: 1 + (i % 1000) / 1000,
    output: 'HTTP 200 OK from 198.18.0.1:80 / in 1.2 ms (612 bytes)',
    status: 'good',
    changed: false,
    reason: 'chk_http_frontend succeeded (rise 2 reached earlier)',
  };
}

let on = false;
let timer: NodeJS.Timeout | null = null;
let startedAt = 0;
let producedSinceStart = 0;
let produced = 0;
/** Ticks at which the backlog limit held the producer back. */
let heldBack = 0;

function tick(): void {
  timer = null;
  const p = publisher;
  if (!on || p === null) return;
  const due = Math.floor(((performance.now() - startedAt) / 1000) * rate) - producedSinceStart;
  const s = p.stats();
  const room = backlogLimit - (s.published - s.acknowledged);
  const n = Math.min(due, room);
  if (room < due) heldBack++;
  try {
    for (let i = 0; i < n; i++) p.publish('check.result', checkResult(++produced));
  } catch {
    // The agent is stopping (KQ_ERR_EVENTS_CLOSED): the load ends with it.
    on = false;
    return;
  }
  // What the backlog held back is not made up later: the rate is an upper bound.
  producedSinceStart += Math.max(due, 0);
  timer = setTimeout(tick, tickMs);
}

/**
 * Garbage collection pauses since the last switch: every pause stops the
 * agent's event loop, adverts included.
 */
const gc = { count: 0, totalMs: 0, maxMs: 0, over3ms: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.count++;
    gc.totalMs += e.duration;
    gc.maxMs = Math.max(gc.maxMs, e.duration);
    if (e.duration >= 3) gc.over3ms++;
  }
}).observe({ entryTypes: ['gc'] });

process.on('SIGUSR2', () => {
  on = !on;
  if (on) {
    startedAt = performance.now();
    producedSinceStart = 0;
    heldBack = 0;
    timer ??= setTimeout(tick, tickMs);
  } else if (timer !== null) {
    clearTimeout(timer);
    timer = null;
  }
  const s = publisher?.stats();
  const line = {
    benchLoad: on ? 'on' : 'off',
    t: process.hrtime.bigint().toString(),
    attached: publisher !== null,
    published: s?.published ?? 0,
    acknowledged: s?.acknowledged ?? 0,
    heldBack,
    rate,
    gcSinceLastSwitch: { count: gc.count, totalMs: Math.round(gc.totalMs * 100) / 100, maxMs: Math.round(gc.maxMs * 100) / 100, over3ms: gc.over3ms },
  };
  gc.count = 0;
  gc.totalMs = 0;
  gc.maxMs = 0;
  gc.over3ms = 0;
  process.stdout.write(`${JSON.stringify(line)}\n`);
});
