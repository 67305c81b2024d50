/**
 * A real nats-server for tests: loopback only, a random free port, JetStream with
 * its store in a temp dir, optional auth and cluster settings. Every integration
 * test that needs NATS starts one here, and disposes of it in `finally`/`after`:
 *
 *   const ns = await startNatsServer();
 *   try { ... ns.url ... await ns.stop(); await ns.restart(); ... } finally { await ns.dispose(); }
 *
 * stop() is a clean shutdown, kill() a crash (SIGKILL); both keep the store, and
 * restart() brings the server back on the same port with the same store.
 * dispose() kills it and removes the temp dir. A server still running when the
 * test process exits is killed then.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type NatsAuth =
  | { user: string; password: string }
  | { token: string }
  /** Public nkeys (U…) allowed to connect. */
  | { nkeys: string[] }
  /** Verbatim `authorization { … }` or `accounts { … }` text. */
  | { config: string };

export interface NatsServerOptions {
  auth?: NatsAuth;
  /** JetStream on (default). */
  jetstream?: boolean;
  /** JetStream file store limit, e.g. "1G". Default 1G. */
  maxFileStore?: string;
  maxMemoryStore?: string;
  serverName?: string;
  /** Joins a cluster: this server's route port and the routes to the others. */
  cluster?: { name: string; port: number; routes: string[] };
  /** Appended to the configuration file as it is. */
  extraConfig?: string;
  /** Client port; random when unset. */
  port?: number;
  /** nats-server binary; $NATS_SERVER, /usr/sbin/nats-server or nats-server in PATH. */
  binary?: string;
  /** How long start/restart wait for the server to accept connections, ms. */
  readyTimeoutMs?: number;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** The temp dir: configuration, log (server.log) and store. */
  readonly dir: string;
  readonly logFile: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Clean shutdown (SIGTERM, then SIGKILL after 10 s); the store is kept. */
  stop(): Promise<void>;
  /** Crash (SIGKILL); the store is kept. */
  kill(): Promise<void>;
  /** Starts again on the same port and store. */
  restart(): Promise<void>;
  /** Kills the server and removes its temp dir. */
  dispose(): Promise<void>;
}

/**
 * sh -c WATCHDOG name BINARY ARGS…: starts the server, says its pid, and kills it
 * when stdin (a pipe from this process) reaches end of file; exits with the
 * server's status once the server is gone.
 */
const WATCHDOG = [
  'exec 3<&0',
  '"$@" </dev/null &',
  'srv=$!',
  'echo "kq-nats-pid $srv"',
  '( read -r _ <&3; kill -9 "$srv" 2>/dev/null ) &',
  'dog=$!',
  'wait "$srv"; code=$?',
  'kill "$dog" 2>/dev/null',
  'exit "$code"',
].join('\n');

const running = new Set<ChildProcess>();
process.on('exit', () => {
  // Closing the pipes is enough; the watchdogs kill their servers.
  for (const child of running) child.stdin?.destroy();
});

export function natsServerBinary(): string | null {
  const candidates = [process.env['NATS_SERVER'], '/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];
  for (const c of candidates) if (c && existsSync(c)) return c;
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  return null;
}

/** Why NATS tests cannot run here, or null when they can (for `test(..., {skip})`). */
export function natsUnavailableReason(): string | null {
  return natsServerBinary() === null ? 'nats-server not installed (apt-get install nats-server)' : null;
}

/** A loopback TCP port free right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function authConfig(auth: NatsAuth | undefined): string {
  if (!auth) return '';
  if ('config' in auth) return auth.config;
  if ('token' in auth) return `authorization { token: ${JSON.stringify(auth.token)} }`;
  if ('nkeys' in auth) return `authorization { users: [ ${auth.nkeys.map((k) => `{ nkey: ${k} }`).join(', ')} ] }`;
  return `authorization { user: ${JSON.stringify(auth.user)}, password: ${JSON.stringify(auth.password)} }`;
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = options.binary ?? natsServerBinary();
  if (!binary) throw new Error('nats-server not found: install it (apt-get install nats-server) or set NATS_SERVER');
  const dir = await mkdtemp(join(tmpdir(), 'kq-nats-'));
  const storeDir = join(dir, 'store');
  const logFile = join(dir, 'server.log');
  const confFile = join(dir, 'server.conf');
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  let port = options.port ?? 0;
  let child: ChildProcess | null = null;
  let serverPid: number | undefined;
  let exited: Promise<void> = Promise.resolve();

  const writeConfig = async () => {
    const lines = [
      `server_name: ${JSON.stringify(options.serverName ?? `kq-test-${process.pid}-${port || 'r'}`)}`,
      'host: 127.0.0.1',
      // -1: the server picks a free port and says which in its log; restarts reuse it.
      `port: ${port || -1}`,
    ];
    if (options.jetstream !== false) {
      lines.push(`jetstream { store_dir: ${JSON.stringify(storeDir)}, max_file_store: ${options.maxFileStore ?? '1G'}, max_memory_store: ${options.maxMemoryStore ?? '256M'} }`);
    }
    const auth = authConfig(options.auth);
    if (auth) lines.push(auth);
    if (options.cluster) {
      const c = options.cluster;
      lines.push(`cluster { name: ${JSON.stringify(c.name)}, listen: "127.0.0.1:${c.port}", routes: [ ${c.routes.map((r) => JSON.stringify(r)).join(', ')} ] }`);
    }
    if (options.extraConfig) lines.push(options.extraConfig);
    await writeFile(confFile, `${lines.join('\n')}\n`);
  };

  const launch = async () => {
    await writeConfig();
    const log = createWriteStream(logFile, { flags: 'a' });
    // The server runs under a watchdog shell that holds our end of a pipe: if this
    // process dies in any way (even SIGKILL), the pipe closes and the server is killed.
    const proc = spawn('/bin/sh', ['-c', WATCHDOG, 'kq-nats-watchdog', binary, '-c', confFile], { stdio: ['pipe', 'pipe', 'pipe'] });
    child = proc;
    serverPid = undefined;
    running.add(proc);
    exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    void exited.then(() => {
      running.delete(proc);
      log.end();
    });
    let buffered = '';
    const ready = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server not ready after ${readyTimeoutMs} ms (log: ${logFile})`)), readyTimeoutMs);
      let listenPort = 0;
      const onData = (chunk: Buffer) => {
        log.write(chunk);
        buffered += chunk.toString();
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          const pidLine = /^kq-nats-pid (\d+)$/.exec(line);
          if (pidLine) serverPid = Number(pidLine[1]);
          const m = /Listening for client connections on [^\s]*:(\d+)/.exec(line);
          if (m) listenPort = Number(m[1]);
          if (line.includes('Server is ready') && listenPort > 0) {
            clearTimeout(timer);
            resolve(listenPort);
          }
        }
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', onData);
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code ?? signal}) before it was ready; log: ${logFile}`));
      });
    });
    try {
      port = await ready;
      await acceptsConnections(port, readyTimeoutMs);
    } catch (e) {
      if (serverPid !== undefined) process.kill(serverPid, 'SIGKILL');
      proc.stdin!.end();
      await exited;
      const tail = await readFile(logFile, 'utf8').catch(() => '');
      throw new Error(`${(e as Error).message}\n${tail.split('\n').slice(-15).join('\n')}`);
    }
  };

  /** Signals the server itself (not its watchdog) and waits until both are gone. */
  const signalAndWait = async (signal: NodeJS.Signals) => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const send = (sig: NodeJS.Signals) => {
      try {
        if (serverPid !== undefined) process.kill(serverPid, sig);
        else proc.stdin!.end(); // not started yet: the watchdog kills it
      } catch {
        /* already gone */
      }
    };
    send(signal);
    const hard = signal === 'SIGKILL' ? null : setTimeout(() => send('SIGKILL'), 10_000);
    await exited;
    if (hard) clearTimeout(hard);
  };

  try {
    await launch();
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }

  const server: NatsServer = {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    storeDir,
    dir,
    logFile,
    get pid() {
      return serverPid;
    },
    get running() {
      return child !== null && child.exitCode === null && child.signalCode === null;
    },
    stop: () => signalAndWait('SIGTERM'),
    kill: () => signalAndWait('SIGKILL'),
    restart: async () => {
      await signalAndWait('SIGTERM');
      await launch();
    },
    dispose: async () => {
      await signalAndWait('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/**
 * `size` servers in one JetStream cluster on loopback (R3 streams need 3). Each
 * server is a NatsServer; `urls` lists all client URLs for a connection.
 */
export async function startNatsCluster(size = 3, options: Omit<NatsServerOptions, 'cluster' | 'port' | 'serverName'> & { name?: string } = {}): Promise<{ servers: NatsServer[]; urls: string[]; dispose(): Promise<void> }> {
  const name = options.name ?? `kq-${process.pid}`;
  const routePorts: number[] = [];
  const clientPorts: number[] = [];
  for (let i = 0; i < size; i++) {
    routePorts.push(await freePort());
    clientPorts.push(await freePort());
  }
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`);
  const servers: NatsServer[] = [];
  try {
    // Started together: a JetStream cluster server waits for its peers before it is ready.
    const started = await Promise.allSettled(
      routePorts.map((routePort, i) =>
        startNatsServer({
          ...options,
          serverName: `${name}-${i + 1}`,
          port: clientPorts[i]!,
          cluster: { name, port: routePort, routes: routes.filter((_, j) => j !== i) },
        }),
      ),
    );
    for (const r of started) if (r.status === 'fulfilled') servers.push(r.value);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  } catch (e) {
    await Promise.all(servers.map((s) => s.dispose()));
    throw e;
  }
  return {
    servers,
    urls: servers.map((s) => s.url),
    dispose: async () => {
      await Promise.all(servers.map((s) => s.dispose()));
    },
  };
}

/** Resolves once a TCP client on `port` receives the server's INFO line. */
async function acceptsConnections(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = tcpConnect({ host: '127.0.0.1', port });
      const done = (v: boolean) => {
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(2000, () => done(false));
      sock.once('data', (d) => done(d.toString().startsWith('INFO ')));
      sock.once('error', () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing accepts NATS connections on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
