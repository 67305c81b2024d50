import { KqError, type ErrorCode } from '../../common/src/errors.js';

export type Severity = 'error' | 'warning';

/**
 * One finding about a configuration file. `message` says what was found and
 * what was expected; `file`, `line` and `key` say where, so a CLI can print
 * `file:line: key: message` and an editor can jump to it.
 */
export interface Diagnostic {
  severity: Severity;
  code: ErrorCode;
  message: string;
  file: string;
  line?: number | undefined;
  column?: number | undefined;
  /** The key path in the file's own vocabulary: `vrrp_instance VI_1 > priority` or `instances[0].priority`. */
  key?: string | undefined;
}

export interface Where {
  file: string;
  line?: number | undefined;
  column?: number | undefined;
  key?: string | undefined;
}

/** Collects diagnostics in the order they are found; errors and warnings alike. */
export class DiagnosticSink {
  readonly items: Diagnostic[] = [];

  error(code: ErrorCode, where: Where, message: string): void {
    this.items.push({ severity: 'error', code, message, ...compact(where) });
  }

  warn(code: ErrorCode, where: Where, message: string): void {
    this.items.push({ severity: 'warning', code, message, ...compact(where) });
  }

  get errorCount(): number {
    return this.items.filter((d) => d.severity === 'error').length;
  }

  errors(): Diagnostic[] {
    return this.items.filter((d) => d.severity === 'error');
  }

  warnings(): Diagnostic[] {
    return this.items.filter((d) => d.severity === 'warning');
  }
}

function compact(where: Where): Where {
  const out: Where = { file: where.file };
  if (where.line !== undefined) out.line = where.line;
  if (where.column !== undefined) out.column = where.column;
  if (where.key !== undefined) out.key = where.key;
  return out;
}

/** `file:line: key: message` (the form compilers use, so editors can jump to it). */
export function formatDiagnostic(d: Diagnostic): string {
  let where = d.file;
  if (d.line !== undefined) where += `:${d.line}`;
  if (d.line !== undefined && d.column !== undefined) where += `:${d.column}`;
  const key = d.key ? ` ${d.key}:` : '';
  return `${where}: ${d.severity}:${key} ${d.message} [${d.code}]`;
}

/** Every diagnostic on its own line, errors first, then a one-line summary. */
export function formatDiagnostics(diags: readonly Diagnostic[]): string {
  if (diags.length === 0) return 'no problems found';
  const sorted = sortDiagnostics(diags);
  const errors = sorted.filter((d) => d.severity === 'error');
  const warnings = sorted.filter((d) => d.severity === 'warning');
  const lines = [...errors, ...warnings].map(formatDiagnostic);
  lines.push(`${plural(errors.length, 'error')}, ${plural(warnings.length, 'warning')}`);
  return lines.join('\n');
}

/** In file order (files in the order they were first mentioned), then by line and column. */
export function sortDiagnostics(diags: readonly Diagnostic[]): Diagnostic[] {
  const fileOrder = new Map<string, number>();
  for (const d of diags) if (!fileOrder.has(d.file)) fileOrder.set(d.file, fileOrder.size);
  return diags
    .map((d, i) => ({ d, i }))
    .sort(
      (a, b) =>
        fileOrder.get(a.d.file)! - fileOrder.get(b.d.file)! ||
        (a.d.line ?? 0) - (b.d.line ?? 0) ||
        (a.d.column ?? 0) - (b.d.column ?? 0) ||
        a.i - b.i,
    )
    .map((x) => x.d);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Thrown when a configuration file has at least one error. Its message lists
 * every error of the file (not only the first), so one run tells the user all
 * that must be fixed; `.diagnostics` keeps them (warnings included) for tools.
 */
export class ConfigError extends KqError {
  readonly diagnostics: readonly Diagnostic[];
  readonly file: string;

  constructor(file: string, diagnostics: readonly Diagnostic[]) {
    const errors = sortDiagnostics(diagnostics).filter((d) => d.severity === 'error');
    const first = errors[0];
    const code: ErrorCode = first ? first.code : 'KQ_ERR_CONFIG_SCHEMA';
    const head = `${file}: ${plural(errors.length, 'error')} in the configuration:`;
    super(code, [head, ...errors.map((d) => `  ${formatDiagnostic(d)}`)].join('\n'));
    this.name = 'ConfigError';
    this.diagnostics = diagnostics;
    this.file = file;
  }
}

/** Edit distance counting a swap of neighbours as one edit (typos like 'dve' for 'dev'). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate if it is close enough to be a plausible typo. */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return bestDistance <= limit ? best : undefined;
}

/** Quote a value for a message: strings in single quotes, the rest as JSON. */
export function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === undefined) return 'nothing';
  try {
    const s = JSON.stringify(value);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return String(value);
  }
}
