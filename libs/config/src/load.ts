/**
 * The native format: YAML (.yaml/.yml) or JSON (.json), validated with the
 * model's zod schemas. Every message names the file, the line of the offending
 * key (found through the yaml library's source ranges) and its key path.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node as YamlNode } from 'yaml';
import { ConfigError, DiagnosticSink, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { deepFreeze, type AgentConfig } from './model.js';
import { validateAgentConfig, type Location, type Locator, type Path } from './validate.js';

export interface LoadResult {
  config: AgentConfig;
  /** Warnings only: with any error the loader throws a ConfigError instead. */
  diagnostics: Diagnostic[];
}

/** Load and validate a YAML or JSON agent configuration. Throws ConfigError listing every error. */
export function loadAgentConfig(path: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const sink = new DiagnosticSink();
    sink.error('KQ_ERR_CONFIG_FILE', { file: path }, `cannot read the configuration file: ${(e as Error).message}`);
    throw new ConfigError(path, sink.items);
  }
  const ext = extname(path).toLowerCase();
  if (ext === '.json') return parseAgentConfig(text, path, 'json');
  if (ext === '.yaml' || ext === '.yml') return parseAgentConfig(text, path, 'yaml');
  const sink = new DiagnosticSink();
  sink.error('KQ_ERR_CONFIG_FILE', { file: path }, `found the extension '${ext || '(none)'}'; expected .yaml, .yml or .json (for a keepalived.conf use --keepalived-conf)`);
  throw new ConfigError(path, sink.items);
}

/** As loadAgentConfig, from text already read (`file` is used in messages). */
export function parseAgentConfig(text: string, file: string, format: 'yaml' | 'json'): LoadResult {
  const sink = new DiagnosticSink();
  const lineCounter = new LineCounter();

  if (format === 'json') {
    try {
      JSON.parse(text);
    } catch (e) {
      const { line, column } = jsonErrorPosition(e as Error, text);
      sink.error('KQ_ERR_CONFIG_SYNTAX', { file, line, column }, `invalid JSON: ${(e as Error).message}`);
      throw new ConfigError(file, sink.items);
    }
  }

  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  for (const err of doc.errors) {
    const pos = err.linePos?.[0] ?? lineCounter.linePos(err.pos[0]);
    sink.error('KQ_ERR_CONFIG_SYNTAX', { file, line: pos.line, column: pos.col }, `invalid YAML: ${err.message.split('\n')[0] ?? err.message}`);
  }
  for (const w of doc.warnings) {
    const pos = w.linePos?.[0] ?? lineCounter.linePos(w.pos[0]);
    sink.warn('KQ_WARN_CONFIG_SUSPICIOUS', { file, line: pos.line, column: pos.col }, w.message.split('\n')[0] ?? w.message);
  }
  if (sink.errorCount > 0) throw new ConfigError(file, sink.items);

  const raw = documentToJs(doc, lineCounter, file, sink);
  const locator = new YamlLocator(doc, lineCounter, file);
  addSources(raw, locator);
  const config = validateAgentConfig(raw, locator, sink);
  if (!config) throw new ConfigError(file, sink.items);
  return { config, diagnostics: sortDiagnostics(sink.items) };
}

/**
 * A parsed YAML document as plain values (`{}` for an empty one), or a
 * ConfigError with the line: a '__proto__' key anywhere, or aliases that
 * multiply past yaml's limit (a "billion laughs" document), which yaml
 * refuses with a bare ReferenceError.
 */
export function documentToJs(doc: Document, lines: LineCounter, file: string, sink: DiagnosticSink): unknown {
  refuseProtoKeys(doc, lines, file, sink);
  if (sink.errorCount > 0) throw new ConfigError(file, sink.items);
  try {
    return doc.toJS() ?? {};
  } catch (e) {
    const at = firstAlias(doc, lines);
    sink.error('KQ_ERR_CONFIG_SYNTAX', { file, line: at?.line ?? 1, column: at?.col }, `invalid YAML: ${(e as Error).message}; expected aliases that do not multiply (write the values out)`);
    throw new ConfigError(file, sink.items);
  }
}

/**
 * A '__proto__' key does not survive the trip to plain objects (as a script's
 * name, the script silently vanished): it is refused wherever it is.
 */
function refuseProtoKeys(doc: Document, lines: LineCounter, file: string, sink: DiagnosticSink): void {
  visit(doc, {
    Pair(_, pair) {
      if (!isScalar(pair.key) || pair.key.value !== '__proto__') return;
      const offset = pair.key.range?.[0];
      const pos = offset !== undefined ? lines.linePos(offset) : undefined;
      sink.error('KQ_ERR_CONFIG_UNKNOWN_KEY', { file, line: pos?.line, column: pos?.col, key: '__proto__' }, "found the key '__proto__', which is never a setting or a name; expected another key (rename it)");
    },
  });
}

function firstAlias(doc: Document, lines: LineCounter): { line: number; col: number } | undefined {
  let offset: number | undefined;
  visit(doc, {
    Alias(_, node) {
      offset = node.range?.[0];
      return visit.BREAK;
    },
  });
  return offset !== undefined ? lines.linePos(offset) : undefined;
}

/** Give instances, scripts and sync groups their file:line, as keepalived.conf ones have, for runtime messages. */
function addSources(raw: unknown, locator: YamlLocator): void {
  if (typeof raw !== 'object' || raw === null) return;
  const top = raw as Record<string, unknown>;
  const stamp = (item: unknown, path: (string | number)[]) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item) || 'source' in item) return;
    const loc = locator.locate(path);
    if (loc.line !== undefined) (item as Record<string, unknown>).source = { file: loc.file, line: loc.line };
  };
  for (const section of ['instances', 'syncGroups'] as const) {
    const list = top[section];
    if (Array.isArray(list)) list.forEach((item, i) => stamp(item, [section, i]));
  }
  // The arbiter's settings and their timing, wherever they are: their checks run
  // on the whole configuration (libs/config arbiter.ts), after any overlay.
  const stampArbiter = (owner: unknown, path: (string | number)[]) => {
    if (typeof owner !== 'object' || owner === null) return;
    const arbiter = (owner as Record<string, unknown>).arbiter;
    stamp(arbiter, [...path, 'arbiter']);
    if (typeof arbiter === 'object' && arbiter !== null) stamp((arbiter as Record<string, unknown>).timing, [...path, 'arbiter', 'timing']);
  };
  stampArbiter(top, []);
  if (Array.isArray(top.instances)) top.instances.forEach((item, i) => stampArbiter(item, ['instances', i]));
  const scripts = top.scripts;
  if (typeof scripts === 'object' && scripts !== null && !Array.isArray(scripts)) {
    for (const [name, s] of Object.entries(scripts)) stamp(s, ['scripts', name]);
  }
}

function jsonErrorPosition(e: Error, text: string): { line?: number; column?: number } {
  const lc = /line (\d+) column (\d+)/.exec(e.message);
  if (lc) return { line: Number(lc[1]), column: Number(lc[2]) };
  const pos = /position (\d+)/.exec(e.message);
  // "Unexpected end of JSON input" (an empty or cut file) carries no position: the end is where it is.
  const at = pos ? Number(pos[1]) : /end of JSON input/.test(e.message) ? text.length : 0;
  const before = text.slice(0, at);
  const lines = before.split('\n');
  return { line: lines.length, column: (lines[lines.length - 1]?.length ?? 0) + 1 };
}

/** Maps a zod path to the YAML node it names; a missing key falls back to its parent. */
class YamlLocator implements Locator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly file: string,
  ) {}

  locate(path: Path): Location {
    return locateInYaml(this.doc, this.lines, this.file, path);
  }

  term(field: string): string {
    return field;
  }
}

/** The line and column of the key `path` names in a parsed YAML document; a missing key falls back to its nearest parent present. */
export function locateInYaml(doc: Document, lines: LineCounter, file: string, path: Path): Location {
  let node: unknown = doc.contents;
  let anchor: YamlNode | undefined = node as YamlNode | undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === seg);
      if (!pair) break;
      anchor = (pair.key as YamlNode | undefined) ?? anchor;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!item) break;
      node = item;
      anchor = item as YamlNode;
    } else break;
  }
  const offset = anchor?.range?.[0];
  const pos = offset !== undefined ? lines.linePos(offset) : undefined;
  return { file, line: pos?.line, column: pos?.col, key: formatPath(path) };
}

export function formatPath(path: Path): string {
  let s = '';
  for (const seg of path) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else s += s === '' ? seg : `.${seg}`;
  }
  return s === '' ? '(top level)' : s;
}

/** What an overlay may set: what a keepalived.conf cannot say. */
export const OVERLAY_KEYS = ['node', 'cluster', 'stateDir', 'nats', 'arbiter', 'metrics'] as const;
export type OverlayKey = (typeof OVERLAY_KEYS)[number];
export type Overlay = Partial<Pick<AgentConfig, OverlayKey>>;

/**
 * An overlay: a small native (YAML/JSON) document that adds to a keepalived.conf
 * what it cannot say (the event log's NATS settings, cluster, node id and
 * gateway, state dir, the arbiter's defaults: mode, fencing, timing), validated like a native configuration, with file:line for each error.
 * Anything else in it (instances, scripts, global) is an error: those come
 * from the keepalived.conf.
 */
export function parseOverlay(text: string, file: string, format: 'yaml' | 'json'): { overlay: Overlay; diagnostics: Diagnostic[] } {
  const { config, diagnostics } = parseAgentConfig(text, file, format);
  const raw: unknown = format === 'json' ? JSON.parse(text) : (parseDocument(text).toJS() ?? {});
  const present = typeof raw === 'object' && raw !== null ? Object.keys(raw) : [];
  const sink = new DiagnosticSink();
  for (const key of present) {
    if (!(OVERLAY_KEYS as readonly string[]).includes(key)) {
      sink.error('KQ_ERR_CONFIG_UNKNOWN_KEY', { file, key }, `an overlay sets only ${OVERLAY_KEYS.join(', ')}; '${key}' belongs in the keepalived.conf`);
    }
  }
  if (sink.errorCount > 0) throw new ConfigError(file, sink.items);
  const overlay: Overlay = {};
  for (const key of OVERLAY_KEYS) {
    if (present.includes(key)) (overlay as Record<string, unknown>)[key] = config[key];
  }
  // An overlay has no instances of its own: a warning about that is not for it.
  return { overlay, diagnostics: diagnostics.filter((d) => !d.key?.startsWith('instances')) };
}

export function loadOverlay(path: string): { overlay: Overlay; diagnostics: Diagnostic[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const sink = new DiagnosticSink();
    sink.error('KQ_ERR_CONFIG_FILE', { file: path }, `cannot read the overlay: ${(e as Error).message}`);
    throw new ConfigError(path, sink.items);
  }
  return parseOverlay(text, path, extname(path).toLowerCase() === '.json' ? 'json' : 'yaml');
}

/** The configuration with the overlay's settings in place of its own (deep-frozen). */
export function applyOverlay(config: AgentConfig, overlay: Overlay): AgentConfig {
  return deepFreeze({ ...config, ...overlay });
}
