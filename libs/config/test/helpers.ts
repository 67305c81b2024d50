import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, type Diagnostic } from '../src/mod.js';

/** The corpus stays in the source tree; tests run from dist/libs/config/test/. */
export const corpus = fileURLToPath(new URL('../../../../libs/config/test/corpus/', import.meta.url));

export function corpusFile(...parts: string[]): string {
  return join(corpus, ...parts);
}

/** Run `fn`, expect a ConfigError, return its diagnostics. */
export function expectConfigError(fn: () => unknown): { error: ConfigError; errors: Diagnostic[]; warnings: Diagnostic[] } {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return {
      error: e,
      errors: e.diagnostics.filter((d) => d.severity === 'error'),
      warnings: e.diagnostics.filter((d) => d.severity === 'warning'),
    };
  }
  assert.fail('expected a ConfigError, but the configuration was accepted');
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'kq-config-'));
}

export function writeTemp(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
