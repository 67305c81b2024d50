/**
 * Loading the configuration: directly (check and cleanup modes, short-lived)
 * or in a child process (the daemon).
 *
 * Why a child: the parser and its schemas (zod, yaml, the keepalived.conf
 * keyword tables) cost the process about 20 MB of resident memory that a
 * module system never gives back. The daemon only needs their result, so a
 * short-lived `node load-config-child.js` validates the files and hands over
 * the frozen model as JSON; the daemon never imports them (measured with the
 * footprint benchmark).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AgentConfig, Diagnostic } from '../../../libs/config/src/mod.js';
import { KqError } from '../../../libs/common/src/errors.js';
import type { AgentOptions, ConfigOverrides } from './cli.js';

export interface LoadedConfig {
  config: AgentConfig;
  diagnostics: Diagnostic[];
  file: string;
  /** sha256 (hex) of the configuration as loaded: tells two nodes' configurations apart in events. */
  hash: string;
}

export type ConfigSource = Pick<AgentOptions, 'keepalivedConf' | 'config'> & { overrides?: ConfigOverrides };

/** In this process. Throws ConfigError (libs/config) listing every error. */
export async function loadConfigHere(source: ConfigSource): Promise<LoadedConfig> {
  const { applyOverlay, ConfigError, loadAgentConfig, loadKeepalivedConf, loadOverlay, parseOverlay, resolveArbiter } = await import('../../../libs/config/src/mod.js');
  const file = source.keepalivedConf ?? source.config!;
  const loaded = source.keepalivedConf ? loadKeepalivedConf(source.keepalivedConf) : loadAgentConfig(source.config!);
  let { config } = loaded;
  const diagnostics = [...loaded.diagnostics];
  const o = source.overrides ?? {};
  if (o.overlay) {
    const { overlay, diagnostics: d } = loadOverlay(o.overlay);
    config = applyOverlay(config, overlay);
    diagnostics.push(...d);
  }
  // The flags, validated as an overlay named after the command line. Those
  // that set one key of a section keep the rest of it.
  const flags: Record<string, unknown> = {};
  if (o.nats) flags['nats'] = { ...(config.nats ?? {}), servers: o.nats };
  if (o.cluster !== undefined) flags['cluster'] = o.cluster;
  if (o.nodeId !== undefined || o.gateway !== undefined) {
    const node: Record<string, unknown> = { ...config.node };
    if (o.nodeId !== undefined) node['id'] = o.nodeId;
    if (o.gateway !== undefined) node['gateway'] = o.gateway;
    flags['node'] = node;
  }
  if (o.stateDir !== undefined) flags['stateDir'] = o.stateDir;
  if (o.arbiterMode !== undefined || o.fencing !== undefined) {
    // Without its old source, a problem with the flag's value names the command line.
    const { source: _source, ...arbiter } = config.arbiter ?? {};
    if (o.arbiterMode !== undefined) arbiter.mode = o.arbiterMode;
    if (o.fencing !== undefined) arbiter.fencing = o.fencing;
    flags['arbiter'] = arbiter;
  }
  if (Object.keys(flags).length > 0) config = applyOverlay(config, parseOverlay(JSON.stringify(flags), '(command line)', 'json').overlay);
  // The arbiter's settings are checked on the whole: the instances may come from
  // one file, the mode from a flag, the timing from the overlay.
  const arbiter = resolveArbiter(config);
  const arbiterErrors = arbiter.diagnostics.filter((d) => d.severity === 'error');
  if (arbiterErrors.length > 0) throw new ConfigError(file, [...diagnostics, ...arbiter.diagnostics]);
  diagnostics.push(...arbiter.diagnostics);
  const { createHash } = await import('node:crypto');
  const hash = createHash('sha256').update(JSON.stringify(config)).digest('hex');
  return { config, diagnostics, file, hash };
}

const CHILD = fileURLToPath(new URL('./load-config-child.js', import.meta.url));

/** Exit code of the child when the configuration is invalid (its errors are on stderr). */
export const INVALID_CONFIG_EXIT = 1;

/**
 * In a child process. The child prints the errors itself (file:line, key) on
 * our stderr; an invalid configuration throws a KqError naming the file.
 */
export function loadConfigIsolated(source: ConfigSource): LoadedConfig {
  const args = source.keepalivedConf ? ['--keepalived-conf', source.keepalivedConf] : ['--config', source.config!];
  // The child takes the overrides as JSON: it re-validates them, we only carry them.
  if (source.overrides && Object.keys(source.overrides).length > 0) args.push('--overrides', JSON.stringify(source.overrides));
  let out: string;
  try {
    out = execFileSync(process.execPath, [CHILD, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const status = (err as { status?: number }).status;
    const file = source.keepalivedConf ?? source.config ?? '';
    if (status === INVALID_CONFIG_EXIT) throw new KqError('KQ_ERR_CONFIG_SCHEMA', `${file}: invalid configuration (errors above)`);
    throw new KqError('KQ_ERR_CONFIG_FILE', `${file}: loading the configuration failed: ${(err as Error).message}`);
  }
  return JSON.parse(out) as LoadedConfig;
}
