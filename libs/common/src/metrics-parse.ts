/**
 * Reading Prometheus' text format back (what our /metrics endpoints serve):
 * the tests scrape real endpoints with it; enough of the format for that
 * (samples, label values with escapes), not a general parser.
 */

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;

/** Every sample of an exposition, in order; a line that is not a sample or a comment throws, naming it. */
export function parseExposition(text: string): ParsedSample[] {
  const out: ParsedSample[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`metrics line ${i + 1}: not a sample: ${line.slice(0, 200)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    const v = m[3]!;
    // prom-client writes NaN as "Nan".
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : /^nan$/i.test(v) ? NaN : Number(v);
    if (Number.isNaN(value) && !/^nan$/i.test(v)) throw new Error(`metrics line ${i + 1}: value ${v} is not a number`);
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** The samples named `name` whose labels include `labels`. */
export function samplesOf(samples: readonly ParsedSample[], name: string, labels: Record<string, string> = {}): ParsedSample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The sum of those samples (0 when there is none). */
export function valueOf(samples: readonly ParsedSample[], name: string, labels: Record<string, string> = {}): number {
  return samplesOf(samples, name, labels).reduce((a, s) => a + s.value, 0);
}
