/**
 * Lease timing: the defaults derived from the VRRP advert interval, the rules a
 * configuration must meet (checked once at load, as Patroni checks
 * `loop_wait + 2*retry_timeout <= ttl`), and the agent's deadlines.
 *
 * The rule. A holder renews every `renewIntervalMs` (R); a renewal may go
 * unanswered for `requestTimeoutMs` (Q) and be retried once more; and the
 * holder demotes itself `safetyMarginMs` (M) before its lease runs out. So a
 * holder that missed one answer still gets a second try before its deadline:
 *
 *     R + 2·Q + M <= leaseTtlMs (T)
 *
 * The safety margin. The holder counts its lease on its own monotonic clock
 * from when it *sent* the request (never later than the arbiter's write), and
 * gives up M before the end. Another arbiter replica sees the lease run out by
 * its own wall clock. The holder is gone first as long as M exceeds the worst
 * clock skew between arbiter replicas plus the time to remove the VIP, so M
 * must be larger than `maxClockSkewMs`.
 *
 * The defaults, from the advert interval A (ms):
 *
 *     Q = max(A/4, 50)      M = max(A/2, 100)      R = max(A, 250)
 *     T = max(2·A, R + 2·Q + M)
 *
 *   A = 1 s:   R 1000, Q 250, M 500, T 2000 ms (R + 2Q + M = T exactly, as Patroni's 10 + 2·10 = 30)
 *   A = 0.1 s: R 250,  Q 50,  M 100, T 450 ms (the floors)
 *   A = 3 s:   R 3000, Q 750, M 1500, T 6000 ms
 *
 * Why T ≈ 2·A: after a crash the backup's down timer fires no earlier than
 * 2·A + Skew_Time (its last advert left at most A before the crash, and
 * Master_Down_Interval is 3·A + Skew_Time), and the holder's last renewal was
 * no later than the crash, so a lease of 2·A has run out by the time plain VRRP
 * would take over: without fencing, the lease costs no downtime over VRRP at
 * A >= 1 s. The floors (chosen for KV load and scheduling jitter) make the
 * lease the longer wait below A ≈ 0.25 s; fencing removes the wait altogether.
 *
 * The KV write load is one compare-and-set per holder per R: 1000 / R writes
 * per second per instance. At 1,000 instances: A >= 1 s gives 1,000 writes/s
 * (3,000 appends/s across an R3 cluster, and 1,000 watch messages/s to each
 * arbiter replica, about 170 bytes each); A = 0.1 s gives 4,000 writes/s, the
 * ceiling the R floor of 250 ms sets. Claims, releases and failovers are
 * negligible beside renewals.
 */
import type { ErrorCode } from '../../common/src/errors.js';
import type { FencingPolicy, LeaseTiming } from './types.js';

/** Below these the defaults stop following the advert interval. */
export const TIMING_FLOORS = Object.freeze({
  renewIntervalMs: 250,
  requestTimeoutMs: 50,
  safetyMarginMs: 100,
});

/** The clock skew between arbiter replicas assumed when the configuration does not say (NTP on one site). */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 50;

export function defaultLeaseTiming(advertIntervalMs: number): LeaseTiming {
  const a = advertIntervalMs;
  const requestTimeoutMs = Math.max(Math.ceil(a / 4), TIMING_FLOORS.requestTimeoutMs);
  const safetyMarginMs = Math.max(Math.ceil(a / 2), TIMING_FLOORS.safetyMarginMs);
  const renewIntervalMs = Math.max(Math.ceil(a), TIMING_FLOORS.renewIntervalMs);
  const leaseTtlMs = Math.max(Math.ceil(2 * a), renewIntervalMs + 2 * requestTimeoutMs + safetyMarginMs);
  return Object.freeze({ leaseTtlMs, renewIntervalMs, requestTimeoutMs, safetyMarginMs });
}

/** Lease writes per second that renewals put on the KV. */
export function kvWritesPerSecond(timing: Pick<LeaseTiming, 'renewIntervalMs'>, instances: number): number {
  return (instances * 1000) / timing.renewIntervalMs;
}

export interface TimingIssue {
  readonly severity: 'error' | 'warning';
  readonly code: ErrorCode;
  /** The setting to change. */
  readonly key: keyof LeaseTiming;
  readonly message: string;
}

export interface TimingContext {
  /** Worst skew between arbiter replicas' wall clocks; default DEFAULT_MAX_CLOCK_SKEW_MS. */
  readonly maxClockSkewMs?: number;
  /** The instance's Master_Down_Interval, to say when the lease outlives VRRP's own detection. */
  readonly masterDownIntervalMs?: number;
  readonly fencing?: FencingPolicy;
}

const KEYS: ReadonlyArray<keyof LeaseTiming> = ['leaseTtlMs', 'renewIntervalMs', 'requestTimeoutMs', 'safetyMarginMs'];

/** Every problem with a timing set, errors first; an empty list means it is usable. */
export function validateLeaseTiming(timing: LeaseTiming, context: TimingContext = {}): TimingIssue[] {
  const issues: TimingIssue[] = [];
  const error = (key: keyof LeaseTiming, message: string) => issues.push({ severity: 'error', code: 'KQ_ERR_CONFIG_VALUE', key, message });
  const warn = (key: keyof LeaseTiming, message: string) => issues.push({ severity: 'warning', code: 'KQ_WARN_CONFIG_SUSPICIOUS', key, message });

  let numeric = true;
  for (const key of KEYS) {
    const v = timing[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      error(key, `${key} must be a positive number of milliseconds, got ${String(v)}`);
      numeric = false;
    }
  }
  if (!numeric) return issues;

  const { leaseTtlMs: t, renewIntervalMs: r, requestTimeoutMs: q, safetyMarginMs: m } = timing;
  const needed = r + 2 * q + m;
  if (needed > t) {
    error(
      'leaseTtlMs',
      `renewIntervalMs + 2*requestTimeoutMs + safetyMarginMs = ${r} + 2*${q} + ${m} = ${needed} ms exceeds leaseTtlMs ${t} ms: ` +
        `a holder that misses one answer would demote itself before its retry; raise leaseTtlMs to ${needed} or lower the others`,
    );
  }
  if (q > r) {
    error('requestTimeoutMs', `requestTimeoutMs ${q} ms exceeds renewIntervalMs ${r} ms: a renewal would still be waiting when the next one is due`);
  }
  const skew = context.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  if (m <= skew) {
    error(
      'safetyMarginMs',
      `safetyMarginMs ${m} ms must exceed the clock skew between arbiter replicas (${skew} ms): ` +
        `otherwise a replica may see the lease run out while the holder still serves`,
    );
  }
  if (r < TIMING_FLOORS.renewIntervalMs) {
    warn(
      'renewIntervalMs',
      `renewing every ${r} ms writes ${Math.round(kvWritesPerSecond(timing, 1000))} leases/s to the KV per 1,000 instances; ` +
        `${TIMING_FLOORS.renewIntervalMs} ms or more keeps it at ${kvWritesPerSecond(TIMING_FLOORS, 1000)}/s`,
    );
  }
  const mdi = context.masterDownIntervalMs;
  if (mdi !== undefined && (context.fencing ?? 'off') === 'off' && t > mdi) {
    warn(
      'leaseTtlMs',
      `leaseTtlMs ${t} ms exceeds Master_Down_Interval ${Math.round(mdi)} ms and fencing is off: ` +
        `after a crash the backup waits for the lease, not for VRRP; enable fencing or shorten the lease`,
    );
  }
  issues.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
  return issues;
}

// ---------------------------------------------------------------------------
// Deadlines. The agent's are on its monotonic clock; the arbiter's on the wall clock of types.ts.

/**
 * Agent: when to have removed the VIP if no renewal was confirmed. `anchor` is
 * the monotonic instant the agent sent the claim or renewal this answer is for
 * (never when the answer arrived: a late answer must shorten the hold, not
 * lengthen it).
 */
export function selfDemotionAt(anchorMonotonicMs: number, validForMs: number, timing: Pick<LeaseTiming, 'safetyMarginMs'>): number {
  return anchorMonotonicMs + validForMs - timing.safetyMarginMs;
}

/** Agent: when the next renewal is due after one sent at `anchor`. */
export function nextRenewalAt(anchorMonotonicMs: number, timing: Pick<LeaseTiming, 'renewIntervalMs'>): number {
  return anchorMonotonicMs + timing.renewIntervalMs;
}

/**
 * Arbiter: from when a holder that has not renewed counts as silent: it missed
 * its renewal and the first retry's timeout. It may still hold the VIP until
 * its lease runs out, so silence alone grants nobody; it makes fencing possible.
 */
export function renewalOverdueAt(renewedAt: number, timing: Pick<LeaseTiming, 'renewIntervalMs' | 'requestTimeoutMs'>): number {
  return renewedAt + timing.renewIntervalMs + timing.requestTimeoutMs;
}

const timingText = (t: LeaseTiming): string => `TTL ${t.leaseTtlMs}, renew ${t.renewIntervalMs}, request timeout ${t.requestTimeoutMs}, margin ${t.safetyMarginMs} ms`;

/**
 * How an agent's lease timing for an instance differs from the arbiter's, or
 * null when they agree. A mismatch can make the arbiter judge a live holder
 * silent (it expects renewals on its own interval) and fence it.
 */
export function leaseTimingMismatch(agent: LeaseTiming, arbiter: LeaseTiming): string | null {
  const same =
    agent.leaseTtlMs === arbiter.leaseTtlMs &&
    agent.renewIntervalMs === arbiter.renewIntervalMs &&
    agent.requestTimeoutMs === arbiter.requestTimeoutMs &&
    agent.safetyMarginMs === arbiter.safetyMarginMs;
  return same ? null : `the agent runs it with ${timingText(agent)}; the arbiter with ${timingText(arbiter)} (set the same advertIntervalMs or timing on both)`;
}
