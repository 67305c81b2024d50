import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KqError } from '../../common/src/errors.js';
import {
  createFencer,
  gatewayGate,
  withGates,
  type FenceCallOptions,
  type Fencer,
  type FencerConfig,
  type FenceRequest,
  type FenceResult,
} from '../src/mod.js';
import { SECRET, startReceiver, tempDir } from '../fixtures/helpers.js';

const REQUEST: FenceRequest = { action: 'off', node: 'b', cluster: 'lab', reason: 'holder b silent' };

/** A backend that records what reached it. */
function recordingFencer(): Fencer & { calls: FenceRequest[] } {
  const calls: FenceRequest[] = [];
  return {
    backend: 'webhook',
    description: 'webhook http://127.0.0.1/fence',
    calls,
    async fence(request: FenceRequest, _options?: FenceCallOptions): Promise<FenceResult> {
      calls.push(request);
      return { ok: true, confirmed: true, attempts: 1, reason: 'fenced', durationMs: 0, backend: 'webhook', action: request.action, node: request.node };
    },
  };
}

function rejectsWith(code: string, message: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof KqError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    assert.ok(!e.message.includes(SECRET));
    return true;
  };
}

test('createFencer: a webhook with a secretFile fences through a real receiver', async () => {
  const { dir, cleanup } = tempDir();
  const receiver = await startReceiver(() => ({ status: 200, body: { status: 'fenced' } }));
  try {
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
    const f = await createFencer({ type: 'webhook', url: receiver.url, secretFile, timeoutMs: 2_000, retries: 0 });
    assert.equal(f.backend, 'webhook');
    const r = await f.fence(REQUEST);
    assert.equal(r.ok, true, r.reason);
    assert.equal(receiver.requests[0]!.signature.ok, true);
  } finally {
    await receiver.close();
    cleanup();
  }
});

test('createFencer refuses a secret file others can read, an empty or missing one, and secret with secretFile', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const open = join(dir, 'open');
    writeFileSync(open, SECRET);
    chmodSync(open, 0o644);
    await assert.rejects(createFencer({ type: 'webhook', url: 'http://127.0.0.1:1/', secretFile: open }), rejectsWith('KQ_ERR_FENCE_SECRET', /open to everyone \(mode 0644\); chmod 600/));
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n', { mode: 0o600 });
    await assert.rejects(createFencer({ type: 'webhook', url: 'http://127.0.0.1:1/', secretFile: empty }), rejectsWith('KQ_ERR_FENCE_SECRET', /is empty/));
    await assert.rejects(
      createFencer({ type: 'webhook', url: 'http://127.0.0.1:1/', secretFile: join(dir, 'missing') }),
      rejectsWith('KQ_ERR_FENCE_SECRET', /cannot read secretFile .*missing: ENOENT/),
    );
    await assert.rejects(
      createFencer({ type: 'webhook', url: 'http://127.0.0.1:1/', secret: SECRET, secretFile: open }),
      rejectsWith('KQ_ERR_FENCE_CONFIG', /exactly one of secret and secretFile/),
    );
    await assert.rejects(createFencer({ type: 'webhook', url: 'http://127.0.0.1:1/' }), rejectsWith('KQ_ERR_FENCE_CONFIG', /exactly one/));
    await assert.rejects(createFencer({ type: 'pdu' } as unknown as FencerConfig), rejectsWith('KQ_ERR_FENCE_CONFIG', /type must be 'webhook' or 'agent'/));
  } finally {
    cleanup();
  }
});

test('createFencer: an agent that does not exist is refused at boot', async () => {
  await assert.rejects(createFencer({ type: 'agent', agent: '/usr/sbin/fence_nothing_here' }), rejectsWith('KQ_ERR_FENCE_CONFIG', /does not exist \(Debian and Ubuntu: apt install fence-agents\)/));
});

test('createFencer: fence_dummy as configured by the arbiter', { skip: existsSync('/usr/sbin/fence_dummy') ? false : 'fence-agents is not installed' }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const statusFile = join(dir, 'status');
    writeFileSync(statusFile, 'on');
    const f = await createFencer({ type: 'agent', agent: '/usr/sbin/fence_dummy', options: { status_file: statusFile }, timeoutMs: 10_000, hostArgument: 'none' });
    assert.equal(f.description, 'agent /usr/sbin/fence_dummy');
    const r = await f.fence(REQUEST);
    assert.equal(r.ok, true, r.reason);
    assert.equal(r.confirmed, true);
  } finally {
    cleanup();
  }
});

test('gatewayGate: no gateway, no fence, and the backend is never asked', async () => {
  const backend = recordingFencer();
  let checks = 0;
  const f = withGates(backend, [
    gatewayGate(
      async () => {
        checks++;
        return false;
      },
      { gateway: '192.0.2.1' },
    ),
  ]);
  const r = await f.fence(REQUEST);
  assert.equal(r.ok, false);
  assert.equal(r.confirmed, false);
  assert.equal(r.attempts, 0);
  assert.equal(r.code, 'KQ_ERR_FENCE_GATED');
  assert.match(r.reason, /refused to off node b through webhook http:\/\/127\.0\.0\.1\/fence: this fencer's gateway 192\.0\.2\.1 does not answer; .*fences no one/);
  assert.equal(checks, 1);
  assert.equal(backend.calls.length, 0);
});

test('gatewayGate: a gateway that answers lets the fence through', async () => {
  const backend = recordingFencer();
  const r = await withGates(backend, [gatewayGate(async () => true)]).fence(REQUEST);
  assert.equal(r.ok, true);
  assert.equal(backend.calls.length, 1);
});

test('gatewayGate: a check that throws or never answers refuses', async () => {
  const backend = recordingFencer();
  const throwing = await withGates(backend, [gatewayGate(async () => { throw new Error('EPERM: raw socket'); })]).fence(REQUEST);
  assert.equal(throwing.code, 'KQ_ERR_FENCE_GATED');
  assert.match(throwing.reason, /gateway check failed \(EPERM: raw socket\)/);
  const hanging = await withGates(backend, [gatewayGate(() => new Promise<boolean>(() => undefined), { timeoutMs: 20 })]).fence(REQUEST);
  assert.equal(hanging.code, 'KQ_ERR_FENCE_GATED');
  assert.match(hanging.reason, /check did not answer within 20 ms/);
  assert.equal(backend.calls.length, 0);
});

test('gatewayGate: powering on and reading status are not gated, as fence_heuristics_ping lets unfencing through', async () => {
  const backend = recordingFencer();
  let checks = 0;
  const f = withGates(backend, [gatewayGate(async () => (checks++, false))]);
  assert.equal((await f.fence({ ...REQUEST, action: 'on' })).ok, true);
  assert.equal((await f.fence({ ...REQUEST, action: 'status' })).ok, true);
  assert.equal((await f.fence({ ...REQUEST, action: 'reboot' })).code, 'KQ_ERR_FENCE_GATED');
  assert.equal(checks, 1);
  assert.deepEqual(backend.calls.map((c) => c.action), ['on', 'status']);
});

test('createFencer wraps the gates it is given', async () => {
  const f = await createFencer({ type: 'webhook', url: 'http://127.0.0.1:1/fence', secret: SECRET }, { gates: [gatewayGate(async () => false)] });
  const r = await f.fence(REQUEST);
  assert.equal(r.code, 'KQ_ERR_FENCE_GATED');
  assert.equal(r.attempts, 0);
});
