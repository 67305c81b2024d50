/**
 * The agent's metrics endpoint (serveMetrics) under fuzzing: random request
 * targets and methods over a plain TCP socket on loopback are all answered,
 * /metrics with the metrics, anything else with a 4xx saying where metrics
 * are; a target URL cannot read ('//', '//[::1') is a 400, not an exception
 * thrown out of the request handler (which took the agent down).
 * Fixed seed, bounded runs (fuzz.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import fc from 'fast-check';
import { serveMetrics, type MetricsServer } from '../src/metrics-http.js';
import { fuzzParams } from './fuzz.js';

/** One answer is never waited for longer than this: a request left hanging fails the property. */
const ANSWER_WITHIN_MS = 10_000;

function exchange(port: number, method: string, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${ANSWER_WITHIN_MS} ms to ${method} ${target}`));
    }, ANSWER_WITHIN_MS);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n[\s\S]*?\r\n\r\n([\s\S]*)$/.exec(text);
      if (!m) return reject(new Error(`not an HTTP answer to ${method} ${target}: ${JSON.stringify(text.slice(0, 120))}`));
      resolve({ status: Number(m[1]), body: m[2]! });
    });
    socket.write(`${method} ${target} HTTP/1.1\r\nhost: agent\r\nconnection: close\r\n\r\n`);
  });
}

describe('agent metrics endpoint under fuzzing', () => {
  let server: MetricsServer;
  const errors: Error[] = [];

  before(async () => {
    server = await serveMetrics('127.0.0.1:0', 'metrics.listen', async () => '# HELP kq_up up\n# TYPE kq_up gauge\nkq_up 1\n', (e) => errors.push(e));
  });
  after(async () => {
    await server?.close();
  });

  test("'//' and '//[::1' are answered 400 naming the target", async () => {
    for (const target of ['//', '//[::1', '//x:99999']) {
      const a = await exchange(server.address.port, 'GET', target);
      assert.equal(a.status, 400, target);
      assert.match(a.body, /request target ".*" is not a path; metrics are at \/metrics/);
    }
  });

  test('random targets and methods are all answered: metrics at /metrics, a 4xx saying where they are elsewhere', async () => {
    const unit = fc.constantFrom(...'/abmetrics.%2e?&=#:@[]!$\'()*+,;~-_019'.split(''));
    const target = fc.oneof(fc.constantFrom('/metrics', '/metrics?x=1', '/metrics/', '//', '//metrics', '*', 'http://agent/metrics', '/%', '/%zz'), fc.string({ unit, minLength: 1, maxLength: 30 }).map((s) => (s.startsWith('/') ? s : `/${s}`)));
    const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE');
    await fc.assert(
      fc.asyncProperty(method, target, async (m, t) => {
        const a = await exchange(server.address.port, m, t);
        const path = (() => {
          try {
            return new URL(t, 'http://agent').pathname;
          } catch {
            return null;
          }
        })();
        if (path === '/metrics') {
          assert.equal(a.status, m === 'GET' || m === 'HEAD' ? 200 : 405, `${m} ${t}`);
          if (m === 'GET') assert.match(a.body, /^kq_up 1$/m);
        } else {
          assert.ok(a.status === 400 || a.status === 404, `${m} ${t}: ${a.status}`);
          if (m !== 'HEAD') assert.match(a.body, /metrics are at \/metrics/);
        }
      }),
      fuzzParams(300),
    );
    assert.deepEqual(errors, []);
  });
});
