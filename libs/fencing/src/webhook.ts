/**
 * The HTTP(S) webhook fencing backend, and the signature check its receivers use.
 *
 * ## Request (keepquorum -> receiver)
 *
 * `POST <url>` with `Content-Type: application/json` and the body
 *
 *     {"action":"off","node":"b","instance":"VI_1","cluster":"prod","epoch":7,
 *      "reason":"...","idempotencyKey":"...","requestedAt":"2025-01-01T00:00:00.000Z"}
 *
 * (`instance` and `epoch` only when known). The body is byte-for-byte the same
 * in every attempt of one fence; only the timestamp and signature change.
 *
 * Headers:
 * - `X-Keepquorum-Timestamp: <t>`: Unix time in whole seconds (decimal), taken
 *   when this attempt is sent.
 * - `X-Keepquorum-Signature: sha256=<hex>`: lowercase hex of
 *   HMAC-SHA256(key = the shared secret's UTF-8 bytes,
 *               message = `<t>` + "." + the raw body bytes).
 * - `Idempotency-Key: <key>`: the same in every attempt and poll of one fence
 *   (and equal to the body's `idempotencyKey`, which the signature covers).
 *
 * A receiver verifies with verifySignature() over the raw body as received
 * (never over re-serialised JSON), refuses a timestamp outside its window
 * (default ±30 s), and answers a repeated Idempotency-Key with the state of
 * the operation it already started rather than starting another: that is what
 * makes retries, polls and a replay inside the window harmless.
 *
 * ## Answer (receiver -> keepquorum)
 *
 * - `2xx` with a JSON body whose `status` says it is done: `"fenced"` for
 *   `off` and `reboot` (the node is powered off or isolated, or was power
 *   cycled), `"on"` for `on`, `"on"` or `"off"` for `status`. Success. A
 *   receiver says done only once it is done (the lab's receiver reports after
 *   the namespace is down).
 * - `202`, or `2xx` with `{"status":"accepted"}` / `{"status":"in-progress"}`:
 *   accepted, not done. keepquorum polls by sending the same request again
 *   (same body and Idempotency-Key, fresh timestamp and signature) after
 *   `Retry-After` (seconds), or the body's `retryAfterMs`, or pollIntervalMs.
 *   Polls are not retries; they are bounded by totalTimeoutMs.
 * - `2xx` with `{"status":"failed","reason":"..."}`: it tried and failed;
 *   retried with backoff.
 * - any other `2xx` (no JSON, no or another `status`): not success, and not
 *   retried: the receiver does not keep the contract.
 * - `408`, `425`, `429`, `5xx`, a timeout, a refused or reset connection:
 *   retried with exponential backoff and jitter.
 * - any other status (`3xx`: redirects are not followed; `4xx`: a bad
 *   signature, an unknown node): not success, not retried.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, RequestOptions } from 'node:http';
import { KqError, type ErrorCode } from '../../common/src/errors.js';
import { monotonicMs } from '../../common/src/clock.js';
import { backoffDelay, sleep } from './retry.js';
import { excerpt, redactText } from './redact.js';
import { requestProblem } from './request.js';
import type { AttemptOutcome, FenceAction, FenceAttempt, FenceCallOptions, Fencer, FenceRequest, FenceResult } from './types.js';

export const TIMESTAMP_HEADER = 'X-Keepquorum-Timestamp';
export const SIGNATURE_HEADER = 'X-Keepquorum-Signature';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
const SIGNATURE_PREFIX = 'sha256=';

export const WEBHOOK_DEFAULTS = {
  timeoutMs: 5_000,
  retries: 3,
  backoffMs: 500,
  maxBackoffMs: 8_000,
  totalTimeoutMs: 60_000,
  pollIntervalMs: 1_000,
  /** A receiver's window for timestamps, either side of its clock. */
  maxSkewMs: 30_000,
} as const;

/** An HMAC key shorter than this is refused: it could be guessed. */
export const MIN_SECRET_BYTES = 16;
const MAX_ANSWER_BYTES = 64 * 1024;
const MAX_POLL_DELAY_MS = 30_000;
const OUR_HEADERS = new Set(['content-type', 'content-length', 'host', 'user-agent', 'idempotency-key', 'x-keepquorum-timestamp', 'x-keepquorum-signature']);

/** The statuses that mean done, per action. */
const DONE: Record<FenceAction, readonly string[]> = {
  off: ['fenced'],
  reboot: ['fenced'],
  on: ['on'],
  status: ['on', 'off'],
};
const IN_PROGRESS = new Set(['accepted', 'in-progress']);

// ---------------------------------------------------------------------------
// Signatures

type Secret = string | Uint8Array;

function keyBytes(secret: Secret): Buffer {
  return typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
}

function hmac(secret: Secret, timestamp: string, body: string | Uint8Array): Buffer {
  return createHmac('sha256', keyBytes(secret)).update(`${timestamp}.`, 'utf8').update(body).digest();
}

/** The X-Keepquorum-Signature value for a timestamp (whole Unix seconds) and a body: `sha256=<hex>`. */
export function signPayload(secret: Secret, timestamp: string, body: string | Uint8Array): string {
  return SIGNATURE_PREFIX + hmac(secret, timestamp, body).toString('hex');
}

export interface VerifyOptions {
  /** How far the timestamp may be from now, either way. Default 30 s. */
  maxSkewMs?: number;
  /** Now, in Unix milliseconds. Default Date.now(). */
  now?: number;
}

export type SignatureCheck = { ok: true } | { ok: false; code: 'KQ_ERR_FENCE_SIGNATURE'; reason: string };

function refuse(reason: string): SignatureCheck {
  return { ok: false, code: 'KQ_ERR_FENCE_SIGNATURE', reason };
}

/**
 * For receivers: checks X-Keepquorum-Signature and X-Keepquorum-Timestamp
 * over the raw body as received. Several secrets may be given while one is
 * rotated: any of them may have signed. The comparison is constant-time. The
 * timestamp must lie within maxSkewMs of now; within that window, repeated
 * deliveries are told apart by their Idempotency-Key, which the receiver must
 * honour. Never throws; the reason never holds a secret or the expected signature.
 */
export function verifySignature(
  secret: Secret | readonly Secret[],
  timestamp: string | readonly string[] | undefined,
  body: string | Uint8Array,
  header: string | readonly string[] | undefined,
  options: VerifyOptions = {},
): SignatureCheck {
  const secrets: readonly Secret[] = Array.isArray(secret) ? (secret as readonly Secret[]) : [secret as Secret];
  if (secrets.length === 0 || secrets.some((s) => keyBytes(s).length === 0)) return refuse('no secret to verify with');
  if (timestamp === undefined) return refuse(`no ${TIMESTAMP_HEADER} header`);
  if (typeof timestamp !== 'string') return refuse(`more than one ${TIMESTAMP_HEADER} header`);
  if (header === undefined) return refuse(`no ${SIGNATURE_HEADER} header`);
  if (typeof header !== 'string') return refuse(`more than one ${SIGNATURE_HEADER} header`);
  if (!/^\d{1,12}$/.test(timestamp)) return refuse(`${TIMESTAMP_HEADER} is not whole Unix seconds`);
  const given = header.trim();
  if (!given.startsWith(SIGNATURE_PREFIX) || !/^[0-9a-f]{64}$/.test(given.slice(SIGNATURE_PREFIX.length))) {
    return refuse(`${SIGNATURE_HEADER} is not sha256=<64 lowercase hex digits>`);
  }
  const givenBytes = Buffer.from(given.slice(SIGNATURE_PREFIX.length), 'hex');
  // Every secret is tried, whichever matches, so the time taken does not tell which one did.
  let match = false;
  for (const s of secrets) if (timingSafeEqual(hmac(s, timestamp, body), givenBytes)) match = true;
  if (!match) return refuse('the signature does not match the body and timestamp: a wrong secret, or the body was changed on the way');
  const maxSkewMs = options.maxSkewMs ?? WEBHOOK_DEFAULTS.maxSkewMs;
  const now = options.now ?? Date.now();
  const skewMs = now - Number(timestamp) * 1000;
  if (Math.abs(skewMs) > maxSkewMs) {
    const when = skewMs > 0 ? `${Math.round(skewMs / 1000)} s old` : `${Math.round(-skewMs / 1000)} s in the future`;
    return refuse(`the timestamp is ${when}, outside the window of ${maxSkewMs / 1000} s: a replay, or clocks out of step (check NTP)`);
  }
  return { ok: true };
}

// ---------------------------------------------------------------------------
// One attempt

interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

type PostOutcome = { kind: 'answer'; answer: HttpAnswer } | { kind: 'error'; error: string; timedOut: boolean; aborted: boolean };

function describeError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message}` : String(err?.message ?? err);
}

async function postOnce(
  url: URL,
  headers: Record<string, string>,
  body: Buffer,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  ca: WebhookFencerOptions['ca'],
): Promise<PostOutcome> {
  // Loaded on first use: the agent process never fences and need not pay for them.
  const request = url.protocol === 'https:' ? (await import('node:https')).request : (await import('node:http')).request;
  const options: RequestOptions & { ca?: WebhookFencerOptions['ca'] } = { method: 'POST', headers, agent: false };
  if (ca !== undefined) options.ca = ca;
  return new Promise<PostOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: PostOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const req = request(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size >= MAX_ANSWER_BYTES) return;
        chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8');
        finish({ kind: 'answer', answer: { status: res.statusCode ?? 0, headers: res.headers, body: text } });
      });
      res.on('error', (e) => finish({ kind: 'error', error: describeError(e), timedOut: false, aborted: false }));
      res.on('close', () => finish({ kind: 'error', error: 'the connection closed before the answer was complete', timedOut: false, aborted: false }));
    });
    const timer = setTimeout(() => {
      finish({ kind: 'error', error: `no complete answer within ${timeoutMs} ms`, timedOut: true, aborted: false });
      req.destroy();
    }, timeoutMs);
    function onAbort(): void {
      finish({ kind: 'error', error: 'aborted', timedOut: false, aborted: true });
      req.destroy();
    }
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (e) => finish({ kind: 'error', error: describeError(e), timedOut: false, aborted: false }));
    req.end(body);
  });
}

interface Classified {
  outcome: AttemptOutcome;
  /** For 'failed': which. */
  code?: ErrorCode;
  error?: string;
  power?: 'on' | 'off';
  /** For in-progress and throttled answers: when the receiver wants to be asked again. */
  retryAfterMs?: number;
  timedOut?: boolean;
  aborted?: boolean;
}

function retryAfterMs(answer: HttpAnswer, parsed: Record<string, unknown> | undefined): number | undefined {
  const fromBody = parsed?.['retryAfterMs'];
  if (typeof fromBody === 'number' && Number.isFinite(fromBody) && fromBody >= 0) return Math.min(fromBody, MAX_POLL_DELAY_MS);
  const header = answer.headers['retry-after'];
  if (typeof header === 'string' && /^\d+$/.test(header.trim())) return Math.min(Number(header.trim()) * 1000, MAX_POLL_DELAY_MS);
  return undefined;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** What an answer means under the receiver contract (see the top of this file). */
function classify(action: FenceAction, answer: HttpAnswer, quote: (s: string) => string): Classified {
  const { status } = answer;
  const parsed = parseObject(answer.body);
  const said = typeof parsed?.['status'] === 'string' ? (parsed['status'] as string) : undefined;
  const theirReason = typeof parsed?.['reason'] === 'string' ? `: ${quote(parsed['reason'] as string)}` : '';
  const after = retryAfterMs(answer, parsed);
  const withAfter = (c: Classified): Classified => (after === undefined ? c : { ...c, retryAfterMs: after });
  if (status >= 200 && status < 300) {
    if (status !== 202 && said !== undefined && DONE[action].includes(said)) {
      const c: Classified = { outcome: 'done' };
      if (action === 'status') c.power = said as 'on' | 'off';
      else if (action !== 'on') c.power = 'off';
      else c.power = 'on';
      // After a reboot the node may be on again: the receiver said it was cycled, not that it is off.
      if (action === 'reboot') delete c.power;
      return c;
    }
    if (status === 202 || (said !== undefined && IN_PROGRESS.has(said))) return withAfter({ outcome: 'in-progress' });
    if (said === 'failed') return withAfter({ outcome: 'retryable', error: `the receiver answered ${status} "failed"${theirReason}` });
    const expected = DONE[action].map((s) => `{"status":"${s}"}`).join(' or ');
    const got = parsed === undefined ? (answer.body.trim() === '' ? 'an empty body' : 'a body that is not a JSON object') : said === undefined ? 'no "status"' : `"status":"${quote(said)}"`;
    return {
      outcome: 'failed',
      code: 'KQ_ERR_FENCE_UNCONFIRMED',
      error: `the receiver answered ${status} with ${got}, not ${expected}: it does not keep the done-contract, so this is not a fence`,
    };
  }
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    return withAfter({ outcome: 'retryable', error: `the receiver answered ${status}${theirReason}` });
  }
  if (status >= 300 && status < 400) return { outcome: 'failed', code: 'KQ_ERR_FENCE_REJECTED', error: `the receiver answered ${status}: redirects are not followed; configure the final URL` };
  const hint = status === 401 || status === 403 ? ' (check that both sides hold the same secret and that the clocks agree)' : '';
  return { outcome: 'failed', code: 'KQ_ERR_FENCE_REJECTED', error: `the receiver refused with ${status}${theirReason}${hint}` };
}

// ---------------------------------------------------------------------------
// The fencer

export interface WebhookFencerOptions {
  /** http: or https:. Credentials or a query in it never appear in messages. */
  url: string;
  /** The shared HMAC key, at least 16 bytes. */
  secret: string | Uint8Array;
  /** Per attempt: connect, send, and read the whole answer. Default 5 s. */
  timeoutMs?: number;
  /** Retries after a failed attempt (polls after "in progress" are not counted). Default 3. */
  retries?: number;
  /** The backoff ceiling before the first retry; doubles each retry. Default 500 ms. */
  backoffMs?: number;
  /** Default 8 s. */
  maxBackoffMs?: number;
  /** Everything, attempts, polls and waits together. Default 60 s. */
  totalTimeoutMs?: number;
  /** Between polls, when the receiver does not say. Default 1 s. */
  pollIntervalMs?: number;
  /** Extra headers (an Authorization for a gateway in front of the receiver). Never logged. */
  headers?: Record<string, string>;
  /** Trusted CA certificates (PEM) for https. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Jitter source in [0, 1). */
  random?: () => number;
  /** Wall clock, Unix ms, for the timestamp and requestedAt. */
  now?: () => number;
}

function configError(message: string): KqError {
  return new KqError('KQ_ERR_FENCE_CONFIG', `fencing webhook: ${message}`);
}

function wholeMs(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) throw configError(`${name} must be a whole number >= ${min}, not ${String(value)}`);
  return value;
}

/** The URL as it may be shown: no credentials, no query. */
export function describeUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

export class WebhookFencer implements Fencer {
  readonly backend = 'webhook' as const;
  readonly description: string;
  readonly #url: URL;
  readonly #secret: Buffer;
  readonly #headers: Record<string, string>;
  readonly #options: Required<Pick<WebhookFencerOptions, 'timeoutMs' | 'retries' | 'backoffMs' | 'maxBackoffMs' | 'totalTimeoutMs' | 'pollIntervalMs'>>;
  readonly #ca: WebhookFencerOptions['ca'];
  readonly #random: () => number;
  readonly #now: () => number;

  /** Throws KqError KQ_ERR_FENCE_CONFIG or KQ_ERR_FENCE_SECRET for options that cannot work. */
  constructor(options: WebhookFencerOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw configError('url is not a valid URL; expected http(s)://host[:port]/path');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw configError(`url must be http: or https:, not ${url.protocol}`);
    this.#url = url;
    this.description = `webhook ${describeUrl(url)}`;
    const secret = options.secret === undefined ? Buffer.alloc(0) : keyBytes(options.secret);
    if (secret.length < MIN_SECRET_BYTES) {
      throw new KqError(
        'KQ_ERR_FENCE_SECRET',
        `fencing webhook: the secret is ${secret.length === 0 ? 'empty' : 'shorter than 16 bytes'}; use at least 16 random bytes (openssl rand -hex 32)`,
      );
    }
    this.#secret = secret;
    this.#options = {
      timeoutMs: wholeMs('timeoutMs', options.timeoutMs, WEBHOOK_DEFAULTS.timeoutMs, 1),
      retries: wholeMs('retries', options.retries, WEBHOOK_DEFAULTS.retries, 0),
      backoffMs: wholeMs('backoffMs', options.backoffMs, WEBHOOK_DEFAULTS.backoffMs, 0),
      maxBackoffMs: wholeMs('maxBackoffMs', options.maxBackoffMs, WEBHOOK_DEFAULTS.maxBackoffMs, 0),
      totalTimeoutMs: wholeMs('totalTimeoutMs', options.totalTimeoutMs, WEBHOOK_DEFAULTS.totalTimeoutMs, 1),
      pollIntervalMs: wholeMs('pollIntervalMs', options.pollIntervalMs, WEBHOOK_DEFAULTS.pollIntervalMs, 0),
    };
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw configError(`header name '${name}' is not a valid HTTP header name`);
      if (OUR_HEADERS.has(name.toLowerCase())) throw configError(`header ${name} is set by keepquorum and cannot be overridden`);
      if (typeof value !== 'string' || /[\r\n\0]/.test(value)) throw configError(`header ${name} must be a string on one line`);
      headers[name] = value;
    }
    this.#headers = headers;
    this.#ca = options.ca;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Sends the request until the receiver says done, retries run out, or
   * totalTimeoutMs passes. Every attempt is reported through onAttempt.
   */
  async fence(request: FenceRequest, call: FenceCallOptions = {}): Promise<FenceResult> {
    const started = monotonicMs();
    const opts = this.#options;
    const deadline = started + opts.totalTimeoutMs;
    const node = typeof request?.node === 'string' ? request.node : '';
    const action = request?.action;
    const base = { backend: 'webhook' as const, action, node };
    const elapsed = (): number => monotonicMs() - started;

    const problem = requestProblem(request);
    if (problem !== undefined) {
      return { ...base, ok: false, confirmed: false, attempts: 0, durationMs: elapsed(), code: 'KQ_ERR_FENCE_REQUEST', reason: `${this.description} was not called: ${problem}` };
    }
    const idempotencyKey = request.idempotencyKey ?? randomUUID();
    const body = Buffer.from(buildWebhookBody(request, idempotencyKey, new Date(this.#now()).toISOString()), 'utf8');
    const secrets = [this.#secret.toString('utf8'), ...Object.values(this.#headers)];
    const quote = (s: string): string => excerpt(redactText(s, secrets), 200);

    let attempt = 0;
    let failures = 0;
    let nextKind: FenceAttempt['kind'] = 'request';
    let lastError = '';
    const report = (a: FenceAttempt): void => {
      try {
        call.onAttempt?.(a);
      } catch {
        // A broken listener must not stop a fence.
      }
    };
    const fail = (code: ErrorCode, why: string): FenceResult => ({
      ...base,
      ok: false,
      confirmed: false,
      attempts: attempt,
      durationMs: elapsed(),
      code,
      idempotencyKey,
      reason: `${this.description} did not ${action === 'status' ? 'read the power state of' : `fence (${action})`} node ${node}: ${why}`,
    });
    const aborted = (): FenceResult => fail('KQ_ERR_FENCE_ABORTED', `aborted after ${attempt} attempt${attempt === 1 ? '' : 's'}`);
    const outOfTime = (): FenceResult =>
      fail('KQ_ERR_FENCE_TIMEOUT', `no answer saying done within totalTimeoutMs ${opts.totalTimeoutMs} ms (${attempt} attempts${lastError ? `; last: ${lastError}` : ''})`);

    for (;;) {
      if (call.signal?.aborted) return aborted();
      const remaining = deadline - monotonicMs();
      if (remaining <= 0) return outOfTime();
      attempt++;
      const kind = nextKind;
      const timestamp = String(Math.floor(this.#now() / 1000));
      const headers: Record<string, string> = {
        ...this.#headers,
        'Content-Type': 'application/json',
        'Content-Length': String(body.length),
        'User-Agent': 'keepquorum-fencing',
        [IDEMPOTENCY_HEADER]: idempotencyKey,
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: signPayload(this.#secret, timestamp, body),
      };
      const attemptStarted = monotonicMs();
      const perAttempt = Math.max(1, Math.min(opts.timeoutMs, Math.ceil(remaining)));
      const posted = await postOnce(this.#url, headers, body, perAttempt, call.signal, this.#ca);
      const durationMs = monotonicMs() - attemptStarted;

      let c: Classified;
      let status: number | null = null;
      if (posted.kind === 'error') {
        c = { outcome: 'retryable', error: quote(posted.error), timedOut: posted.timedOut, aborted: posted.aborted };
      } else {
        status = posted.answer.status;
        c = classify(action, posted.answer, quote);
      }
      const record: FenceAttempt = { attempt, backend: 'webhook', action, kind, status, outcome: c.outcome, durationMs };
      if (c.error !== undefined) record.error = c.error;

      // What comes next is decided before the attempt is reported, so that the
      // last attempt of a fence that gives up is reported as 'failed'.
      let next: FenceResult | { delay: number };
      if (c.aborted) {
        next = aborted();
      } else if (c.outcome === 'done') {
        const result: FenceResult = {
          ...base,
          ok: true,
          confirmed: true,
          attempts: attempt,
          durationMs: elapsed(),
          idempotencyKey,
          reason:
            action === 'status'
              ? `${this.description} says node ${node} is ${c.power} (attempt ${attempt})`
              : `${this.description} ${action === 'on' ? 'powered on' : action === 'reboot' ? 'power cycled' : 'fenced'} node ${node} and said so (attempt ${attempt})`,
        };
        if (c.power !== undefined) result.power = c.power;
        next = result;
      } else if (c.outcome === 'failed') {
        next = fail(c.code ?? 'KQ_ERR_FENCE_REJECTED', c.error ?? `attempt ${attempt} failed`);
      } else if (c.outcome === 'in-progress') {
        nextKind = 'poll';
        lastError = 'the receiver still said in progress';
        next = { delay: c.retryAfterMs ?? opts.pollIntervalMs };
      } else {
        failures++;
        nextKind = 'request';
        lastError = c.error ?? 'failed';
        const timedOut = c.timedOut === true;
        if (failures > opts.retries) {
          next = fail(timedOut ? 'KQ_ERR_FENCE_TIMEOUT' : 'KQ_ERR_FENCE_FAILED', `${lastError}; gave up after ${attempt} attempts (${opts.retries} retries)`);
        } else {
          const backoff = backoffDelay(failures, { baseMs: opts.backoffMs, maxMs: opts.maxBackoffMs, random: this.#random });
          next = { delay: Math.max(backoff, c.retryAfterMs ?? 0) };
        }
      }
      if ('delay' in next && monotonicMs() + next.delay >= deadline) next = outOfTime();
      if ('ok' in next && record.outcome === 'retryable') record.outcome = 'failed';
      report(record);
      if ('ok' in next) return next;
      const delay = next.delay;
      if (!(await sleep(delay, call.signal))) return aborted();
    }
  }
}

/** The exact JSON body of a fence request (field order fixed). */
export function buildWebhookBody(request: FenceRequest, idempotencyKey: string, requestedAt: string): string {
  const body: Record<string, unknown> = { action: request.action, node: request.node };
  if (request.instance !== undefined) body['instance'] = request.instance;
  body['cluster'] = request.cluster;
  if (request.epoch !== undefined) body['epoch'] = request.epoch;
  body['reason'] = request.reason;
  body['idempotencyKey'] = idempotencyKey;
  body['requestedAt'] = requestedAt;
  return JSON.stringify(body);
}
