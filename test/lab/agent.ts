/**
 * keepquorum's own agent (bin/ha-agent) as a process in a lab namespace, read
 * through its JSON log: transitions, status (SIGUSR1), refusals.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError, type LabHost, type LabProcess } from './lab.js';

export const HA_AGENT = fileURLToPath(new URL('../../../bin/ha-agent', import.meta.url));

export type AgentState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'CLAIMING';

export interface AgentTransition {
  instance: string;
  from: AgentState;
  to: AgentState;
  reason: string;
  /** CLOCK_MONOTONIC ms in the agent when it happened. */
  at: number;
}

export interface AgentStatusLine {
  node: string;
  instances: Array<{
    name: string;
    state: AgentState;
    effectivePriority: number;
    master: string | null;
    faults: string[];
    counters: { advertsSent: number; advertsReceived: number; rejected: Record<string, number>; transitions: number };
  }>;
  refused: Record<string, Record<string, number>>;
}

export interface AgentOptions {
  /** 'keepalived' (default): confText is a keepalived.conf; 'yaml': a keepquorum YAML config. */
  format?: 'keepalived' | 'yaml';
  name?: string;
  logLevel?: string;
  startTimeoutMs?: number;
  /** More flags for ha-agent (e.g. --nats URLS --cluster NAME --state-dir DIR). */
  extraArgs?: string[];
  /** Flags for node itself, before the script (e.g. --import of a bench instrument, --cpu-prof). */
  nodeArgs?: string[];
  /** Environment added to the agent's. */
  env?: Record<string, string>;
}

export interface AgentHandle {
  readonly host: LabHost;
  readonly extraArgs: string[];
  readonly process: LabProcess;
  readonly confPath: string;
  readonly transitions: AgentTransition[];
  state(instance: string): AgentState | undefined;
  waitForState(instance: string, state: AgentState, timeoutMs: number): Promise<AgentTransition | undefined>;
  /** SIGUSR1, then the status line the agent logs. */
  status(timeoutMs?: number): Promise<AgentStatusLine>;
  /** SIGTERM; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  /** SIGKILL: the agent dies without releasing anything. */
  kill(): Promise<void>;
}

/** Write the configuration and start `ha-agent` in `host`; resolves once it logged "agent started". */
export async function startAgent(host: LabHost, confText: string, opts: AgentOptions = {}): Promise<AgentHandle> {
  const name = opts.name ?? 'ha-agent';
  const format = opts.format ?? 'keepalived';
  const confPath = join(host.lab.dir, `${host.name}-${name}.${format === 'yaml' ? 'yaml' : 'conf'}`);
  writeFileSync(confPath, confText);
  return runAgent(host, [format === 'yaml' ? '--config' : '--keepalived-conf', confPath], { ...opts, name }, confPath);
}

/** Start `ha-agent` with an existing configuration file (restart after a kill). */
export async function restartAgent(previous: AgentHandle, opts: AgentOptions = {}): Promise<AgentHandle> {
  // The same flags as the first start unless told otherwise.
  opts = { extraArgs: previous.extraArgs, ...opts };
  const flag = previous.confPath.endsWith('.yaml') ? '--config' : '--keepalived-conf';
  return runAgent(previous.host, [flag, previous.confPath], { ...opts, name: opts.name ?? `${previous.process.name.split('/')[1]}-again` }, previous.confPath);
}

/** Run `ha-agent --cleanup` with the same configuration; resolves with its log lines. */
export async function cleanupAgent(host: LabHost, confPath: string): Promise<string> {
  const flag = confPath.endsWith('.yaml') ? '--config' : '--keepalived-conf';
  return host.exec(process.execPath, [HA_AGENT, flag, confPath, '--cleanup']);
}

async function runAgent(host: LabHost, args: string[], opts: AgentOptions, confPath: string): Promise<AgentHandle> {
  const proc = host.spawn(opts.name ?? 'ha-agent', process.execPath, [...(opts.nodeArgs ?? []), HA_AGENT, ...args, ...(opts.extraArgs ?? []), '--log-level', opts.logLevel ?? 'info'], {
    captureStdout: true,
    ...(opts.env ? { env: opts.env } : {}),
  });
  const transitions: AgentTransition[] = [];
  const listeners: Array<() => void> = [];
  const statusWaiters: Array<(s: AgentStatusLine) => void> = [];
  proc.onLine((line) => {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof rec['from'] === 'string' && typeof rec['to'] === 'string' && typeof rec['instance'] === 'string') {
      transitions.push({
        instance: rec['instance'],
        from: rec['from'] as AgentState,
        to: rec['to'] as AgentState,
        reason: String(rec['reason'] ?? ''),
        at: Number(rec['at'] ?? 0),
      });
      for (const l of listeners.splice(0)) l();
    }
    if (rec['msg'] === 'status' && rec['status']) {
      for (const w of statusWaiters.splice(0)) w(rec['status'] as AgentStatusLine);
    }
  });
  await proc.waitForLine((l) => l.includes('"agent started"'), opts.startTimeoutMs ?? 15_000);

  const state = (instance: string): AgentState | undefined => {
    for (let i = transitions.length - 1; i >= 0; i--) if (transitions[i]!.instance === instance) return transitions[i]!.to;
    return undefined;
  };
  const handle: AgentHandle = {
    host,
    extraArgs: opts.extraArgs ?? [],
    process: proc,
    confPath,
    transitions,
    state,
    waitForState(instance, wanted, timeoutMs) {
      const seen = (): AgentTransition | undefined => {
        const last = [...transitions].reverse().find((t) => t.instance === instance);
        return last?.to === wanted ? last : undefined;
      };
      const now = seen();
      if (now) return Promise.resolve(now);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new LabError(`${proc.name}: ${instance} not ${wanted} within ${timeoutMs} ms (is ${state(instance) ?? 'unknown'}; log ${proc.logFile})`)), timeoutMs);
        const check = () => {
          const t = seen();
          if (t) {
            clearTimeout(timer);
            resolve(t);
          } else listeners.push(check);
        };
        listeners.push(check);
      });
    },
    status(timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new LabError(`${proc.name}: no status line within ${timeoutMs} ms`)), timeoutMs);
        statusWaiters.push((s) => {
          clearTimeout(timer);
          resolve(s);
        });
        proc.signal('SIGUSR1');
      });
    },
    async stop(graceMs = 5000) {
      await proc.stop(graceMs);
      return (await proc.exited).code;
    },
    async kill() {
      proc.signal('SIGKILL');
      await proc.exited;
    },
  };
  return handle;
}
