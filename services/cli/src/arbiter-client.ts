/**
 * hactl's side of the arbiter's HTTP API (services/arbiter/src/http-api.ts):
 * the list of arbiters (--arbiter URL[,URL...] or $KQ_ARBITER_URL), the bearer
 * token (--token-file FILE or $KQ_ARBITER_TOKEN), and one request that goes to
 * the arbiters in order.
 *
 * An arbiter is passed over for the next one only when no connection could be
 * made to it (refused, unreachable, no name, connect timeout): the request did
 * not reach it, so asking the next is safe. Once a request was sent, its answer
 * (or the lack of one) is final: a failover or fence must not be asked twice.
 *
 * The token goes into the Authorization header and nowhere else: no message,
 * error or JSON output of hactl contains it.
 */
import { readFileSync, statSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';

/** hactl's exit codes for the commands that talk to an arbiter (documented in --help and docs/hactl.md). */
export const EXIT = {
  ok: 0,
  /** Could not run: an unexpected answer (5xx, not JSON), no answer once sent, NATS unreadable. */
  failed: 1,
  usage: 2,
  /** The arbiter refused (409): its reason is printed. */
  refused: 3,
  /** The arbiter refused the token (401). */
  unauthorized: 4,
  /** The arbiter refused the request as malformed (400) or for an unknown instance or node (404). */
  badRequest: 5,
  /** No arbiter could be reached (or none serves the cluster asked for). */
  unreachable: 6,
  /** failover --wait: accepted, but the target did not hold the lease within --timeout. */
  waitTimeout: 7,
  /** fence: the arbiter ran the fence, and it failed or was not confirmed (502). */
  fenceFailed: 8,
} as const;

export class UsageError extends Error {}

/** Parses `URL[,URL...]`; every URL must be http(s) with a host, without a query. */
export function parseArbiterUrls(text: string, what: string): URL[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new UsageError(`${what}: no URL given; expected http://HOST:PORT[,http://HOST:PORT...]`);
  return items.map((item) => {
    let u: URL;
    try {
      u = new URL(item);
    } catch {
      throw new UsageError(`${what} '${item}': not a URL; expected http://HOST:PORT (the arbiter's http.listen)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`${what} '${item}': scheme ${u.protocol.replace(':', '')}; expected http or https`);
    if (u.username || u.password) throw new UsageError(`${what} '${item}': credentials in the URL are not used; give the token with --token-file or $KQ_ARBITER_TOKEN`);
    if (u.search || u.hash) throw new UsageError(`${what} '${item}': a query or fragment makes no sense here; expected http://HOST:PORT`);
    return u;
  });
}

/** The arbiters from the flag, else from $KQ_ARBITER_URL; null when neither is set. */
export function arbiterUrls(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): URL[] | null {
  if (flag !== undefined) return parseArbiterUrls(flag, '--arbiter');
  const e = env['KQ_ARBITER_URL'];
  if (e !== undefined && e.trim() !== '') return parseArbiterUrls(e, '$KQ_ARBITER_URL');
  return null;
}

export interface LoadedToken {
  readonly token: string;
  /** Where it came from, for messages (never the token). */
  readonly source: string;
  readonly warning?: string;
}

/**
 * The bearer token: the file (one line holding the token alone; blank lines and
 * `#` comments skipped) wins over $KQ_ARBITER_TOKEN. Errors name the flag, the
 * file and the line, never the content.
 */
export function loadToken(file: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedToken {
  if (file !== undefined) {
    let text: string;
    let mode: number;
    try {
      mode = statSync(file).mode;
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new UsageError(`--token-file ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const lines = text.split(/\r?\n/).map((l, i) => ({ text: l.trim(), line: i + 1 })).filter((l) => l.text.length > 0 && !l.text.startsWith('#'));
    if (lines.length === 0) throw new UsageError(`--token-file ${file}: no token in it (blank lines and # comments only)`);
    if (lines.length > 1) throw new UsageError(`--token-file ${file}:${lines[1]!.line}: more than one line; expected the token alone on one line`);
    const fields = lines[0]!.text.split(/\s+/);
    if (fields.length > 1) throw new UsageError(`--token-file ${file}:${lines[0]!.line}: ${fields.length} fields; expected the token alone (not the arbiter's NAME TOKEN line)`);
    const warning = (mode & 0o077) !== 0 ? `--token-file ${file} can be read by others (mode 0${(mode & 0o777).toString(8)}); chmod 600 it` : undefined;
    return { token: fields[0]!, source: `--token-file ${file}`, ...(warning ? { warning } : {}) };
  }
  const e = env['KQ_ARBITER_TOKEN'];
  if (e !== undefined && e.trim() !== '') {
    if (/\s/.test(e.trim())) throw new UsageError('$KQ_ARBITER_TOKEN: holds white space; expected the token alone');
    return { token: e.trim(), source: '$KQ_ARBITER_TOKEN' };
  }
  throw new UsageError('no token: give --token-file FILE or set $KQ_ARBITER_TOKEN (the arbiter accepts a POST only with a bearer token)');
}

/** What one arbiter did with a request. */
export type Attempt =
  | { readonly kind: 'answer'; readonly url: string; readonly status: number; readonly body: Record<string, unknown> }
  /** No connection: the request never reached it. */
  | { readonly kind: 'unreachable'; readonly url: string; readonly detail: string }
  /** Sent, but no usable answer: it may have been carried out. */
  | { readonly kind: 'noAnswer'; readonly url: string; readonly detail: string };

export interface CallOptions {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly token?: string;
  readonly body?: unknown;
  /** How long a connection may take before the arbiter counts as unreachable. */
  readonly connectTimeoutMs?: number;
  /** How long the answer may take once the request is sent. */
  readonly timeoutMs: number;
}

const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'ECONNRESET', 'EPIPE']);

function endpoint(base: URL, path: string): URL {
  const u = new URL(base.href);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}${path}`;
  return u;
}

/** One request to one arbiter. */
export function call(base: URL, opts: CallOptions): Promise<Attempt> {
  const target = endpoint(base, opts.path);
  const url = base.href.replace(/\/$/, '');
  const payload = opts.body !== undefined ? Buffer.from(JSON.stringify(opts.body), 'utf8') : undefined;
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'hactl' };
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  if (opts.token !== undefined) headers['authorization'] = `Bearer ${opts.token}`;
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    let connectTimer: NodeJS.Timeout | undefined;
    let answerTimer: NodeJS.Timeout | undefined;
    const done = (a: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(answerTimer);
      resolve(a);
    };
    const fail = (detail: string, code?: string) => {
      if (!connected && (code === undefined || CONNECT_ERRORS.has(code) || code === 'KQ_CONNECT_TIMEOUT')) done({ kind: 'unreachable', url, detail });
      else done({ kind: 'noAnswer', url, detail });
    };
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    let req: ClientRequest;
    try {
      req = send(target, { method: opts.method, headers, agent: false });
    } catch (e) {
      done({ kind: 'unreachable', url, detail: (e as Error).message });
      return;
    }
    const onConnected = () => {
      connected = true;
      clearTimeout(connectTimer);
      answerTimer = setTimeout(() => {
        fail(`no answer within ${opts.timeoutMs} ms`);
        req.destroy();
      }, opts.timeoutMs);
    };
    req.on('socket', (s: Socket) => {
      if (target.protocol === 'https:') s.once('secureConnect', onConnected);
      else if (s.connecting) s.once('connect', onConnected);
      else onConnected();
    });
    connectTimer = setTimeout(() => {
      if (connected) return;
      fail(`no connection within ${opts.connectTimeoutMs ?? 3000} ms`, 'KQ_CONNECT_TIMEOUT');
      req.destroy();
    }, opts.connectTimeoutMs ?? 3000);
    req.on('error', (e: NodeJS.ErrnoException) => fail(e.code && !e.message.includes(e.code) ? `${e.code} (${e.message})` : e.message, e.code));
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => fail(`the answer broke off: ${e.message}`));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          done({ kind: 'noAnswer', url, detail: `HTTP ${res.statusCode}, and the body is not JSON: ${JSON.stringify(text.slice(0, 200))}` });
          return;
        }
        if (typeof body !== 'object' || body === null || Array.isArray(body)) {
          done({ kind: 'noAnswer', url, detail: `HTTP ${res.statusCode}, and the body is not a JSON object` });
          return;
        }
        done({ kind: 'answer', url, status: res.statusCode ?? 0, body: body as Record<string, unknown> });
      });
    });
    req.end(payload);
  });
}

/**
 * Asks the arbiters in order: the first one reached answers (or fails to);
 * `accept` may pass over one that answered (an arbiter of another cluster).
 * Returns the final attempt and why each earlier one was passed over.
 */
export async function callFirst(
  urls: readonly URL[],
  opts: CallOptions,
  accept: (a: Extract<Attempt, { kind: 'answer' }>) => string | null = () => null,
): Promise<{ attempt: Attempt | null; passed: string[] }> {
  const passed: string[] = [];
  for (const u of urls) {
    const a = await call(u, opts);
    if (a.kind === 'unreachable') {
      passed.push(`${a.url}: unreachable: ${a.detail}`);
      continue;
    }
    if (a.kind === 'answer') {
      const why = accept(a);
      if (why !== null) {
        passed.push(`${a.url}: ${why}`);
        continue;
      }
    }
    return { attempt: a, passed };
  }
  return { attempt: null, passed };
}
