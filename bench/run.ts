/**
 * `npm run bench`: runs every benchmark suite and prints ONE JSON document on
 * stdout (progress goes to stderr). Exits 0 when every run of every suite took
 * place as it should, 1 when one failed (e.g. no takeover) or a suite could not
 * run, 2 on a usage error. Targets that are not met are reported in the JSON,
 * not in the exit code: these machines are noisy, the spread is in the figures.
 *
 *   npm run bench                       every suite, 7 runs per scenario
 *   npm run bench -- --runs 11          more runs
 *   npm run bench -- --quick            3 runs, shorter settling: a smoke check
 *   npm run bench -- --only failover    some suites (comma-separated)
 *   npm run bench -- --list             the suites
 *   npm run bench -- --out FILE         the document also to FILE (npm prints its own banner on stdout: `npm run -s bench` keeps stdout pure JSON)
 *
 * Each later issue adds its suite to SUITES; the document's shape stays:
 * {ok, failures, options, environment, targets: {"<suite>.<name>": …}, suites: {<suite>: …}}.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { labUnavailableReason } from '../test/lab/lab.js';
import { environment } from './environment.js';
import { failoverSuite } from './failover.js';
import { footprintSuite } from './footprint.js';
import { eventsSuite } from './events.js';
import { arbiterSuite } from './arbiter.js';
import { progress, type BenchOptions, type Suite, type SuiteResult, type Target } from './suite.js';

const SUITES: readonly Suite[] = [failoverSuite, footprintSuite, eventsSuite, arbiterSuite];

const DEFAULT_RUNS = 7;
const QUICK_RUNS = 3;
const MAX_RUNS = 100;

const USAGE = `usage: npm run -s bench -- [--runs N] [--quick] [--only SUITE[,SUITE]] [--out FILE] [--list]
  --runs N     measured runs per scenario and implementation (default ${DEFAULT_RUNS}, --quick ${QUICK_RUNS})
  --quick      fewer runs, shorter settling
  --only LIST  run only these suites: ${SUITES.map((s) => s.name).join(', ')}
  --out FILE   also write the JSON document to FILE
  --list       print the suites and exit
Needs root (network namespaces). Prints one JSON document on stdout; progress on stderr.
`;

class UsageError extends Error {}

function parseOptions(argv: string[]): { options: BenchOptions; suites: Suite[]; list: boolean; help: boolean; out: string | undefined } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        runs: { type: 'string' },
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        out: { type: 'string' },
        list: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const quick = values.quick ?? false;
  let runs = quick ? QUICK_RUNS : DEFAULT_RUNS;
  if (values.runs !== undefined) {
    runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1 || runs > MAX_RUNS) throw new UsageError(`--runs must be a whole number in 1..${MAX_RUNS}, got ${values.runs}`);
  }
  let suites = [...SUITES];
  if (values.only !== undefined) {
    const names = values.only.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    const unknown = names.filter((n) => !SUITES.some((s) => s.name === n));
    if (unknown.length > 0) throw new UsageError(`unknown suite ${unknown.join(', ')}; the suites are ${SUITES.map((s) => s.name).join(', ')}`);
    suites = SUITES.filter((s) => names.includes(s.name));
  }
  return { options: { runs, quick }, suites, list: values.list ?? false, help: values.help ?? false, out: values.out };
}

function packageVersion(): string | null {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

function print(doc: unknown, out: string | undefined): void {
  const text = `${JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`;
  process.stdout.write(text);
  if (out === undefined) return;
  try {
    writeFileSync(out, text);
  } catch (e) {
    process.stderr.write(`bench: cannot write ${out}: ${(e as Error).message}\n`);
  }
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench: ${e.message}\n${USAGE}`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (parsed.list) {
    for (const s of SUITES) process.stdout.write(`${s.name}\t${s.description}\n`);
    return 0;
  }
  const { options, suites } = parsed;
  const startedAt = new Date();
  const doc: Record<string, unknown> = {
    bench: 'keepquorum',
    version: packageVersion(),
    ok: false,
    failures: [] as string[],
    options: { ...options, suites: suites.map((s) => s.name) },
    startedAt: startedAt.toISOString(),
    finishedAt: null,
    durationS: null,
    environment: await environment(),
    targets: {} as Record<string, Target>,
    suites: {} as Record<string, SuiteResult>,
  };
  const failures = doc['failures'] as string[];
  const targets = doc['targets'] as Record<string, Target>;
  const results = doc['suites'] as Record<string, SuiteResult>;

  const unavailable = labUnavailableReason();
  if (unavailable) {
    failures.push(`cannot run: ${unavailable}`);
  } else {
    for (const suite of suites) {
      progress(suite.name, `start (${options.runs} runs per scenario${options.quick ? ', quick' : ''})`);
      let result: SuiteResult;
      try {
        result = await suite.run(options);
      } catch (e) {
        result = { ok: false, failures: [`${suite.name} could not run: ${(e as Error).stack ?? String(e)}`], targets: {} };
      }
      results[suite.name] = result;
      failures.push(...result.failures.map((f) => `${suite.name}: ${f}`));
      for (const [name, t] of Object.entries(result.targets)) targets[`${suite.name}.${name}`] = t;
      const met = Object.values(result.targets).filter((t) => t.met === true).length;
      progress(suite.name, `done: ${result.ok ? 'every run ok' : `${result.failures.length} failure(s)`}; targets met ${met}/${Object.keys(result.targets).length}`);
    }
  }
  const finishedAt = new Date();
  doc['finishedAt'] = finishedAt.toISOString();
  doc['durationS'] = Math.round((finishedAt.getTime() - startedAt.getTime()) / 100) / 10;
  doc['ok'] = failures.length === 0;
  print(doc, parsed.out);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    // A handle left by a failed run (a timer, a child's pipe) must not keep the bench alive.
    process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
