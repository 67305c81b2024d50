import { hostname } from 'node:os';
import { ConfigError, DiagnosticSink, sortDiagnostics } from '../diagnostics.js';
import type { LoadResult } from '../load.js';
import { validateAgentConfig } from '../validate.js';
import { lexFile, lexText, type LexItem, type LexOptions } from './lexer.js';
import { mapToModel } from './map.js';
import { parseItems } from './parser.js';

export interface KeepalivedLoadOptions {
  /** keepalived's `-i` config-id for `@id` lines; default: the host name up to its first dot, as keepalived. */
  configId?: string;
}

/**
 * Read a keepalived.conf (and what it includes) into the agent's model.
 * Returns the frozen config and the warnings; throws a ConfigError listing
 * every error found.
 */
export function loadKeepalivedConf(path: string, options: KeepalivedLoadOptions = {}): LoadResult {
  const sink = new DiagnosticSink();
  const items = lexFile(path, lexOptions(options), sink);
  return finish(items, path, sink);
}

/** As loadKeepalivedConf, from text already read; includes are resolved relative to `file`. */
export function parseKeepalivedConf(text: string, file: string, options: KeepalivedLoadOptions = {}): LoadResult {
  const sink = new DiagnosticSink();
  const items = lexText(text, file, lexOptions(options), sink);
  return finish(items, file, sink);
}

function lexOptions(options: KeepalivedLoadOptions): LexOptions {
  return { configId: options.configId ?? hostname().split('.')[0] ?? '' };
}

function finish(items: LexItem[], file: string, sink: DiagnosticSink): LoadResult {
  if (sink.items.some((d) => d.severity === 'error' && d.code === 'KQ_ERR_CONFIG_FILE' && d.file === file && d.line === undefined)) {
    throw new ConfigError(file, sink.items);
  }
  const tree = parseItems(items, sink);
  // With a '{' never closed, every later statement sits in the wrong block:
  // mapping it would bury the one real mistake under consequences of it.
  if (tree.unbalanced) throw new ConfigError(file, sink.items);
  const { raw, locator, reported } = mapToModel(tree.nodes, sink, { file });
  const config = validateAgentConfig(raw, locator, sink, { reported });
  if (!config || sink.errorCount > 0) throw new ConfigError(file, sink.items);
  return { config, diagnostics: sortDiagnostics(sink.items) };
}
