/**
 * Settings shared by the property and fuzz suites (*.fuzz.test.ts). `npm test`
 * runs them with a fixed seed and a bounded number of runs; a longer run sets:
 *
 *   KQ_FUZZ_RUNS=N      runs per property instead of each suite's default
 *                       (or a factor: KQ_FUZZ_RUNS=x20 multiplies the defaults)
 *   KQ_FUZZ_SEED=S      another seed (an integer); 'random' draws one and prints it
 *
 * A failure prints the seed and the shrunk counterexample's path; rerun it with
 * KQ_FUZZ_SEED=S and the same KQ_FUZZ_RUNS.
 */
import type { Parameters } from 'fast-check';

/** The seed `npm test` uses: the same inputs on every machine and every run. */
export const DEFAULT_FUZZ_SEED = 0x6b71_7175;

let announced = false;

export function fuzzSeed(): number {
  const text = process.env['KQ_FUZZ_SEED'];
  if (text === undefined || text === '') return DEFAULT_FUZZ_SEED;
  if (text === 'random') {
    const seed = (Math.random() * 0x7fffffff) | 0;
    if (!announced) {
      process.stderr.write(`fuzz: KQ_FUZZ_SEED=${seed}\n`);
      announced = true;
    }
    process.env['KQ_FUZZ_SEED'] = String(seed);
    return seed;
  }
  const seed = Number(text);
  if (!Number.isInteger(seed)) throw new Error(`KQ_FUZZ_SEED=${text}: expected an integer or 'random'`);
  return seed;
}

export function fuzzRuns(defaultRuns: number): number {
  const text = process.env['KQ_FUZZ_RUNS'];
  if (text === undefined || text === '') return defaultRuns;
  const factor = /^x(\d+)$/.exec(text);
  if (factor) return defaultRuns * Number(factor[1]);
  const runs = Number(text);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`KQ_FUZZ_RUNS=${text}: expected a positive integer or xN`);
  return runs;
}

/** fc.assert parameters: the seed, the runs, and a counterexample that says how to replay it. */
export function fuzzParams<T>(defaultRuns: number): Parameters<T> {
  // includeErrorInReport: the assertion message in the report itself (node:test does not print an error's cause)
  return { seed: fuzzSeed(), numRuns: fuzzRuns(defaultRuns), includeErrorInReport: true };
}
