/**
 * ha-agent: load the configuration, then run, check or clean up.
 * Exit codes: 0 ok, 1 invalid configuration or runtime failure, 2 usage error.
 *
 * The daemon's process stays lean: the configuration parser is loaded in a
 * child (config-loader.ts), --check's host checks only in check mode.
 */
import { readFileSync } from 'node:fs';
import { createLogger } from '../../../libs/common/src/log.js';
import { isKqError } from '../../../libs/common/src/errors.js';
import type { Diagnostic } from '../../../libs/config/src/mod.js';
import { parseAgentArgs, USAGE, type AgentOptions } from './cli.js';
import { Agent } from './agent.js';
import { cleanupLeftoverVips } from './vips.js';
import { notYetImplemented } from './support.js';
import { setThisThreadNice } from '../../../libs/common/src/thread-priority.js';
import { loadConfigHere, loadConfigIsolated, type LoadedConfig } from './config-loader.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** A warning as one log message (the config library's format, without loading that library). */
function formatWarning(d: Diagnostic): string {
  return `${d.file}${d.line !== undefined ? `:${d.line}` : ''}: ${d.severity}: ${d.key ? `${d.key}: ` : ''}${d.message} [${d.code}]`;
}

/** --check: the file, then the host (interfaces, scripts). Short-lived, so it loads everything here. */
async function check(opts: AgentOptions): Promise<number> {
  const { ConfigError, describeArbiter, formatDiagnostics, resolveArbiter } = await import('../../../libs/config/src/mod.js');
  const { preflight } = await import('./preflight.js');
  let loaded: LoadedConfig;
  try {
    loaded = await loadConfigHere(opts);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${formatDiagnostics(err.diagnostics)}\n`);
    return 1;
  }
  const { config, file } = loaded;
  const warnings = [...loaded.diagnostics, ...notYetImplemented(config, file)];
  const host = await preflight(config, file);
  const lines = warnings.length > 0 ? [formatDiagnostics(warnings)] : [];
  lines.push(...host.warnings, ...host.errors.map((e) => `error: ${e}`));
  if (lines.length > 0) process.stderr.write(`${lines.join('\n')}\n`);
  if (host.errors.length > 0) {
    process.stdout.write(`${file}: not usable on this host: ${host.errors.length} error(s)\n`);
    return 1;
  }
  process.stdout.write(`${file}: configuration valid: ${config.instances.length} VRRP instance(s)\n`);
  // What the lease timing comes to, per instance (the rules were checked at load).
  for (const r of resolveArbiter(config).instances) process.stdout.write(`  ${describeArbiter(r)}\n`);
  return 0;
}

async function load(opts: AgentOptions): Promise<LoadedConfig | number> {
  try {
    return opts.mode === 'run' ? loadConfigIsolated(opts) : await loadConfigHere(opts);
  } catch (err) {
    // The child printed the errors (file:line, key) already.
    if (isKqError(err) && err.code === 'KQ_ERR_CONFIG_SCHEMA') {
      process.stderr.write(`ha-agent: ${err.message}\n`);
      return 1;
    }
    const { ConfigError, formatDiagnostics } = await import('../../../libs/config/src/mod.js');
    if (err instanceof ConfigError) {
      process.stderr.write(`${formatDiagnostics(err.diagnostics)}\n`);
      return 1;
    }
    throw err;
  }
}

async function main(argv: string[]): Promise<number> {
  let opts: AgentOptions;
  try {
    opts = parseAgentArgs(argv);
  } catch (err) {
    process.stderr.write(`ha-agent: ${(err as Error).message}\n`);
    return 2;
  }
  if (opts.mode === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (opts.mode === 'version') {
    process.stdout.write(`ha-agent ${version()}\n`);
    return 0;
  }
  if (opts.mode === 'check') return check(opts);

  const loaded = await load(opts);
  if (typeof loaded === 'number') return loaded;
  const { config, file } = loaded;
  const warnings = [...loaded.diagnostics, ...notYetImplemented(config, file)];

  const log = createLogger({ name: 'ha-agent', level: opts.logLevel });
  for (const w of warnings) log.warn({ code: w.code, file: w.file, line: w.line, key: w.key }, formatWarning(w));

  if (opts.mode === 'cleanup') {
    const removed = await cleanupLeftoverVips(config.instances, log);
    log.info({ removed }, removed.length > 0 ? 'removed leftover VIPs' : 'no leftover VIPs');
    log.flush();
    return 0;
  }

  const { openEventSink } = await import('./events.js');
  let events = await openEventSink(config, version(), log);
  events.configLoaded(config, loaded.hash, file, opts.keepalivedConf ? 'keepalived' : 'native', loaded.diagnostics.length);
  // Metrics (prom-client) are loaded only when asked for. The endpoint listens
  // before the agent joins the election: a wrong address stops the start.
  const metricsListen = opts.metrics ?? config.metrics?.listen;
  let metrics: import('./metrics.js').AgentMetrics | null = null;
  let metricsServer: import('../../../libs/common/src/metrics-http.js').MetricsServer | null = null;
  if (metricsListen) {
    const { AgentMetrics } = await import('./metrics.js');
    const { serveMetrics } = await import('../../../libs/common/src/metrics-http.js');
    const m = new AgentMetrics({ cluster: config.cluster, node: config.node.id, version: version() });
    events = m.observeSink(events);
    metricsServer = await serveMetrics(metricsListen, opts.metrics ? '--metrics' : 'metrics.listen', () => m.render(), (err) => log.error({ err: err.message }, 'metrics endpoint error'));
    log.info({ listen: `${metricsServer.address.address}:${metricsServer.address.port}` }, 'metrics: GET /metrics');
    metrics = m;
  }
  // The arbiter's link only when an instance uses it: mode off loads no NATS client for it.
  const { resolveArbiter } = await import('../../../libs/config/src/arbiter.js');
  const underArbiter = resolveArbiter(config).instances.filter((r) => r.mode !== 'off');
  let arbiter = null;
  if (underArbiter.length > 0) {
    const { openArbiterLink } = await import('./lease-client.js');
    arbiter = openArbiterLink(config, true, log);
    if (arbiter && metrics) arbiter = metrics.observeLink(arbiter);
    log.info({ instances: underArbiter.map((r) => `${r.instance} (${r.mode})`), gateway: config.node.gateway?.address }, 'arbiter: claims, renewals and heartbeats over NATS');
  }
  // After the publisher's thread exists, so that it keeps the starting value.
  const nice = setThisThreadNice(config.global.vrrpNice);
  if (nice.reason && nice.now !== nice.wanted) log.warn({ nice }, `VRRP thread left at nice ${nice.now}: ${nice.reason}`);
  else log.info({ nice }, `VRRP thread at nice ${nice.now} (vrrp_priority)`);
  const agent = await Agent.start(config, log, { events, arbiter });
  metrics?.readFrom(() => agent.status());
  let exiting = false;
  const shutdown = async (signal: string) => {
    if (exiting) return;
    exiting = true;
    // Releasing the VIPs starts before anything else, logging included.
    const stopped = agent.stop(signal);
    log.info({ signal }, 'stopping: releasing VIPs');
    try {
      await stopped;
      await metricsServer?.close();
    } finally {
      log.flush();
      process.exit(0);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGUSR1', () => log.info({ status: agent.status() }, 'status'));
  return -1; // keep running
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    const msg = isKqError(err) ? `${err.code}: ${err.message}` : (err as Error).stack ?? String(err);
    process.stderr.write(`ha-agent: ${msg}\n`);
    process.exit(1);
  },
);
