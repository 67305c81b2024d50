/**
 * The short-lived child that loads and validates ha-agent's configuration
 * (see config-loader.ts): prints {config, diagnostics, file} as JSON on
 * stdout, or the errors on stderr and exits 1.
 */
import { ConfigError, formatDiagnostics } from '../../../libs/config/src/mod.js';
import { loadConfigHere, INVALID_CONFIG_EXIT } from './config-loader.js';

const [flag, file] = process.argv.slice(2);
try {
  const loaded = await loadConfigHere(flag === '--keepalived-conf' ? { keepalivedConf: file } : { config: file });
  process.stdout.write(JSON.stringify(loaded));
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${formatDiagnostics(err.diagnostics)}\n`);
  process.exitCode = INVALID_CONFIG_EXIT;
}
