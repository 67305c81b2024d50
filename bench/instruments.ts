/**
 * The bench's own instruments, each a small process in a lab namespace that
 * prints one JSON line per observation stamped with CLOCK_MONOTONIC (shared by
 * every process on the host, so its stamps compare with the fault instant, the
 * client's requests and the agents' logged transitions):
 *
 *   proc/vrrp-watch.js  every VRRP advert crossing the segment
 *
 * Started as lab observers: powerOff() never kills them.
 */
import { fileURLToPath } from 'node:url';
import { LabError, type LabHost, type LabProcess } from '../test/lab/lab.js';

export interface Stamped {
  /** CLOCK_MONOTONIC ns when the instrument saw it. */
  t: bigint;
}

export interface WireAdvert extends Stamped {
  src: string;
  vrid: number;
  prio: number;
}

export interface Instrument<T extends Stamped> {
  readonly process: LabProcess;
  /** Everything seen so far, in arrival order. */
  readonly seen: readonly T[];
  /** Resolves with the next observation (after now) that satisfies pred. */
  next(pred: (x: T) => boolean, timeoutMs: number): Promise<T>;
  lastBefore(t: bigint, pred: (x: T) => boolean): T | undefined;
  firstAfter(t: bigint, pred: (x: T) => boolean): T | undefined;
  stop(): Promise<void>;
}

async function startInstrument<T extends Stamped>(
  host: LabHost,
  name: string,
  script: string,
  args: string[],
  parse: (raw: Record<string, unknown>, t: bigint) => T | undefined,
): Promise<Instrument<T>> {
  const proc = host.spawnNode(name, script, args, { observer: true });
  const seen: T[] = [];
  const waiters = new Set<(x: T) => void>();
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  proc.onLine((line) => {
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (raw['ready'] === true) resolveReady();
    if (typeof raw['t'] !== 'string') return;
    const item = parse(raw, BigInt(raw['t']));
    if (!item) return;
    seen.push(item);
    for (const w of waiters) w(item);
  });
  const exited = proc.exited.then(({ code, signal }) => {
    throw new LabError(`${proc.name} exited (code ${code}, signal ${signal}) before it was ready (log: ${proc.logFile})`);
  });
  exited.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LabError(`${proc.name} not ready within 10 s (log: ${proc.logFile})`)), 10_000);
  });
  try {
    await Promise.race([ready, exited, timeout]);
  } catch (e) {
    await proc.stop();
    throw e;
  } finally {
    clearTimeout(timer);
  }

  const search = (from: number, step: 1 | -1, ok: (x: T) => boolean): T | undefined => {
    for (let i = from; i >= 0 && i < seen.length; i += step) if (ok(seen[i] as T)) return seen[i];
    return undefined;
  };
  return {
    process: proc,
    seen,
    next(pred, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (x: T): void => {
          if (!pred(x)) return;
          waiters.delete(check);
          clearTimeout(t);
          resolve(x);
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new LabError(`${proc.name}: nothing matching within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    lastBefore: (t, pred) => search(seen.length - 1, -1, (x) => x.t <= t && pred(x)),
    firstAfter: (t, pred) => search(0, 1, (x) => x.t > t && pred(x)),
    stop: () => proc.stop(),
  };
}

const script = (name: string): string => fileURLToPath(new URL(`./proc/${name}.js`, import.meta.url));

/** Every VRRP packet on `host`'s segment (its namespace joins 224.0.0.18; nothing is sent). */
export function startWireWatch(host: LabHost, opts: { durationMs: number }): Promise<Instrument<WireAdvert>> {
  return startInstrument(host, 'vrrp-watch', script('vrrp-watch'), ['--interface', host.ifname, '--duration-ms', String(opts.durationMs)], (raw, t) =>
    typeof raw['src'] === 'string' && typeof raw['vrid'] === 'number' && typeof raw['prio'] === 'number'
      ? { t, src: raw['src'], vrid: raw['vrid'], prio: raw['prio'] }
      : undefined,
  );
}
