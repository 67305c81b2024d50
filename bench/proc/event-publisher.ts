/**
 * The bench's event throughput fixture, run in a lab namespace so that its
 * traffic crosses the lab's network as an agent's does. One run, one mode:
 *
 *   --mode journal  libs/events' EventPublisher: each event validated, journaled
 *                   in --state-dir (group commit, fdatasync), then published with
 *                   its Nats-Msg-Id and a bounded window of acks in flight
 *   --mode raw      the limit: nats.js js.publish straight from memory, the same
 *                   envelope size, subjects and Nats-Msg-Id, the same window
 *
 * Both keep the pipeline full for --warmup-ms, then count acknowledged events
 * over --duration-ms: a sustained rate, not a burst. The journal mode is fed by
 * a producer paced by a timer (every --tick-ms, what --rate asks for, or as
 * many as keep at most --backlog published and unacknowledged), as an agent's
 * sources would feed it; with --in-worker the EventPublisher runs in a worker
 * thread and the producer posts it each tick's events.
 *
 * --timer-probe-ms N runs a periodic timer on the main thread during the
 * window, as an agent's advert timer: how late it fires while the publisher
 * works, beside the main thread's garbage collector pauses.
 *
 * Prints {"ready":true} once connected, then one {"result":{…}} line, and exits
 * 0 (1 when the run failed). Bounded by --max-ms whatever happens.
 *
 *   --servers URL[,URL…] --mode journal|raw --duration-ms 5000 --warmup-ms 1500
 *   --window 256 --backlog 4096 --tick-ms 1 --rate N --timer-probe-ms 100
 *   --state-dir DIR --cluster dc1 --node pub1 --in-worker
 *   --purge   empty the stream first (every run starts from the same stream)
 */
import { randomBytes } from 'node:crypto';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { connect, type JetStreamClient, type NatsConnection } from 'nats';
import { EventPublisher, makeEnvelope, natsConnectOptions, natsConnector, STREAM_NAME, type EventInput } from '../../libs/events/src/mod.js';

type CheckResult = EventInput<'check.result'>;

/**
 * A check.result as an agent sends it for an HTTP probe: the event type with
 * the most fields, and the one a busy agent sends most.
 */
function checkResult(i: number): CheckResult {
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

interface PublisherSetup {
  servers: string[];
  cluster: string;
  node: string;
  stateDir: string;
  window: number;
}

async function openPublisher(setup: PublisherSetup): Promise<EventPublisher> {
  const publisher = await EventPublisher.open({
    cluster: setup.cluster,
    node: setup.node,
    stateDir: setup.stateDir,
    connect: natsConnector({ servers: setup.servers, name: 'bench journal publisher' }),
    maxInFlight: setup.window,
    provision: false,
  });
  // Connected once a first event is acknowledged.
  publisher.publish('check.result', checkResult(0));
  if (!(await publisher.flush(10_000))) throw new Error(`not connected within 10 s: ${publisher.backlog().lastError ?? 'no error reported'}`);
  return publisher;
}

/** What the producer needs of a publisher, on this thread or in a worker. */
interface PublisherPort {
  readonly bootId: string;
  readonly nextSeq: number;
  publish(batch: CheckResult[]): void;
  stats(): { published: number; acknowledged: number };
  /** Waits for every event to be acknowledged (up to 30 s), stops, and says how it went. */
  finish(): Promise<{ flushed: boolean; failures: number; resent: number; duplicates: number; dropped: number; published: number }>;
}

// ---------------------------------------------------------------------------
// The worker side of --in-worker: the publisher, driven by messages.

type ToWorker = { batch: CheckResult[] } | { finish: true };
type FromWorker =
  | { ready: true; bootId: string; nextSeq: number }
  | { stats: { published: number; acknowledged: number } }
  | { finished: Awaited<ReturnType<PublisherPort['finish']>> }
  | { error: string };

async function finishPublisher(publisher: EventPublisher): Promise<Awaited<ReturnType<PublisherPort['finish']>>> {
  const flushed = await publisher.flush(30_000);
  const stats = publisher.stats();
  const dropped = publisher.backlog().journal.droppedTotal;
  await publisher.stop(5000);
  return { flushed, failures: stats.failures, resent: stats.resent, duplicates: stats.duplicates, dropped, published: stats.published };
}

if (!isMainThread) {
  const port = parentPort!;
  const send = (m: FromWorker): void => port.postMessage(m);
  try {
    const publisher = await openPublisher(workerData as PublisherSetup);
    const ticker = setInterval(() => send({ stats: publisher.stats() }), 5);
    port.on('message', (m: ToWorker) => {
      if ('batch' in m) {
        for (const d of m.batch) publisher.publish('check.result', d);
        return;
      }
      clearInterval(ticker);
      finishPublisher(publisher).then(
        (finished) => send({ finished }),
        (e: unknown) => send({ error: (e as Error).stack ?? String(e) }),
      );
    });
    send({ ready: true, bootId: publisher.bootId, nextSeq: publisher.nextSeq });
  } catch (e) {
    send({ error: (e as Error).stack ?? String(e) });
  }
} else {
  await main();
}

async function inWorker(setup: PublisherSetup): Promise<PublisherPort> {
  const worker = new Worker(new URL(import.meta.url), { workerData: setup });
  let stats = { published: 0, acknowledged: 0 };
  let finished: ((f: Awaited<ReturnType<PublisherPort['finish']>>) => void) | null = null;
  let failed: ((e: Error) => void) | null = null;
  const ready = await new Promise<{ bootId: string; nextSeq: number }>((resolve, reject) => {
    failed = reject;
    worker.on('error', (e) => failed?.(e));
    worker.on('message', (m: FromWorker) => {
      if ('ready' in m) resolve(m);
      else if ('stats' in m) stats = m.stats;
      else if ('finished' in m) finished?.(m.finished);
      else failed?.(new Error(`publisher worker: ${m.error}`));
    });
  });
  return {
    bootId: ready.bootId,
    nextSeq: ready.nextSeq,
    publish: (batch) => worker.postMessage({ batch } satisfies ToWorker),
    stats: () => stats,
    finish: () =>
      new Promise((resolve, reject) => {
        finished = (f) => {
          void worker.terminate();
          resolve(f);
        };
        failed = reject;
        worker.postMessage({ finish: true } satisfies ToWorker);
      }),
  };
}

async function onThisThread(setup: PublisherSetup): Promise<PublisherPort> {
  const publisher = await openPublisher(setup);
  return {
    bootId: publisher.bootId,
    get nextSeq() {
      return publisher.nextSeq;
    },
    publish(batch) {
      for (const d of batch) publisher.publish('check.result', d);
    },
    stats: () => publisher.stats(),
    finish: () => finishPublisher(publisher),
  };
}

// ---------------------------------------------------------------------------
// The main thread: arguments, the producer, the measurement.

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      servers: { type: 'string' },
      mode: { type: 'string' },
      'duration-ms': { type: 'string', default: '5000' },
      'warmup-ms': { type: 'string', default: '1500' },
      window: { type: 'string', default: '256' },
      backlog: { type: 'string', default: '4096' },
      'tick-ms': { type: 'string', default: '1' },
      rate: { type: 'string' },
      'timer-probe-ms': { type: 'string' },
      'state-dir': { type: 'string' },
      cluster: { type: 'string', default: 'dc1' },
      node: { type: 'string', default: 'pub1' },
      'in-worker': { type: 'boolean', default: false },
      purge: { type: 'boolean', default: false },
      'max-ms': { type: 'string', default: '120000' },
    },
  });

  const usage = (message: string): never => {
    process.stderr.write(`event-publisher: ${message}\n`);
    process.exit(2);
  };
  const positive = (name: string, text: string | undefined): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) usage(`--${name} must be a positive number, got ${text}`);
    return n;
  };

  const mode = values.mode;
  if (mode !== 'journal' && mode !== 'raw') return usage('--mode journal|raw is required');
  if (!values.servers) return usage('--servers URL[,URL...] is required');
  if (mode === 'journal' && !values['state-dir']) usage('--state-dir DIR is required with --mode journal');
  const servers = values.servers.split(',');
  const durationMs = positive('duration-ms', values['duration-ms']);
  const warmupMs = positive('warmup-ms', values['warmup-ms']);
  const window = Math.floor(positive('window', values.window));
  const backlogLimit = Math.floor(positive('backlog', values.backlog));
  const tickMs = positive('tick-ms', values['tick-ms']);
  /** Events per second offered; unset: as many as the window (raw) or the backlog (journal) allows. */
  const rate = values.rate === undefined ? Infinity : positive('rate', values.rate);
  const timerProbeMs = values['timer-probe-ms'] === undefined ? 0 : positive('timer-probe-ms', values['timer-probe-ms']);
  const maxMs = positive('max-ms', values['max-ms']);
  const cluster = values.cluster ?? 'dc1';
  const node = values.node ?? 'pub1';
  const inWorkerThread = values['in-worker'] ?? false;

  const print = (line: Record<string, unknown>): void => {
    process.stdout.write(`${JSON.stringify(line)}\n`);
  };
  const bound = setTimeout(() => {
    print({ result: { ok: false, mode, error: `gave up after --max-ms ${maxMs}` } });
    process.exit(1);
  }, maxMs);
  bound.unref();

  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

  /** How late each wakeup of a periodic timer on this thread comes, ms. */
  const startTimerProbe = (): { stop(): number[] } => {
    const lateness: number[] = [];
    if (timerProbeMs === 0) return { stop: () => lateness };
    let deadline = performance.now() + timerProbeMs;
    const fire = (): void => {
      lateness.push(performance.now() - deadline);
      deadline += timerProbeMs;
      handle = setTimeout(fire, Math.max(0, Math.ceil(deadline - performance.now())));
    };
    let handle = setTimeout(fire, timerProbeMs);
    return {
      stop() {
        clearTimeout(handle);
        return lateness;
      },
    };
  };

  /** This thread's garbage collector: every pause stops its event loop. */
  const startGcWatch = (): { stop(): Record<string, number> } => {
    const gc = { count: 0, totalMs: 0, maxMs: 0, over3ms: 0 };
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        gc.count++;
        gc.totalMs += e.duration;
        gc.maxMs = Math.max(gc.maxMs, e.duration);
        if (e.duration >= 3) gc.over3ms++;
      }
    });
    observer.observe({ entryTypes: ['gc'] });
    return {
      stop() {
        observer.disconnect();
        return { count: gc.count, totalMs: round(gc.totalMs), maxMs: round(gc.maxMs), over3ms: gc.over3ms };
      },
    };
  };

  const latenessSummary = (lateness: number[]): Record<string, number> | null => {
    if (lateness.length === 0) return null;
    const sorted = [...lateness].sort((a, b) => a - b);
    const at = (p: number): number => round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number);
    return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: at(1) };
  };

  /** Waits out the warm-up, then measures `durationMs` of acknowledgements. */
  const measure = async (acked: () => number): Promise<Record<string, unknown>> => {
    await sleep(warmupMs);
    const a0 = acked();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const elu0 = performance.eventLoopUtilization();
    const probe = startTimerProbe();
    const gc = startGcWatch();
    await sleep(durationMs);
    const lateness = probe.stop();
    const events = acked() - a0;
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return {
      ok: events > 0,
      mode,
      eventsPerSecond: Math.round(events / seconds),
      events,
      seconds: round(seconds, 3),
      // Every thread of the process (the worker's too).
      cpuPercent: round(((cpu.user + cpu.system) / 1e6 / seconds) * 100, 1),
      eventLoopUtilization: round(performance.eventLoopUtilization(elu0).utilization, 3),
      window,
      timerLatenessMs: latenessSummary(lateness),
      mainThreadGc: gc.stop(),
    };
  };

  const purge = async (nc: NatsConnection): Promise<void> => {
    if (!values.purge) return;
    const jsm = await nc.jetstreamManager();
    await jsm.streams.purge(STREAM_NAME);
  };

  const splitOnce = (text: string, at: string): [string, string] => {
    const i = text.indexOf(at);
    if (i < 0) throw new Error(`template: ${at} not found`);
    return [text.slice(0, i), text.slice(i + at.length)];
  };

  const runRaw = async (): Promise<Record<string, unknown>> => {
    const nc = await connect({ ...natsConnectOptions({ servers, name: 'bench raw publisher' }), maxReconnectAttempts: 0 });
    await purge(nc);
    const js: JetStreamClient = nc.jetstream();
    const bootId = randomBytes(4).toString('hex');
    const subject = `ha.${cluster}.evt.${node}.check.result`;
    // The journal mode's envelope, built once; per message only id and seq
    // change: what a publisher that had its bytes ready would send.
    const template = JSON.stringify(makeEnvelope('check.result', checkResult(0), { cluster, node, bootId, seq: 1 }));
    const [head, rest] = splitOnce(template, `"id":"${node}-${bootId}-1"`);
    const [middle, tail] = splitOnce(rest, '"seq":1');
    const encoder = new TextEncoder();
    const payloadBytes = encoder.encode(template).length;
    print({ ready: true });

    let seq = 0;
    let inFlight = 0;
    let acked = 0;
    let failed: string | null = null;
    let stop = false;
    let idle: (() => void) | null = null;
    const startedAt = performance.now();
    const pump = (): void => {
      const allowed = rate === Infinity ? Infinity : Math.floor(((performance.now() - startedAt) / 1000) * rate);
      while (!stop && failed === null && inFlight < window && seq < allowed) {
        seq++;
        const id = `${node}-${bootId}-${seq}`;
        inFlight++;
        js.publish(subject, encoder.encode(`${head}"id":"${id}"${middle}"seq":${seq}${tail}`), { msgID: id, timeout: 5000 }).then(
          () => {
            inFlight--;
            acked++;
            pump();
            if (inFlight === 0) idle?.();
          },
          (e: unknown) => {
            inFlight--;
            failed ??= (e as Error).message;
            if (inFlight === 0) idle?.();
          },
        );
      }
    };
    pump();
    // Paced: the window alone would publish as fast as the acks come back.
    const pacer = rate === Infinity ? null : setInterval(pump, tickMs);
    const result = await measure(() => acked);
    stop = true;
    if (pacer) clearInterval(pacer);
    if (inFlight > 0) await new Promise<void>((resolve) => (idle = resolve));
    await nc.close();
    if (failed !== null) return { ok: false, mode, error: failed, acked };
    return { ...result, payloadBytes, published: seq, rate: rate === Infinity ? null : rate };
  };

  const runJournal = async (): Promise<Record<string, unknown>> => {
    // The stream exists (the bench created it); purge with a connection of our own.
    const admin = await connect({ ...natsConnectOptions({ servers, name: 'bench admin' }), maxReconnectAttempts: 0 });
    await purge(admin);
    await admin.close();
    const setup: PublisherSetup = { servers, cluster, node, stateDir: values['state-dir']!, window };
    const publisher = inWorkerThread ? await inWorker(setup) : await onThisThread(setup);
    print({ ready: true });

    const payloadBytes = Buffer.byteLength(JSON.stringify(makeEnvelope('check.result', checkResult(0), { cluster, node, bootId: publisher.bootId, seq: publisher.nextSeq })));
    let produced = 0;
    let stop = false;
    let maxOutstanding = 0;
    const startedAt = performance.now();
    // Paced by a timer (at `rate`, or as fast as it goes), never more than
    // `backlogLimit` ahead of the acks.
    const produce = (): void => {
      if (stop) return;
      const s = publisher.stats();
      const outstanding = produced + 1 - s.acknowledged; // +1: the connection's first event
      maxOutstanding = Math.max(maxOutstanding, outstanding);
      const due = rate === Infinity ? backlogLimit : Math.floor(((performance.now() - startedAt) / 1000) * rate) - produced;
      const n = Math.min(backlogLimit - outstanding, due);
      if (n > 0) {
        const batch: CheckResult[] = [];
        for (let i = 0; i < n; i++) batch.push(checkResult(++produced));
        publisher.publish(batch);
      }
      setTimeout(produce, tickMs);
    };
    produce();
    const result = await measure(() => publisher.stats().acknowledged);
    stop = true;
    const finished = await publisher.finish();
    return {
      ...result,
      payloadBytes,
      ...finished,
      maxOutstanding,
      backlogLimit,
      tickMs,
      rate: rate === Infinity ? null : rate,
      inWorker: inWorkerThread,
    };
  };

  try {
    const result = mode === 'raw' ? await runRaw() : await runJournal();
    print({ result });
    process.exit(result['ok'] === true ? 0 : 1);
  } catch (e) {
    print({ result: { ok: false, mode, error: (e as Error).stack ?? String(e) } });
    process.exit(1);
  }
}
