/**
 * Backoff between retries, shared by the backends. Equal jitter: half the
 * exponential ceiling is kept, half is random, so replicas retrying the same
 * receiver spread out but none retries at once after a failure.
 */

export interface BackoffOptions {
  /** The ceiling before the first retry. */
  baseMs: number;
  /** No ceiling grows past this. */
  maxMs: number;
  /** In [0, 1). Default Math.random; tests pass their own. */
  random?: () => number;
}

/** The delay before retry `retry` (1-based): uniform in [ceiling/2, ceiling], ceiling = min(maxMs, baseMs * 2^(retry-1)). */
export function backoffDelay(retry: number, options: BackoffOptions): number {
  const exponent = Math.max(0, Math.min(30, retry - 1));
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  const r = (options.random ?? Math.random)();
  const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0.5;
  return ceiling / 2 + (unit * ceiling) / 2;
}

/** Waits ms; resolves false at once if the signal aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
