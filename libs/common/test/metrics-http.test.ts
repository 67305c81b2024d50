import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { parseListenAddress, PROMETHEUS_CONTENT_TYPE, serveMetrics } from '../src/metrics-http.js';
import { parseExposition, valueOf } from '../src/metrics-parse.js';

test('a listen address is HOST:PORT or [IPV6]:PORT; anything else is refused naming the setting and the value', () => {
  assert.deepEqual(parseListenAddress('127.0.0.1:9650', '--metrics'), { host: '127.0.0.1', port: 9650 });
  assert.deepEqual(parseListenAddress('[::1]:9650', '--metrics'), { host: '::1', port: 9650 });
  assert.deepEqual(parseListenAddress('localhost:0', 'metrics.listen'), { host: 'localhost', port: 0 });
  for (const bad of ['9650', '127.0.0.1', '::1:9650', '127.0.0.1:99999', '127.0.0.1:port', '']) {
    assert.throws(() => parseListenAddress(bad, 'metrics.listen'), (e: Error & { code?: string }) => e.code === 'KQ_ERR_CONFIG_VALUE' && e.message.startsWith(`metrics.listen ${bad}: expected HOST:PORT`), bad);
  }
});

test('the endpoint serves the rendered text on GET /metrics, 404 elsewhere, 405 for other methods', async () => {
  let renders = 0;
  const server = await serveMetrics('127.0.0.1:0', '--metrics', async () => `# TYPE x_total counter\nx_total ${++renders}\n`, () => {});
  try {
    const base = `http://127.0.0.1:${server.address.port}`;
    const r = await fetch(`${base}/metrics`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), PROMETHEUS_CONTENT_TYPE);
    assert.equal(valueOf(parseExposition(await r.text()), 'x_total'), 1);
    assert.equal(valueOf(parseExposition(await (await fetch(`${base}/metrics`)).text()), 'x_total'), 2);
    const other = await fetch(`${base}/v1/status`);
    assert.equal(other.status, 404);
    assert.match(await other.text(), /metrics are at \/metrics/);
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET');
  } finally {
    await server.close();
  }
});

test('a render that fails answers 500 and is reported, the endpoint keeps serving', async () => {
  const errors: string[] = [];
  let fail = true;
  const server = await serveMetrics('127.0.0.1:0', '--metrics', async () => {
    if (fail) throw new Error('collector broke');
    return 'ok_total 1\n';
  }, (e) => errors.push(e.message));
  try {
    const url = `http://127.0.0.1:${server.address.port}/metrics`;
    assert.equal((await fetch(url)).status, 500);
    assert.deepEqual(errors, ['collector broke']);
    fail = false;
    assert.equal((await fetch(url)).status, 200);
  } finally {
    await server.close();
  }
});

test('an address already in use stops the start with the setting and the address in the message', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as { port: number }).port;
  try {
    await assert.rejects(serveMetrics(`127.0.0.1:${port}`, '--metrics', async () => '', () => {}), (e: Error & { code?: string }) => e.code === 'KQ_ERR_CONFIG_VALUE' && e.message.includes(`--metrics 127.0.0.1:${port}: cannot listen`));
  } finally {
    taken.close();
  }
});

test('the exposition reader takes labels with escapes and refuses a line that is not a sample', () => {
  const s = parseExposition('# HELP a b\na_total{x="q\\"uote",le="+Inf"} 3\nb 1.5e3\nc{} +Inf\n');
  assert.deepEqual(s[0], { name: 'a_total', labels: { x: 'q"uote', le: '+Inf' }, value: 3 });
  assert.equal(valueOf(s, 'b'), 1500);
  assert.equal(valueOf(s, 'c'), Infinity);
  assert.throws(() => parseExposition('a_total three\n'), /metrics line 1: value three is not a number/);
  assert.throws(() => parseExposition('{oops} 1\n'), /metrics line 1: not a sample/);
});
