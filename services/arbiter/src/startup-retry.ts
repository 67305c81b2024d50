/**
 * What a replica does when JetStream does not answer while it starts: it
 * waits and tries again, as a daemon waits for its dependencies, instead of
 * exiting. While a NATS server of the cluster is down or restarting, the
 * JetStream meta leader may be in election for seconds: requests time out
 * (NatsError TIMEOUT) or find no responder (503). Anything else (a bucket
 * that differs, a server without JetStream, R3 asked of a single server, a
 * configuration error) still stops the start at once, with its message.
 */
import { KqError } from '../../../libs/common/src/errors.js';
import type { Logger } from '../../../libs/common/src/log.js';

/** A NATS error that says "not now", not "never": a timeout, no responders, JetStream not ready yet. */
export function isTransientNatsError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const code = String((e as { code?: unknown }).code ?? '');
    const message = String((e as { message?: unknown }).message ?? '');
    if (code === 'TIMEOUT' || code === '503' || code === 'NO_RESPONDERS') return true;
    if (/\b(timeout|no responders|jetstream temporarily unavailable)\b/i.test(message) && !(e instanceof KqError && e.code !== 'KQ_ERR_STREAM_CONFIG')) {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Delay before attempt n (1-based): 250 ms doubling, at most 5 s. */
export function startupRetryDelayMs(attempt: number): number {
  return Math.min(5000, 250 * 2 ** Math.max(0, attempt - 1));
}

/** Runs `fn` until it succeeds or fails with a non-transient error (thrown). */
export async function retryWhileTransient<T>(what: string, fn: () => Promise<T>, log: Logger, sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransientNatsError(err)) throw err;
      const delayMs = startupRetryDelayMs(attempt);
      log.warn({ attempt, delayMs, err: (err as Error).message }, `${what}: JetStream did not answer; trying again in ${delayMs} ms`);
      await sleep(delayMs);
    }
  }
}
