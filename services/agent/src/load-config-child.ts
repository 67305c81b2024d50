/**
 * The short-lived child that loads and validates ha-agent's configuration
 * (see config-loader.ts): prints {config, diagnostics, file} as JSON on
 * stdout, or the errors on stderr and exits 1.
 */
import { ConfigError, formatDiagnostics } from '../../../libs/config/src/mod.js';
import { loadConfigHere, INVALID_CONFIG_EXIT } from './config-loader.js';
import type { ConfigOverrides } from './cli.js';

const [flag, file, overridesFlag, overridesJson] = process.argv.slice(2);
const overrides = overridesFlag === '--overrides' && overridesJson ? (JSON.parse(overridesJson) as ConfigOverrides) : {};
try {
  const loaded = await loadConfigHere(flag === '--keepalived-conf' ? { keepalivedConf: file, overrides } : { config: file, overrides });
  process.stdout.write(JSON.stringify(loaded));
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${formatDiagnostics(err.diagnostics)}\n`);
  process.exitCode = INVALID_CONFIG_EXIT;
}
