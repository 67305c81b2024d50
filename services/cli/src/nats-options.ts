/**
 * hactl's NATS connection from its flags (or $KQ_NATS_URL): servers and the
 * credentials a real deployment uses, as the agent takes them.
 */
import type { NatsSettings } from '../../../libs/events/src/mod.js';

export const NATS_USAGE = `NATS connection (every command that reads or writes the event log):
  --nats URL[,URL...]   servers (default: $KQ_NATS_URL, else nats://127.0.0.1:4222)
  --user U --password P | --token T | --creds FILE | --nkey FILE
  --tls-ca FILE [--tls-cert FILE --tls-key FILE]`;

/** Takes the connection flags out of args; returns the settings and the other args. */
export function takeNatsFlags(args: string[]): { settings: NatsSettings; rest: string[] } {
  const settings: NatsSettings = { servers: (process.env['KQ_NATS_URL'] ?? 'nats://127.0.0.1:4222').split(',') };
  const tls: { ca?: string; cert?: string; key?: string } = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const v = () => {
      const value = args[++i];
      if (value === undefined) throw new Error(`${a} needs a value`);
      return value;
    };
    switch (a) {
      case '--nats':
        settings.servers = v().split(',').map((s) => s.trim()).filter((s) => s.length > 0);
        break;
      case '--user':
        settings.user = v();
        break;
      case '--password':
        settings.password = v();
        break;
      case '--token':
        settings.token = v();
        break;
      case '--creds':
        settings.credsFile = v();
        break;
      case '--nkey':
        settings.nkeyFile = v();
        break;
      case '--tls-ca':
        tls.ca = v();
        break;
      case '--tls-cert':
        tls.cert = v();
        break;
      case '--tls-key':
        tls.key = v();
        break;
      default:
        rest.push(a);
    }
  }
  if (Object.keys(tls).length > 0) settings.tls = tls;
  settings.name = 'hactl';
  return { settings, rest };
}
