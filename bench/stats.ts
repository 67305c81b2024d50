/**
 * Small statistics for benchmark samples. Every figure keeps its samples: a
 * median of seven on a shared two-core machine means little without them.
 */

export interface Distribution {
  n: number;
  median: number | null;
  min: number | null;
  max: number | null;
  mean: number | null;
  /** 25th and 75th percentiles (linear interpolation between closest ranks). */
  p25: number | null;
  p75: number | null;
  /** p75 - p25. */
  iqr: number | null;
  /** max - min. */
  range: number | null;
  /** In the order they were taken. */
  samples: number[];
}

/** Rounded to 0.01: the instruments are not finer than that, and the JSON stays readable. */
export const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Percentile p in [0, 1] of sorted values, linear between closest ranks. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of no samples');
  const rank = p * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (rank - lo);
}

export function distribution(samples: readonly number[]): Distribution {
  const kept = samples.map(round2);
  if (kept.length === 0) {
    return { n: 0, median: null, min: null, max: null, mean: null, p25: null, p75: null, iqr: null, range: null, samples: [] };
  }
  const sorted = [...kept].sort((x, y) => x - y);
  const p25 = percentile(sorted, 0.25);
  const p75 = percentile(sorted, 0.75);
  const min = sorted[0] as number;
  const max = sorted[sorted.length - 1] as number;
  return {
    n: kept.length,
    median: round2(percentile(sorted, 0.5)),
    min,
    max,
    mean: round2(kept.reduce((s, x) => s + x, 0) / kept.length),
    p25: round2(p25),
    p75: round2(p75),
    iqr: round2(p75 - p25),
    range: round2(max - min),
    samples: kept,
  };
}

/** Tail percentiles of a large sample set (no samples kept). */
export function tail(values: readonly number[]): { n: number; p50: number | null; p99: number | null; max: number | null } {
  if (values.length === 0) return { n: 0, p50: null, p99: null, max: null };
  const sorted = [...values].sort((x, y) => x - y);
  return {
    n: values.length,
    p50: round2(percentile(sorted, 0.5)),
    p99: round2(percentile(sorted, 0.99)),
    max: round2(sorted[sorted.length - 1] as number),
  };
}

/** a / b, or null when either is missing or b is 0. */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || b === 0) return null;
  return Math.round((a / b) * 1000) / 1000;
}
