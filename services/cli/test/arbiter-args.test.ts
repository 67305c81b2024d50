/**
 * hactl failover / fence / status: argument parsing, the token file, the
 * arbiter URLs and the mapping of HTTP answers to exit codes. Pure: no server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { arbiterUrls, EXIT, loadToken, parseArbiterUrls, UsageError } from '../src/arbiter-client.js';
import { classify, failoverDone, FAILOVER_USAGE, FENCE_USAGE, parseFailoverArgs, parseFenceArgs, parseStatusArgs } from '../src/arbiter-commands.js';

const ENV = { KQ_ARBITER_URL: 'http://127.0.0.1:8440' };
const dir = mkdtempSync(join(tmpdir(), 'hactl-args-'));

function usage(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UsageError, `a UsageError, got ${String(e)}`);
    assert.match(e.message, message);
    return true;
  });
}

test('failover: INSTANCE, --to, --cluster, --wait with --timeout, the arbiters from the flag or the environment', () => {
  const a = parseFailoverArgs(['VI_1', '--to', 'web2', '--cluster', 'dc1', '--wait', '--timeout', '5s', '--arbiter', 'http://a:1,https://b:2/'], {});
  assert.ok(a);
  assert.equal(a.instance, 'VI_1');
  assert.equal(a.to, 'web2');
  assert.equal(a.cluster, 'dc1');
  assert.equal(a.wait, true);
  assert.equal(a.timeoutMs, 5000);
  assert.deepEqual(a.urls?.map((u) => u.href), ['http://a:1/', 'https://b:2/']);
  assert.equal(a.natsGiven, false);
  const b = parseFailoverArgs(['VI_1'], ENV);
  assert.equal(b?.urls?.[0]?.href, 'http://127.0.0.1:8440/');
  assert.equal(b?.wait, false);
  assert.equal(b?.timeoutMs, 30_000);
  assert.equal(b?.to, undefined);
  const c = parseFailoverArgs(['VI_1', '--wait', '--nats', 'nats://n1:4222,nats://n2:4222'], ENV);
  assert.equal(c?.natsGiven, true);
  assert.deepEqual(c?.nats.servers, ['nats://n1:4222', 'nats://n2:4222']);
  assert.equal(parseFailoverArgs(['VI_1', '--wait'], { ...ENV, KQ_NATS_URL: 'nats://x:4222' })?.natsGiven, true);
  assert.equal(parseFailoverArgs(['--help'], {}), null, '--help needs nothing else');
  assert.equal(parseFailoverArgs(['-h'], {}), null);
});

test('failover: every mistake is a usage error naming the flag or the value', () => {
  usage(() => parseFailoverArgs([], ENV), /failover needs INSTANCE/);
  usage(() => parseFailoverArgs(['VI_1', 'VI_2'], ENV), /takes one INSTANCE, found 2: VI_1 VI_2/);
  usage(() => parseFailoverArgs(['VI.1'], ENV), /INSTANCE 'VI\.1': letters, digits/);
  usage(() => parseFailoverArgs(['VI_1', '--to', 'web 2'], ENV), /--to 'web 2': letters, digits/);
  usage(() => parseFailoverArgs(['VI_1', '--to'], ENV), /--to/);
  usage(() => parseFailoverArgs(['VI_1', '--cluster', 'a.b'], ENV), /--cluster 'a\.b'/);
  usage(() => parseFailoverArgs(['VI_1', '--force'], ENV), /Unknown option '--force'/);
  usage(() => parseFailoverArgs(['VI_1'], {}), /no arbiter: give --arbiter URL/);
  usage(() => parseFailoverArgs(['VI_1', '--arbiter', 'nats://x:4222'], {}), /--arbiter 'nats:\/\/x:4222': scheme nats; expected http or https/);
  usage(() => parseFailoverArgs(['VI_1', '--arbiter', 'not a url'], {}), /--arbiter 'not a url': not a URL/);
  usage(() => parseFailoverArgs(['VI_1'], { KQ_ARBITER_URL: 'http://u:p@x:1' }), /\$KQ_ARBITER_URL 'http:\/\/u:p@x:1': credentials in the URL/);
  usage(() => parseFailoverArgs(['VI_1', '--timeout', '5s'], ENV), /--timeout is how long --wait follows/);
  usage(() => parseFailoverArgs(['VI_1', '--wait', '--timeout', 'soon'], ENV), /--timeout 'soon': expected a number and a unit/);
  usage(() => parseFailoverArgs(['VI_1', '--wait', '--timeout', '0s'], ENV), /--timeout '0s': must be more than 0/);
  usage(() => parseFailoverArgs(['VI_1', '--nats', 'nats://x:4222'], ENV), /--nats: NATS is only read with --wait/);
  usage(() => parseFailoverArgs(['VI_1', '--token', 'secret-value'], ENV), /--token is the NATS token \(--nats-token here\); the arbiter's bearer token comes from --token-file/);
  usage(() => parseFailoverArgs(['VI_1', '--nats-token', 'n'], ENV), /--nats-token: NATS is only read with --wait/);
  const t = parseFailoverArgs(['VI_1', '--wait', '--nats-token', 'nats-secret'], ENV);
  assert.equal(t?.nats.token, 'nats-secret', '--nats-token is NATS\'s token for --wait');
  assert.equal(t?.natsGiven, true);
});

test('fence: NODE and the common flags; NATS flags have no use there', () => {
  const f = parseFenceArgs(['web1', '--cluster', 'dc1', '--json'], ENV);
  assert.equal(f?.node, 'web1');
  assert.equal(f?.cluster, 'dc1');
  assert.equal(f?.json, true);
  assert.equal(f?.requestTimeoutMs, 120_000);
  assert.equal(parseFenceArgs(['--help'], {}), null);
  usage(() => parseFenceArgs([], ENV), /fence needs NODE/);
  usage(() => parseFenceArgs(['web/1'], ENV), /NODE 'web\/1'/);
  usage(() => parseFenceArgs(['web1', '--nats', 'nats://x:4222'], ENV), /--nats: fence does not read NATS/);
  usage(() => parseFenceArgs(['web1', '--to', 'x'], ENV), /Unknown option '--to'/);
});

test('status: an arbiter when one is given, else the KV; the two sources are not mixed', () => {
  const api = parseStatusArgs(['--cluster', 'dc1', '--json'], ENV);
  assert.equal(api?.urls?.length, 1);
  assert.equal(api?.json, true);
  const kv = parseStatusArgs(['--nats', 'nats://n1:4222'], {});
  assert.equal(kv?.urls, null);
  assert.deepEqual(kv?.nats.servers, ['nats://n1:4222']);
  assert.equal(parseStatusArgs(['--kv'], ENV)?.urls, null, '--kv wins over $KQ_ARBITER_URL');
  assert.equal(parseStatusArgs([], {})?.urls, null);
  assert.equal(parseStatusArgs(['--token', 'nats-token'], {})?.nats.token, 'nats-token', 'status reads NATS, so --token is the NATS token');
  usage(() => parseStatusArgs(['--kv', '--arbiter', 'http://x:1'], {}), /--kv and --arbiter: choose one source/);
  usage(() => parseStatusArgs(['--nats', 'nats://x:1'], ENV), /--nats: NATS is read only without an arbiter/);
  usage(() => parseStatusArgs(['VI_1'], {}), /status takes no arguments, found VI_1/);
  usage(() => parseStatusArgs(['--token-file', '/x'], {}), /--token-file: status needs no token/);
});

test('the token: alone on one line of the file (comments skipped), or $KQ_ARBITER_TOKEN; errors never show it', () => {
  const SECRET = 'tok-0123456789abcdef-secret';
  const f = join(dir, 'token');
  writeFileSync(f, `# the ops token\n\n  ${SECRET}  \n`);
  chmodSync(f, 0o600);
  assert.deepEqual(loadToken(f, {}), { token: SECRET, source: `--token-file ${f}` });
  assert.equal(loadToken(undefined, { KQ_ARBITER_TOKEN: ` ${SECRET}\n` }).token, SECRET);
  assert.equal(loadToken(f, { KQ_ARBITER_TOKEN: 'other-token-xxxxxxxx' }).token, SECRET, 'the file wins');
  chmodSync(f, 0o644);
  assert.match(loadToken(f, {}).warning ?? '', /can be read by others \(mode 0644\); chmod 600 it/);

  const two = join(dir, 'two');
  writeFileSync(two, `ops ${SECRET}\n`);
  const lines = join(dir, 'lines');
  writeFileSync(lines, `${SECRET}\n${SECRET}2\n`);
  const empty = join(dir, 'empty');
  writeFileSync(empty, '# nothing\n');
  const cases: [() => unknown, RegExp][] = [
    [() => loadToken(two, {}), /two:1: 2 fields; expected the token alone \(not the arbiter's NAME TOKEN line\)/],
    [() => loadToken(lines, {}), /lines:2: more than one line/],
    [() => loadToken(empty, {}), /empty: no token in it/],
    [() => loadToken(join(dir, 'missing'), {}), /--token-file .*missing: cannot read it \(ENOENT\)/],
    [() => loadToken(undefined, {}), /no token: give --token-file FILE or set \$KQ_ARBITER_TOKEN/],
    [() => loadToken(undefined, { KQ_ARBITER_TOKEN: `${SECRET} more` }), /\$KQ_ARBITER_TOKEN: holds white space/],
  ];
  for (const [fn, re] of cases) {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, re);
      assert.ok(!e.message.includes(SECRET), `the message shows the token: ${e.message}`);
      return true;
    });
  }
});

test('arbiter URLs: a list, in order; $KQ_ARBITER_URL only when the flag is absent', () => {
  assert.deepEqual(parseArbiterUrls(' http://a:1 , http://b:2 ,', '--arbiter').map((u) => u.host), ['a:1', 'b:2']);
  assert.equal(arbiterUrls(undefined, {}), null);
  assert.equal(arbiterUrls(undefined, { KQ_ARBITER_URL: '  ' }), null);
  assert.equal(arbiterUrls('http://flag:1', { KQ_ARBITER_URL: 'http://env:1' })?.[0]?.host, 'flag:1');
  assert.throws(() => parseArbiterUrls(',', '--arbiter'), /--arbiter: no URL given/);
  assert.throws(() => parseArbiterUrls('http://a:1/?x=1', '--arbiter'), /a query or fragment/);
});

test('HTTP answers map to distinct exit codes', () => {
  assert.deepEqual(classify(200, 'failover'), { outcome: 'accepted', exit: 0 });
  assert.deepEqual(classify(200, 'fence'), { outcome: 'confirmed', exit: 0 });
  assert.deepEqual(classify(409, 'failover'), { outcome: 'refused', exit: EXIT.refused });
  assert.deepEqual(classify(401, 'failover'), { outcome: 'unauthorized', exit: EXIT.unauthorized });
  assert.deepEqual(classify(400, 'failover'), { outcome: 'badRequest', exit: EXIT.badRequest });
  assert.deepEqual(classify(404, 'fence'), { outcome: 'badRequest', exit: EXIT.badRequest });
  assert.deepEqual(classify(502, 'fence'), { outcome: 'fenceFailed', exit: EXIT.fenceFailed });
  assert.deepEqual(classify(503, 'failover'), { outcome: 'failed', exit: EXIT.failed });
  assert.deepEqual(classify(500, 'fence'), { outcome: 'failed', exit: EXIT.failed });
  const codes = Object.values(EXIT);
  assert.equal(new Set(codes).size, codes.length, 'every exit code means one thing');
  for (const code of codes) {
    assert.match(FAILOVER_USAGE, new RegExp(`^  ${code}  `, 'm'), `failover --help documents exit ${code}`);
    assert.match(FENCE_USAGE, new RegExp(`^  ${code}  `, 'm'), `fence --help documents exit ${code}`);
  }
});

test('failover --wait is done when another node (the target, when named) holds a later epoch', () => {
  const prior = { holder: 'a', epoch: 4 };
  assert.equal(failoverDone(prior, { holder: 'a', epoch: 4 }, 'b'), false);
  assert.equal(failoverDone(prior, { holder: null, epoch: 5, reservedFor: 'b' }, 'b'), false, 'revoked, not yet granted');
  assert.equal(failoverDone(prior, { holder: 'c', epoch: 6 }, 'b'), false, 'someone else than the target');
  assert.equal(failoverDone(prior, { holder: 'b', epoch: 6 }, 'b'), true);
  assert.equal(failoverDone(prior, { holder: 'c', epoch: 6 }, undefined), true);
  assert.equal(failoverDone(prior, { holder: 'a', epoch: 7 }, undefined), false, 'the old holder again is not a failover');
  assert.equal(failoverDone(null, { holder: 'b', epoch: 1 }, 'b'), true);
  assert.equal(failoverDone(prior, null, 'b'), false);
});
