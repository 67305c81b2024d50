/**
 * The arbiter's HTTP API (node:http, no framework):
 *
 *   GET  /v1/status                 the view: instances (lease, holder, epoch,
 *                                   expiry, members), nodes, write path, gateway
 *   POST /v1/failover {instance, to?}   forced failover (bearer token)
 *   POST /v1/fence {node}               an operator's fence (bearer token)
 *   GET  /v1/openapi.json, /v1/timeline, /v1/feed (SSE), /dashboard/
 *                                   dashboard/routes.ts; the table of every
 *                                   route is openapi.ts's API_ROUTES
 *
 * Answers are JSON. A POST without a valid `Authorization: Bearer <token>` is
 * 401 with the reason; a body that does not validate is 400 naming the field
 * (zod path and message); an unknown instance or node is 404; a failover
 * decide() refuses is 409 with its reason. Bodies are capped at 16 KiB.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../../libs/common/src/log.js';
import type { ArbiterView } from '../../../libs/arbiter/src/types.js';
import type { Arbiter } from './arbiter.js';
import type { TokenSet } from './tokens.js';
import { answerMetrics } from '../../../libs/common/src/metrics-http.js';

import { failoverBodySchema, fenceBodySchema, zodProblem } from './api-schemas.js';
import { API_PATHS } from './openapi.js';
import { DashboardRoutes } from './dashboard/routes.js';

export { failoverBodySchema, fenceBodySchema } from './api-schemas.js';

const MAX_BODY = 16 * 1024;

type Reply = { status: number; body: unknown; headers?: Record<string, string> };

/** `host:port` → listen arguments; `[::1]:8440` for IPv6. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(listen) ?? /^([^:]+):(\d+)$/.exec(listen);
  if (!m) throw new Error(`http.listen ${listen}: expected HOST:PORT`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** The status document: what the arbiter knows, as JSON. */
export function statusDocument(view: ArbiterView, replica: string, ready: boolean, now: number): unknown {
  const instances: Record<string, unknown> = {};
  for (const [name, inst] of Object.entries(view.instances)) {
    const l = inst.lease;
    const v = l?.value;
    instances[name] = {
      mode: inst.policy.mode,
      fencing: inst.policy.fencing,
      timing: inst.policy.timing,
      lease: l && v
        ? {
            revision: l.revision,
            holder: v.holder,
            epoch: v.epoch,
            grantedAt: v.grantedAt ? new Date(v.grantedAt).toISOString() : null,
            renewedAt: v.renewedAt ? new Date(v.renewedAt).toISOString() : null,
            expiresAt: v.expiresAt ? new Date(v.expiresAt).toISOString() : null,
            expiresInMs: v.holder !== null ? Math.max(0, v.expiresAt - now) : null,
            live: v.holder !== null && now < v.expiresAt,
            reason: v.reason,
            ...(v.outgoing ? { outgoing: v.outgoing } : {}),
            ...(v.reservedFor ? { reservedFor: v.reservedFor } : {}),
          }
        : null,
      members: inst.members,
      ...(inst.pendingWrite ? { pendingWrite: { expectedRevision: inst.pendingWrite.expectedRevision, intent: inst.pendingWrite.intent } } : {}),
    };
  }
  return { cluster: view.cluster, replica, ready, at: new Date(now).toISOString(), writePath: view.writePath, gateway: view.gateway, nodes: view.nodes, instances };
}

export interface HttpApiOptions {
  readonly arbiter: Arbiter;
  readonly tokens: TokenSet;
  readonly log: Logger;
  readonly now?: () => number;
  /** GET /metrics (Prometheus, unauthenticated): metrics.ts. */
  readonly metrics?: { render(): Promise<string> };
}

export class HttpApi {
  private readonly server: Server;
  private readonly now: () => number;
  private readonly dashboard: DashboardRoutes;

  constructor(private readonly opts: HttpApiOptions) {
    this.now = opts.now ?? Date.now;
    this.dashboard = new DashboardRoutes({
      config: opts.arbiter.config,
      status: () => this.status(),
      bodies: { '/v1/failover': failoverBodySchema, '/v1/fence': fenceBodySchema },
      metrics: opts.metrics !== undefined,
      log: opts.log,
    });
    this.server = createServer((req, res) => {
      if (opts.metrics && answerMetrics(req, res, () => opts.metrics!.render(), (err) => opts.log.error({ err: err.message }, 'metrics not rendered'))) return;
      if (this.dashboard.handle(req, res)) return;
      this.route(req).then(
        (r) => this.send(res, r),
        (e: unknown) => {
          opts.log.error({ err: (e as Error).stack ?? String(e), url: req.url }, 'http handler failed');
          this.send(res, { status: 500, body: { error: 'internal error' } });
        },
      );
    });
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 120_000;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    // The live feed's responses never end by themselves: ended first, so that close() does not wait on them.
    await this.dashboard.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  /** The /v1/status document now (the live feed's too). */
  private status(): unknown {
    const a = this.opts.arbiter;
    return statusDocument(a.snapshot(), a.config.replica, a.isReady, this.now());
  }

  private send(res: ServerResponse, r: Reply): void {
    if (res.headersSent) return;
    const body = JSON.stringify(r.body);
    res.writeHead(r.status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...(r.headers ?? {}) });
    res.end(`${body}\n`);
  }

  private async route(req: IncomingMessage): Promise<Reply> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://arbiter');
    } catch {
      // '//' or '//[::1' is a request target node:http lets through and URL cannot read
      req.resume();
      return { status: 400, body: { error: `request target ${JSON.stringify(req.url)} is not a path; expected one of ${API_PATHS.join(', ')}` } };
    }
    const path = url.pathname;
    if (!['/v1/status', '/v1/failover', '/v1/fence'].includes(path)) {
      req.resume();
      return { status: 404, body: { error: `no such endpoint ${path}; expected one of ${API_PATHS.join(', ')}` } };
    }
    if (path === '/v1/status') {
      req.resume();
      if (req.method !== 'GET' && req.method !== 'HEAD') return { status: 405, body: { error: `${req.method} not allowed on ${path}; use GET` }, headers: { allow: 'GET' } };
      return { status: 200, body: this.status() };
    }
    if (req.method !== 'POST') {
      req.resume();
      return { status: 405, body: { error: `${req.method} not allowed on ${path}; use POST` }, headers: { allow: 'POST' } };
    }
    const who = this.authenticate(req);
    if (!who.ok) {
      req.resume();
      return { status: 401, body: { error: who.reason }, headers: { 'www-authenticate': 'Bearer realm="keepquorum-arbiter"' } };
    }
    const raw = await readBody(req);
    if (!raw.ok) return { status: raw.status, body: { error: raw.reason } };
    let json: unknown;
    try {
      json = JSON.parse(raw.text);
    } catch (e) {
      return { status: 400, body: { error: `body: not JSON (${(e as Error).message})` } };
    }
    return path === '/v1/failover' ? this.failover(json, who.name) : this.fence(json, who.name);
  }

  private authenticate(req: IncomingMessage): { ok: true; name: string } | { ok: false; reason: string } {
    const header = req.headers.authorization;
    if (header === undefined) return { ok: false, reason: 'no Authorization header; send Authorization: Bearer <token>' };
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) return { ok: false, reason: 'the Authorization header is not "Bearer <token>"' };
    if (this.opts.tokens.size === 0) return { ok: false, reason: 'this arbiter has no tokens configured (http.tokensFile or http.tokensEnv)' };
    const name = this.opts.tokens.check(m[1]!);
    if (name === null) return { ok: false, reason: 'the bearer token is not accepted' };
    return { ok: true, name };
  }

  private async failover(json: unknown, by: string): Promise<Reply> {
    const body = failoverBodySchema.safeParse(json);
    if (!body.success) return { status: 400, body: { error: zodProblem(body.error) } };
    const { instance, to } = body.data;
    const a = this.opts.arbiter;
    if (!a.knowsInstance(instance)) return { status: 404, body: { error: `instance: unknown instance '${instance}'` } };
    this.opts.log.info({ instance, to, by }, 'forced failover asked');
    const d = await a.failover(instance, to, by);
    const status = d.decision === 'failover' || d.decision === 'offer' || d.decision === 'grant' ? 200 : d.decision === 'writeFailed' ? 503 : 409;
    return { status, body: { decision: d.decision, reason: d.reason } };
  }

  private async fence(json: unknown, by: string): Promise<Reply> {
    const body = fenceBodySchema.safeParse(json);
    if (!body.success) return { status: 400, body: { error: zodProblem(body.error) } };
    const { node } = body.data;
    const a = this.opts.arbiter;
    if (!a.fencerFor(node)) return { status: 404, body: { error: `node: no fencing backend for node '${node}' (nodes.${node}.fencing or defaultFencing)` } };
    this.opts.log.warn({ node, by }, 'manual fence asked');
    const r = await a.fenceNode(node, by);
    return { status: r.ok && r.confirmed ? 200 : 502, body: r };
  }
}

async function readBody(req: IncomingMessage): Promise<{ ok: true; text: string } | { ok: false; status: number; reason: string }> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/json\b/i.test(type)) {
    req.resume();
    return { ok: false, status: 415, reason: `body: content-type ${type}; expected application/json` };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return { ok: false, status: 413, reason: `body: larger than ${MAX_BODY} bytes` };
    chunks.push(chunk);
  }
  return { ok: true, text: Buffer.concat(chunks).toString('utf8') };
}
