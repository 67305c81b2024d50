/**
 * The dashboard's own NATS connection to the event log, opened at the first
 * timeline or feed request and closed with the HTTP API: its consumers and
 * reads never share a connection with the decision loop, and an arbiter
 * nobody looks at opens none. A connection that fails is opened again at the
 * next request.
 */
import { connect, type JetStreamClient, type NatsConnection } from 'nats';
import { natsConnectOptions, type NatsSettings } from '../../../../libs/events/src/mod.js';
import type { ArbiterConfig } from '../config.js';

export class EventLogAccess {
  private nc: Promise<NatsConnection> | null = null;
  private closed = false;

  constructor(private readonly config: ArbiterConfig) {}

  /** A JetStream client on the dashboard's connection; rejects with why it cannot connect. */
  async jetstream(): Promise<JetStreamClient> {
    if (this.closed) throw new Error('the arbiter is stopping');
    if (this.nc === null) {
      // As service.ts's natsSettings, with a name of its own (seen in the server's connz).
      const settings = { ...this.config.nats, servers: [...this.config.nats.servers], name: `ha-arbiter ${this.config.cluster}/${this.config.replica} dashboard` } as NatsSettings;
      const opening = connect({ ...natsConnectOptions(settings), timeout: 5000 });
      this.nc = opening;
      opening.then(
        (nc) => {
          void nc.closed().then(() => {
            if (this.nc === opening) this.nc = null;
          });
        },
        () => {
          if (this.nc === opening) this.nc = null;
        },
      );
    }
    const nc = await this.nc;
    return nc.jetstream();
  }

  async close(): Promise<void> {
    this.closed = true;
    const opening = this.nc;
    this.nc = null;
    if (opening) await opening.then((nc) => nc.close()).catch(() => undefined);
  }
}
