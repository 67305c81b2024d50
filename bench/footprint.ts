/**
 * The agent's footprint: RSS and CPU over a steady 30 s with 16 VRRP instances
 * at advert 0.1 s, against keepalived with the same configuration in the same
 * run (issue 3). Both roles are measured: the master sends 160 adverts a
 * second, the backup receives and checks 160.
 *
 * CPU is read from /proc/<pid>/stat (utime + stime, every thread, children
 * not included) at the start and the end of the window; RSS from
 * /proc/<pid>/status (VmRSS) sampled every second, reported as the max and
 * the last. keepalived forks a VRRP child that does the work: its parent's
 * figures are added (what an operator pays for the service).
 */
import { readFileSync } from 'node:fs';
import { Lab, run } from '../test/lab/lab.js';
import { agentPair } from '../test/lab/topology.js';
import { startKeepalived } from '../test/lab/keepalived.js';
import { startAgent } from '../test/lab/agent.js';
import { progress, target, type BenchOptions, type Suite, type SuiteResult } from './suite.js';
import { round2 } from './stats.js';

const INSTANCES = 16;
const WINDOW_MS = 30_000;
const QUICK_WINDOW_MS = 10_000;
const SETTLE_MS = 6_000;
const RSS_LIMIT_MB = 64;
const CPU_LIMIT_PERCENT = 1;

const CLK_TCK = 100; // USER_HZ on Linux, what /proc/<pid>/stat counts in

/** 16 instances, VRIDs 101..116, VIPs 198.18.20.1..16, VRRPv3 at 0.1 s, one keepalived.conf for both implementations. */
export function footprintConf(priority: number, routerId: string): string {
  const blocks = [`global_defs {\n  router_id ${routerId}\n}\n`];
  for (let i = 1; i <= INSTANCES; i++) {
    blocks.push(`vrrp_instance VI_${i} {
  state BACKUP
  interface eth0
  virtual_router_id ${100 + i}
  priority ${priority}
  advert_int 0.1
  version 3
  virtual_ipaddress {
    198.18.20.${i}/16
  }
}
`);
  }
  return blocks.join('\n');
}

interface ProcSample {
  cpuTicks: number;
  rssKb: number;
}

function readProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? 0);
    return { cpuTicks: utime + stime, rssKb: rss };
  } catch {
    return undefined;
  }
}

/** Every process of a namespace except the lab's observers: the daemon (and its children). */
async function daemonPids(ns: string, exclude: Set<number>): Promise<number[]> {
  const out = await run('ip', ['netns', 'pids', ns], { allowFail: true });
  return out
    .split('\n')
    .map((s) => Number.parseInt(s, 10))
    .filter((n) => Number.isInteger(n) && n > 0 && !exclude.has(n));
}

interface RoleFigures {
  cpuPercent: number;
  rssMaxMb: number;
  rssEndMb: number;
  processes: number;
}

async function measure(pidsOf: () => Promise<number[]>, windowMs: number): Promise<RoleFigures> {
  const pids = await pidsOf();
  const start = new Map(pids.map((p) => [p, readProc(p)]));
  const t0 = process.hrtime.bigint();
  let rssMax = 0;
  let rssEnd = 0;
  const sampleRss = () => {
    let total = 0;
    for (const p of pids) total += readProc(p)?.rssKb ?? 0;
    rssMax = Math.max(rssMax, total);
    rssEnd = total;
  };
  sampleRss();
  const timer = setInterval(sampleRss, 1000);
  await new Promise((r) => setTimeout(r, windowMs));
  clearInterval(timer);
  sampleRss();
  const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
  let ticks = 0;
  for (const p of pids) {
    const a = start.get(p);
    const b = readProc(p);
    if (a && b) ticks += b.cpuTicks - a.cpuTicks;
  }
  return {
    cpuPercent: round2(((ticks / CLK_TCK) / elapsedS) * 100),
    rssMaxMb: round2(rssMax / 1024),
    rssEndMb: round2(rssEnd / 1024),
    processes: pids.length,
  };
}

type Impl = 'keepquorum' | 'keepalived';

async function measurePair(impl: Impl, windowMs: number, settleMs: number): Promise<{ master: RoleFigures; backup: RoleFigures }> {
  const lab = await Lab.create();
  try {
    const pair = agentPair(1);
    const a = await lab.addHost(pair.a);
    const b = await lab.addHost(pair.b);
    const observers = new Set<number>();
    if (impl === 'keepquorum') {
      const ha = await startAgent(a, footprintConf(100, 'a1'));
      const hb = await startAgent(b, footprintConf(90, 'b1'));
      for (let i = 1; i <= INSTANCES; i++) {
        await ha.waitForState(`VI_${i}`, 'MASTER', 15_000);
        await hb.waitForState(`VI_${i}`, 'BACKUP', 15_000);
      }
    } else {
      const ka = await startKeepalived(a, footprintConf(100, 'a1'));
      const kb = await startKeepalived(b, footprintConf(90, 'b1'));
      for (let i = 1; i <= INSTANCES; i++) {
        await ka.waitForState(`VI_${i}`, 'MASTER', 15_000);
        await kb.waitForState(`VI_${i}`, 'BACKUP', 15_000);
      }
    }
    // Past startup and the second GARP burst (5 s): the steady state an operator lives with.
    await new Promise((r) => setTimeout(r, settleMs));
    progress('footprint', `${impl}: measuring ${windowMs / 1000} s`);
    const [master, backup] = await Promise.all([
      measure(() => daemonPids(a.ns, observers), windowMs),
      measure(() => daemonPids(b.ns, observers), windowMs),
    ]);
    progress('footprint', `${impl}: master ${master.cpuPercent}% CPU, ${master.rssMaxMb} MB; backup ${backup.cpuPercent}% CPU, ${backup.rssMaxMb} MB`);
    return { master, backup };
  } finally {
    await lab.destroy();
  }
}

export const footprintSuite: Suite = {
  name: 'footprint',
  description: `RSS and CPU of a pair with ${INSTANCES} instances at advert 0.1 s over a steady window, keepquorum against keepalived`,
  async run(options: BenchOptions): Promise<SuiteResult> {
    const windowMs = options.quick ? QUICK_WINDOW_MS : WINDOW_MS;
    const settleMs = options.quick ? SETTLE_MS / 2 : SETTLE_MS;
    const keepquorum = await measurePair('keepquorum', windowMs, settleMs);
    const keepalived = await measurePair('keepalived', windowMs, settleMs);
    const worst = (f: (r: RoleFigures) => number) => Math.max(f(keepquorum.master), f(keepquorum.backup));
    return {
      ok: true,
      failures: [],
      instances: INSTANCES,
      advertIntervalMs: 100,
      windowS: windowMs / 1000,
      keepquorum,
      keepalived,
      targets: {
        rss: target(worst((r) => r.rssMaxMb), '<=', RSS_LIMIT_MB, `keepquorum agent's max RSS (MB), master or backup, ${INSTANCES} instances at 0.1 s`),
        cpu: target(worst((r) => r.cpuPercent), '<=', CPU_LIMIT_PERCENT, `keepquorum agent's CPU (% of one core), master or backup, over ${windowMs / 1000} s`),
      },
    };
  },
};
