/**
 * Property and fuzz tests of the keepalived.conf reader (lexer, block parser,
 * mapping to the model, validation): statement soup built from keepalived's
 * vocabulary, mutations of the good corpus and plain random text either load
 * or are refused with a ConfigError whose every diagnostic has a catalogued
 * code, the file, and the line (or key) it is about. Nothing else escapes,
 * nothing hangs. Fixed seed, bounded runs (../../common/test/fuzz.ts).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { ConfigError, parseKeepalivedConf, splitCommandLine } from '../src/mod.js';
import { ErrorCodes, KqError } from '../../common/src/errors.js';
import { corpusFile } from './helpers.js';
import { fuzzParams } from '../../common/test/fuzz.js';

/** Where the text pretends to live: includes resolve there (the corpus' own include tree). */
const FILE = corpusFile('good', 'includes', 'keepalived.conf');

/**
 * Keeps includes inside the corpus: a mutation may turn a pattern into an
 * absolute path or a climb out of the tree, and reading /proc or /dev is not
 * what this test is about.
 */
function tame(text: string): string {
  return text
    .split('\n')
    .map((l) => (/^\s*[@^\w]*\s*include/.test(l) && /include\w*\s+\S*(\/\/|^\/|\s\/|\.\.|~)/.test(l) ? `# ${l}` : l))
    .join('\n');
}

/** Parse; on refusal, check the ConfigError is complete. Returns what happened, for the properties to add to. */
function parseChecked(text: string): 'loaded' | ConfigError {
  const lines = text.split('\n').length;
  try {
    const { config, diagnostics } = parseKeepalivedConf(text, FILE, { configId: 'lb1' });
    assert.ok(config && typeof config === 'object');
    for (const d of diagnostics) assertDiagnostic(d, lines);
    return 'loaded';
  } catch (e) {
    if (!(e instanceof ConfigError)) throw new assert.AssertionError({ message: `expected a ConfigError, got ${(e as Error)?.stack ?? String(e)}` });
    assert.ok(e instanceof KqError);
    const errors = e.diagnostics.filter((d) => d.severity === 'error');
    assert.ok(errors.length > 0, 'a ConfigError carries at least one error');
    assert.ok(errors.some((d) => d.code === e.code), `the error's code ${e.code} is one of its diagnostics'`);
    for (const d of e.diagnostics) assertDiagnostic(d, lines);
    return e;
  }
}

function assertDiagnostic(d: ConfigError['diagnostics'][number], lines: number): void {
  assert.ok(Object.hasOwn(ErrorCodes, d.code), `code ${d.code} is catalogued`);
  assert.ok(typeof d.message === 'string' && d.message.length > 0, 'a diagnostic says what is wrong');
  assert.ok(typeof d.file === 'string' && d.file.length > 0, 'a diagnostic names its file');
  assert.ok(d.line !== undefined || d.key !== undefined, `a diagnostic names its line or key: ${JSON.stringify(d)}`);
  if (d.line !== undefined) {
    assert.ok(Number.isInteger(d.line) && d.line >= 1, `line ${d.line} is a line number`);
    if (d.file === FILE) assert.ok(d.line <= lines, `line ${d.line} is within the ${lines} lines of the text: ${d.message}`);
  }
  if (d.column !== undefined) assert.ok(Number.isInteger(d.column) && d.column >= 1, `column ${d.column} is a column`);
}

// ---------------------------------------------------------------------------
// Generators

const KEYWORDS = [
  'global_defs', 'router_id', 'vrrp_version', 'vrrp_strict', 'enable_script_security', 'script_user', 'vrrp_mcast_group4',
  'vrrp_mcast_group6', 'vrrp_skip_check_adv_addr', 'vrrp_garp_master_delay', 'vrrp_priority', 'max_auto_priority',
  'vrrp_instance', 'state', 'interface', 'virtual_router_id', 'priority', 'advert_int', 'nopreempt', 'preempt_delay',
  'authentication', 'auth_type', 'auth_pass', 'virtual_ipaddress', 'virtual_ipaddress_excluded', 'unicast_src_ip',
  'unicast_peer', 'track_interface', 'track_script', 'track_file', 'weight', 'notify', 'notify_master', 'notify_backup',
  'notify_fault', 'notify_stop', 'vrrp_script', 'script', 'interval', 'timeout', 'rise', 'fall', 'user', 'init_fail',
  'vrrp_sync_group', 'group', 'smtp_alert', 'garp_master_delay', 'native_ipv6', 'version', 'use_vmac', 'dont_track_primary',
  'virtual_server', 'real_server', 'lvs_sync_daemon', 'static_ipaddress', 'virtual_routes', 'include', 'includem', 'includer',
];
const VALUES = [
  'MASTER', 'BACKUP', 'PASS', 'AH', 'eth0', 'ens192', 'VI_1', 'VI_2', 'chk_nginx', 'G1', '1', '0', '-1', '2', '3', '50',
  '100', '150', '255', '256', '0.1', '1.5', '1e3', '-20', 'reverse', '198.18.0.10', '198.18.0.100/24', '10.0.0.1/33',
  '2001:db8::1', 'fe80::1/64', '224.0.0.18', 'dev', 'label', 'eth0:1', 'scope', 'link', 'root', 'nobody', 'x'.repeat(300),
  '/usr/bin/true', '/bin/sh', "'quoted arg'", '"a b"', '"#not a comment"', '"', '\\', '\\"', '$X', '${X}', '${_PWD}',
  '$_INSTANCE', '${_RANDOM}', '{', '}', '{}', '!', '#', 'conf.d/*.conf', 'missing.conf', 'keepalived.conf', '~SEQ(i,1,3)',
  '\t', '\u00e9t\u00e9', '\u0000', 'NaN', 'Infinity', '0x10', '__proto__', 'constructor', 'toString',
];

const word = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...KEYWORDS) },
  { weight: 4, arbitrary: fc.constantFrom(...VALUES) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.integer({ min: -1000, max: 100_000 }).map(String) },
);
const prefix = fc.constantFrom('', '', '', '  ', '\t', '@lb1 ', '@^lb1 ', '@other ', '$X=', '$Y=$X ', '$X=$X $X ', '#', '!');
const line = fc.tuple(prefix, fc.array(word, { minLength: 0, maxLength: 6 }), fc.constantFrom('', '', ' {', ' }', ' # c', '\r', ' \\')).map(
  ([p, ws, tail]) => `${p}${ws.join(' ')}${tail}`,
);
/** Statement soup: keepalived's words in a keepalived shape, blocks open and closed at random. */
const soup = fc.array(line, { maxLength: 60 }).map((ls) => ls.join('\n'));

/** A well-formed skeleton with random values in it: the errors reached are the mapping's and validation's. */
const shaped = fc
  .record({
    vrid: fc.constantFrom(...VALUES, '51'),
    prio: fc.constantFrom(...VALUES, '100'),
    state: fc.constantFrom(...VALUES),
    advert: fc.constantFrom(...VALUES),
    vip: fc.array(fc.constantFrom(...VALUES), { maxLength: 3 }),
    extra: fc.array(line, { maxLength: 4 }),
    script: fc.array(fc.constantFrom(...VALUES), { maxLength: 4 }),
  })
  .map(
    (r) => `global_defs {\n  router_id lb1\n  enable_script_security\n}\nvrrp_script chk {\n  script "${r.script.join(' ')}"\n  interval ${r.advert}\n}\n` +
      `vrrp_instance VI_1 {\n  state ${r.state}\n  interface eth0\n  virtual_router_id ${r.vrid}\n  priority ${r.prio}\n  advert_int ${r.advert}\n` +
      `  virtual_ipaddress {\n${r.vip.map((v) => `    ${v}`).join('\n')}\n  }\n  track_script {\n    chk\n  }\n${r.extra.join('\n')}\n}\n`,
  );

const CORPUS = ['conditional.conf', 'ipv6.conf', 'lvs-with-vrrp.conf', 'nginx-classic.conf', 'quirks.conf', 'rhel-stock.conf', 'sync-group.conf', 'unicast-pair.conf', 'includes/keepalived.conf'].map(
  (name) => readFileSync(corpusFile('good', name), 'utf8'),
);

type Edit =
  | { kind: 'drop-line' | 'dup-line'; at: number }
  | { kind: 'swap-lines'; a: number; b: number }
  | { kind: 'insert-line'; at: number; text: string }
  | { kind: 'cut-chars'; at: number; length: number }
  | { kind: 'insert-chars'; at: number; text: string }
  | { kind: 'truncate'; at: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constantFrom('drop-line' as const, 'dup-line' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap-lines' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('insert-line' as const), at: fc.nat(), text: line }),
  fc.record({ kind: fc.constant('cut-chars' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant('insert-chars' as const), at: fc.nat(), text: fc.oneof(word, fc.constantFrom('{', '}', '"', '\n', '#', '$', '\\')) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function applyEdits(text: string, edits: readonly Edit[]): string {
  let s = text;
  for (const e of edits) {
    const lines = s.split('\n');
    switch (e.kind) {
      case 'drop-line':
        lines.splice(e.at % lines.length, 1);
        s = lines.join('\n');
        break;
      case 'dup-line': {
        const i = e.at % lines.length;
        lines.splice(i, 0, lines[i]!);
        s = lines.join('\n');
        break;
      }
      case 'swap-lines': {
        const a = e.a % lines.length;
        const b = e.b % lines.length;
        [lines[a], lines[b]] = [lines[b]!, lines[a]!];
        s = lines.join('\n');
        break;
      }
      case 'insert-line':
        lines.splice(e.at % (lines.length + 1), 0, e.text);
        s = lines.join('\n');
        break;
      case 'cut-chars': {
        const at = e.at % (s.length + 1);
        s = s.slice(0, at) + s.slice(at + e.length);
        break;
      }
      case 'insert-chars': {
        const at = e.at % (s.length + 1);
        s = s.slice(0, at) + e.text + s.slice(at);
        break;
      }
      case 'truncate':
        s = s.slice(0, e.at % (s.length + 1));
        break;
    }
  }
  return s;
}

// ---------------------------------------------------------------------------

describe('keepalived.conf reader under fuzzing', () => {
  test('statement soup from keepalived vocabulary loads or is refused with a ConfigError naming line and code', () => {
    fc.assert(
      fc.property(soup, (text) => {
        parseChecked(tame(text));
      }),
      fuzzParams(400),
    );
  });

  test('a well-formed file with random values loads or is refused naming the line of the bad value', () => {
    fc.assert(
      fc.property(shaped, (text) => {
        const r = parseChecked(tame(text));
        if (r !== 'loaded') {
          for (const d of r.diagnostics.filter((x) => x.severity === 'error' && x.file === FILE)) {
            assert.ok(d.line !== undefined, `an error about this file names its line: ${d.message}`);
          }
        }
      }),
      fuzzParams(400),
    );
  });

  test('mutations of the good corpus load or are refused with a ConfigError naming line and code', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CORPUS), fc.array(edit, { minLength: 1, maxLength: 4 }), (text, edits) => {
        parseChecked(tame(applyEdits(text, edits)));
      }),
      fuzzParams(300),
    );
  });

  test('random text loads or is refused with a ConfigError naming line and code', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 400 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: fc.constantFrom('{', '}', '"', '\n', ' ', '#', '!', '$', '\\', '@', 'a', '1', '='), maxLength: 200 })), (text) => {
        parseChecked(tame(text));
      }),
      fuzzParams(500),
    );
  });

  test('a definition that doubles itself is refused as too long, not expanded until memory runs out', () => {
    const r = parseChecked('$A=$A $A\nglobal_defs {\n  router_id $A\n}\n');
    assert.ok(r instanceof ConfigError);
    const d = r.diagnostics.find((x) => x.severity === 'error');
    assert.equal(d?.code, 'KQ_ERR_CONFIG_SYNTAX');
    assert.equal(d?.line, 3);
    assert.match(d!.message, /parameter substitution makes the line longer than \d+ characters/);
  });

  test("words named like Object.prototype's members are unknown keys and values, and '__proto__' is refused as a name", () => {
    const text = [
      '__proto__', // 1
      'vrrp_instance VI_1 {', // 2
      '  constructor', // 3
      '  interface eth0', // 4
      '  virtual_router_id 1', // 5
      '  priority 100', // 6
      '  virtual_ipaddress {', // 7
      '    198.18.0.1/24 toString x', // 8
      '  }', // 9
      '}', // 10
      'vrrp_script __proto__ {', // 11
      '  script /bin/true', // 12
      '}', // 13
    ].join('\n');
    const r = parseChecked(text);
    assert.ok(r instanceof ConfigError);
    const errors = r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line} ${d.code} ${d.key}`);
    assert.ok(errors.includes('1 KQ_ERR_CONFIG_UNKNOWN_KEY __proto__'), errors.join('\n'));
    assert.ok(errors.includes('3 KQ_ERR_CONFIG_UNKNOWN_KEY vrrp_instance VI_1 > constructor'), errors.join('\n'));
    assert.ok(errors.some((e) => e.startsWith('8 ')), `the unknown address option on line 8 is reported: ${errors.join('\n')}`);
    assert.ok(errors.includes('11 KQ_ERR_CONFIG_VALUE vrrp_script __proto__'), errors.join('\n'));
  });

  test('splitCommandLine returns words or throws a KQ_ERR_CONFIG_SYNTAX error quoting the line', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', ' ', '\t', "'", '"', '\\', 'x', '0', '7', 'c', 'n', '\u00e9'), maxLength: 40 }), (src) => {
        try {
          const words = splitCommandLine(src);
          assert.ok(Array.isArray(words) && words.every((w) => typeof w === 'string'));
        } catch (e) {
          assert.ok(e instanceof KqError, `expected a KqError, got ${String(e)}`);
          assert.equal(e.code, 'KQ_ERR_CONFIG_SYNTAX');
          assert.ok(e.message.includes(`'${src}'`), `the message quotes the line: ${e.message}`);
        }
      }),
      fuzzParams(2000),
    );
  });
});
