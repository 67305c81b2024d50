/** Helpers for the tests that run against a real nats-server (test/nats/server.ts). */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from 'nats';
import { collectHistory, ensureStream, STREAM_NAME, streamConfig, type AnyEnvelope, type ReadSummary } from '../src/mod.js';

export { natsUnavailableReason, startNatsServer, type NatsServer } from '../../../test/nats/server.js';

export async function connectTo(url: string): Promise<NatsConnection> {
  return connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
}

/** The stream as a test wants it: small, so that any disk holds it. */
export async function provisionStream(nc: NatsConnection): Promise<void> {
  await ensureStream(await nc.jetstreamManager(), streamConfig({ maxBytes: 256 * 1024 * 1024 }));
}

/** How many messages the stream holds on the subjects of `cluster`. */
export async function storedCount(nc: NatsConnection, cluster: string): Promise<number> {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(STREAM_NAME, { subjects_filter: `ha.${cluster}.evt.>` });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

export async function history(nc: NatsConnection, cluster: string, extra: Record<string, string> = {}): Promise<ReadSummary & { events: AnyEnvelope[] }> {
  return collectHistory(nc.jetstream(), { cluster, ...extra });
}

/** The seqs of `node` in stream order. */
export function seqsOf(events: AnyEnvelope[], node: string): number[] {
  return events.filter((e) => e.node === node).map((e) => e.seq);
}

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const here = dirname(fileURLToPath(import.meta.url));

/** Runs fixtures/NAME.js with node; lines of stdout parsed as JSON as they come. */
export function runFixture(name: string, args: string[]): {
  lines: Record<string, unknown>[];
  waitFor(pred: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  kill(signal: NodeJS.Signals): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
} {
  const child = spawn(process.execPath, [join(here, 'fixtures', `${name}.js`), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let err = '';
  let buf = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pred(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    lines,
    waitFor: (pred) =>
      new Promise((resolve, reject) => {
        const seen = lines.find(pred);
        if (seen) return resolve(seen);
        waiters.push({ pred, resolve });
        void exited.then(({ code, signal }) => reject(new Error(`fixture ${name} exited (${code ?? signal}) first: ${err.slice(-2000)}`)));
      }),
    kill: (signal) => child.kill(signal),
    exited,
    stderr: () => err,
  };
}
