import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Lab, labUnavailableReason, run, type LabHost } from '../../../test/lab/lab.js';
import { FAILURE_TIMEOUT_MS, fixture } from '../fixtures/helpers.js';
import type { ProbeSpec } from '../fixtures/probe.js';
import type { ProbeResult } from '../src/mod.js';

const skip = labUnavailableReason();

const SERVER4 = '198.18.0.10';
const SERVER6 = 'fd00:198:18::10';
const ABSENT4 = '198.18.0.99';
const ABSENT6 = 'fd00:198:18::99';
const HTTP_PORT = 8080;
const HTTPS_PORT = 8443;
const TCP_PORT = 9000;
const CLOSED_PORT = 9001;
const HELLO_BODY = 'hello from the keepquorum lab\n';
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

interface Setup {
  lab: Lab;
  client: LabHost;
}

/** A server host with HTTP, HTTPS (self-signed, made now) and a TCP listener, and a client host to probe from. */
async function setUp(): Promise<Setup> {
  const lab = await Lab.create();
  try {
    const server = await lab.addHost({ name: 'srv', ipv4: SERVER4, ipv6: SERVER6 });
    const client = await lab.addHost({ name: 'cli', ipv4: '198.18.0.20', ipv6: 'fd00:198:18::20' });
    const cert = join(lab.dir, 'cert.pem');
    const key = join(lab.dir, 'key.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=kq-lab.test']);
    const servers = server.spawnNode(
      'servers',
      fixture('servers'),
      ['--http', String(HTTP_PORT), '--https', String(HTTPS_PORT), '--cert', cert, '--key', key, '--tcp', String(TCP_PORT)],
      { captureStdout: true },
    );
    await servers.waitForLine((l) => l.includes('"ready"'), FAILURE_TIMEOUT_MS);
    return { lab, client };
  } catch (e) {
    await lab.destroy();
    throw e;
  }
}

/** Runs the probes inside the client's namespace, all at once; results in the order given. */
async function probe(host: LabHost, specs: ProbeSpec[]): Promise<ProbeResult[]> {
  const proc = host.spawnNode('probe', fixture('probe'), [JSON.stringify(specs)], { captureStdout: true });
  const timer = setTimeout(() => proc.signal('SIGKILL'), FAILURE_TIMEOUT_MS);
  const { code } = await proc.exited;
  clearTimeout(timer);
  assert.equal(code, 0, `probe fixture exited ${code} (log: ${proc.logFile})`);
  const results: ProbeResult[] = [];
  for (const line of proc.lines.filter((l) => l.startsWith('{'))) {
    const r = JSON.parse(line) as ProbeResult & { index: number };
    results[r.index] = { ok: r.ok, latencyMs: r.latencyMs, detail: r.detail };
  }
  assert.equal(results.filter(Boolean).length, specs.length, JSON.stringify(proc.lines));
  return results;
}

function expectOk(r: ProbeResult | undefined, what: string): void {
  assert.ok(r, what);
  assert.equal(r.ok, true, `${what}: ${r.detail}`);
  assert.ok(r.latencyMs >= 0, what);
}

function expectFail(r: ProbeResult | undefined, what: string, detail: RegExp): void {
  assert.ok(r, what);
  assert.equal(r.ok, false, `${what}: ${r.detail}`);
  assert.match(r.detail, detail, what);
}

test('ICMP echo: a lab host answers over IPv4 and IPv6; an address nobody holds does not', { skip }, async () => {
  const { lab, client } = await setUp();
  try {
    const [v4, v6, absent4, absent6] = await probe(client, [
      { kind: 'icmp', address: SERVER4, timeoutMs: 5000 },
      { kind: 'icmp', address: SERVER6, timeoutMs: 5000 },
      { kind: 'icmp', address: ABSENT4, timeoutMs: 1000 },
      { kind: 'icmp', address: ABSENT6, timeoutMs: 1000 },
    ]);
    expectOk(v4, 'ping 198.18.0.10');
    assert.match(v4!.detail, /^echo reply from 198\.18\.0\.10 in /);
    expectOk(v6, 'ping fd00:198:18::10');
    assert.match(v6!.detail, /^echo reply from fd00:198:18::10 in /);
    // No neighbour answers: either our timeout or the kernel's "unreachable", never a reply.
    expectFail(absent4, 'ping 198.18.0.99', /no echo reply from 198\.18\.0\.99|unreachable|EHOSTUNREACH/);
    expectFail(absent6, 'ping fd00:198:18::99', /no echo reply from fd00:198:18::99|unreachable|EHOSTUNREACH/);
  } finally {
    await lab.destroy();
  }
});

test('TCP connect: an open port connects, a closed one is refused', { skip }, async () => {
  const { lab, client } = await setUp();
  try {
    const [open4, closed4, open6, closed6] = await probe(client, [
      { kind: 'tcp', address: SERVER4, port: TCP_PORT, timeoutMs: 5000 },
      { kind: 'tcp', address: SERVER4, port: CLOSED_PORT, timeoutMs: 5000 },
      { kind: 'tcp', address: SERVER6, port: TCP_PORT, timeoutMs: 5000, sourceAddress: 'fd00:198:18::20' },
      { kind: 'tcp', address: SERVER6, port: CLOSED_PORT, timeoutMs: 5000 },
    ]);
    expectOk(open4, 'tcp 198.18.0.10:9000');
    assert.match(open4!.detail, /^connected to 198\.18\.0\.10:9000 in /);
    expectFail(closed4, 'tcp 198.18.0.10:9001', /ECONNREFUSED/);
    expectOk(open6, 'tcp [fd00:198:18::10]:9000');
    expectFail(closed6, 'tcp [fd00:198:18::10]:9001', /^cannot connect to \[fd00:198:18::10\]:9001: .*ECONNREFUSED/);
  } finally {
    await lab.destroy();
  }
});

test('HTTP GET: status codes, body digest and Host header, as keepalived HTTP_GET', { skip }, async () => {
  const { lab, client } = await setUp();
  try {
    const base = { kind: 'http' as const, address: SERVER4, port: HTTP_PORT, timeoutMs: 5000 };
    const results = await probe(client, [
      { ...base },
      { ...base, digest: md5(HELLO_BODY) },
      { ...base, digest: md5('something else') },
      { ...base, path: '/missing' },
      { ...base, path: '/missing', statusCodes: [404] },
      { ...base, path: '/host', virtualHost: 'www.example.test', digest: md5('www.example.test') },
      { ...base, path: '/slow', timeoutMs: 300 },
      { ...base, address: SERVER6, digest: md5(HELLO_BODY).toUpperCase() },
      { ...base, port: CLOSED_PORT },
    ]);
    expectOk(results[0], 'GET /');
    assert.match(results[0]!.detail, /^GET http:\/\/198\.18\.0\.10:8080\/: HTTP 200 in /);
    expectOk(results[1], 'GET / with the right digest');
    expectFail(results[2], 'GET / with a wrong digest', new RegExp(`body digest ${md5(HELLO_BODY)}; expected ${md5('something else')}`));
    expectFail(results[3], 'GET /missing', /HTTP 404; expected 200-299/);
    expectOk(results[4], 'GET /missing expecting 404');
    expectOk(results[5], 'GET /host with a virtual host');
    expectFail(results[6], 'GET /slow', /no complete answer within 300 ms/);
    expectOk(results[7], 'GET / over IPv6 with an upper-case digest');
    expectFail(results[8], 'GET on a closed port', /ECONNREFUSED/);
  } finally {
    await lab.destroy();
  }
});

test('HTTPS GET: a self-signed certificate is refused unless verification is off; status and digest as over HTTP', { skip }, async () => {
  const { lab, client } = await setUp();
  try {
    const base = { kind: 'http' as const, tls: true, address: SERVER4, port: HTTPS_PORT, timeoutMs: 5000 };
    const [verified, unverified, digest, status] = await probe(client, [
      { ...base },
      { ...base, verifyTls: false },
      { ...base, verifyTls: false, digest: md5(HELLO_BODY) },
      { ...base, verifyTls: false, path: '/missing' },
    ]);
    expectFail(verified, 'HTTPS with verification', /certificate.*\(verifyTls: false accepts it\)/i);
    expectOk(unverified, 'HTTPS without verification');
    assert.match(unverified!.detail, /^GET https:\/\/198\.18\.0\.10:8443\/: HTTP 200 in /);
    expectOk(digest, 'HTTPS digest');
    expectFail(status, 'HTTPS /missing', /HTTP 404; expected 200-299/);
  } finally {
    await lab.destroy();
  }
});
