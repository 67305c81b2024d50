/**
 * The arbiter's configuration (YAML/JSON) under fuzzing: random text, line
 * edits of the deploy example and random values at random places of it load
 * or are refused with a ConfigError whose every error has a catalogued code,
 * the file, and the line or key path. Fixed seed, bounded runs
 * (libs/common/test/fuzz.ts).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { ConfigError } from '../../../libs/config/src/diagnostics.js';
import { ErrorCodes } from '../../../libs/common/src/errors.js';
import { parseArbiterConfig } from '../src/config.js';
import { fuzzParams } from '../../../libs/common/test/fuzz.js';

const FILE = 'arbiter.yaml';
const EXAMPLE = readFileSync(new URL('../../../../deploy/examples/arbiter.yaml', import.meta.url), 'utf8');
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const VALID = parse(EXAMPLE) as Json;

function parseChecked(text: string): 'loaded' | ConfigError {
  const lines = text.split('\n').length;
  try {
    parseArbiterConfig(text, FILE);
    return 'loaded';
  } catch (e) {
    if (!(e instanceof ConfigError)) throw new assert.AssertionError({ message: `expected a ConfigError, got ${(e as Error)?.stack ?? String(e)}` });
    const errors = e.diagnostics.filter((d) => d.severity === 'error');
    assert.ok(errors.length > 0, 'a ConfigError carries at least one error');
    for (const d of errors) {
      assert.ok(Object.hasOwn(ErrorCodes, d.code), `code ${d.code} is catalogued`);
      assert.ok(d.message.length > 0);
      assert.equal(d.file, FILE);
      assert.ok(d.line !== undefined || d.key !== undefined, `an error names its line or key: ${JSON.stringify(d)}`);
      if (d.line !== undefined) assert.ok(d.line >= 1 && d.line <= lines, `line ${d.line} is within the ${lines} lines: ${d.message}`);
    }
    return e;
  }
}

function paths(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}
const ALL_PATHS = paths(VALID).filter((p) => p.length > 0);
const oddKey = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('constructor', 'toString', '__proto__', ''));
const value: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(0, -1, 1.5, 2, 3, 1e308, '', 'nats://', 'x'.repeat(100), 'strict', 'failsafe', 'required', null, [], {}),
);
const damaged = fc.array(fc.tuple(fc.constantFrom(...ALL_PATHS), fc.option(value, { nil: undefined }), fc.option(oddKey, { nil: undefined })), { minLength: 1, maxLength: 3 }).map((edits) => {
  let doc = structuredClone(VALID);
  for (const [path, v, extra] of edits) {
    try {
      let node: any = doc;
      const full = extra !== undefined ? [...path.slice(0, -1), extra] : path;
      for (const seg of full.slice(0, -1)) node = node[seg];
      const last = full[full.length - 1]!;
      if (v === undefined) Array.isArray(node) ? node.splice(Number(last), 1) : delete node[last];
      else if (last === '__proto__') Object.defineProperty(node, last, { value: v, enumerable: true, configurable: true, writable: true });
      else node[last] = v;
    } catch {
      // the path went away with an earlier edit
    }
  }
  return doc;
});

describe('arbiter configuration under fuzzing', () => {
  test('the deploy example loads (the base the mutations start from)', () => {
    assert.equal(parseChecked(EXAMPLE), 'loaded');
  });

  test('random text loads or is refused with a ConfigError naming line or key', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: fc.constantFrom('a', ':', ' ', '\n', '-', '[', ']', '{', '}', '"', '&', '*', '!', '?', '#', '1', ','), maxLength: 120 })), (text) => {
        parseChecked(text);
      }),
      fuzzParams(500),
    );
  });

  test('line edits of the deploy example load or are refused with a ConfigError naming line or key', () => {
    const lineEdit = fc.tuple(fc.nat(), fc.constantFrom('drop', 'dup', 'indent', 'insert'), fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('- ', ': ', '&a ', '*a', '{', '[', '"', '#', '\t', '<<: *a')));
    fc.assert(
      fc.property(fc.array(lineEdit, { minLength: 1, maxLength: 4 }), (edits) => {
        const lines = EXAMPLE.split('\n');
        for (const [at, kind, text] of edits) {
          const i = at % lines.length;
          if (kind === 'drop') lines.splice(i, 1);
          else if (kind === 'dup') lines.splice(i, 0, lines[i]!);
          else if (kind === 'indent') lines[i] = `  ${lines[i]}`;
          else lines[i] = lines[i]!.slice(0, at % (lines[i]!.length + 1)) + text + lines[i]!.slice(at % (lines[i]!.length + 1));
          if (lines.length === 0) lines.push('');
        }
        parseChecked(lines.join('\n'));
      }),
      fuzzParams(400),
    );
  });

  test('the deploy example with random values at random places loads, or each error names the line and the key path', () => {
    fc.assert(
      fc.property(damaged, fc.boolean(), (doc, asJson) => {
        const r = parseChecked(asJson ? JSON.stringify(doc, null, 2) : stringify(doc));
        if (r === 'loaded') return;
        for (const d of r.diagnostics.filter((x) => x.severity === 'error')) {
          assert.ok(d.line !== undefined && d.key !== undefined, `a value error names its line and key: ${JSON.stringify(d)}`);
        }
      }),
      fuzzParams(400),
    );
  });

  test('aliases that multiply and a __proto__ key are refused at their line', () => {
    const bomb = parseChecked('a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n');
    assert.ok(bomb instanceof ConfigError);
    assert.deepEqual([bomb.code, bomb.diagnostics[0]!.line], ['KQ_ERR_CONFIG_SYNTAX', 2]);
    const proto = parseChecked('nodes:\n  __proto__:\n    address: 198.18.1.1\n');
    assert.ok(proto instanceof ConfigError);
    assert.deepEqual(proto.diagnostics.map((d) => [d.code, d.line]), [['KQ_ERR_CONFIG_UNKNOWN_KEY', 2]]);
  });
});
