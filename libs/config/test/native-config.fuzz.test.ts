/**
 * Property and fuzz tests of the native configuration (YAML and JSON, the
 * overlay too): random text, line mutations of a valid file and valid
 * documents with random values put at random places either load or are
 * refused with a ConfigError whose every diagnostic has a catalogued code,
 * the file, and the line or key path it is about. Nothing else escapes.
 * Fixed seed, bounded runs (../../common/test/fuzz.ts).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError, parseAgentConfig, parseOverlay, type Diagnostic } from '../src/mod.js';
import { ErrorCodes } from '../../common/src/errors.js';
import { fuzzParams } from '../../common/test/fuzz.js';

const FILE = 'agent.yaml';

const VALID = {
  node: { id: 'lb1' },
  cluster: 'edge',
  global: { mcastGroup4: '224.0.0.51', skipCheckAdvAddr: true, enableScriptSecurity: true, scriptUser: { user: 'root' } },
  scripts: { chk_nginx: { script: '/usr/bin/true', intervalS: 2, weight: -20, fall: 3, rise: 2 } },
  instances: [
    {
      name: 'VI_1',
      interface: 'eth0',
      vrid: 51,
      priority: 101,
      advertIntervalCs: 100,
      preempt: false,
      authentication: { type: 'PASS', password: '1111' },
      virtualAddresses: [{ address: '192.168.1.100', prefixLength: 24, device: 'eth0', label: 'eth0:vip' }],
      trackScripts: [{ name: 'chk_nginx' }],
      notify: { master: '/etc/keepalived/notify.sh MASTER' },
    },
  ],
  syncGroups: [{ name: 'G1', instances: ['VI_1'] }],
};
const VALID_YAML = stringify(VALID);

/** Load; on refusal, check the ConfigError is complete and every diagnostic points somewhere. */
function parseChecked(text: string, format: 'yaml' | 'json', overlay = false): 'loaded' | ConfigError {
  const lines = text.split('\n').length;
  try {
    const r = overlay ? parseOverlay(text, FILE, format) : parseAgentConfig(text, FILE, format);
    for (const d of r.diagnostics) assertDiagnostic(d, lines);
    return 'loaded';
  } catch (e) {
    if (!(e instanceof ConfigError)) throw new assert.AssertionError({ message: `expected a ConfigError, got ${(e as Error)?.stack ?? String(e)}` });
    const errors = e.diagnostics.filter((d) => d.severity === 'error');
    assert.ok(errors.length > 0, 'a ConfigError carries at least one error');
    assert.ok(errors.some((d) => d.code === e.code), `the error's code ${e.code} is one of its diagnostics'`);
    assert.ok(e.message.startsWith(`${FILE}: `), 'the message starts with the file');
    for (const d of e.diagnostics) assertDiagnostic(d, lines);
    return e;
  }
}

function assertDiagnostic(d: Diagnostic, lines: number): void {
  assert.ok(Object.hasOwn(ErrorCodes, d.code), `code ${d.code} is catalogued`);
  assert.ok(typeof d.message === 'string' && d.message.length > 0, 'a diagnostic says what is wrong');
  assert.equal(d.file, FILE);
  if (d.severity === 'error') assert.ok(d.line !== undefined || d.key !== undefined, `an error names its line or key: ${JSON.stringify(d)}`);
  if (d.line !== undefined) assert.ok(Number.isInteger(d.line) && d.line >= 1 && d.line <= lines, `line ${d.line} is within the ${lines} lines: ${d.message}`);
}

// ---------------------------------------------------------------------------
// Generators

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path in a JSON value, to put a random value at. */
function paths(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}
const ALL_PATHS = paths(VALID as unknown as Json).filter((p) => p.length > 0);

function setAt(root: Json, path: readonly (string | number)[], value: Json | undefined): Json {
  const copy = structuredClone(root);
  let node: any = copy;
  for (const seg of path.slice(0, -1)) node = node[seg];
  const last = path[path.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else node[last] = value;
  return copy;
}

const oddKey = fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', ''));
const value: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(0, -1, 1.5, 256, 1e308, -0, '', 'eth0', '10.0.0.1', '999.1.1.1', '::1', 'MASTER', 'PASS', true, null, [], {}),
  fc.dictionary(oddKey, fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<Json>, { maxKeys: 3 }),
);
/** The valid document with a few values replaced, removed or added under odd keys. */
const damaged = fc
  .array(fc.tuple(fc.constantFrom(...ALL_PATHS), fc.option(value, { nil: undefined }), fc.option(oddKey, { nil: undefined })), { minLength: 1, maxLength: 3 })
  .map((edits) => {
    let doc = VALID as unknown as Json;
    for (const [path, v, extra] of edits) {
      try {
        doc = setAt(doc, extra !== undefined ? [...path.slice(0, -1), extra] : path, v);
      } catch {
        // the path went away with an earlier edit
      }
    }
    return doc;
  });

const lineEdit = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('indent' as const), at: fc.nat(), by: fc.integer({ min: -4, max: 4 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('- ', ': ', '&a ', '*a', '!!binary x', '? ', '{', '[', '"', "'", '#', '---', '...', '%YAML 1.2', '<<: *a', '\t')) }),
);
function editLines(text: string, edits: readonly { kind: string; at: number; by?: number; text?: string }[]): string {
  const lines = text.split('\n');
  for (const e of edits) {
    const i = e.at % lines.length;
    if (e.kind === 'drop') lines.splice(i, 1);
    else if (e.kind === 'dup') lines.splice(i, 0, lines[i]!);
    else if (e.kind === 'indent') lines[i] = e.by! >= 0 ? ' '.repeat(e.by!) + lines[i]! : lines[i]!.slice(-e.by!);
    else {
      const col = e.at % (lines[i]!.length + 1);
      lines[i] = lines[i]!.slice(0, col) + e.text! + lines[i]!.slice(col);
    }
    if (lines.length === 0) lines.push('');
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------

describe('native configuration under fuzzing', () => {
  test('the valid document loads (the base the mutations start from)', () => {
    assert.equal(parseChecked(VALID_YAML, 'yaml'), 'loaded');
    assert.equal(parseChecked(JSON.stringify(VALID, null, 2), 'json'), 'loaded');
  });

  test('random text as YAML or JSON loads or is refused with a ConfigError naming line or key', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: fc.constantFrom('a', ':', ' ', '\n', '-', '[', ']', '{', '}', '"', "'", '&', '*', '!', '?', '|', '>', '#', '1', ','), maxLength: 120 })), fc.constantFrom<'yaml' | 'json'>('yaml', 'json'), (text, format) => {
        parseChecked(text, format);
      }),
      fuzzParams(800),
    );
  });

  test('line edits of a valid YAML file load or are refused with a ConfigError naming line or key', () => {
    fc.assert(
      fc.property(fc.array(lineEdit, { minLength: 1, maxLength: 4 }), (edits) => {
        parseChecked(editLines(VALID_YAML, edits), 'yaml');
      }),
      fuzzParams(500),
    );
  });

  test('a valid document with random values at random places loads, or each error names the line and the key path', () => {
    fc.assert(
      fc.property(damaged, fc.constantFrom<'yaml' | 'json'>('yaml', 'json'), (doc, format) => {
        const text = format === 'yaml' ? stringify(doc) : JSON.stringify(doc, null, 2);
        const r = parseChecked(text, format);
        if (r === 'loaded') return;
        for (const d of r.diagnostics.filter((x) => x.severity === 'error')) {
          assert.ok(d.line !== undefined, `a value error names its line: ${JSON.stringify(d)}`);
          assert.ok(d.key !== undefined && d.key.length > 0, `a value error names its key path: ${JSON.stringify(d)}`);
        }
      }),
      fuzzParams(500),
    );
  });

  test('an overlay with random values at random places loads or is refused with a ConfigError naming line or key', () => {
    const overlay = fc.record({ node: value, cluster: value, stateDir: value, nats: value, arbiter: value, metrics: value, instances: value }, { requiredKeys: [] });
    fc.assert(
      fc.property(overlay, fc.constantFrom<'yaml' | 'json'>('yaml', 'json'), (doc, format) => {
        parseChecked(format === 'yaml' ? stringify(doc) : JSON.stringify(doc), format, true);
      }),
      fuzzParams(300),
    );
  });

  test('aliases that multiply (a "billion laughs") are refused as invalid YAML at the first alias', () => {
    const bomb = ['a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]', ''].join('\n');
    const r = parseChecked(bomb, 'yaml');
    assert.ok(r instanceof ConfigError);
    assert.equal(r.code, 'KQ_ERR_CONFIG_SYNTAX');
    assert.equal(r.diagnostics[0]!.line, 2);
    assert.match(r.diagnostics[0]!.message, /^invalid YAML: .*alias/);
  });

  test('an address that is a map is refused at its line, not thrown as a TypeError by the family check', () => {
    const r = parseChecked('instances:\n  - name: VI_1\n    interface: eth0\n    vrid: 51\n    virtualAddresses:\n      - address:\n          toString: []\n        prefixLength: 24\n', 'yaml');
    assert.ok(r instanceof ConfigError);
    assert.deepEqual(
      r.diagnostics.map((d) => [d.code, d.line, d.key]),
      [['KQ_ERR_CONFIG_VALUE', 6, 'instances[0].virtualAddresses[0].address']],
    );
  });

  test("a '__proto__' key is refused at its line instead of vanishing (as a script name it dropped the script)", () => {
    const r = parseChecked('scripts:\n  __proto__:\n    script: /usr/bin/true\n', 'yaml');
    assert.ok(r instanceof ConfigError);
    assert.deepEqual(
      r.diagnostics.map((d) => [d.code, d.line, d.key]),
      [['KQ_ERR_CONFIG_UNKNOWN_KEY', 2, '__proto__']],
    );
  });
});
