/**
 * NATS connection settings as a deployment writes them, mapped to nats.js options:
 * several servers, user/password, token, nkey seed (inline or in a file), creds
 * file, TLS with a CA, client certificate and key.
 */
import { existsSync, readFileSync } from 'node:fs';
import { connect, credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { KqError } from '../../common/src/errors.js';

export interface NatsTlsSettings {
  /** PEM file of the CA that signed the servers' certificates. */
  ca?: string;
  /** PEM files of this client's certificate and key (mutual TLS). */
  cert?: string;
  key?: string;
}

export interface NatsSettings {
  servers: string[];
  user?: string;
  password?: string;
  token?: string;
  /** An nkey seed ("SU…"), or a file holding one. */
  nkeySeed?: string;
  nkeyFile?: string;
  /** A .creds file (JWT and seed), as `nsc` writes it. */
  credsFile?: string;
  /** true: TLS with the system's CAs; an object: with these files. */
  tls?: boolean | NatsTlsSettings;
  /** The connection's name as the server shows it. */
  name?: string;
}

/**
 * nats.js options for these settings. Reconnects forever (the publisher survives
 * any outage); files are read at each (re)connect, so rotated credentials are
 * picked up. Throws KQ_ERR_NATS_OPTIONS for contradictory or missing settings.
 */
export function natsConnectOptions(settings: NatsSettings): ConnectionOptions {
  const problem = (msg: string): never => {
    throw new KqError('KQ_ERR_NATS_OPTIONS', `nats: ${msg}`);
  };
  const servers = (settings.servers ?? []).map((s) => s.trim()).filter((s) => s.length > 0);
  if (servers.length === 0) problem('no server given; set at least one URL such as nats://127.0.0.1:4222');
  const methods = [
    settings.user !== undefined || settings.password !== undefined ? 'user/password' : null,
    settings.token !== undefined ? 'token' : null,
    settings.nkeySeed !== undefined || settings.nkeyFile !== undefined ? 'nkey' : null,
    settings.credsFile !== undefined ? 'creds file' : null,
  ].filter((m): m is string => m !== null);
  if (methods.length > 1) problem(`choose one way to authenticate, not ${methods.join(' and ')}`);
  if ((settings.user === undefined) !== (settings.password === undefined)) problem('user and password go together');
  if (settings.nkeySeed !== undefined && settings.nkeyFile !== undefined) problem('give the nkey seed inline or in a file, not both');

  const options: ConnectionOptions = {
    servers,
    name: settings.name ?? 'keepquorum',
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    reconnectJitter: 500,
    reconnectJitterTLS: 1000,
    pingInterval: 10_000,
    maxPingOut: 3,
    timeout: 5000,
    waitOnFirstConnect: false,
    // Otherwise every request (each JetStream publish is one) captures a stack
    // trace for its error context: in profiles the largest cost of publishing.
    noAsyncTraces: true,
  };
  if (settings.user !== undefined) {
    options.user = settings.user;
    options.pass = settings.password!;
  }
  if (settings.token !== undefined) options.token = settings.token;
  if (settings.nkeySeed !== undefined) {
    const seed = settings.nkeySeed.trim();
    if (!/^S[A-Z2-7]{50,}$/.test(seed)) problem('nkeySeed is not an nkey seed (it starts with "S", e.g. "SUA…")');
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (settings.nkeyFile !== undefined) {
    const file = mustExist(settings.nkeyFile, 'nkeyFile');
    options.authenticator = nkeyAuthenticator(() => new TextEncoder().encode(readFileSync(file, 'utf8').trim()));
  }
  if (settings.credsFile !== undefined) {
    const file = mustExist(settings.credsFile, 'credsFile');
    options.authenticator = credsAuthenticator(() => new Uint8Array(readFileSync(file)));
  }
  if (settings.tls === true) {
    options.tls = {};
  } else if (settings.tls && typeof settings.tls === 'object') {
    const t = settings.tls;
    if ((t.cert === undefined) !== (t.key === undefined)) problem('tls.cert and tls.key go together');
    options.tls = {
      ...(t.ca !== undefined ? { caFile: mustExist(t.ca, 'tls.ca') } : {}),
      ...(t.cert !== undefined ? { certFile: mustExist(t.cert, 'tls.cert') } : {}),
      ...(t.key !== undefined ? { keyFile: mustExist(t.key, 'tls.key') } : {}),
    };
  }
  return options;
}

/** A connection factory for EventPublisher. */
export function natsConnector(settings: NatsSettings): () => Promise<NatsConnection> {
  const options = natsConnectOptions(settings);
  return () => connect(options);
}

function mustExist(path: string, what: string): string {
  if (!existsSync(path)) throw new KqError('KQ_ERR_NATS_OPTIONS', `nats: ${what} ${path} does not exist`);
  return path;
}
