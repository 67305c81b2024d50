/**
 * hactl: keepquorum's operator CLI.
 * Exit codes: 0 success, 1 the check failed (invalid configuration), 2 usage error;
 * status, failover and fence add their own (arbiter-client.ts EXIT, their --help).
 */
import { readFileSync } from 'node:fs';
import { ConfigError, formatDiagnostics, loadAgentConfig, loadKeepalivedConf } from '../../../libs/config/src/mod.js';

const USAGE = `Usage: hactl COMMAND [options]

Commands:
  history [filters] [--json]     the event log as a timeline (or NDJSON), gaps reported
  tail [filters] [--json]        the same, following live
  stream init [--apply]          show (and create or update) the event stream HA_EVENTS
  status [--cluster C] [--json]  every instance: lease holder, epoch, expiry, members (from an
                                 arbiter with --arbiter URL, else from the KV bucket HA_LEASES)
  failover INSTANCE [--to NODE] [--wait]
                                 ask an arbiter to move INSTANCE's lease (and VIP) to another node
  fence NODE                     ask an arbiter to fence NODE now
  check-config (--keepalived-conf FILE | --config FILE) [--json]
        validate an agent configuration (a keepalived.conf read as is, or a
        keepquorum YAML/JSON file); prints every error and warning with
        file:line and key. Exit 0 valid, 1 invalid.
  version
        print the version
  help
        this text

'hactl COMMAND --help' tells each command's options and exit codes.
failover and fence need an arbiter (--arbiter URL or $KQ_ARBITER_URL) and its
bearer token (--token-file FILE or $KQ_ARBITER_TOKEN).
`;

function usage(message: string): number {
  process.stderr.write(`hactl: ${message}\n\n${USAGE}`);
  return 2;
}

function checkConfig(args: string[]): number {
  let keepalived: string | undefined;
  let native: string | undefined;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--keepalived-conf' || a === '-f') keepalived = args[++i];
    else if (a === '--config') native = args[++i];
    else if (a === '--json') json = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return 0;
    } else return usage(`check-config: unknown option ${a}`);
  }
  const file = keepalived ?? native;
  if (!file || (keepalived && native)) return usage('check-config needs exactly one of --keepalived-conf FILE or --config FILE');
  try {
    const { config, diagnostics } = keepalived ? loadKeepalivedConf(keepalived) : loadAgentConfig(native!);
    if (json) {
      process.stdout.write(`${JSON.stringify({ file, valid: true, instances: config.instances.map((i) => i.name), diagnostics })}\n`);
    } else {
      if (diagnostics.length > 0) process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);
      process.stdout.write(`${file}: configuration valid: ${config.instances.length} VRRP instance(s)${diagnostics.length ? `, ${diagnostics.length} warning(s)` : ''}\n`);
    }
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (json) process.stdout.write(`${JSON.stringify({ file, valid: false, diagnostics: err.diagnostics })}\n`);
    else process.stderr.write(`${formatDiagnostics(err.diagnostics)}\n`);
    return 1;
  }
}

function version(): string {
  return (JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'history':
    case 'tail':
      return (await import('./events-commands.js')).history(rest, command === 'tail');
    case 'stream':
      if (rest[0] !== 'init') return usage(`stream ${rest[0] ?? ''}: the only stream command is 'stream init'`);
      return (await import('./events-commands.js')).streamInit(rest.slice(1));
    case 'status':
      return (await import('./arbiter-commands.js')).runStatus(rest);
    case 'failover':
      return (await import('./arbiter-commands.js')).runFailover(rest);
    case 'fence':
      return (await import('./arbiter-commands.js')).runFence(rest);
    case 'check-config':
      return checkConfig(rest);
    case 'version':
    case '--version':
      process.stdout.write(`hactl ${version()}\n`);
      return 0;
    case 'help':
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return 0;
    case undefined:
      return usage('a command is needed');
    default:
      return usage(`unknown command ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`hactl: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
