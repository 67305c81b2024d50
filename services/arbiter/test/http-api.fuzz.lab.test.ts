/**
 * The arbiter's HTTP API under fuzzing, on a real replica (real nats-server on
 * loopback, metrics served as in production): random request targets,
 * methods, headers and bodies, sent over a plain TCP socket so that what
 * node:http lets through reaches the handlers as a client sent it. Every
 * request is answered (never 500, never left hanging, never a crash); every
 * refusal is a 4xx whose JSON error names what is wrong (the field, the
 * header, the target); the replica still serves its status afterwards.
 * Fixed seed, bounded runs (libs/common/test/fuzz.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import fc from 'fast-check';
import { ArbiterMetrics } from '../src/metrics.js';
import { startArbiterService, type ArbiterService } from '../src/service.js';
import { natsUnavailableReason, replicaConfig, startNatsServer, testLog, type NatsServer } from '../fixtures/harness.js';
import { fuzzParams } from '../../../libs/common/test/fuzz.js';

const skip = natsUnavailableReason() ?? false;
const TOKEN = 'fuzz-test-token-0123456789abcdef';
/** One answer is never waited for longer than this: a request left hanging fails the property. */
const ANSWER_WITHIN_MS = 10_000;

interface Answer {
  status: number;
  headers: string;
  body: string;
}

/** Sends `request` bytes as they are on a fresh connection and reads until the server closes it. */
function exchange(port: number, request: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${ANSWER_WITHIN_MS} ms to ${JSON.stringify(request.toString('latin1').slice(0, 200))}`));
    }, ANSWER_WITHIN_MS);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined); // a reset after the answer (node:http closing a bad request) is fine
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
      if (!m) return reject(new Error(`not an HTTP answer: ${JSON.stringify(text.slice(0, 200))} to ${JSON.stringify(request.toString('latin1').slice(0, 200))}`));
      resolve({ status: Number(m[1]), headers: m[2]!.toLowerCase(), body: dechunk(m[2]!, m[3]!) });
    });
    socket.write(request);
  });
}

function dechunk(headers: string, body: string): string {
  if (!/transfer-encoding: chunked/i.test(headers)) return body;
  let out = '';
  let rest = body;
  for (;;) {
    const nl = rest.indexOf('\r\n');
    if (nl < 0) return out;
    const size = parseInt(rest.slice(0, nl), 16);
    if (!(size > 0)) return out;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
}

function request(method: string, target: string, headers: Array<[string, string]>, body: Buffer | null): Buffer {
  const lines = [`${method} ${target} HTTP/1.1`, 'host: arbiter', 'connection: close', ...headers.map(([k, v]) => `${k}: ${v}`)];
  if (body !== null && !headers.some(([k]) => k.toLowerCase() === 'content-length' || k.toLowerCase() === 'transfer-encoding')) lines.push(`content-length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body ?? Buffer.alloc(0)]);
}

/**
 * What every answer must be: a status the API gives (never 500), and for a
 * JSON refusal an error naming what is wrong. node:http's own 400 for a request
 * it cannot parse has no body.
 */
function assertAnswer(a: Answer, what: string, head = false): void {
  assert.notEqual(a.status, 500, `${what}: 500 ${a.body}`);
  assert.ok([200, 302, 400, 401, 404, 405, 409, 413, 415, 431, 502, 503, 505].includes(a.status) || (a.status === 200 && /text\/plain/.test(a.headers)), `${what}: status ${a.status} ${a.body}`);
  if (a.status >= 400 && !head && /content-type: application\/json/.test(a.headers)) {
    // a refused request says `error`; a decision the arbiter refused (409) or a fence that failed (502) says `reason`
    const body = JSON.parse(a.body) as { error?: unknown; reason?: unknown };
    const why = body.error ?? body.reason;
    assert.ok(typeof why === 'string' && why.length > 0, `${what}: a refusal says why: ${a.body}`);
  }
}

/** A 400 for a body names the field (`instance: …`, `node: …`, `to: …`, `x: unknown field`) or the body (`body: …`, `(body): …`). */
const FIELD_NAMED = /^(body: |\(body\): |(instance|to|node)(\.\S+)?: |[^:]*: unknown field$)/;

const PATHS = ['/v1/status', '/v1/failover', '/v1/fence', '/v1/openapi.json', '/v1/timeline', '/metrics', '/', '/dashboard', '/dashboard/', '/dashboard/index.html', '/dashboard/../../etc/passwd', '/dashboard/%2e%2e/x', '/v1', '/v2/status'];
const targetChar = fc.constantFrom(...'/abcv1.%2e?&=#:@[]!$\'()*+,;~-_0123456789'.split(''));
const target = fc.oneof(
  fc.constantFrom(...PATHS),
  fc.constantFrom('//', '///', '//[::1', '//x:99999', '//a:b@c/v1/status', '/v1/status?x=1&x=2', '/v1/timeline?instance=inst1', '/v1/timeline?instance=inst1&limit=0', '/v1/timeline?instance=inst1&since=2024-13-01T00:00:00Z', '/v1/timeline?instance=a.b', '/v1/timeline?instance=inst1&since=x&limit=-1&extra=1', '*', 'http://arbiter/v1/status', '/%', '/%zz', '/v1/status%00'),
  fc.tuple(fc.constantFrom(...PATHS), fc.string({ unit: targetChar, maxLength: 24 })).map(([p, s]) => p + s),
  fc.string({ unit: targetChar, minLength: 1, maxLength: 30 }).map((s) => (s.startsWith('/') ? s : `/${s}`)),
);
const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'FOO');
const auth = fc.oneof(
  fc.constant<Array<[string, string]>>([]),
  fc.constant<Array<[string, string]>>([['authorization', `Bearer ${TOKEN}`]]),
  fc.constantFrom('Bearer', 'Bearer ', `bearer ${TOKEN}`, `Bearer ${TOKEN} x`, 'Basic dXNlcjpwYXNz', `Bearer ${TOKEN.slice(0, -1)}`, 'Bearer \u00e9').map((v) => [['authorization', v]] as Array<[string, string]>),
);
const contentType = fc.oneof(
  fc.constant<Array<[string, string]>>([]),
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', 'application/jsonx', 'multipart/form-data', '').map((v) => [['content-type', v]] as Array<[string, string]>),
);
const failoverBody = fc.record({ instance: fc.constantFrom('inst1', 'inst2', 'nope', 'a.b', '', 'x'.repeat(65)), to: fc.constantFrom('n1', 'n2', '', '*') }, { requiredKeys: ['instance'] });
const jsonBody = fc.oneof(
  failoverBody.map((b) => JSON.stringify(b)),
  fc.record({ node: fc.constantFrom('n1', 'nope', 'a b', '') }).map((b) => JSON.stringify(b)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.tuple(failoverBody, fc.constantFrom('extra', 'constructor', '__proto__', 'toString'), fc.jsonValue({ maxDepth: 1 })).map(([b, k, v]) => JSON.stringify(b).replace(/^\{/, `{${JSON.stringify(k)}:${JSON.stringify(v)},`)),
  fc.string({ maxLength: 60 }),
  fc.constantFrom('', '{', '[', 'null', '"instance"', '{"instance": "inst1"', '[[[[[[[[[[', '\u0000', '{"instance":"inst1"}'.repeat(2)),
);
const body = fc.oneof(
  { weight: 4, arbitrary: jsonBody.map((s) => Buffer.from(s, 'utf8')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(17 * 1024, 0x20)) },
);

describe('the arbiter HTTP API under fuzzing, on a real replica', { skip }, () => {
  let ns: NatsServer;
  let service: ArbiterService;
  let port: number;

  before(async () => {
    ns = await startNatsServer();
    const config = replicaConfig({ url: ns.url, replica: 'arb-fuzz', instances: [{ name: 'inst1' }, { name: 'inst2' }], extra: { http: { listen: '127.0.0.1:0', tokensEnv: 'KQ_TEST_TOKENS' } } });
    service = await startArbiterService(config, {
      log: testLog('arbiter-fuzz'),
      provisionStream: { maxBytes: 64 * 1024 * 1024 },
      env: { KQ_TEST_TOKENS: `ops:${TOKEN}` },
      metrics: new ArbiterMetrics({ cluster: config.cluster, replica: config.replica, version: 'fuzz' }, { processMetrics: false }),
    });
    await service.arbiter.whenReady();
    port = service.http!.port;
  });
  after(async () => {
    await service?.stop();
    await ns?.dispose();
  });

  test("request targets '//' and '//[::1' are refused with 400 naming the target, not a 500 or a crash", async () => {
    for (const t of ['//', '//[::1', '//x:99999']) {
      for (const m of ['GET', 'POST']) {
        const a = await exchange(port, request(m, t, [['authorization', `Bearer ${TOKEN}`]], m === 'POST' ? Buffer.from('{}') : null));
        assert.equal(a.status, 400, `${m} ${t}: ${a.body}`);
        assert.match((JSON.parse(a.body) as { error: string }).error, /^request target ".*" is not a path; expected one of /);
      }
    }
  });

  test('random targets, methods, headers and bodies are all answered, never with a 500, every refusal saying why', async () => {
    await fc.assert(
      fc.asyncProperty(method, target, auth, contentType, fc.option(body, { nil: null }), async (m, t, a, ct, b) => {
        const answer = await exchange(port, request(m, t, [...a, ...ct], b));
        assertAnswer(answer, `${m} ${t}`, m === 'HEAD');
      }),
      fuzzParams(300),
    );
  });

  test('random bodies to the POST endpoints are answered with the decision or a refusal naming the field', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/v1/failover', '/v1/fence'), body, async (path, b) => {
        const answer = await exchange(port, request('POST', path, [['authorization', `Bearer ${TOKEN}`], ['content-type', 'application/json']], b));
        assertAnswer(answer, `POST ${path}`);
        const error = answer.status >= 400 ? (JSON.parse(answer.body) as { error?: string }).error : undefined;
        if (answer.status === 409) assert.equal(typeof (JSON.parse(answer.body) as { decision?: unknown }).decision, 'string', 'a 409 names the decision');
        if (answer.status === 400) assert.match(error!, FIELD_NAMED, `POST ${path}: a 400 names the field: ${error}`);
        if (answer.status === 404) assert.match(error!, path === '/v1/failover' ? /^instance: unknown instance '/ : /^node: no fencing backend for node '/);
        if (answer.status === 413) assert.match(error!, /^body: larger than \d+ bytes$/);
      }),
      fuzzParams(300),
    );
  });

  test('after the fuzzing the replica is still ready and serves its status and metrics', async () => {
    const status = await exchange(port, request('GET', '/v1/status', [], null));
    assert.equal(status.status, 200);
    const doc = JSON.parse(status.body) as { ready: boolean; instances: Record<string, unknown> };
    assert.equal(doc.ready, true);
    assert.deepEqual(Object.keys(doc.instances).sort(), ['inst1', 'inst2']);
    const metrics = await exchange(port, request('GET', '/metrics', [], null));
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^# HELP /m);
  });
});
