import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { derivedMetric, histogramSamples, renderYielding } from '../src/metrics-derived.js';
import { parseExposition, samplesOf } from '../src/metrics-parse.js';

test('a derived metric is read at each scrape, with its type and help', async () => {
  const registry = new Registry();
  let n = 1;
  derivedMetric(registry, 'x_things_total', 'Things', 'counter', () => [{ labels: { a: 'b' }, value: n }]);
  const first = await registry.metrics();
  assert.match(first, /# HELP x_things_total Things\n# TYPE x_things_total counter\nx_things_total\{a="b"\} 1\n/);
  n = 5;
  assert.deepEqual(parseExposition(await registry.metrics()), [{ name: 'x_things_total', labels: { a: 'b' }, value: 5 }]);
});

test('bucket counts become cumulative le buckets, +Inf equal to the count, with _sum and _count', () => {
  const s = histogramSamples('lat_seconds', { bounds: [0.1, 1], counts: [2, 3, 4], sum: 12.5, count: 9 }, { k: 'v' });
  assert.deepEqual(
    s.map((x) => [x.metricName, x.labels?.['le'], x.value]),
    [
      ['lat_seconds_bucket', 0.1, 2],
      ['lat_seconds_bucket', 1, 5],
      ['lat_seconds_bucket', '+Inf', 9],
      ['lat_seconds_sum', undefined, 12.5],
      ['lat_seconds_count', undefined, 9],
    ],
  );
  assert.ok(s.every((x) => x.labels?.['k'] === 'v'));
});

test('the yielding render gives exactly what registry.metrics() gives, and lets the event loop turn between metrics', async () => {
  const registry = new Registry();
  registry.setDefaultLabels({ cluster: 'dc1' });
  const c = new Counter({ name: 'y_total', help: 'Y', labelNames: ['i'], registers: [registry] });
  c.inc({ i: '1' }, 3);
  for (let m = 0; m < 5; m++) derivedMetric(registry, `z${m}`, 'Z', 'gauge', () => [{ value: m }]);
  derivedMetric(registry, 'h_seconds', 'H', 'histogram', () => histogramSamples('h_seconds', { bounds: [1], counts: [1, 1], sum: 3, count: 2 }));
  // Work queued for the loop's next turn runs before the render ends: the render gives the loop its turns.
  let turned = false;
  setImmediate(() => (turned = true));
  const yielded = await renderYielding(registry);
  assert.equal(turned, true, 'the loop turned while rendering');
  let turnedPlain = false;
  setImmediate(() => (turnedPlain = true));
  assert.equal(yielded, await registry.metrics());
  assert.equal(turnedPlain, false, "prom-client's own render does not let the loop turn (why renderYielding exists)");
  assert.equal(samplesOf(parseExposition(yielded), 'h_seconds_bucket', { le: '+Inf' })[0]?.value, 2);
});
