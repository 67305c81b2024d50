/**
 * Real keepalived (Debian's) as a VRRP peer inside a lab namespace.
 *
 * It runs in the foreground (-n) with only its VRRP subsystem (-P), logs every
 * line to stdout (-l -D, stderr folded in) and never touches the machine's own
 * keepalived: configuration, pid files and its temporary config copy all live
 * in the lab's run directory, syslog is off (-G).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError, type LabHost, type LabProcess } from './lab.js';

const execFileAsync = promisify(execFile);

export const KEEPALIVED = '/usr/sbin/keepalived';

export type KeepalivedState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';

export interface KeepalivedTransition {
  instance: string;
  state: KeepalivedState;
  /** CLOCK_MONOTONIC ns when this process read the log line (its own timestamps have 1 s resolution). */
  seenNs: bigint;
}

export interface KeepalivedOptions {
  /** Names the run's files and the process in the lab's logs. Default "keepalived". */
  name?: string;
  /** Default 10 s. */
  startTimeoutMs?: number;
  /** More command-line flags (e.g. -X, -V). */
  extraArgs?: string[];
}

export interface KeepalivedHandle {
  readonly host: LabHost;
  readonly process: LabProcess;
  readonly confPath: string;
  /** Every "(VI_x) Entering … STATE" seen so far, in order. */
  readonly transitions: KeepalivedTransition[];
  /** The latest state of an instance, if it entered one. */
  state(instance: string): KeepalivedState | undefined;
  /** Resolves when the instance is (or enters) `state`. */
  waitForState(instance: string, state: KeepalivedState, timeoutMs: number): Promise<void>;
  /** Graceful stop: SIGTERM (priority-0 advert, VIPs removed), SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

/** keepalived's version, e.g. "2.2.7". */
export async function keepalivedVersion(): Promise<string> {
  // keepalived prints its banner on stderr.
  const { stdout, stderr } = await execFileAsync(KEEPALIVED, ['--version']);
  const m = /Keepalived v(\d+(?:\.\d+)+)/.exec(`${stdout}\n${stderr}`);
  if (!m?.[1]) throw new LabError(`cannot read keepalived's version from: ${(stdout + stderr).slice(0, 200)}`);
  return m[1];
}

const TRANSITION = /\((\S+)\) Entering (\w+) STATE/;

/** Start keepalived in `host` with `confText`; resolves once its VRRP process reports startup complete. */
export async function startKeepalived(host: LabHost, confText: string, opts: KeepalivedOptions = {}): Promise<KeepalivedHandle> {
  const name = opts.name ?? 'keepalived';
  const base = join(host.lab.dir, `${host.name}-${name}`);
  const confPath = `${base}.conf`;
  // keepalived copies its configuration into tmp_config_directory (default /tmp)
  // while it runs; a second global_defs block is legal and keeps that copy here.
  writeFileSync(confPath, `global_defs {\n  tmp_config_directory ${host.lab.dir}\n}\n\n${confText}`);
  const args = [
    '-n', '-l', '-D', '-G', '-P',
    '-f', confPath,
    // Its own pid files: the defaults under /run would collide between peers
    // and with a keepalived the machine itself runs.
    '-p', `${base}.pid`,
    '-r', `${base}-vrrp.pid`,
    '-c', `${base}-checkers.pid`,
    '-b', `${base}-bfd.pid`,
    ...(opts.extraArgs ?? []),
  ];
  // keepalived -l logs to stderr; folded into stdout so the lab can read it line by line.
  // `exec` keeps keepalived itself as the spawned pid, so signals reach it directly.
  const proc = host.spawn(name, '/bin/sh', ['-c', 'exec "$0" "$@" 2>&1', KEEPALIVED, ...args], { captureStdout: true });
  const transitions: KeepalivedTransition[] = [];
  const stateListeners = new Set<() => void>();
  proc.onLine((line) => {
    const m = TRANSITION.exec(line);
    if (!m?.[1] || !m[2]) return;
    transitions.push({ instance: m[1], state: m[2] as KeepalivedState, seenNs: process.hrtime.bigint() });
    for (const l of stateListeners) l();
  });
  const state = (instance: string): KeepalivedState | undefined => {
    for (let i = transitions.length - 1; i >= 0; i--) {
      const t = transitions[i];
      if (t && t.instance === instance) return t.state;
    }
    return undefined;
  };
  const handle: KeepalivedHandle = {
    host,
    process: proc,
    confPath,
    transitions,
    state,
    waitForState(instance, wanted, timeoutMs) {
      if (state(instance) === wanted) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          stateListeners.delete(check);
        };
        const check = (): void => {
          if (state(instance) !== wanted) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          reject(new LabError(`${proc.name}: ${instance} not ${wanted} within ${timeoutMs} ms (now ${state(instance) ?? 'no state'}; log: ${proc.logFile})`));
        }, timeoutMs);
        stateListeners.add(check);
        void proc.exited.then(() => {
          if (!stateListeners.has(check)) return;
          done();
          reject(new LabError(`${proc.name} exited while waiting for ${instance} ${wanted} (log: ${proc.logFile})`));
        });
      });
    },
    // keepalived's shutdown waits for its VRRP child, which sends priority-0
    // adverts and removes the VIPs first; a second or so is normal.
    stop: (graceMs = 5000) => proc.stop(graceMs),
  };
  try {
    await proc.waitForLine((l) => /Startup complete/.test(l), opts.startTimeoutMs ?? 10_000);
  } catch (e) {
    await proc.stop(1000);
    throw e;
  }
  return handle;
}

export interface KeepalivedInstanceSpec {
  instance?: string;
  interface?: string;
  vrid: number;
  priority: number;
  /** Seconds; keepalived takes fractions with VRRPv3. Default 1. */
  advertInt?: number;
  version?: 2 | 3;
  state?: 'MASTER' | 'BACKUP';
  nopreempt?: boolean;
  /** VRRPv2 PASS authentication. */
  authPass?: string;
  /** "IP/prefix" entries. */
  vips: string[];
  routerId?: string;
}

/** A keepalived.conf with one vrrp_instance, the form the lab's interop tests share. */
export function keepalivedConf(spec: KeepalivedInstanceSpec): string {
  const lines = [
    'global_defs {',
    `  router_id ${spec.routerId ?? 'lab'}`,
    '}',
    '',
    `vrrp_instance ${spec.instance ?? 'VI_1'} {`,
    `  state ${spec.state ?? 'BACKUP'}`,
    `  interface ${spec.interface ?? 'eth0'}`,
    `  virtual_router_id ${spec.vrid}`,
    `  priority ${spec.priority}`,
    `  advert_int ${spec.advertInt ?? 1}`,
    `  version ${spec.version ?? 3}`,
  ];
  if (spec.nopreempt) lines.push('  nopreempt');
  if (spec.authPass !== undefined) lines.push('  authentication {', '    auth_type PASS', `    auth_pass ${spec.authPass}`, '  }');
  lines.push('  virtual_ipaddress {', ...spec.vips.map((v) => `    ${v}`), '  }', '}', '');
  return lines.join('\n');
}
