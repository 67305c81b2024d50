/**
 * A Prometheus endpoint of its own (the agent's `--metrics ADDR:PORT`):
 * GET /metrics and nothing else, unauthenticated as Prometheus expects, so it
 * should listen on a management address. The arbiter serves /metrics on its
 * HTTP API instead.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KqError } from './errors.js';
import { parseListenAddress } from './metrics-listen.js';

export { parseListenAddress };

/** The content type of Prometheus' text format 0.0.4 (what prom-client renders). */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/**
 * Answers GET /metrics with `render()` (405 for another method): true when the
 * request was for /metrics. The arbiter's HTTP API hands every request here first.
 */
export function answerMetrics(req: IncomingMessage, res: ServerResponse, render: () => Promise<string>, onError: (err: Error) => void): boolean {
  if (pathOf(req) !== '/metrics') return false;
  req.resume();
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET' });
    res.end(`${req.method} not allowed on /metrics; use GET\n`);
    return true;
  }
  render().then(
    (text) => {
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : text);
    },
    (err: unknown) => {
      onError(err as Error);
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('metrics could not be rendered\n');
    },
  );
  return true;
}

/**
 * The path of the request target, or null when it is not one: new URL throws
 * on targets such as '//' or '//[::1', and a throw here is outside any catch
 * (the server's request handler), so it would take the process down.
 */
function pathOf(req: IncomingMessage): string | null {
  try {
    return new URL(req.url ?? '/', 'http://metrics').pathname;
  } catch {
    return null;
  }
}

/** Listens at `listen`; each GET /metrics renders `render()`. Rejects with the address in the message when it cannot listen. */
export async function serveMetrics(listen: string, what: string, render: () => Promise<string>, onError: (err: Error) => void): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(listen, what);
  const server: Server = createServer((req, res) => {
    if (answerMetrics(req, res, render, onError)) return;
    req.resume();
    const path = pathOf(req);
    res.writeHead(path === null ? 400 : 404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(path === null ? `request target ${JSON.stringify(req.url)} is not a path; metrics are at /metrics\n` : `no such endpoint ${path}; metrics are at /metrics\n`);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new KqError('KQ_ERR_CONFIG_VALUE', `${what} ${listen}: cannot listen: ${err.message}`)));
    server.listen(port, host, () => resolve());
  });
  server.on('error', onError);
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
