/**
 * Simulated agents for the arbiter bench: one process holding many agents, each
 * on its own NATS connection, speaking libs/arbiter/src/protocol.ts (requests
 * encoded with encodeMessage, answers checked with arbiterReplySchema). Driven
 * by its parent over IPC:
 *
 *   {cmd: 'connect'}  connect every agent, subscribe its node subject, start
 *                     heartbeats (1 Hz, spread over the second)
 *   {cmd: 'claim', spreadMs}
 *                     primaries claim their instance (spread over spreadMs),
 *                     again on a veto/wait/refuse, until granted
 *                     a granted primary renews every renewIntervalMs from its
 *                     last send from then on (a refused renewal: it is a backup again)
 *   {cmd: 'steady', durationMs, claimEveryMs}
 *                     backups claim every claimEveryMs (vetoed: the holder is
 *                     alive); every latency (request sent -> reply received,
 *                     performance.now() here) recorded for durationMs
 *   {cmd: 'stop'}     close everything, exit
 *
 * Agents: `--from F --count N`: agent k (F <= k < F+N) is node ag-<k> in
 * instance VI_<floor(k/2)>, the primary when k is even.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import {
  arbiterReplySchema,
  encodeMessage,
  heartbeatSubject,
  nodeSubject,
  parseMessage,
  PROTOCOL_VERSION,
  requestSubject,
  type ArbiterReply,
  type Heartbeat,
} from '../../libs/arbiter/src/protocol.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    cluster: { type: 'string', default: 'bench' },
    from: { type: 'string', default: '0' },
    count: { type: 'string', default: '1000' },
    'renew-ms': { type: 'string', default: '1000' },
    'timeout-ms': { type: 'string', default: '1000' },
  },
});
const URL_ = values.url!;
const CLUSTER = values.cluster!;
const FROM = Number(values.from);
const COUNT = Number(values.count);
const RENEW_MS = Number(values['renew-ms']);
const TIMEOUT_MS = Number(values['timeout-ms']);

export const agentName = (k: number): string => `ag-${String(k).padStart(5, '0')}`;
export const instanceName = (k: number): string => `VI_${String(Math.floor(k / 2)).padStart(4, '0')}`;

interface Agent {
  k: number;
  node: string;
  instance: string;
  primary: boolean;
  nc: NatsConnection;
  epoch: number | null;
  bootId: string;
  state: 'BACKUP' | 'CLAIMING' | 'MASTER';
}

const agents: Agent[] = [];
const timers = new Set<NodeJS.Timeout>();
const reqSubject = requestSubject(CLUSTER);
const send = (m: unknown) => process.send?.(m);

function heartbeat(a: Agent): void {
  if (a.nc.isClosed()) return;
  const hb: Heartbeat = {
    v: PROTOCOL_VERSION,
    node: a.node,
    bootId: a.bootId,
    intervalMs: 1000,
    gateway: 'up',
    instances: [{ instance: a.instance, state: a.state, priority: a.primary ? 200 : 100, vip: a.state === 'MASTER', mode: 'strict', fencing: 'off', ...(a.epoch !== null ? { epoch: a.epoch } : {}) }],
  };
  a.nc.publish(heartbeatSubject(CLUSTER, a.node), encodeMessage(hb));
}

/** One request: its answer (or an error) and its latency in ms. */
async function request(a: Agent, body: Record<string, unknown>): Promise<{ answer: ArbiterReply | { type: 'error'; reason: string }; ms: number; at: number }> {
  const t0 = performance.now();
  try {
    const m = await a.nc.request(reqSubject, encodeMessage({ v: PROTOCOL_VERSION, node: a.node, instance: a.instance, ...body } as never), { timeout: TIMEOUT_MS });
    const ms = performance.now() - t0;
    const p = parseMessage(arbiterReplySchema, m.data, 'reply');
    return { answer: p.ok ? p.value : { type: 'error', reason: p.reason }, ms, at: t0 };
  } catch (e) {
    return { answer: { type: 'error', reason: (e as Error).message }, ms: performance.now() - t0, at: t0 };
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function connectAll(): Promise<void> {
  const boot = Math.random().toString(16).slice(2, 10);
  const conns = await Promise.all(
    Array.from({ length: COUNT }, async (_, i) => {
      const k = FROM + i;
      const nc = await connect({ servers: URL_, name: `bench-agent ${agentName(k)}`, maxReconnectAttempts: -1 });
      const a: Agent = { k, node: agentName(k), instance: instanceName(k), primary: k % 2 === 0, nc, epoch: null, bootId: boot, state: 'BACKUP' };
      nc.subscribe(nodeSubject(CLUSTER, a.node), { callback: () => undefined });
      return a;
    }),
  );
  agents.push(...conns);
  for (const a of agents) {
    const t = setTimeout(() => {
      heartbeat(a);
      const iv = setInterval(() => heartbeat(a), 1000);
      timers.add(iv);
    }, Math.random() * 1000);
    timers.add(t);
  }
  await Promise.all(agents.map((a) => a.nc.flush()));
}

async function claimAll(spreadMs: number): Promise<{ grants: number[]; others: Record<string, number>; failed: number }> {
  const grants: number[] = [];
  const others: Record<string, number> = {};
  let failed = 0;
  await Promise.all(
    agents
      .filter((a) => a.primary)
      .map(async (a) => {
        await sleep(Math.random() * spreadMs);
        a.state = 'CLAIMING';
        heartbeat(a);
        for (let i = 0; i < 50; i++) {
          const r = await request(a, { type: 'claim' });
          if (r.answer.type === 'grant') {
            grants.push(r.ms);
            a.epoch = r.answer.epoch;
            a.state = 'MASTER';
            heartbeat(a);
            void holderLoop(a);
            return;
          }
          const key = r.answer.type === 'error' ? `error: ${r.answer.reason.slice(0, 80)}` : r.answer.type;
          others[key] = (others[key] ?? 0) + 1;
          await sleep(100 + Math.random() * 200);
        }
        failed++;
      }),
  );
  return { grants, others, failed };
}

/**
 * What the steady phase records; null outside it. `slowAt`: when (ms since the
 * phase began) each answer slower than SLOW_MS was sent, so that the suite can
 * tell one stall of everything from a spread of slow answers.
 */
let window: { renewMs: number[]; claimMs: number[]; answers: Record<string, number>; renewed: number; start: number; slowAt: number[] } | null = null;
const SLOW_MS = 50;
const slow = (r: { ms: number; at: number }): void => {
  if (window && r.ms > SLOW_MS) window.slowAt.push(Math.round(r.at - window.start));
};
let running = true;
const count = (t: string) => {
  if (window) window.answers[t] = (window.answers[t] ?? 0) + 1;
};

/**
 * A holder renews every RENEW_MS from its last send, from its grant on (a lease
 * runs out after its TTL: waiting for the steady phase would lose it). A
 * refused renewal loses the lease: the agent is a backup again and claims.
 */
async function holderLoop(a: Agent): Promise<void> {
  while (running && !a.nc.isClosed()) {
    if (a.epoch === null) return;
    const sent = performance.now();
    const r = await request(a, { type: 'renew', epoch: a.epoch });
    count(`renew:${r.answer.type}`);
    if (r.answer.type === 'renewed') {
      if (window) {
        window.renewed++;
        window.renewMs.push(r.ms);
        slow(r);
      }
    } else if (r.answer.type === 'refuse') {
      a.epoch = null;
      a.state = 'BACKUP';
      heartbeat(a);
      return;
    }
    const next = sent + RENEW_MS - performance.now();
    if (next > 0) await sleep(next);
  }
}

async function steady(durationMs: number, claimEveryMs: number): Promise<unknown> {
  const start = performance.now();
  const w = { renewMs: [] as number[], claimMs: [] as number[], answers: {} as Record<string, number>, renewed: 0, start, slowAt: [] as number[] };
  window = w;
  // This process's own event loop is in every latency it measures: its delay is reported next to them.
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const end = start + durationMs;
  await Promise.all(
    agents.map(async (a) => {
      if (a.primary && a.epoch !== null) return; // renewing in holderLoop
      if (claimEveryMs <= 0) return;
      await sleep(Math.random() * claimEveryMs);
      while (performance.now() < end) {
        const sent = performance.now();
        const r = await request(a, { type: 'claim' });
        count(`claim:${r.answer.type}`);
        if (r.answer.type !== 'error') {
          w.claimMs.push(r.ms);
          slow(r);
        }
        if (r.answer.type === 'grant') {
          // A backup granted: the holder lost its lease (the figures say how often).
          a.epoch = r.answer.epoch;
          a.state = 'MASTER';
          heartbeat(a);
          void holderLoop(a);
          return;
        }
        const next = sent + claimEveryMs - performance.now();
        if (next > 0) await sleep(next);
      }
    }),
  );
  const remaining = end - performance.now();
  if (remaining > 0) await sleep(remaining);
  window = null;
  eld.disable();
  const eventLoopDelayMs = { p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 };
  return { ...w, seconds: (performance.now() - start) / 1000, holders: agents.filter((a) => a.epoch !== null).length, eventLoopDelayMs };
}

process.on('message', (m: { cmd: string; durationMs?: number; claimEveryMs?: number; spreadMs?: number }) => {
  void (async () => {
    try {
      if (m.cmd === 'connect') {
        await connectAll();
        send({ ok: true, cmd: 'connect', agents: agents.length });
      } else if (m.cmd === 'claim') {
        send({ ok: true, cmd: 'claim', ...(await claimAll(m.spreadMs ?? 1000)) });
      } else if (m.cmd === 'steady') {
        send({ ok: true, cmd: 'steady', ...((await steady(m.durationMs ?? 10_000, m.claimEveryMs ?? 0)) as Record<string, unknown>) });
      } else if (m.cmd === 'stop') {
        running = false;
        for (const t of timers) clearTimeout(t);
        await Promise.all(agents.map((a) => a.nc.close().catch(() => undefined)));
        send({ ok: true, cmd: 'stop' });
        process.exit(0);
      }
    } catch (e) {
      send({ ok: false, cmd: m.cmd, error: (e as Error).stack ?? String(e) });
    }
  })();
});
send({ ok: true, cmd: 'hello' });
