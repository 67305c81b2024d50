/**
 * One arbiter replica from its configuration: the NATS connection, the lease
 * bucket, the event publisher, fencing backends, the pinger, the decision loop
 * and the HTTP API, started in that order and stopped in reverse. main.ts runs
 * one; tests run several in one process, each on its own connections.
 */
import { mkdirSync } from 'node:fs';
import { connect, type NatsConnection } from 'nats';
import type { Logger } from '../../../libs/common/src/log.js';
import { EventPublisher, natsConnectOptions, natsConnector, type NatsSettings, type StreamSettings } from '../../../libs/events/src/mod.js';
import { Arbiter } from './arbiter.js';
import type { ArbiterConfig } from './config.js';
import { NO_EVENTS, publisherEvents, type ArbiterEvents } from './events.js';
import { buildFencers } from './fencers.js';
import { GatewayPinger, type PingTarget } from './gateway-ping.js';
import { HttpApi, parseListen } from './http-api.js';
import { retryWhileTransient } from './startup-retry.js';
import { LeaseStore } from './lease-store.js';
import type { ArbiterMetrics } from './metrics.js';
import { replayAtStart, type ReplayAtStart, type SnapshotPolicy } from './snapshot.js';

/** How long the start waits for the event stream to be folded before it goes on without it, ms. */
const REPLAY_TIMEOUT_MS = 8000;
import { loadTokens, tokenSet } from './tokens.js';

export interface ServiceOptions {
  readonly log: Logger;
  /** Publish decisions to the event log (default true). */
  readonly events?: boolean;
  /** Create the event stream when it is missing, with these settings (default: do not). */
  readonly provisionStream?: StreamSettings;
  readonly env?: NodeJS.ProcessEnv;
  /** Fold the event stream at start and keep snapshots of it (replay.ts, snapshot.ts); default on. */
  readonly replay?: false | { readonly policy?: Partial<SnapshotPolicy>; readonly timeoutMs?: number };
  /** Count decisions, answers and fences, and serve GET /metrics on the HTTP API (metrics.ts). */
  readonly metrics?: ArbiterMetrics;
}

export interface ArbiterService {
  readonly arbiter: Arbiter;
  /** Where the HTTP API listens, when it does. */
  readonly http: { host: string; port: number } | null;
  readonly nc: NatsConnection;
  /** The event stream folded at start and its snapshot keeper; null with `replay: false`. */
  readonly replay: ReplayAtStart | null;
  stop(reason?: string): Promise<void>;
}

export function natsSettings(config: ArbiterConfig): NatsSettings {
  return { ...config.nats, servers: [...config.nats.servers], name: `ha-arbiter ${config.cluster}/${config.replica}` } as NatsSettings;
}

/** Throws KqError with what to fix (secrets, fence agents, tokens, NATS options, the bucket). */
export async function startArbiterService(config: ArbiterConfig, opts: ServiceOptions): Promise<ArbiterService> {
  const log = opts.log;
  // Secrets and backends first: a bad one stops the start before anything is connected.
  const tokens = config.http ? loadTokens(config.http, opts.env) : tokenSet([]);
  let pinger: GatewayPinger | null = null;
  let arbiterRef: Arbiter | null = null;
  const targets: PingTarget[] = [];
  if (config.gateway) {
    targets.push({ node: null, address: config.gateway.address });
    for (const [node, n] of Object.entries(config.nodes)) if (n.address) targets.push({ node, address: n.address });
    pinger = new GatewayPinger({
      targets,
      intervalMs: config.gateway.intervalMs,
      timeoutMs: config.gateway.timeoutMs,
      onVerdict: (t, verdict, detail) => arbiterRef?.gatewayVerdict(t.node, verdict, detail),
    });
  }
  const fencers = await buildFencers(config, pinger ? () => pinger!.gatewayAnswers() : null);

  const settings = natsSettings(config);
  const nc = await connect({ ...natsConnectOptions(settings), waitOnFirstConnect: true });
  let events: ArbiterEvents = NO_EVENTS;
  let store: LeaseStore | null = null;
  let arbiter: Arbiter;
  let http: HttpApi | null = null;
  let replayed: ReplayAtStart | null = null;
  let address: { host: string; port: number } | null = null;
  try {
    store = await retryWhileTransient(
      'lease bucket',
      () =>
        LeaseStore.open({
          nc,
          cluster: config.cluster,
          replicas: config.leases.replicas,
          history: config.leases.history,
          create: config.leases.create,
          writeTimeoutMs: config.leases.writeTimeoutMs,
          log: log.child({ component: 'leases' }),
        }),
      log,
    );
    if (opts.events !== false) {
      mkdirSync(config.stateDir, { recursive: true, mode: 0o750 });
      const publisher = await EventPublisher.open({
        cluster: config.cluster,
        node: config.replica,
        stateDir: config.stateDir,
        connect: natsConnector(settings),
        log: log.child({ component: 'events' }),
        provision: opts.provisionStream ?? false,
      });
      events = publisherEvents(publisher, log);
    }
    if (opts.replay !== false) {
      const policy = opts.replay?.policy;
      // Bounded: right after a NATS restart JetStream may not answer for the event
      // stream or the snapshot bucket for a long while. The fold only seeds the
      // view (members, fences in progress); leases come from the KV and members
      // from their heartbeats, so a replica that cannot fold in time starts without it.
      const replayLog = log.child({ component: 'replay' });
      // A fold that fails (JetStream not answering while a server restarts) is a fold that did not come in time.
      const folding = replayAtStart({ nc, cluster: config.cluster, replica: config.replica, replicas: config.leases.replicas, create: config.leases.create, log: replayLog, ...(policy ? { policy } : {}) }).catch(
        (err: unknown) => {
          replayLog.warn({ err: (err as Error).message }, 'folding the event stream failed');
          return null;
        },
      );
      const timeoutMs = opts.replay?.timeoutMs ?? REPLAY_TIMEOUT_MS;
      let timer: NodeJS.Timeout | undefined;
      replayed = await Promise.race([
        folding,
        new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
      if (replayed === null) {
        replayLog.warn({ timeoutMs }, 'the event stream could not be folded in time (JetStream not ready?): starting from the KV leases and heartbeats only, without snapshots');
        void folding.then((late) => late?.keeper?.stop()).catch(() => undefined);
      }
    }
    if (opts.metrics) events = opts.metrics.observeEvents(events);
    arbiter = await Arbiter.start({ config, nc, store, events, fencers, log, ...(replayed ? { replay: replayed.state } : {}) });
    replayed?.keeper?.start();
    arbiterRef = arbiter;
    opts.metrics?.readFrom(arbiter);
    pinger?.start();
    if (config.http) {
      const { host, port } = parseListen(config.http.listen);
      http = new HttpApi({ arbiter, tokens, log: log.child({ component: 'http' }), ...(opts.metrics ? { metrics: opts.metrics } : {}) });
      const a = await http.listen(host, port);
      address = { host: a.address, port: a.port };
      log.info({ listen: `${a.address}:${a.port}`, tokens: tokens.size }, 'HTTP API listening');
    }
  } catch (e) {
    pinger?.stop();
    store?.close();
    await replayed?.keeper?.stop();
    await events.stop(1000).catch(() => undefined);
    await nc.close().catch(() => undefined);
    throw e;
  }
  let stopped: Promise<void> | null = null;
  return {
    arbiter,
    http: address,
    nc,
    replay: replayed,
    stop(reason = 'stop') {
      stopped ??= (async () => {
        log.info({ reason }, 'arbiter stopping');
        // New HTTP connections stop at once; one waiting on a decision gets it while the loop drains.
        const httpClosed = http?.close();
        pinger?.stop();
        await arbiter.stop();
        await httpClosed;
        // A last snapshot (a bounded tail) so that the next start reads little of the stream.
        await replayed?.keeper?.checkNow(true);
        await replayed?.keeper?.stop();
        await events.stop(3000).catch(() => undefined);
        await nc.drain().catch(() => undefined);
        log.info({ reason, ...arbiter.stats() }, 'arbiter stopped');
      })();
      return stopped;
    },
  };
}
