import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nkeys } from 'nats';
import { natsConnectOptions } from '../src/mod.js';
import { tempDir } from './helpers.js';

const isOptionsError = (re: RegExp) => (e: Error & { code?: string }) => e.code === 'KQ_ERR_NATS_OPTIONS' && re.test(e.message);

test('several servers, reconnecting forever', () => {
  const o = natsConnectOptions({ servers: ['nats://a:4222', ' nats://b:4222 ', ''] });
  assert.deepEqual(o.servers, ['nats://a:4222', 'nats://b:4222']);
  assert.equal(o.maxReconnectAttempts, -1);
  assert.equal(o.reconnect, true);
  assert.throws(() => natsConnectOptions({ servers: [] }), isOptionsError(/no server/));
});

test('user and password, or a token, map to the client options', () => {
  const up = natsConnectOptions({ servers: ['nats://a'], user: 'agent', password: 's3cret' });
  assert.equal(up.user, 'agent');
  assert.equal(up.pass, 's3cret');
  assert.equal(natsConnectOptions({ servers: ['nats://a'], token: 't0k' }).token, 't0k');
  assert.throws(() => natsConnectOptions({ servers: ['nats://a'], user: 'agent' }), isOptionsError(/go together/));
  assert.throws(() => natsConnectOptions({ servers: ['nats://a'], token: 't', user: 'u', password: 'p' }), isOptionsError(/one way to authenticate/));
});

test('an nkey seed inline or in a file, or a creds file, becomes an authenticator', async () => {
  const tmp = await tempDir();
  try {
    const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
    assert.equal(typeof natsConnectOptions({ servers: ['nats://a'], nkeySeed: seed }).authenticator, 'function');
    const seedFile = join(tmp.dir, 'agent.nk');
    await writeFile(seedFile, `${seed}\n`);
    assert.equal(typeof natsConnectOptions({ servers: ['nats://a'], nkeyFile: seedFile }).authenticator, 'function');
    const creds = join(tmp.dir, 'agent.creds');
    await writeFile(creds, 'placeholder');
    assert.equal(typeof natsConnectOptions({ servers: ['nats://a'], credsFile: creds }).authenticator, 'function');
    assert.throws(() => natsConnectOptions({ servers: ['nats://a'], nkeySeed: 'not-a-seed' }), isOptionsError(/not an nkey seed/));
    assert.throws(() => natsConnectOptions({ servers: ['nats://a'], credsFile: join(tmp.dir, 'missing.creds') }), isOptionsError(/does not exist/));
    assert.throws(() => natsConnectOptions({ servers: ['nats://a'], nkeySeed: seed, credsFile: creds }), isOptionsError(/nkey and creds file/));
  } finally {
    await tmp.remove();
  }
});

test('TLS with a CA and a client certificate maps to files; a certificate needs its key', async () => {
  const tmp = await tempDir();
  try {
    const [ca, cert, key] = ['ca.pem', 'cert.pem', 'key.pem'].map((n) => join(tmp.dir, n)) as [string, string, string];
    for (const f of [ca, cert, key]) await writeFile(f, 'pem');
    assert.deepEqual(natsConnectOptions({ servers: ['tls://a'], tls: { ca, cert, key } }).tls, { caFile: ca, certFile: cert, keyFile: key });
    assert.deepEqual(natsConnectOptions({ servers: ['tls://a'], tls: true }).tls, {});
    assert.throws(() => natsConnectOptions({ servers: ['tls://a'], tls: { cert } }), isOptionsError(/go together/));
  } finally {
    await tmp.remove();
  }
});
