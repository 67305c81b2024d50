/**
 * The lab's power switch, run inside a lab namespace (the gateway's): what a
 * PDU or an IPMI controller is to a real datacenter, with two front ends.
 *
 * - `POST /fence`: keepquorum's signed webhook (libs/fencing webhook.ts). The
 *   signature is checked with libs/fencing's verifySignature over the raw body;
 *   a bad one is answered 401 and nothing is done. A good one is reported on
 *   stdout and the answer waits until the test process (which owns the lab)
 *   says on stdin that the node's namespace is powered off: then 200
 *   `{"status":"fenced"}`. A repeated Idempotency-Key joins the operation it
 *   names instead of starting another.
 * - `POST /pdu/<plug>/<off|on|status>` with `Authorization: Bearer <password>`:
 *   the plain switch that the lab's fence agent (fence-agent.ts) drives.
 *
 * stdout, one JSON line each:
 *   {"event":"ready","port":N}
 *   {"event":"attempt","via":"webhook|pdu","node":..,"key":..,"answer":"fenced|500|slow|refused|..."}
 *   {"event":"fence","op":N,"via":..,"node":..,"key":..}      the test must power the node off
 * stdin, one JSON line each (from the test):
 *   {"done":N,"ok":true}                  operation N finished (the node is off)
 *   {"mode":"ok"|"500"|"slow"|"down","delayMs":N}   how the next requests are answered
 *   {"poweredOn":"node"}                  the test powered the node on again
 *
 *   --listen ADDR --port N --secret-file FILE --pdu-password P --max-ms N
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature } from '../../../libs/fencing/src/mod.js';

const { values } = parseArgs({
  options: {
    listen: { type: 'string' },
    port: { type: 'string', default: '9443' },
    'secret-file': { type: 'string' },
    'pdu-password': { type: 'string', default: '' },
    'max-ms': { type: 'string', default: '600000' },
  },
});
const listen = values.listen ?? '0.0.0.0';
const port = Number(values.port);
const secret = values['secret-file'] ? readFileSync(values['secret-file'], 'utf8').replace(/\n$/, '') : '';
const pduPassword = values['pdu-password'] ?? '';

type Mode = { kind: 'ok' | '500' | 'slow' | 'down'; delayMs: number };
let mode: Mode = { kind: 'ok', delayMs: 0 };
let nextOp = 1;
/** Operations by idempotency key (webhook) or `pdu:<plug>` while running. */
const ops = new Map<string, { op: number; done: Promise<boolean>; finished: boolean; ok: boolean }>();
const resolvers = new Map<number, (ok: boolean) => void>();
const poweredOff = new Set<string>();

const say = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Starts (or joins) the power-off of `node`; resolves once the test reports it done. */
function powerOff(key: string, node: string, via: string): Promise<boolean> {
  const known = ops.get(key);
  if (known) return known.done;
  const op = nextOp++;
  const entry = { op, finished: false, ok: false, done: Promise.resolve(false) };
  entry.done = new Promise<boolean>((resolve) => resolvers.set(op, resolve)).then((ok) => {
    entry.finished = true;
    entry.ok = ok;
    if (ok) poweredOff.add(node);
    // A failed operation may be asked for again.
    if (!ok) ops.delete(key);
    return ok;
  });
  ops.set(key, entry);
  say({ event: 'fence', op, via, node, key });
  return entry.done;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function onWebhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = await readBody(req);
  const check = verifySignature(secret, req.headers[TIMESTAMP_HEADER.toLowerCase()], raw, req.headers[SIGNATURE_HEADER.toLowerCase()]);
  let body: { action?: string; node?: string; idempotencyKey?: string } = {};
  try {
    body = JSON.parse(raw.toString('utf8')) as typeof body;
  } catch {
    // answered below
  }
  const node = String(body.node ?? '');
  const key = String(req.headers[IDEMPOTENCY_HEADER.toLowerCase()] ?? body.idempotencyKey ?? '');
  if (!check.ok) {
    say({ event: 'attempt', via: 'webhook', node, key, answer: 'refused', reason: check.reason });
    return answer(res, 401, { status: 'failed', reason: check.reason });
  }
  if (body.action !== 'off' || !node || key !== body.idempotencyKey) {
    say({ event: 'attempt', via: 'webhook', node, key, answer: 'bad request' });
    return answer(res, 400, { status: 'failed', reason: 'expected action off, a node, and the body idempotencyKey equal to the header' });
  }
  const m = mode;
  if (m.kind === '500') {
    say({ event: 'attempt', via: 'webhook', node, key, answer: '500' });
    return answer(res, 500, { status: 'failed', reason: 'the lab switch answers 500 (test mode)' });
  }
  if (m.kind === 'slow') {
    say({ event: 'attempt', via: 'webhook', node, key, answer: 'slow', delayMs: m.delayMs });
    await sleep(m.delayMs);
    // The caller gave up long ago; nothing is done for a request nobody waits for.
    return answer(res, 503, { status: 'failed', reason: 'too slow (test mode)' });
  }
  const ok = await powerOff(key, node, 'webhook');
  say({ event: 'attempt', via: 'webhook', node, key, answer: ok ? 'fenced' : 'failed' });
  if (ok) answer(res, 200, { status: 'fenced' });
  else answer(res, 200, { status: 'failed', reason: 'the lab could not power the node off' });
}

async function onPdu(req: IncomingMessage, res: ServerResponse, plug: string, action: string): Promise<void> {
  await readBody(req);
  if (!pduPassword || req.headers.authorization !== `Bearer ${pduPassword}`) {
    say({ event: 'attempt', via: 'pdu', node: plug, answer: 'refused' });
    return answer(res, 401, { status: 'failed', reason: 'wrong password' });
  }
  if (action === 'status') {
    const power = poweredOff.has(plug) ? 'off' : 'on';
    say({ event: 'attempt', via: 'pdu', node: plug, action, answer: power });
    return answer(res, 200, { status: power });
  }
  if (action === 'on') {
    poweredOff.delete(plug);
    return answer(res, 200, { status: 'on' });
  }
  if (action !== 'off') return answer(res, 400, { status: 'failed', reason: `unknown action ${action}` });
  if (mode.kind === '500') {
    say({ event: 'attempt', via: 'pdu', node: plug, action, answer: '500' });
    return answer(res, 500, { status: 'failed' });
  }
  const ok = poweredOff.has(plug) ? true : await powerOff(`pdu:${plug}`, plug, 'pdu');
  ops.delete(`pdu:${plug}`);
  say({ event: 'attempt', via: 'pdu', node: plug, action, answer: ok ? 'off' : 'failed' });
  answer(res, ok ? 200 : 500, { status: ok ? 'off' : 'failed' });
}

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  const pdu = /^\/pdu\/([A-Za-z0-9_-]+)\/(off|on|status)$/.exec(url);
  const work = req.method === 'POST' && url === '/fence' ? onWebhook(req, res) : req.method === 'POST' && pdu ? onPdu(req, res, pdu[1]!, pdu[2]!) : Promise.resolve(answer(res, 404, { status: 'failed', reason: 'not found' }));
  work.catch((e: unknown) => answer(res, 500, { status: 'failed', reason: (e as Error).message }));
});
// Connections are short; a slow answer must not keep a stopping receiver alive.
server.keepAliveTimeout = 100;

let listening = false;
function startListening(): void {
  if (listening) return;
  listening = true;
  server.listen(port, listen, () => say({ event: 'ready', port }));
}
function stopListening(): void {
  if (!listening) return;
  listening = false;
  server.close();
  server.closeAllConnections();
}

createInterface({ input: process.stdin }).on('line', (line) => {
  let msg: { done?: number; ok?: boolean; mode?: Mode['kind']; delayMs?: number; poweredOn?: string };
  try {
    msg = JSON.parse(line) as typeof msg;
  } catch {
    return;
  }
  if (typeof msg.done === 'number') {
    resolvers.get(msg.done)?.(msg.ok === true);
    resolvers.delete(msg.done);
  }
  if (msg.mode) {
    mode = { kind: msg.mode, delayMs: msg.delayMs ?? 0 };
    if (mode.kind === 'down') stopListening();
    else startListening();
    say({ event: 'mode', mode: mode.kind, delayMs: mode.delayMs, listening });
  }
  if (typeof msg.poweredOn === 'string') poweredOff.delete(msg.poweredOn);
});

startListening();
const stopAt = setTimeout(() => process.exit(0), Number(values['max-ms']));
stopAt.unref();
process.on('SIGTERM', () => {
  stopListening();
  process.exit(0);
});
process.stdin.on('end', () => process.exit(0));
