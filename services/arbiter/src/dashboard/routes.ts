/**
 * The HTTP API's read-only routes for people and tools, beside http-api.ts's:
 *
 *   GET /                  302 to /dashboard/
 *   GET /dashboard/        the dashboard (index.html, app.js, style.css)
 *   GET /v1/openapi.json   the API's OpenAPI document (openapi.ts)
 *   GET /v1/timeline?instance=VI_1[&since=ISO][&limit=N]
 *                          the instance's failover timeline from the event log
 *   GET /v1/feed           server-sent events: status and timeline (live-feed.ts)
 *
 * None changes state, so none needs a token (the dashboard's forced failover
 * is a POST /v1/failover with the token the operator typed). The query is
 * checked with its zod schema (api-schemas.ts), refused as 400 naming the field.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { Logger } from '../../../../libs/common/src/log.js';
import { tail, type EventReader } from '../../../../libs/events/src/mod.js';
import { timelineQuerySchema, zodProblem } from '../api-schemas.js';
import type { ArbiterConfig } from '../config.js';
import { LiveFeed } from '../live-feed.js';
import { openApiDocument } from '../openapi.js';
import { readTimeline, timelineEntry } from '../timeline.js';
import { dashboardAsset } from './assets.js';
import { EventLogAccess } from './event-log.js';

const DAY_MS = 24 * 3600_000;
const DEFAULT_LIMIT = 200;
/** The page loads its script and style from here and talks to nothing else. */
const PAGE_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface DashboardRoutesOptions {
  readonly config: ArbiterConfig;
  /** The /v1/status document now. */
  readonly status: () => unknown;
  /** The POST routes' body schemas, for the OpenAPI document. */
  readonly bodies: Readonly<Record<string, z.ZodType>>;
  /** GET /metrics is served too (it goes in the OpenAPI document). */
  readonly metrics?: boolean;
  readonly log: Logger;
}

function packageVersion(): string {
  for (const up of ['../../../../package.json', '../../../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'keepquorum' && pkg.version) return pkg.version;
    } catch {
      // not there: the other layout (source or dist)
    }
  }
  return 'unknown';
}

export class DashboardRoutes {
  private readonly events: EventLogAccess;
  private readonly feed: LiveFeed;
  private openapi: string | null = null;

  constructor(private readonly opts: DashboardRoutesOptions) {
    this.events = new EventLogAccess(opts.config);
    this.feed = new LiveFeed({
      log: opts.log.child({ component: 'feed' }),
      source: {
        status: opts.status,
        follow: (onEntry) => {
          let reader: EventReader | null = null;
          let stopped = false;
          const done = (async () => {
            const js = await this.events.jetstream();
            if (stopped) return;
            reader = tail(js, { cluster: opts.config.cluster }, { createTimeoutMs: 10_000 });
            for await (const item of reader) {
              const entry = timelineEntry(item.event);
              if (entry !== null) onEntry(entry);
            }
          })();
          return {
            stop: () => {
              stopped = true;
              reader?.stop();
            },
            done,
          };
        },
      },
    });
  }

  /** Answers the request when the path is one of these routes; false leaves it to the caller. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://arbiter');
    } catch {
      return false; // not ours to judge: http-api.ts answers a target it cannot parse
    }
    const path = url.pathname;
    const mine = path === '/' || path === '/dashboard' || path.startsWith('/dashboard/') || path === '/v1/openapi.json' || path === '/v1/timeline' || path === '/v1/feed';
    if (!mine) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      req.resume();
      json(res, 405, { error: `${req.method} not allowed on ${path}; use GET` }, { allow: 'GET' });
      return true;
    }
    try {
      if (path === '/' || path === '/dashboard') {
        req.resume();
        res.writeHead(302, { location: '/dashboard/', 'cache-control': 'no-store' });
        res.end();
      } else if (path.startsWith('/dashboard/')) {
        req.resume();
        this.asset(res, path.slice('/dashboard/'.length) || 'index.html');
      } else if (path === '/v1/openapi.json') {
        req.resume();
        this.openapi ??= JSON.stringify(openApiDocument(this.opts.bodies, packageVersion(), { metrics: this.opts.metrics === true }), null, 2);
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(`${this.openapi}\n`);
      } else if (path === '/v1/timeline') {
        req.resume();
        void this.timeline(url, res);
      } else {
        this.feed.attach(req, res);
      }
    } catch (e) {
      this.opts.log.error({ err: (e as Error).stack ?? String(e), url: req.url }, 'http handler failed');
      if (!res.headersSent) json(res, 500, { error: (e as Error).message });
      else res.destroy();
    }
    return true;
  }

  async close(): Promise<void> {
    this.feed.close();
    await this.events.close();
  }

  private asset(res: ServerResponse, name: string): void {
    const a = dashboardAsset(name);
    if (a === undefined) {
      json(res, 404, { error: `no such dashboard file ${name}` });
      return;
    }
    res.writeHead(200, { 'content-type': a.type, 'cache-control': 'no-cache', 'content-security-policy': PAGE_POLICY, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });
    res.end(a.body);
  }

  private async timeline(url: URL, res: ServerResponse): Promise<void> {
    const q = timelineQuerySchema.safeParse(Object.fromEntries(url.searchParams));
    if (!q.success) {
      json(res, 400, { error: zodProblem(q.error, '(query)') });
      return;
    }
    const { instance, since, limit } = q.data;
    if (!this.opts.config.instances.some((i) => i.name === instance)) {
      json(res, 404, { error: `instance: unknown instance '${instance}'` });
      return;
    }
    try {
      const js = await this.events.jetstream();
      const t = await readTimeline(js, { cluster: this.opts.config.cluster, instance, since: since ? new Date(since) : new Date(Date.now() - DAY_MS), limit: limit ?? DEFAULT_LIMIT });
      json(res, 200, t);
    } catch (e) {
      this.opts.log.warn({ instance, err: (e as Error).message }, 'timeline not read');
      json(res, 503, { error: `the event log cannot be read: ${(e as Error).message}` });
    }
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(`${JSON.stringify(body)}\n`);
}
