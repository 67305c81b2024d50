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
import type { AgentOptions } from './cli.js';

export interface LoadedConfig {
  config: AgentConfig;
  diagnostics: Diagnostic[];
  file: string;
}

export type ConfigSource = Pick<AgentOptions, 'keepalivedConf' | 'config'>;

/** In this process. Throws ConfigError (libs/config) listing every error. */
export async function loadConfigHere(source: ConfigSource): Promise<LoadedConfig> {
  const { loadAgentConfig, loadKeepalivedConf } = await import('../../../libs/config/src/mod.js');
  if (source.keepalivedConf) return { ...loadKeepalivedConf(source.keepalivedConf), file: source.keepalivedConf };
  return { ...loadAgentConfig(source.config!), file: source.config! };
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
