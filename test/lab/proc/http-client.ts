/**
 * The lab's client: an HTTP GET to the target every interval, each on a new TCP
 * connection with a short timeout, one JSON line per request on stdout:
 *
 *   {"t":"<CLOCK_MONOTONIC ns when the request started>","ok":true,"server":"a1","ms":0.84}
 *   {"t":"…","ok":false,"ms":100.02,"error":"timeout"}
 *
 * Runs inside the client's namespace (LabHost.spawnNode). Bounded by
 * --duration-ms and --max-requests, it exits by itself; SIGTERM stops sending
 * and exits once the requests in flight are done or abandoned.
 *
 *   --target ADDR  --port 80  --interval-ms 10  --timeout-ms 100
 *   --duration-ms 10000  --max-requests N  --until-ok
 */
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    port: { type: 'string', default: '80' },
    'interval-ms': { type: 'string', default: '10' },
    'timeout-ms': { type: 'string', default: '100' },
    'duration-ms': { type: 'string', default: '10000' },
    'max-requests': { type: 'string' },
    'until-ok': { type: 'boolean', default: false },
  },
});

function positive(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`http-client: --${name} must be a positive number, got ${text}\n`);
    process.exit(2);
  }
  return n;
}

if (!values.target) {
  process.stderr.write('http-client: --target ADDR is required\n');
  process.exit(2);
}
const target = values.target;
const port = positive('port', values.port);
const intervalNs = BigInt(Math.round(positive('interval-ms', values['interval-ms']) * 1e6));
const timeoutMs = positive('timeout-ms', values['timeout-ms']);
const durationMs = positive('duration-ms', values['duration-ms']);
const maxRequests = values['max-requests'] !== undefined
  ? positive('max-requests', values['max-requests'])
  : Math.ceil((durationMs * 1e6) / Number(intervalNs)) + 1;
const untilOk = values['until-ok'];
const hostHeader = target.includes(':') ? `[${target}]` : target;
const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: keepquorum-lab\r\nConnection: close\r\n\r\n`);

interface Outcome {
  ok: boolean;
  server?: string;
  error?: string;
}

const startNs = process.hrtime.bigint();
const deadlineNs = startNs + BigInt(Math.round(durationMs * 1e6));
let sent = 0;
let inFlight = 0;
let stopping = false;
let timer: NodeJS.Timeout | undefined;

function print(t: bigint, endNs: bigint, outcome: Outcome): void {
  const ms = Math.round(Number(endNs - t) / 1e3) / 1e3;
  const line: Record<string, unknown> = { t: t.toString(), ok: outcome.ok };
  if (outcome.server !== undefined) line.server = outcome.server;
  line.ms = ms;
  if (outcome.error !== undefined) line.error = outcome.error;
  // stdout is a pipe: writes are synchronous on Linux, so a line is out before exit.
  process.stdout.write(JSON.stringify(line) + '\n');
}

/** A complete response, or undefined while more bytes are due. */
function parseResponse(buf: Buffer, ended: boolean): Outcome | undefined {
  const head = buf.indexOf('\r\n\r\n');
  if (head < 0) return ended ? { ok: false, error: 'truncated response' } : undefined;
  const headers = buf.subarray(0, head).toString('latin1');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(headers)?.[1];
  const lengthText = /\r\ncontent-length:\s*(\d+)/i.exec(headers)?.[1];
  const body = buf.subarray(head + 4);
  if (lengthText !== undefined) {
    if (body.length < Number(lengthText)) return ended ? { ok: false, error: 'truncated body' } : undefined;
  } else if (!ended) {
    return undefined;
  }
  const server = body.subarray(0, lengthText !== undefined ? Number(lengthText) : body.length).toString('utf8').trim();
  if (status !== '200') return { ok: false, error: `status ${status ?? 'unparsable'}` };
  return server ? { ok: true, server } : { ok: false, error: 'empty body' };
}

function sendOne(): void {
  const t = process.hrtime.bigint();
  sent++;
  inFlight++;
  let done = false;
  let received = Buffer.alloc(0);
  const socket: Socket = connect({ host: target, port, noDelay: true });
  const finish = (outcome: Outcome): void => {
    if (done) return;
    done = true;
    const endNs = process.hrtime.bigint();
    clearTimeout(abandon);
    socket.destroy();
    inFlight--;
    print(t, endNs, outcome);
    if (outcome.ok && untilOk) stop();
    maybeExit();
  };
  // A request that has not completed in time is abandoned, never retried: the
  // next request on a fresh connection is what sees a VIP that moved.
  const abandon = setTimeout(() => finish({ ok: false, error: 'timeout' }), timeoutMs);
  socket.on('connect', () => socket.write(request));
  socket.on('data', (d: Buffer) => {
    received = Buffer.concat([received, d]);
    const outcome = parseResponse(received, false);
    if (outcome) finish(outcome);
  });
  socket.on('end', () => finish(parseResponse(received, true) ?? { ok: false, error: 'no response' }));
  socket.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, error: e.code ?? e.message }));
  socket.on('close', () => finish(parseResponse(received, true) ?? { ok: false, error: 'closed' }));
}

function tick(): void {
  timer = undefined;
  if (stopping) return;
  const now = process.hrtime.bigint();
  if (now >= deadlineNs || sent >= maxRequests) {
    stop();
    return;
  }
  sendOne();
  // Requests stay on the grid start + k·interval. Slots missed while this
  // process was not scheduled are skipped, not sent in a burst: a burst would
  // hide the stall from the figures instead of showing it.
  const k = (process.hrtime.bigint() - startNs) / intervalNs + 1n;
  const nextNs = startNs + k * intervalNs;
  const waitMs = Number(nextNs - process.hrtime.bigint()) / 1e6;
  timer = setTimeout(tick, Math.max(0, waitMs));
}

function stop(): void {
  stopping = true;
  if (timer) clearTimeout(timer);
  timer = undefined;
  maybeExit();
}

function maybeExit(): void {
  if (stopping && inFlight === 0) process.exit(0);
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
tick();
