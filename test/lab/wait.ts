/** Polling for lab state that has no event to wait on (addresses, sampler views). */
import { LabError } from './lab.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `cond` holds; rejects with `what` after timeoutMs. */
export async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, pollMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() >= deadline) throw new LabError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}
