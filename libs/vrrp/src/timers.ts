/**
 * RFC 5798 / RFC 9568 §6.1 timer arithmetic (VRRPv3) and RFC 3768 §6.1 (VRRPv2).
 *
 * Computed in fractional milliseconds rather than in whole centiseconds: the RFC's
 * integer centiseconds would round Skew_Time for priority 90 at 10 cs down to 6 cs,
 * while keepalived computes it in microseconds (64.84 ms). Matching keepalived keeps
 * mixed pairs from disagreeing on who times out first.
 */
import type { VrrpVersion } from './types.js';

export const PRIORITY_OWNER = 255;
export const PRIORITY_STOP = 0;

/** How many missed adverts make the master down (RFC: 3). */
export const DOWN_TIMER_ADVERTS = 3;

/**
 * Skew_Time: how much longer a lower-priority backup waits, so the highest
 * priority backup takes over first.
 * v3: ((256 - Priority) * Master_Adver_Interval) / 256, in centiseconds.
 * v2: (256 - Priority) / 256, in seconds (independent of the interval).
 */
export function skewTimeMs(version: VrrpVersion, priority: number, masterAdvertIntervalCs: number): number {
  if (version === 3) return ((256 - priority) * masterAdvertIntervalCs * 10) / 256;
  return ((256 - priority) * 1000) / 256;
}

/** Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time. */
export function masterDownIntervalMs(version: VrrpVersion, priority: number, masterAdvertIntervalCs: number): number {
  return DOWN_TIMER_ADVERTS * masterAdvertIntervalCs * 10 + skewTimeMs(version, priority, masterAdvertIntervalCs);
}

export function centisecondsToMs(cs: number): number {
  return cs * 10;
}
