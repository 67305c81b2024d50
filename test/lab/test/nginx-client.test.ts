import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Lab, labUnavailableReason } from '../lab.js';
import { buildSegment, vipOf } from '../topology.js';
import { NGINX, startNginx } from '../nginx.js';
import { startClient, summarizeClient } from '../client.js';

const skip = labUnavailableReason() ?? (existsSync(NGINX) ? undefined : `${NGINX} is not installed`);

test('a client against nginx on one host sees that host, by its address, its IPv6 twin and a VIP added later', { skip, timeout: 120_000 }, async () => {
  const lab = await Lab.create();
  try {
    const segment = await buildSegment(lab, { pairs: 1, client: true });
    const pair = segment.pairs[0];
    const cl = segment.client;
    assert.ok(pair && cl);
    await startNginx(pair.a);

    const direct = await startClient(cl, pair.a.ipv4, { durationMs: 300 }).finished;
    assert.ok(direct.length > 0);
    // The machine is shared and noisy: a request may time out; every answer must name a1.
    assert.ok(direct.some((r) => r.ok));
    assert.deepEqual([...new Set(direct.filter((r) => r.ok).map((r) => r.server))], ['a1']);
    const s = summarizeClient(direct);
    assert.equal(s.requests, direct.length);
    assert.deepEqual(s.servedBy.map((x) => x.server), ['a1']);

    assert.ok(pair.a.ipv6);
    const v6 = await startClient(cl, pair.a.ipv6, { durationMs: 100 }).finished;
    assert.deepEqual([...new Set(v6.filter((r) => r.ok).map((r) => r.server))], ['a1']);
    assert.ok(v6.some((r) => r.ok));

    // nginx listens on the wildcard, so it answers on a VIP that arrives after it started.
    await pair.a.ip(['addr', 'add', vipOf(1).ipv4Cidr, 'dev', 'eth0']);
    const client = startClient(cl, vipOf(1).ipv4, { durationMs: 30_000 });
    const first = await client.waitFor((r) => r.ok, 10_000);
    assert.equal(first.server, 'a1');
    const records = await client.stop();
    assert.equal(client.process.running, false);
    assert.ok(records.length >= 1);
    assert.ok(records.every((r) => !r.ok || r.server === 'a1'));
  } finally {
    await lab.destroy();
  }
});

test('the client abandons requests to an address nobody holds and exits by itself', { skip, timeout: 60_000 }, async () => {
  const lab = await Lab.create();
  try {
    const segment = await buildSegment(lab, { client: true });
    assert.ok(segment.client);
    const records = await startClient(segment.client, vipOf(2).ipv4, { durationMs: 200, timeoutMs: 50, maxRequests: 5 }).finished;
    assert.equal(records.length, 5);
    assert.ok(records.every((r) => !r.ok && r.error !== undefined));
    const s = summarizeClient(records);
    assert.equal(s.ok, 0);
    assert.equal(s.failed, 5);
    assert.ok(s.downtimeMs > 0);
  } finally {
    await lab.destroy();
  }
});
