/**
 * ha-arbiter: load the configuration, then run or check.
 * Exit codes: 0 ok, 1 invalid configuration or runtime failure, 2 usage error.
 */
import { readFileSync } from 'node:fs';
import { createLogger } from '../../../libs/common/src/log.js';
import { isKqError } from '../../../libs/common/src/errors.js';
import { ConfigError, formatDiagnostic, formatDiagnostics } from '../../../libs/config/src/diagnostics.js';
import { parseArbiterArgs, USAGE, type ArbiterOptions } from './cli.js';
import { loadArbiterConfig, type ArbiterLoadResult } from './config.js';
import { buildFencers } from './fencers.js';
import { startArbiterService } from './service.js';
import { loadTokens } from './tokens.js';
import { ArbiterMetrics } from './metrics.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function load(file: string): ArbiterLoadResult | null {
  try {
    return loadArbiterConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${formatDiagnostics(e.diagnostics)}\n`);
      return null;
    }
    throw e;
  }
}

/** --check: the file, then what it points at (tokens, secret files, fence agents). Nothing is connected. */
async function check(opts: ArbiterOptions): Promise<number> {
  const loaded = load(opts.config!);
  if (!loaded) return 1;
  const { config, diagnostics } = loaded;
  if (diagnostics.length > 0) process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);
  const problems: string[] = [];
  try {
    if (config.http) loadTokens(config.http);
  } catch (e) {
    problems.push((e as Error).message);
  }
  try {
    await buildFencers(config, null);
  } catch (e) {
    problems.push((e as Error).message);
  }
  if (problems.length > 0) {
    process.stderr.write(`${problems.map((p) => `error: ${p}`).join('\n')}\n`);
    process.stdout.write(`${opts.config}: not usable: ${problems.length} error(s)\n`);
    return 1;
  }
  process.stdout.write(`${opts.config}: configuration valid: ${config.instances.length} instance(s), cluster ${config.cluster}, replica ${config.replica}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let opts: ArbiterOptions;
  try {
    opts = parseArbiterArgs(argv);
  } catch (err) {
    process.stderr.write(`ha-arbiter: ${(err as Error).message}\n`);
    return 2;
  }
  if (opts.mode === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (opts.mode === 'version') {
    process.stdout.write(`ha-arbiter ${version()}\n`);
    return 0;
  }
  if (opts.mode === 'check') return check(opts);

  const loaded = load(opts.config!);
  if (!loaded) return 1;
  const log = createLogger({ name: 'ha-arbiter', level: opts.logLevel });
  for (const d of loaded.diagnostics) log.warn({ code: d.code, file: d.file, line: d.line, key: d.key }, formatDiagnostic(d));
  // Metrics are served on the HTTP API: without http.listen there is nowhere to scrape them.
  const metrics = loaded.config.http ? new ArbiterMetrics({ cluster: loaded.config.cluster, replica: loaded.config.replica, version: version() }) : undefined;
  const service = await startArbiterService(loaded.config, { log, ...(metrics ? { metrics } : {}) });
  log.info({ cluster: loaded.config.cluster, replica: loaded.config.replica, version: version() }, 'arbiter started');
  let exiting = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (exiting) return;
    exiting = true;
    try {
      await service.stop(signal);
    } finally {
      log.flush();
      process.exit(0);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGUSR1', () => log.info({ stats: service.arbiter.stats(), view: service.arbiter.snapshot() }, 'status'));
  return -1; // keep running
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    const msg = isKqError(err) ? `${err.code}: ${err.message}` : ((err as Error).stack ?? String(err));
    process.stderr.write(`ha-arbiter: ${msg}\n`);
    process.exit(1);
  },
);

