/**
 * The HTTP API's routes in one table, and its OpenAPI 3.1 document built from
 * that table: the router answers exactly these paths (http-api.ts), and the
 * request bodies' schemas are the zod schemas the router validates with,
 * converted (z.toJSONSchema), never written twice. Served at GET /v1/openapi.json.
 */
import { z } from 'zod';

export interface ApiRoute {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** A bearer token is required (everything that changes state). */
  readonly auth: boolean;
  readonly summary: string;
  /** What answers: JSON, an event stream, a page. */
  readonly produces: 'application/json' | 'text/event-stream' | 'text/html' | 'text/plain';
}

/** Every path the arbiter's HTTP server answers, but GET /metrics (METRICS_ROUTE), served only with metrics on. */
export const API_ROUTES: readonly ApiRoute[] = [
  { method: 'GET', path: '/v1/status', auth: false, produces: 'application/json', summary: 'What this replica knows: instances (lease, holder, epoch, expiry, members with state and priority), nodes, write path, gateway' },
  { method: 'POST', path: '/v1/failover', auth: true, produces: 'application/json', summary: "Forced failover: revoke the holder's epoch, order it down, offer the lease to `to` (or the best member)" },
  { method: 'POST', path: '/v1/fence', auth: true, produces: 'application/json', summary: "An operator's fence of a node through its fencing backend" },
  { method: 'GET', path: '/v1/timeline', auth: false, produces: 'application/json', summary: 'The failover timeline of one instance from the event log: transitions, grants, vetoes, fences, failovers, each with its reason' },
  { method: 'GET', path: '/v1/feed', auth: false, produces: 'text/event-stream', summary: 'Server-sent events: `status` (the /v1/status document, when it changes and every few seconds) and `timeline` (each new timeline entry)' },
  { method: 'GET', path: '/v1/openapi.json', auth: false, produces: 'application/json', summary: 'This document' },
  { method: 'GET', path: '/dashboard/', auth: false, produces: 'text/html', summary: 'The dashboard: the datacenter as a grid of pairs, live, with a timeline per instance (read-only without a token)' },
];

/** GET /metrics (metrics.ts, answered before the router), in the document when the server serves it. */
export const METRICS_ROUTE: ApiRoute = { method: 'GET', path: '/metrics', auth: false, produces: 'text/plain', summary: 'Prometheus metrics of this replica (docs/arbiter.md, Metrics)' };

/** The paths the router knows, for its 404 message. */
export const API_PATHS: readonly string[] = [...new Set(API_ROUTES.map((r) => r.path))];

function bodySchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema) as Record<string, unknown>;
  return rest;
}

const errorBody = { type: 'object', properties: { error: { type: 'string', description: 'what is wrong and where (for a body: the field and the zod message)' } }, required: ['error'] };
const jsonError = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

/** The OpenAPI document; `bodies` are the zod schemas of the POST routes, by path. */
export function openApiDocument(bodies: Readonly<Record<string, z.ZodType>>, version: string, served: { metrics?: boolean } = {}): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of served.metrics ? [...API_ROUTES, METRICS_ROUTE] : API_ROUTES) {
    const op: Record<string, unknown> = {
      summary: r.summary,
      operationId: `${r.method.toLowerCase()}${r.path.replace(/\.json$/, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      responses: { '200': { description: 'ok', content: { [r.produces]: {} } } } as Record<string, unknown>,
    };
    const responses = op['responses'] as Record<string, unknown>;
    if (r.path === '/v1/status') responses['200'] = { description: 'the status document', content: { 'application/json': { schema: { $ref: '#/components/schemas/Status' } } } };
    if (r.path === '/v1/timeline') {
      op['parameters'] = [
        { name: 'instance', in: 'query', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' }, description: 'the VRRP instance' },
        { name: 'since', in: 'query', required: false, schema: { type: 'string', format: 'date-time' }, description: 'the oldest event read (default: 24 h ago)' },
        { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000 }, description: 'the newest entries kept (default 200)' },
      ];
      responses['200'] = { description: 'the entries, oldest first', content: { 'application/json': { schema: { $ref: '#/components/schemas/Timeline' } } } };
      responses['400'] = jsonError('a bad query parameter, named');
      responses['404'] = jsonError('an unknown instance');
      responses['503'] = jsonError('the event log cannot be read (NATS down, no stream)');
    }
    const body = bodies[r.path];
    if (r.method === 'POST' && body) {
      op['requestBody'] = { required: true, content: { 'application/json': { schema: bodySchema(body) } } };
      responses['400'] = jsonError('the body does not validate: "<field>: <zod message>", "<field>: unknown field" or "body: not JSON (...)"');
      responses['404'] = jsonError('an unknown instance, or a node without a fencing backend');
    }
    if (r.auth) {
      op['security'] = [{ bearer: [] }];
      responses['401'] = jsonError('no Authorization header, or a token that is not accepted (WWW-Authenticate: Bearer)');
    }
    if (r.path === '/v1/failover') {
      responses['200'] = { description: 'the failover started', content: { 'application/json': { schema: { $ref: '#/components/schemas/Decision' } } } };
      responses['409'] = { description: "decide() refused it, with its reason", content: { 'application/json': { schema: { $ref: '#/components/schemas/Decision' } } } };
      responses['503'] = { description: 'the lease write failed', content: { 'application/json': { schema: { $ref: '#/components/schemas/Decision' } } } };
    }
    if (r.path === '/v1/fence') responses['502'] = { description: 'the fence was not confirmed', content: { 'application/json': {} } };
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'keepquorum arbiter (ha-arbiter)', version, description: 'Status, forced failover, fencing, the failover timeline and a live feed of one arbiter replica. Everything that changes state needs `Authorization: Bearer <token>` (http.tokensFile / http.tokensEnv).' },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: errorBody,
        Decision: { type: 'object', properties: { decision: { type: 'string' }, reason: { type: 'string' } }, required: ['decision', 'reason'] },
        Status: {
          type: 'object',
          required: ['cluster', 'replica', 'ready', 'at', 'writePath', 'gateway', 'nodes', 'instances'],
          properties: {
            cluster: { type: 'string' },
            replica: { type: 'string' },
            ready: { type: 'boolean' },
            at: { type: 'string', format: 'date-time' },
            writePath: { type: 'object', properties: { available: { type: 'boolean' }, detail: { type: 'string' } } },
            gateway: { type: 'string' },
            nodes: { type: 'object', additionalProperties: { type: 'object' } },
            instances: {
              type: 'object',
              additionalProperties: {
                type: 'object',
                properties: {
                  mode: { enum: ['strict', 'failsafe', 'off'] },
                  fencing: { enum: ['off', 'best-effort', 'required'] },
                  timing: { type: 'object' },
                  lease: {
                    type: ['object', 'null'],
                    properties: {
                      revision: { type: 'integer' },
                      holder: { type: ['string', 'null'] },
                      epoch: { type: 'integer' },
                      grantedAt: { type: ['string', 'null'] },
                      renewedAt: { type: ['string', 'null'] },
                      expiresAt: { type: ['string', 'null'] },
                      expiresInMs: { type: ['integer', 'null'] },
                      live: { type: 'boolean' },
                      reason: { type: 'string' },
                    },
                  },
                  members: { type: 'object', additionalProperties: { type: 'object', properties: { state: { type: 'string' }, priority: { type: 'integer' }, vip: { type: 'boolean' } } } },
                },
              },
            },
          },
        },
        TimelineEntry: {
          type: 'object',
          required: ['id', 'at', 'node', 'type', 'text'],
          properties: {
            id: { type: 'string' },
            at: { type: 'string', format: 'date-time' },
            node: { type: 'string', description: 'the agent or arbiter replica that published it' },
            instance: { type: 'string' },
            type: { type: 'string', description: 'vrrp.transition, lease.granted, claim.vetoed, fence.result, failover.started, ...' },
            subject: { type: 'string', description: 'the node a decision is about' },
            reason: { type: 'string' },
            text: { type: 'string', description: 'one readable line: what happened' },
          },
        },
        Timeline: {
          type: 'object',
          required: ['instance', 'entries'],
          properties: {
            instance: { type: 'string' },
            entries: { type: 'array', items: { $ref: '#/components/schemas/TimelineEntry' } },
            read: { type: 'integer', description: 'events read from the stream' },
            truncated: { type: 'boolean', description: 'older entries were left out (limit)' },
          },
        },
      },
    },
  };
}
