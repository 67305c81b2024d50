import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { KqError } from '../../common/src/errors.js';
import {
  backoffDelay,
  buildWebhookBody,
  signPayload,
  verifySignature,
  WebhookFencer,
  type FenceAttempt,
  type FenceRequest,
  type WebhookFencerOptions,
} from '../src/mod.js';
import { closedPort, SECRET, startReceiver, type Receiver } from '../fixtures/helpers.js';

const REQUEST: FenceRequest = { action: 'off', node: 'b', cluster: 'lab', instance: 'VI_1', epoch: 7, reason: 'holder b silent past its lease' };

/** Fast backoff: these tests prove behaviour, not timing. */
function fencer(url: string, options: Partial<WebhookFencerOptions> = {}): WebhookFencer {
  return new WebhookFencer({ url, secret: SECRET, timeoutMs: 5_000, retries: 3, backoffMs: 1, maxBackoffMs: 5, ...options });
}

async function withReceiver(answer: Parameters<typeof startReceiver>[0], body: (r: Receiver) => Promise<void>): Promise<void> {
  const receiver = await startReceiver(answer);
  try {
    await body(receiver);
  } finally {
    await receiver.close();
  }
}

function noSecret(...things: unknown[]): void {
  for (const t of things) assert.ok(!JSON.stringify(t).includes(SECRET), `a secret leaked into ${JSON.stringify(t)}`);
}

test('a fence the receiver confirms with {"status":"fenced"} is ok and confirmed, signed and keyed as documented', async () => {
  await withReceiver(
    () => ({ status: 200, body: { status: 'fenced' } }),
    async (receiver) => {
      const attempts: FenceAttempt[] = [];
      const r = await fencer(receiver.url).fence(REQUEST, { onAttempt: (a) => attempts.push(a) });
      assert.equal(r.ok, true, r.reason);
      assert.equal(r.confirmed, true);
      assert.equal(r.attempts, 1);
      assert.equal(r.power, 'off');
      assert.equal(r.code, undefined);
      assert.match(r.reason, /fenced node b/);

      assert.equal(receiver.requests.length, 1);
      const req = receiver.requests[0]!;
      assert.deepEqual(req.signature, { ok: true });
      assert.equal(req.method, 'POST');
      assert.equal(req.headers['content-type'], 'application/json');
      assert.match(String(req.headers['x-keepquorum-timestamp']), /^\d+$/);
      assert.match(String(req.headers['x-keepquorum-signature']), /^sha256=[0-9a-f]{64}$/);
      const json = req.json!;
      assert.deepEqual(Object.keys(json), ['action', 'node', 'instance', 'cluster', 'epoch', 'reason', 'idempotencyKey', 'requestedAt']);
      assert.equal(json['action'], 'off');
      assert.equal(json['node'], 'b');
      assert.equal(json['instance'], 'VI_1');
      assert.equal(json['cluster'], 'lab');
      assert.equal(json['epoch'], 7);
      assert.equal(json['reason'], REQUEST.reason);
      assert.equal(req.headers['idempotency-key'], json['idempotencyKey']);
      assert.equal(r.idempotencyKey, json['idempotencyKey']);
      assert.ok(!Number.isNaN(Date.parse(String(json['requestedAt']))));

      assert.equal(attempts.length, 1);
      assert.equal(attempts[0]!.attempt, 1);
      assert.equal(attempts[0]!.status, 200);
      assert.equal(attempts[0]!.outcome, 'done');
      assert.equal(attempts[0]!.kind, 'request');
      assert.equal(attempts[0]!.error, undefined);
      assert.ok(attempts[0]!.durationMs >= 0);
    },
  );
});

test('a 500 is retried, and the retry succeeds with the same idempotency key and body', async () => {
  await withReceiver(
    (_req, i) => (i === 0 ? { status: 500, body: { status: 'failed', reason: 'PDU busy' } } : { status: 200, body: { status: 'fenced' } }),
    async (receiver) => {
      const attempts: FenceAttempt[] = [];
      const r = await fencer(receiver.url).fence(REQUEST, { onAttempt: (a) => attempts.push(a) });
      assert.equal(r.ok, true, r.reason);
      assert.equal(r.attempts, 2);
      assert.deepEqual(attempts.map((a) => [a.attempt, a.status, a.outcome]), [
        [1, 500, 'retryable'],
        [2, 200, 'done'],
      ]);
      assert.match(attempts[0]!.error!, /500: PDU busy/);
      const [first, second] = receiver.requests;
      assert.ok(first?.signature.ok && second?.signature.ok);
      assert.equal(first.headers['idempotency-key'], second.headers['idempotency-key']);
      assert.equal(first.body, second.body);
    },
  );
});

test('an idempotency key given by the caller is sent verbatim; without one, each fence draws its own', async () => {
  await withReceiver(
    () => ({ status: 200, body: { status: 'fenced' } }),
    async (receiver) => {
      const f = fencer(receiver.url);
      await f.fence({ ...REQUEST, idempotencyKey: 'lab.VI_1.7.b.off' });
      await f.fence(REQUEST);
      await f.fence(REQUEST);
      const keys = receiver.requests.map((r) => r.headers['idempotency-key']);
      assert.equal(keys[0], 'lab.VI_1.7.b.off');
      assert.notEqual(keys[1], keys[2]);
    },
  );
});

test('a server that does not answer in time is given up on at each attempt timeout, and the result says timeout', async () => {
  await withReceiver(
    () => 'hang',
    async (receiver) => {
      const attempts: FenceAttempt[] = [];
      const r = await fencer(receiver.url, { timeoutMs: 100, retries: 1 }).fence(REQUEST, { onAttempt: (a) => attempts.push(a) });
      assert.equal(r.ok, false);
      assert.equal(r.confirmed, false);
      assert.equal(r.code, 'KQ_ERR_FENCE_TIMEOUT');
      assert.equal(r.attempts, 2);
      assert.deepEqual(attempts.map((a) => [a.status, a.outcome]), [
        [null, 'retryable'],
        [null, 'failed'],
      ]);
      for (const a of attempts) assert.match(a.error!, /no complete answer within 100 ms/);
      assert.match(r.reason, /gave up after 2 attempts \(1 retries\)/);
      assert.equal(receiver.requests.length, 2);
    },
  );
});

test('a 200 without the done-contract is not a fence, and is not retried', async () => {
  for (const body of [{ ok: true }, 'done', '', { status: 'success' }]) {
    await withReceiver(
      () => ({ status: 200, body }),
      async (receiver) => {
        const r = await fencer(receiver.url).fence(REQUEST);
        assert.equal(r.ok, false, JSON.stringify(body));
        assert.equal(r.confirmed, false);
        assert.equal(r.code, 'KQ_ERR_FENCE_UNCONFIRMED');
        assert.equal(r.attempts, 1);
        assert.match(r.reason, /not \{"status":"fenced"\}/);
      },
    );
  }
});

test('an unreachable port is retried up to the bound, then fails with the connection error', async () => {
  const port = await closedPort();
  const attempts: FenceAttempt[] = [];
  const r = await fencer(`http://127.0.0.1:${port}/fence`, { retries: 2 }).fence(REQUEST, { onAttempt: (a) => attempts.push(a) });
  assert.equal(r.ok, false);
  assert.equal(r.code, 'KQ_ERR_FENCE_FAILED');
  assert.equal(r.attempts, 3);
  assert.equal(attempts.length, 3);
  for (const a of attempts) {
    assert.equal(a.status, null);
    assert.match(a.error!, /ECONNREFUSED/);
  }
  assert.match(r.reason, /did not fence \(off\) node b: .*ECONNREFUSED.*gave up after 3 attempts/);
});

test('202 accepted is polled with the same request and key until the receiver says fenced; polls are not retries', async () => {
  await withReceiver(
    (_req, i) => (i < 3 ? { status: 202, body: { status: 'accepted', retryAfterMs: 1 } } : { status: 200, body: { status: 'fenced' } }),
    async (receiver) => {
      const attempts: FenceAttempt[] = [];
      const r = await fencer(receiver.url, { retries: 0 }).fence(REQUEST, { onAttempt: (a) => attempts.push(a) });
      assert.equal(r.ok, true, r.reason);
      assert.equal(r.confirmed, true);
      assert.equal(r.attempts, 4);
      assert.deepEqual(attempts.map((a) => [a.kind, a.status, a.outcome]), [
        ['request', 202, 'in-progress'],
        ['poll', 202, 'in-progress'],
        ['poll', 202, 'in-progress'],
        ['poll', 200, 'done'],
      ]);
      const keys = new Set(receiver.requests.map((q) => q.headers['idempotency-key']));
      const bodies = new Set(receiver.requests.map((q) => q.body));
      assert.equal(keys.size, 1);
      assert.equal(bodies.size, 1);
    },
  );
});

test('polling ends at totalTimeoutMs when the receiver never says done', async () => {
  await withReceiver(
    () => ({ status: 202, body: { status: 'in-progress', retryAfterMs: 5 } }),
    async (receiver) => {
      const r = await fencer(receiver.url, { totalTimeoutMs: 150 }).fence(REQUEST);
      assert.equal(r.ok, false);
      assert.equal(r.code, 'KQ_ERR_FENCE_TIMEOUT');
      assert.match(r.reason, /within totalTimeoutMs 150 ms/);
      assert.ok(r.attempts >= 1);
    },
  );
});

test('a 4xx is a refusal, not retried; a wrong secret gets the receiver\'s 401 and a hint', async () => {
  await withReceiver(
    () => ({ status: 404, body: { status: 'refused', reason: 'unknown node b' } }),
    async (receiver) => {
      const r = await fencer(receiver.url).fence(REQUEST);
      assert.equal(r.code, 'KQ_ERR_FENCE_REJECTED');
      assert.equal(r.attempts, 1);
      assert.match(r.reason, /refused with 404: unknown node b/);
    },
  );
  await withReceiver(
    () => ({ status: 200, body: { status: 'fenced' } }),
    async (receiver) => {
      const r = await fencer(receiver.url, { secret: 'another-secret-of-enough-length' }).fence(REQUEST);
      assert.equal(r.ok, false);
      assert.equal(r.code, 'KQ_ERR_FENCE_REJECTED');
      assert.equal(r.attempts, 1);
      assert.match(r.reason, /401.*signature does not match.*same secret/);
      assert.equal(receiver.requests[0]!.signature.ok, false);
    },
  );
});

test('status, on and reboot follow their own done-words', async () => {
  await withReceiver(
    (req) => {
      const action = req.json?.['action'];
      return { status: 200, body: { status: action === 'status' ? 'off' : action === 'on' ? 'on' : 'fenced' } };
    },
    async (receiver) => {
      const f = fencer(receiver.url);
      const status = await f.fence({ ...REQUEST, action: 'status' });
      assert.equal(status.ok, true);
      assert.equal(status.power, 'off');
      const on = await f.fence({ ...REQUEST, action: 'on' });
      assert.equal(on.ok, true);
      assert.equal(on.power, 'on');
      const reboot = await f.fence({ ...REQUEST, action: 'reboot' });
      assert.equal(reboot.ok, true);
      assert.equal(reboot.power, undefined);
    },
  );
  await withReceiver(
    () => ({ status: 200, body: { status: 'fenced' } }),
    async (receiver) => {
      // "fenced" does not answer a status question.
      const r = await fencer(receiver.url).fence({ ...REQUEST, action: 'status' });
      assert.equal(r.ok, false);
      assert.equal(r.code, 'KQ_ERR_FENCE_UNCONFIRMED');
    },
  );
});

test('the secret never appears in results, attempts, or the fencer itself, even when the receiver echoes it', async () => {
  const headers = { Authorization: 'Bearer gateway-token-0000' };
  await withReceiver(
    () => ({ status: 500, body: { status: 'failed', reason: `key ${SECRET} and Bearer gateway-token-0000 rejected` } }),
    async (receiver) => {
      const attempts: FenceAttempt[] = [];
      const f = fencer(receiver.url + '?token=query-secret', { retries: 1, headers });
      const r = await f.fence(REQUEST, { onAttempt: (a) => attempts.push(a) });
      assert.equal(r.ok, false);
      noSecret(r, attempts, f);
      assert.ok(!inspect(f, { showHidden: true, depth: 5 }).includes(SECRET));
      assert.ok(!JSON.stringify([r, attempts]).includes('gateway-token-0000'));
      assert.ok(!f.description.includes('query-secret'));
      assert.equal(receiver.requests[0]!.headers['authorization'], 'Bearer gateway-token-0000');
    },
  );
});

test('a malformed request is refused without a request being sent', async () => {
  await withReceiver(
    () => ({ status: 200, body: { status: 'fenced' } }),
    async (receiver) => {
      const f = fencer(receiver.url);
      const r1 = await f.fence({ ...REQUEST, node: '' });
      const r2 = await f.fence({ ...REQUEST, action: 'explode' as 'off' });
      const r3 = await f.fence({ ...REQUEST, idempotencyKey: 'has space' });
      for (const r of [r1, r2, r3]) {
        assert.equal(r.ok, false);
        assert.equal(r.code, 'KQ_ERR_FENCE_REQUEST');
        assert.equal(r.attempts, 0);
      }
      assert.equal(receiver.requests.length, 0);
    },
  );
});

test('an abort stops a fence between attempts and says so', async () => {
  await withReceiver(
    () => 'hang',
    async (receiver) => {
      const controller = new AbortController();
      const pending = fencer(receiver.url).fence(REQUEST, {
        signal: controller.signal,
        onAttempt: () => undefined,
      });
      // Abort once the receiver has the request in hand.
      while (receiver.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
      controller.abort();
      const r = await pending;
      assert.equal(r.ok, false);
      assert.equal(r.code, 'KQ_ERR_FENCE_ABORTED');
    },
  );
});

test('options that cannot work are refused at construction with a KqError', () => {
  const bad: Array<[Partial<WebhookFencerOptions>, string, RegExp]> = [
    [{ url: 'ftp://x/' }, 'KQ_ERR_FENCE_CONFIG', /http: or https:/],
    [{ url: 'not a url' }, 'KQ_ERR_FENCE_CONFIG', /not a valid URL/],
    [{ secret: 'short' }, 'KQ_ERR_FENCE_SECRET', /at least 16 random bytes/],
    [{ secret: '' }, 'KQ_ERR_FENCE_SECRET', /empty/],
    [{ retries: -1 }, 'KQ_ERR_FENCE_CONFIG', /retries must be a whole number >= 0/],
    [{ timeoutMs: 0 }, 'KQ_ERR_FENCE_CONFIG', /timeoutMs/],
    [{ headers: { 'X-Keepquorum-Signature': 'x' } }, 'KQ_ERR_FENCE_CONFIG', /set by keepquorum/],
    [{ headers: { 'X-Evil': 'a\r\nb' } }, 'KQ_ERR_FENCE_CONFIG', /one line/],
  ];
  for (const [options, code, message] of bad) {
    assert.throws(
      () => new WebhookFencer({ url: 'http://127.0.0.1:1/fence', secret: SECRET, ...options }),
      (e: unknown) => e instanceof KqError && e.code === code && message.test(e.message) && !e.message.includes(SECRET),
      JSON.stringify(options),
    );
  }
});

// ---------------------------------------------------------------------------
// verifySignature

const KNOWN = {
  secret: '0123456789abcdef0123456789abcdef',
  timestamp: '1700000000',
  body: '{"action":"off","node":"b","cluster":"lab","reason":"test","idempotencyKey":"k1","requestedAt":"2023-11-14T22:13:20.000Z"}',
  // printf '%s' '1700000000.<body>' | openssl dgst -sha256 -hmac '<secret>'
  signature: 'sha256=516abe34dac389b12d552678154b799196153d2d06baf83b07752ea0d16babeb',
  now: 1700000000_000,
};

test('the signature is HMAC-SHA256 over "<timestamp>.<body>", as openssl computes it', () => {
  assert.equal(signPayload(KNOWN.secret, KNOWN.timestamp, KNOWN.body), KNOWN.signature);
  assert.deepEqual(verifySignature(KNOWN.secret, KNOWN.timestamp, KNOWN.body, KNOWN.signature, { now: KNOWN.now }), { ok: true });
  assert.deepEqual(verifySignature(KNOWN.secret, KNOWN.timestamp, Buffer.from(KNOWN.body), KNOWN.signature, { now: KNOWN.now }), { ok: true });
  assert.equal(
    buildWebhookBody({ action: 'off', node: 'b', cluster: 'lab', reason: 'test' }, 'k1', '2023-11-14T22:13:20.000Z'),
    KNOWN.body,
  );
});

test('verifySignature rejects a wrong key', () => {
  const r = verifySignature('a-different-secret-0123456789', KNOWN.timestamp, KNOWN.body, KNOWN.signature, { now: KNOWN.now });
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.code === 'KQ_ERR_FENCE_SIGNATURE' && /does not match/.test(r.reason));
});

test('verifySignature rejects a tampered body, and a timestamp moved to another time', () => {
  const tampered = KNOWN.body.replace('"node":"b"', '"node":"a"');
  const r1 = verifySignature(KNOWN.secret, KNOWN.timestamp, tampered, KNOWN.signature, { now: KNOWN.now });
  assert.ok(!r1.ok && /does not match/.test(r1.reason));
  const r2 = verifySignature(KNOWN.secret, '1700000001', KNOWN.body, KNOWN.signature, { now: KNOWN.now });
  assert.ok(!r2.ok && /does not match/.test(r2.reason));
});

test('verifySignature rejects an old timestamp and one from the future, outside the window', () => {
  const old = verifySignature(KNOWN.secret, KNOWN.timestamp, KNOWN.body, KNOWN.signature, { now: KNOWN.now + 31_000 });
  assert.ok(!old.ok && /31 s old, outside the window of 30 s/.test(old.reason), JSON.stringify(old));
  const future = verifySignature(KNOWN.secret, KNOWN.timestamp, KNOWN.body, KNOWN.signature, { now: KNOWN.now - 120_000 });
  assert.ok(!future.ok && /in the future/.test(future.reason));
  const wide = verifySignature(KNOWN.secret, KNOWN.timestamp, KNOWN.body, KNOWN.signature, { now: KNOWN.now + 31_000, maxSkewMs: 60_000 });
  assert.deepEqual(wide, { ok: true });
});

test('verifySignature rejects missing, doubled and malformed headers, and takes any of several secrets', () => {
  const check = (ts: string | string[] | undefined, header: string | string[] | undefined) =>
    verifySignature(KNOWN.secret, ts, KNOWN.body, header, { now: KNOWN.now });
  assert.ok(!check(undefined, KNOWN.signature).ok);
  assert.ok(!check(KNOWN.timestamp, undefined).ok);
  assert.ok(!check([KNOWN.timestamp, KNOWN.timestamp], KNOWN.signature).ok);
  assert.ok(!check(KNOWN.timestamp, [KNOWN.signature, KNOWN.signature]).ok);
  assert.ok(!check('1700000000.5', KNOWN.signature).ok);
  assert.ok(!check(KNOWN.timestamp, KNOWN.signature.replace('sha256=', 'sha1=')).ok);
  assert.ok(!check(KNOWN.timestamp, KNOWN.signature.toUpperCase()).ok);
  assert.ok(!check(KNOWN.timestamp, KNOWN.signature.slice(0, -2)).ok);
  const rotated = verifySignature(['the-new-secret-0123456789abcdef', KNOWN.secret], KNOWN.timestamp, KNOWN.body, KNOWN.signature, { now: KNOWN.now });
  assert.deepEqual(rotated, { ok: true });
  const r = check(KNOWN.timestamp, 'sha256=' + '0'.repeat(64));
  assert.ok(!r.ok && !r.reason.includes(KNOWN.signature.slice(7)), 'the reason must not reveal the expected signature');
});

test('backoff grows exponentially within its ceiling and keeps half of it', () => {
  const o = { baseMs: 100, maxMs: 1_000 };
  assert.equal(backoffDelay(1, { ...o, random: () => 0 }), 50);
  assert.equal(backoffDelay(1, { ...o, random: () => 1 }), 100);
  assert.equal(backoffDelay(3, { ...o, random: () => 0 }), 200);
  assert.equal(backoffDelay(3, { ...o, random: () => 1 }), 400);
  assert.equal(backoffDelay(10, { ...o, random: () => 1 }), 1_000);
  assert.equal(backoffDelay(10, { ...o, random: () => 0 }), 500);
});
