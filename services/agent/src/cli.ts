/**
 * ha-agent's command line. Parsing is pure (argv in, options or a usage error
 * out) so it is tested without starting anything.
 */
import { KqError } from '../../../libs/common/src/errors.js';
import { parseListenAddress } from '../../../libs/common/src/metrics-listen.js';

export interface AgentOptions {
  mode: 'run' | 'check' | 'cleanup' | 'help' | 'version';
  keepalivedConf?: string;
  config?: string;
  logLevel: string;
  /** Serve Prometheus metrics on GET /metrics at HOST:PORT (over the config's metrics.listen). */
  metrics?: string;
  /** Settings a keepalived.conf cannot say, on top of the configuration. */
  overrides: ConfigOverrides;
}

/** The event log's settings from the command line (and an overlay file). */
export interface ConfigOverrides {
  overlay?: string;
  nats?: string[];
  cluster?: string;
  nodeId?: string;
  stateDir?: string;
  /** The arbiter (beside a keepalived.conf): every instance's default mode and fencing, the node's gateway. */
  arbiterMode?: 'strict' | 'failsafe' | 'off';
  fencing?: 'off' | 'best-effort' | 'required';
  gateway?: string;
}

export const USAGE = `Usage: ha-agent (--keepalived-conf FILE | --config FILE) [options]

Runs the VRRP instances of a keepalived.conf (read as is) or of a keepquorum
YAML/JSON config.

Options:
  --keepalived-conf FILE  read a keepalived.conf (global_defs, vrrp_script, vrrp_instance, ...)
  --config FILE           read a keepquorum config (YAML or JSON)

Event log (NATS JetStream), beside either configuration:
  --nats URL[,URL...]     publish every transition and check result to these NATS servers
  --cluster NAME          the cluster this node belongs to (default: default)
  --node-id ID            this node's name in events (default: router_id, else the hostname)
  --state-dir DIR         where the event journal lives (default: /var/lib/keepquorum)
  --overlay FILE          a YAML/JSON file with node, cluster, stateDir, nats
                          (credentials, nkeys, TLS) and arbiter for a keepalived.conf

Arbiter (needs --nats; the flags set every instance's default):
  --mode MODE             strict (no VIP without a lease), failsafe (the default: as
                          strict while an arbiter answers) or off (plain VRRP)
  --gateway IP            the gateway this node pings; a node without it never claims
  --fencing POLICY        off, best-effort or required: what the arbiter may do to a
                          silent holder before granting its lease to another node

Metrics:
  --metrics ADDR:PORT     serve Prometheus metrics on GET /metrics (unauthenticated: use a
                          management address, e.g. 127.0.0.1:9650 or [::1]:9650)

Modes:
  --check                 validate the configuration, print warnings and errors, exit
                          (0 valid, 1 invalid)
  --cleanup               remove this configuration's virtual addresses from their
                          interfaces and exit (what the systemd unit runs as ExecStopPost)
  --log-level LEVEL       trace|debug|info|warn|error (default: info, or $KQ_LOG_LEVEL)
  -h, --help              this text
  --version               print the version

Signals: SIGTERM/SIGINT release the VIPs, send priority 0 and exit 0;
SIGUSR1 logs every instance's state and counters.
`;

export function parseAgentArgs(argv: readonly string[]): AgentOptions {
  const opts: AgentOptions = { mode: 'run', logLevel: process.env['KQ_LOG_LEVEL'] ?? 'info', overrides: {} };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new KqError('KQ_ERR_USAGE', `${flag} needs a value\n\n${USAGE}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const take = (): string => {
      if (inline !== undefined) return inline;
      const v = value(i, flag);
      i++;
      return v;
    };
    switch (flag) {
      case '--keepalived-conf':
      case '-f':
        opts.keepalivedConf = take();
        break;
      case '--config':
        opts.config = take();
        break;
      case '--check':
        opts.mode = 'check';
        break;
      case '--cleanup':
        opts.mode = 'cleanup';
        break;
      case '--log-level':
        opts.logLevel = take();
        break;
      case '--nats':
        opts.overrides.nats = take()
          .split(',')
          .map((u) => u.trim())
          .filter((u) => u.length > 0);
        break;
      case '--cluster':
        opts.overrides.cluster = take();
        break;
      case '--node-id':
        opts.overrides.nodeId = take();
        break;
      case '--state-dir':
        opts.overrides.stateDir = take();
        break;
      case '--overlay':
        opts.overrides.overlay = take();
        break;
      case '--mode': {
        const v = take();
        if (v !== 'strict' && v !== 'failsafe' && v !== 'off') throw new KqError('KQ_ERR_USAGE', `--mode ${v}: expected strict, failsafe or off`);
        opts.overrides.arbiterMode = v;
        break;
      }
      case '--fencing': {
        const v = take();
        if (v !== 'off' && v !== 'best-effort' && v !== 'required') throw new KqError('KQ_ERR_USAGE', `--fencing ${v}: expected off, best-effort or required`);
        opts.overrides.fencing = v;
        break;
      }
      case '--gateway':
        opts.overrides.gateway = take();
        break;
      case '--metrics': {
        const v = take();
        try {
          parseListenAddress(v, '--metrics');
        } catch (err) {
          throw new KqError('KQ_ERR_USAGE', (err as Error).message);
        }
        opts.metrics = v;
        break;
      }
      case '-h':
      case '--help':
        return { ...opts, mode: 'help' };
      case '--version':
        return { ...opts, mode: 'version' };
      default:
        throw new KqError('KQ_ERR_USAGE', `unknown option ${arg}\n\n${USAGE}`);
    }
  }
  if (opts.keepalivedConf && opts.config) {
    throw new KqError('KQ_ERR_USAGE', `give either --keepalived-conf or --config, not both\n\n${USAGE}`);
  }
  if (!opts.keepalivedConf && !opts.config) {
    throw new KqError('KQ_ERR_USAGE', `a configuration is needed: --keepalived-conf FILE or --config FILE\n\n${USAGE}`);
  }
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(opts.logLevel)) {
    throw new KqError('KQ_ERR_USAGE', `--log-level ${opts.logLevel}: expected trace, debug, info, warn or error`);
  }
  return opts;
}
