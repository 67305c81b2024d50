/**
 * Real fencing in the lab: the power switch (proc/fence-receiver.js) runs in a
 * lab namespace (the gateway's), takes keepquorum's signed webhook and the lab
 * fence agent's requests, and reports each power-off it must do; this side,
 * which owns the lab, powers the named host off (every process frozen, its
 * cable pulled, then killed: LabHost.powerOff, as a PDU would) and only then
 * lets the switch answer success.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError, type LabHost, type LabProcess } from './lab.js';

export const FENCE_RECEIVER_SCRIPT = fileURLToPath(new URL('./proc/fence-receiver.js', import.meta.url));
export const FENCE_LAB_AGENT_SCRIPT = fileURLToPath(new URL('./proc/fence-lab.js', import.meta.url));
export const FENCE_PORT = 9443;

export type FenceMode = 'ok' | '500' | 'slow' | 'down';

export interface FenceAttemptRecord {
  via: 'webhook' | 'pdu';
  node: string;
  key?: string;
  answer: string;
  /** CLOCK_MONOTONIC ns when the test saw it. */
  seenNs: bigint;
}

export interface FenceOperation {
  op: number;
  via: 'webhook' | 'pdu';
  node: string;
  key: string;
  requestedNs: bigint;
  /** When the host was powered off (and the switch told so). */
  doneNs?: bigint;
}

export interface FenceTarget {
  readonly host: LabHost;
  readonly process: LabProcess;
  /** http://<host>:9443/fence */
  readonly url: string;
  /** The HMAC secret's file (mode 0600), for the arbiter's `secretFile`. */
  readonly secretFile: string;
  /** An executable fence_* program (a wrapper around proc/fence-lab.js) and its options. */
  readonly agent: { path: string; options: Record<string, string | number> };
  readonly attempts: FenceAttemptRecord[];
  readonly operations: FenceOperation[];
  /** How the switch answers from now on. 'down': it stops listening (connection refused). */
  setMode(mode: FenceMode, delayMs?: number): Promise<void>;
  /** The host is powered on again (the switch's status says on). */
  poweredOn(node: string): void;
  /** Resolves once `node` has been powered off through the switch. */
  waitFenced(node: string, timeoutMs: number): Promise<FenceOperation>;
  /** Resolves once `count` attempts for `node` were seen. */
  waitAttempts(node: string, count: number, timeoutMs: number): Promise<FenceAttemptRecord[]>;
  stop(): Promise<void>;
}

/**
 * Start the switch in `host`. `targets` names the hosts it may power off, by
 * the node name the arbiter fences them under.
 */
export async function startFenceTarget(host: LabHost, targets: Record<string, LabHost>, opts: { name?: string } = {}): Promise<FenceTarget> {
  const dir = host.lab.dir;
  const secretFile = join(dir, 'fence-webhook.secret');
  writeFileSync(secretFile, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  chmodSync(secretFile, 0o600);
  const pduPassword = randomBytes(8).toString('hex');
  const agentPath = join(dir, 'fence_lab');
  writeFileSync(agentPath, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(FENCE_LAB_AGENT_SCRIPT)} "$@"\n`, { mode: 0o755 });
  chmodSync(agentPath, 0o755);

  const proc = host.spawnNode(opts.name ?? 'fence-switch', FENCE_RECEIVER_SCRIPT, ['--listen', host.ipv4, '--port', String(FENCE_PORT), '--secret-file', secretFile, '--pdu-password', pduPassword], {
    captureStdout: true,
    stdin: true,
  });
  const attempts: FenceAttemptRecord[] = [];
  const operations: FenceOperation[] = [];
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };
  const modeAcks: Array<(l: Record<string, unknown>) => void> = [];
  proc.onLine((line) => {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const now = process.hrtime.bigint();
    if (rec['event'] === 'attempt') {
      attempts.push({ via: rec['via'] as 'webhook' | 'pdu', node: String(rec['node'] ?? ''), ...(typeof rec['key'] === 'string' ? { key: rec['key'] } : {}), answer: String(rec['answer']), seenNs: now });
      notify();
    } else if (rec['event'] === 'mode') {
      modeAcks.shift()?.(rec);
    } else if (rec['event'] === 'fence') {
      const op: FenceOperation = { op: Number(rec['op']), via: rec['via'] as 'webhook' | 'pdu', node: String(rec['node']), key: String(rec['key']), requestedNs: now };
      operations.push(op);
      const target = targets[op.node];
      void (async () => {
        let ok = false;
        if (target) {
          try {
            await target.powerOff();
            ok = true;
          } catch (e) {
            process.stderr.write(`fence switch: powering ${op.node} off failed: ${(e as Error).message}\n`);
          }
        }
        op.doneNs = process.hrtime.bigint();
        proc.write(`${JSON.stringify({ done: op.op, ok })}\n`);
        notify();
      })();
    }
  });
  await proc.waitForLine((l) => l.includes('"event":"ready"'), 10_000);

  const waitFor = <T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> => {
    const now = probe();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v === undefined) return;
        clearTimeout(timer);
        listeners.delete(check);
        resolve(v);
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new LabError(`fence switch: ${what} not within ${timeoutMs} ms (log: ${proc.logFile})`));
      }, timeoutMs);
      listeners.add(check);
    });
  };

  return {
    host,
    process: proc,
    url: `http://${host.ipv4}:${FENCE_PORT}/fence`,
    secretFile,
    agent: { path: agentPath, options: { ip: host.ipv4, ipport: FENCE_PORT, password: pduPassword } },
    attempts,
    operations,
    setMode(mode, delayMs = 0) {
      return new Promise((resolve, reject) => {
        modeAcks.push(() => resolve());
        if (!proc.write(`${JSON.stringify({ mode, delayMs })}\n`)) reject(new LabError('fence switch is not running'));
      });
    },
    poweredOn(node) {
      proc.write(`${JSON.stringify({ poweredOn: node })}\n`);
    },
    waitFenced(node, timeoutMs) {
      return waitFor(`a power-off of ${node}`, () => operations.find((o) => o.node === node && o.doneNs !== undefined), timeoutMs);
    },
    waitAttempts(node, count, timeoutMs) {
      return waitFor(`${count} attempts for ${node}`, () => {
        const mine = attempts.filter((a) => a.node === node);
        return mine.length >= count ? mine : undefined;
      }, timeoutMs);
    },
    stop: () => proc.stop(),
  };
}
