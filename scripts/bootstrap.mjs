#!/usr/bin/env node
/**
 * Makes a fresh clone runnable: the Debian packages the lab uses, the node
 * modules (native addons built), the TypeScript build. Idempotent and quiet when
 * there is nothing to do, so `npm test` and `npm run demo` can run it every time.
 * Uses nothing but Node's standard library: node_modules may not exist yet.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Debian packages the lab, the demo and the tests need, with the command that proves each is there. */
const DEBIAN_PACKAGES = [
  ['iproute2', '/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip'],
  ['nftables', '/usr/sbin/nft'],
  ['nats-server', '/usr/sbin/nats-server', '/usr/bin/nats-server'],
  ['keepalived', '/usr/sbin/keepalived'],
  ['iputils-ping', '/usr/bin/ping', '/bin/ping'],
  ['nginx-light', '/usr/sbin/nginx'],
  ['procps', '/usr/bin/ps', '/bin/ps'],
  ['curl', '/usr/bin/curl'],
  // Pacemaker's fence agents: the fencing tests run fence_dummy (libs/fencing/test).
  ['fence-agents', '/usr/sbin/fence_dummy'],
  // The dashboard's end-to-end test drives it with playwright-core (test/integration/dashboard.test.ts).
  ['chromium', '/usr/bin/chromium'],
];

function log(msg) {
  process.stderr.write(`[bootstrap] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) {
    log(`'${cmd} ${args.join(' ')}' failed with exit code ${r.status}`);
    process.exit(r.status ?? 1);
  }
}

function ensureDebianPackages() {
  const missing = DEBIAN_PACKAGES.filter(([, ...paths]) => !paths.some((p) => existsSync(p))).map(([name]) => name);
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    log(`missing system packages: ${missing.join(' ')}; install them (apt-get install ${missing.join(' ')}) — lab tests will be skipped without them`);
    return;
  }
  log(`installing system packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
}

function newestMtime(dir, skip = new Set(['node_modules', 'dist', '.git', 'build'])) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (skip.has(entry.name)) continue;
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.ts') || entry.name === 'tsconfig.json') newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return newest;
}

function ensureNodeModules() {
  const lock = join(root, 'package-lock.json');
  const installed = join(root, 'node_modules', '.package-lock.json');
  const stale = !existsSync(installed) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(installed).mtimeMs);
  if (!stale && nativeAddonsBuilt()) return false;
  log(existsSync(lock) ? 'installing node modules (npm ci)' : 'installing node modules (npm install)');
  run('npm', [existsSync(lock) ? 'ci' : 'install', '--no-audit', '--no-fund']);
  if (!nativeAddonsBuilt()) {
    log('a native addon did not build: check that python3, make and g++ are installed');
    process.exit(1);
  }
  return true;
}

function nativeAddonsBuilt() {
  return [
    'node_modules/raw-socket/build/Release/raw.node',
  ].every((p) => existsSync(join(root, p)));
}

function ensureBuild(force) {
  const marker = join(root, 'dist', '.build-stamp');
  const src = Math.max(newestMtime(join(root, 'libs')), newestMtime(join(root, 'services')), newestMtime(join(root, 'test')),
    newestMtime(join(root, 'bench')), newestMtime(join(root, 'demo')), statSync(join(root, 'tsconfig.json')).mtimeMs);
  if (!force && existsSync(marker) && statSync(marker).mtimeMs >= src) return;
  log('compiling TypeScript');
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  execFileSync('touch', [marker]);
}

ensureDebianPackages();
const installed = ensureNodeModules();
ensureBuild(installed);
