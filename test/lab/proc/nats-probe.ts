/**
 * A JetStream client for lab tests, run inside a namespace (LabHost.spawnNode):
 * one operation per run, one JSON line on stdout, exit 0 when the operation
 * succeeded and 1 when it did not (2: bad arguments).
 *
 *   --op create   add a file stream on <subject>.> with --replicas (or find it)
 *                 {"ok":true,"op":"create","stream":"LAB","replicas":3,"storage":"file","leader":"nats-2","peers":["nats-1","nats-3"]}
 *   --op publish  publish --count messages from --from on, subject <subject>.<i>,
 *                 Nats-Msg-Id <id-prefix>-<i>, one after the other
 *                 {"ok":true,"op":"publish","published":50,"duplicates":0,"lastSeq":50,"domain":"keepquorum"}
 *   --op read     every message of the stream, in order, by sequence
 *                 {"ok":true,"op":"read","messages":50,"ids":["m-1",…],"replicas":3,"leader":"nats-1","peers":[…]}
 *
 * A failed operation prints {"ok":false,"op":…,"error":"…","code":"…"} plus
 * what it got done (publish: how many were acknowledged before the failure).
 *
 *   --servers URL[,URL…]  --stream NAME  --subject lab.test  --replicas 3
 *   --from 1  --count 10  --id-prefix m
 *   --timeout-ms 2000   each request's timeout
 *   --retry-ms 0        keep retrying a failed step (connect, API call, one
 *                       message with the same msg id) for this long; 0: once
 *
 * Bounded: every step has a deadline and the whole run --max-ms (default 60 s).
 */
import { parseArgs } from 'node:util';
import { connect, nanos, StorageType, type JetStreamManager, type NatsConnection, type StreamInfo } from 'nats';

const { values } = parseArgs({
  options: {
    servers: { type: 'string' },
    op: { type: 'string' },
    stream: { type: 'string' },
    subject: { type: 'string', default: 'lab.test' },
    replicas: { type: 'string', default: '3' },
    from: { type: 'string', default: '1' },
    count: { type: 'string', default: '10' },
    'id-prefix': { type: 'string', default: 'm' },
    'timeout-ms': { type: 'string', default: '2000' },
    'retry-ms': { type: 'string', default: '0' },
    'max-ms': { type: 'string', default: '60000' },
  },
});

function usage(message: string): never {
  process.stderr.write(`nats-probe: ${message}\n`);
  process.exit(2);
}

function count(name: string, text: string | undefined, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}, got ${text}`);
  return n;
}

const op = values.op;
if (op !== 'create' && op !== 'publish' && op !== 'read') usage('--op create|publish|read is required');
if (!values.servers) usage('--servers URL[,URL...] is required');
if (!values.stream) usage('--stream NAME is required');
const servers = values.servers.split(',');
const stream = values.stream;
const subject = values.subject;
const replicas = count('replicas', values.replicas, 1);
const from = count('from', values.from, 0);
const messageCount = count('count', values.count, 1);
const idPrefix = values['id-prefix'];
const timeoutMs = count('timeout-ms', values['timeout-ms'], 1);
const retryMs = count('retry-ms', values['retry-ms'], 0);
const maxMs = count('max-ms', values['max-ms'], 1);

let printed = false;
function print(result: Record<string, unknown>): void {
  if (printed) return;
  printed = true;
  // stdout is a pipe: the write is synchronous on Linux, so the line is out before exit.
  process.stdout.write(JSON.stringify({ op, ...result }) + '\n');
}

// The last resort bound: whatever hangs, the probe reports and exits.
setTimeout(() => {
  print({ ok: false, error: `gave up after --max-ms ${maxMs}`, code: 'MAX_MS' });
  process.exit(1);
}, maxMs).unref();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class StepFailed extends Error {
  constructor(readonly step: string, override readonly cause: unknown) {
    super(`${step}: ${describe(cause).error}`);
  }
}

function describe(e: unknown): { error: string; code?: string } {
  const err = e as { message?: unknown; code?: unknown };
  const out: { error: string; code?: string } = { error: typeof err?.message === 'string' ? err.message : String(e) };
  if (typeof err?.code === 'string' || typeof err?.code === 'number') out.code = String(err.code);
  return out;
}

/** Run `fn` until it succeeds or --retry-ms has passed since the first attempt. */
async function retrying<T>(step: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + retryMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() >= deadline) throw new StepFailed(step, e);
      await sleep(200);
    }
  }
}

function clusterView(info: StreamInfo): { leader?: string; peers: string[] } {
  const view: { leader?: string; peers: string[] } = { peers: (info.cluster?.replicas ?? []).map((p) => p.name).sort() };
  if (info.cluster?.leader) view.leader = info.cluster.leader;
  return view;
}

async function create(jsm: JetStreamManager): Promise<Record<string, unknown>> {
  const info = await retrying('stream create', async () => {
    try {
      return await jsm.streams.info(stream);
    } catch (e) {
      if (describe(e).code !== '404') throw e;
    }
    return jsm.streams.add({
      name: stream,
      subjects: [`${subject}.>`],
      storage: StorageType.File,
      num_replicas: replicas,
      // The window in which a re-sent msg id is recognised: a publisher
      // retrying after a lost acknowledgement must land inside it.
      duplicate_window: nanos(120_000),
    });
  });
  return { ok: true, stream: info.config.name, replicas: info.config.num_replicas, storage: info.config.storage, ...clusterView(info) };
}

async function publish(nc: NatsConnection): Promise<Record<string, unknown>> {
  const js = nc.jetstream({ timeout: timeoutMs });
  let published = 0;
  let duplicates = 0;
  let lastSeq: number | undefined;
  let domain: string | undefined;
  try {
    for (let i = from; i < from + messageCount; i++) {
      const ack = await retrying(`publish #${i}`, () =>
        js.publish(`${subject}.${i}`, JSON.stringify({ i }), { msgID: `${idPrefix}-${i}`, timeout: timeoutMs }),
      );
      published++;
      if (ack.duplicate) duplicates++;
      lastSeq = ack.seq;
      domain = ack.domain;
    }
  } catch (e) {
    return { ok: false, published, duplicates, lastSeq, ...describe(e instanceof StepFailed ? e.cause : e), step: e instanceof StepFailed ? e.step : undefined };
  }
  return { ok: true, published, duplicates, lastSeq, domain };
}

async function read(jsm: JetStreamManager): Promise<Record<string, unknown>> {
  const info = await retrying('stream info', () => jsm.streams.info(stream));
  const ids: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await retrying(`get #${seq}`, () => jsm.streams.getMessage(stream, { seq }));
    ids.push(m.header?.get('Nats-Msg-Id') ?? `(no id, seq ${seq})`);
  }
  return { ok: true, messages: info.state.messages, ids, replicas: info.config.num_replicas, storage: info.config.storage, ...clusterView(info) };
}

async function main(): Promise<number> {
  let nc: NatsConnection | undefined;
  try {
    nc = await retrying('connect', () =>
      connect({ servers, name: `nats-probe-${op}`, timeout: timeoutMs, maxReconnectAttempts: -1, reconnectTimeWait: 200 }),
    );
    // checkAPI off: that check is a request of its own, and the point of some
    // runs is to see the operation itself fail (or wait) while there is no quorum.
    const jsm = await nc.jetstreamManager({ checkAPI: false });
    const result = op === 'create' ? await create(jsm) : op === 'publish' ? await publish(nc) : await read(jsm);
    print(result);
    return result['ok'] === true ? 0 : 1;
  } catch (e) {
    print({ ok: false, ...describe(e instanceof StepFailed ? e.cause : e), step: e instanceof StepFailed ? e.step : undefined });
    return 1;
  } finally {
    await nc?.close().catch(() => undefined);
  }
}

process.exitCode = await main();
// A connection still reconnecting must not keep the probe alive.
process.exit();
