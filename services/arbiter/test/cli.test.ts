import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArbiterArgs } from '../src/cli.js';
import { loadTokens, parseTokens, tokenSet } from '../src/tokens.js';
import { parseListen } from '../src/http-api.js';
import { arbiterEventData } from '../src/events.js';

describe('ha-arbiter command line', () => {
  test('--config FILE runs; --check checks; --log-level is validated; a missing config is a usage error', () => {
    assert.deepEqual(parseArbiterArgs(['--config', 'a.yaml'], {}), { mode: 'run', config: 'a.yaml', logLevel: 'info' });
    assert.deepEqual(parseArbiterArgs(['--config=a.yaml', '--check', '--log-level', 'debug'], {}), { mode: 'check', config: 'a.yaml', logLevel: 'debug' });
    assert.throws(() => parseArbiterArgs([], {}), /a configuration is needed: --config FILE/);
    assert.throws(() => parseArbiterArgs(['--config', 'a.yaml', '--log-level', 'loud'], {}), /--log-level loud: expected trace/);
    assert.throws(() => parseArbiterArgs(['--confg', 'a.yaml'], {}), /unknown option --confg/);
    assert.equal(parseArbiterArgs(['--help'], {}).mode, 'help');
  });
});

describe('bearer tokens', () => {
  test('a token is known by its name; an unknown or short one is not, and no message holds a token', () => {
    const set = tokenSet(parseTokens('# ops\nalice 0123456789abcdef0123\n  fedcba9876543210fedc  \n', 'tokens', 'line'));
    assert.equal(set.size, 2);
    assert.equal(set.check('0123456789abcdef0123'), 'alice');
    assert.equal(set.check('fedcba9876543210fedc'), 'token-2');
    assert.equal(set.check('0123456789abcdef012'), null);
    assert.throws(() => parseTokens('bob short', 'tokens', 'line'), (e: Error) => /tokens:1: the token of bob is shorter than 16/.test(e.message) && !e.message.includes('short '));
    assert.equal(tokenSet(parseTokens('ci:0123456789abcdef0123', '$T', 'comma')).check('0123456789abcdef0123'), 'ci');
  });

  test('a tokens file open to everyone is refused; an unset variable is named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kq-arb-tok-'));
    const file = join(dir, 'tokens');
    writeFileSync(file, 'ops 0123456789abcdef0123\n');
    chmodSync(file, 0o644);
    assert.throws(() => loadTokens({ tokensFile: file }), /is open to everyone \(mode 0644\); chmod 600 it/);
    chmodSync(file, 0o600);
    assert.equal(loadTokens({ tokensFile: file }).check('0123456789abcdef0123'), 'ops');
    assert.throws(() => loadTokens({ tokensEnv: 'KQ_NOT_SET_HERE' }, {}), /environment variable KQ_NOT_SET_HERE is not set/);
  });
});

describe('small pieces', () => {
  test('listen addresses: IPv4 and bracketed IPv6', () => {
    assert.deepEqual(parseListen('127.0.0.1:8440'), { host: '127.0.0.1', port: 8440 });
    assert.deepEqual(parseListen('[::1]:8440'), { host: '::1', port: 8440 });
  });

  test("decide()'s event data becomes the arbiter event schema: epoch lifted, the rest as facts, the reason clipped to 1024", () => {
    const data = arbiterEventData({ type: 'event', name: 'lease.granted', instance: 'VI_1', node: 'web1', reason: 'x'.repeat(2000), data: { epoch: 4, revision: 9, nodes: ['a', 'b'] } });
    assert.equal(data.epoch, 4);
    assert.equal(data.subject, 'web1');
    assert.deepEqual(data.facts, { revision: 9, nodes: ['a', 'b'] });
    assert.equal(data.reason.length, 1024);
  });
});
