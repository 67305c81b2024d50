/**
 * Every timer decision uses the monotonic clock, in milliseconds (fractional).
 * process.hrtime is CLOCK_MONOTONIC, shared by every process on the host, so
 * figures taken by different processes (agent, client, sampler) can be compared.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function monotonicNs(): bigint {
  return process.hrtime.bigint();
}
