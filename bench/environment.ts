/**
 * Facts about the machine a bench ran on, so two JSON documents can be
 * compared (or not): versions, kernel, CPUs, load, and other labs running at
 * the same time (they share the CPUs and skew every timing figure).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { availableParallelism, cpus, freemem, loadavg, release, totalmem, version as kernelVersion } from 'node:os';
import { fileURLToPath } from 'node:url';
import { keepalivedVersion } from '../test/lab/keepalived.js';

const execFileAsync = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

async function output(cmd: string, args: string[]): Promise<string | null> {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args, { cwd: root });
    return `${stdout}${stderr}`.trim();
  } catch {
    return null;
  }
}

/** Prefixes of lab runs whose namespaces exist now (`kq` + 5 base36 characters, see test/lab/lab.ts). */
export async function labsRunning(): Promise<string[]> {
  const list = (await output('ip', ['netns', 'list'])) ?? '';
  const prefixes = new Set<string>();
  for (const line of list.split('\n')) {
    const m = /^(kq[0-9a-z]{5})-/.exec(line.trim());
    if (m?.[1]) prefixes.add(m[1]);
  }
  return [...prefixes].sort();
}

/** What may disturb timings while the bench runs. */
export async function machineLoad(): Promise<{ loadAverage: number[]; freeMemoryMB: number; otherLabs: string[] }> {
  return {
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    freeMemoryMB: Math.round(freemem() / 2 ** 20),
    otherLabs: await labsRunning(),
  };
}

export async function environment(): Promise<Record<string, unknown>> {
  const cpuList = cpus();
  const nginx = await output('/usr/sbin/nginx', ['-v']);
  const commit = await output('git', ['rev-parse', 'HEAD']);
  const dirty = await output('git', ['status', '--porcelain']);
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}/${process.arch}`,
    kernel: release(),
    kernelBuild: kernelVersion(),
    cpuCount: cpuList.length,
    availableParallelism: availableParallelism(),
    cpuModel: cpuList[0]?.model ?? null,
    memoryMB: Math.round(totalmem() / 2 ** 20),
    keepalived: await keepalivedVersion().catch(() => null),
    nginx: nginx ? (/nginx\/(\S+)/.exec(nginx)?.[1] ?? nginx) : null,
    git: commit ? { commit, dirty: (dirty ?? '').length > 0 } : null,
    user: typeof process.getuid === 'function' ? process.getuid() : null,
  };
}
