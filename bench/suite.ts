/**
 * What every benchmark suite shares: the options `npm run bench` takes, the
 * result shape each suite returns, targets, and progress on stderr (stdout is
 * reserved for the one JSON document).
 */

export interface BenchOptions {
  /** Measured runs per scenario and implementation. */
  runs: number;
  /** --quick: fewer runs and shorter waits, for a smoke check. */
  quick: boolean;
}

/** A figure checked against a limit from an issue. */
export interface Target {
  value: number | null;
  limit: number;
  /** "<=" unless said otherwise: value must not exceed limit. */
  comparison: '<=' | '>=';
  /** null when the value could not be measured. */
  met: boolean | null;
  /** What exactly is compared, in a sentence. */
  about: string;
}

export function target(value: number | null, comparison: Target['comparison'], limit: number, about: string): Target {
  const met = value === null ? null : comparison === '<=' ? value <= limit : value >= limit;
  return { value, limit, comparison, met, about };
}

export interface SuiteResult {
  /** False when a run failed (e.g. no takeover): the bench exits non-zero. */
  ok: boolean;
  /** Why ok is false, one line each. */
  failures: string[];
  targets: Record<string, Target>;
  /** The suite's own figures. */
  [key: string]: unknown;
}

export interface Suite {
  name: string;
  /** One line for --list and the JSON. */
  description: string;
  run(options: BenchOptions): Promise<SuiteResult>;
}

const benchStart = process.hrtime.bigint();

/** A progress line on stderr, with the seconds since the bench started. */
export function progress(suite: string, message: string): void {
  const s = Number(process.hrtime.bigint() - benchStart) / 1e9;
  process.stderr.write(`[bench ${s.toFixed(1).padStart(6)}s] ${suite}: ${message}\n`);
}
