/**
 * bin/ha-arbiter as a process: --check exits 0/1 with the problems on stderr,
 * and a running replica answers a claim and stops cleanly on SIGTERM (exit 0).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { natsUnavailableReason, SimNode, startNatsServer, tempDir, claimUntilGranted, waitFor, type NatsServer } from '../fixtures/harness.js';

const BIN = fileURLToPath(new URL('../../../../bin/ha-arbiter', import.meta.url));
const skip = natsUnavailableReason() ?? false;

function configFile(url: string, extra = ''): string {
  const dir = tempDir('kq-arb-bin-');
  const file = join(dir, 'arbiter.yaml');
  writeFileSync(
    file,
    `cluster: lab\nreplica: bin-1\nstateDir: ${join(dir, 'state')}\nnats:\n  servers: [${url}]\nleases:\n  replicas: 1\nheartbeats:\n  warmupMs: 300\ninstances:\n  - name: binst\n${extra}`,
  );
  return file;
}

describe('bin/ha-arbiter', { skip }, () => {
  let ns: NatsServer;
  before(async () => {
    ns = await startNatsServer();
  });
  after(async () => {
    await ns?.dispose();
  });

  test('--check says a valid file is valid (exit 0) and lists what is wrong in a bad one (exit 1)', () => {
    const ok = spawnSync(process.execPath, [BIN, '--check', '--config', configFile(ns.url)], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /configuration valid: 1 instance\(s\), cluster lab, replica bin-1/);
    const bad = spawnSync(process.execPath, [BIN, '--check', '--config', configFile(ns.url, '    fencing: required\n    members: [w1]\n')], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /instances\[0\]\.fencing: fencing 'required' needs gateway\.address/);
    const usage = spawnSync(process.execPath, [BIN], { encoding: 'utf8' });
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /a configuration is needed: --config FILE/);
  });

  test('a running replica grants a claim and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, '--config', configFile(ns.url)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const n = await SimNode.start(ns.url, 'bin-node');
    try {
      n.report('binst', 'CLAIMING');
      n.startHeartbeats();
      await waitFor('the replica to be ready', () => out.includes('arbiter ready'));
      const g = await claimUntilGranted(n, 'binst');
      assert.equal(g.answer.epoch, 1);
    } finally {
      await n.close();
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, out.slice(-2000));
    assert.match(out, /"msg":"arbiter stopped"/);
  });
});
