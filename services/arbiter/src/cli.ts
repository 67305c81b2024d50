/**
 * ha-arbiter's command line. Parsing is pure (argv in, options or a usage
 * error out) so it is tested without starting anything.
 */
import { KqError } from '../../../libs/common/src/errors.js';

export interface ArbiterOptions {
  mode: 'run' | 'check' | 'help' | 'version';
  config?: string;
  logLevel: string;
}

export const USAGE = `Usage: ha-arbiter --config FILE [options]

Runs one replica of the keepquorum arbiter: answers the agents' lease claims,
renewals and releases on NATS (queue group "arbiters"), keeps the leases in the
JetStream KV bucket HA_LEASES by compare-and-set, fences silent holders, and
serves the HTTP API (status, forced failover, manual fence).

Options:
  --config FILE       the arbiter's configuration (YAML or JSON)
  --check             validate the configuration (and read its token and secret
                      files, check its fence agents), print problems, exit 0/1
  --log-level LEVEL   trace|debug|info|warn|error (default: info, or $KQ_LOG_LEVEL)
  -h, --help          this text
  --version           print the version

Signals: SIGTERM/SIGINT stop cleanly (no new requests, writes in flight
finish and are answered, connections closed), exit 0.
`;

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function parseArbiterArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ArbiterOptions {
  const opts: ArbiterOptions = { mode: 'run', logLevel: env['KQ_LOG_LEVEL'] ?? 'info' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const [flag, inline] = arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const take = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) throw new KqError('KQ_ERR_USAGE', `${flag} needs a value\n\n${USAGE}`);
      i++;
      return v;
    };
    switch (flag) {
      case '--config':
      case '-c':
        opts.config = take();
        break;
      case '--check':
        opts.mode = 'check';
        break;
      case '--log-level':
        opts.logLevel = take();
        break;
      case '-h':
      case '--help':
        return { ...opts, mode: 'help' };
      case '--version':
        return { ...opts, mode: 'version' };
      default:
        throw new KqError('KQ_ERR_USAGE', `unknown option ${arg}\n\n${USAGE}`);
    }
  }
  if (!opts.config) throw new KqError('KQ_ERR_USAGE', `a configuration is needed: --config FILE\n\n${USAGE}`);
  if (!LEVELS.includes(opts.logLevel)) throw new KqError('KQ_ERR_USAGE', `--log-level ${opts.logLevel}: expected trace, debug, info, warn or error`);
  return opts;
}
