#!/usr/bin/env node
/**
 * Runs every compiled test file with Node's test runner: the pure unit tests in
 * parallel, then the lab (network namespace) tests one file at a time, since they
 * measure timings on a shared two-core machine.
 *
 *   node scripts/run-tests.mjs            all tests
 *   node scripts/run-tests.mjs --unit     unit tests only
 *   node scripts/run-tests.mjs --lab      lab tests only
 *   node scripts/run-tests.mjs FILTER     only files whose path contains FILTER
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const args = process.argv.slice(2);
const only = args.includes('--unit') ? 'unit' : args.includes('--lab') ? 'lab' : 'all';
const filters = args.filter((a) => !a.startsWith('--'));

function find(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) find(p, out);
    else if (e.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = find(dist)
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
/** A lab test builds namespaces; they live under test/ or are named *.lab.test.js. */
const isLab = (f) => f.startsWith('dist/test/') || f.endsWith('.lab.test.js');
const unit = files.filter((f) => !isLab(f));
const lab = files.filter(isLab);

let failed = false;
function runTests(list, concurrency) {
  if (list.length === 0) return;
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=600000', ...list], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) failed = true;
}

if (only !== 'lab') runTests(unit, 2);
if (only !== 'unit') runTests(lab, 1);
process.exit(failed ? 1 : 0);
