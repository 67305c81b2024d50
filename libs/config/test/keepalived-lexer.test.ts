/**
 * The keepalived.conf lexer and block tree: keepalived's reading rules, each
 * proven on a small input.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DiagnosticSink } from '../src/diagnostics.js';
import { lexText, type LexItem } from '../src/keepalived/lexer.js';
import { parseItems } from '../src/keepalived/parser.js';
import { parseKeepalivedConf, splitCommandLine } from '../src/mod.js';
import { expectConfigError } from './helpers.js';

function lex(text: string, configId = 'node1'): { items: LexItem[]; sink: DiagnosticSink } {
  const sink = new DiagnosticSink();
  return { items: lexText(text, '/virtual/keepalived.conf', { configId }, sink), sink };
}

/** Items as short strings: words joined by '|', braces as themselves. */
function shape(items: LexItem[]): string[] {
  return items.map((i) => (i.kind === 'words' ? i.words.map((w) => w.text).join('|') : i.kind === 'open' ? '{' : '}'));
}

const minimal = (body: string) => `vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1/24\n }\n${body}\n}\n`;

describe('keepalived lexer', () => {
  it('makes braces tokens even without spaces around them, as keepalived cuts lines at braces', () => {
    const { items } = lex('vrrp_instance VI_1{interface eth0}\nvirtual_ipaddress {10.0.0.1/24 }');
    assert.deepEqual(shape(items), ['vrrp_instance|VI_1', '{', 'interface|eth0', '}', 'virtual_ipaddress', '{', '10.0.0.1/24', '}']);
  });

  it('strips ! and # comments to the end of the line, anywhere in it, but not inside double quotes', () => {
    const { items } = lex('priority 100 # comment\n! whole line\nadvert_int 1! no space needed\nscript "grep -q # not a comment"');
    assert.deepEqual(shape(items), ['priority|100', 'advert_int|1', 'script|grep -q # not a comment']);
  });

  it('reads \\# and \\! outside quotes as the characters themselves', () => {
    const { items } = lex('router_id lb\\#1\\!');
    assert.deepEqual(shape(items), ['router_id|lb#1!']);
  });

  it('lets a comment character inside single quotes start a comment, as keepalived does', () => {
    const { items } = lex("script 'echo a # b'");
    assert.deepEqual(shape(items), ["script|'echo|a"]);
  });

  it('keeps a double-quoted string as one word and cuts a word at a quote', () => {
    const { items } = lex('router_id "my router"  next\nfoo "a"b');
    assert.deepEqual(shape(items), ['router_id|my router|next', 'foo|a|b']);
    const word = (items[0] as Extract<LexItem, { kind: 'words' }>).words[1]!;
    assert.deepEqual({ line: word.line, column: word.column, quoted: word.quoted }, { line: 1, column: 11, quoted: true });
  });

  it('does not cut a line at a brace inside double quotes', () => {
    const { items } = lex('script "echo {x}" {');
    assert.deepEqual(shape(items), ['script|echo {x}', '{']);
  });

  it('records the file, line and column of every token', () => {
    const { items } = lex('\n\n   global_defs {\n  router_id r1 }');
    const [g, open, r, close] = items;
    assert.deepEqual([g?.line, open?.line, r?.line, close?.line], [3, 3, 4, 4]);
    assert.equal((g as Extract<LexItem, { kind: 'words' }>).words[0]!.column, 4);
    assert.equal(open?.kind === 'open' ? open.column : 0, 16);
    assert.equal(close?.kind === 'close' ? close.column : 0, 16);
    assert.ok(items.every((i) => i.file === '/virtual/keepalived.conf'));
  });

  it('keeps @id lines only on the node they name, and @^id lines everywhere else', () => {
    const text = '@node1 router_id one\n@node2 router_id two\n@^node1 priority 50\n@^node2 priority 60';
    assert.deepEqual(shape(lex(text, 'node1').items), ['router_id|one', 'priority|60']);
    assert.deepEqual(shape(lex(text, 'node2').items), ['router_id|two', 'priority|50']);
  });

  it('substitutes $NAME and ${NAME} of defined names, and leaves other $ words alone for scripts', () => {
    const { items } = lex('$IF=eth1\n$NET=10.1\ninterface $IF\n${NET}.0.1/24 dev ${IF}\nscript "test -n $HOME"');
    assert.deepEqual(shape(items), ['interface|eth1', '10.1.0.1/24|dev|eth1', 'script|test -n $HOME']);
  });

  it('reads comments again after substitution, so ${_BANG} and ${_HASH} start one (keepalived 2.2.7 -t accepts "priority 1${_BANG}00")', () => {
    assert.deepEqual(shape(lex('priority 1${_BANG}00\npriority 2${_HASH}00').items), ['priority|1', 'priority|2']);
  });

  it('reports an unterminated double quote with its line and column', () => {
    const { sink } = lex('x\nscript "/bin/true');
    assert.equal(sink.items.length, 1);
    assert.deepEqual([sink.items[0]!.line, sink.items[0]!.column], [2, 8]);
    assert.match(sink.items[0]!.message, /unterminated double quote/);
  });
});

describe('keepalived block tree', () => {
  it('gives a block to the statement before a brace on the next line', () => {
    const sink = new DiagnosticSink();
    const { nodes } = parseItems(lex('vrrp_script chk\n{\n script x\n}').items, sink);
    assert.equal(sink.items.length, 0);
    assert.equal(nodes[0]?.key.text, 'vrrp_script');
    assert.equal(nodes[0]?.block?.[0]?.key.text, 'script');
    assert.deepEqual(nodes[0]?.blockEnd, { file: '/virtual/keepalived.conf', line: 4 });
  });

  it("reports a '{' with no keyword before it", () => {
    const sink = new DiagnosticSink();
    parseItems(lex('global_defs {\n}\n{\n router_id x\n}').items, sink);
    assert.equal(sink.errorCount, 1);
    assert.equal(sink.items[0]!.line, 3);
    assert.match(sink.items[0]!.message, /found a '\{' with no keyword before it/);
  });

  it('finds a missing brace in a nested block from the indentation', () => {
    const text = 'vrrp_instance VI_1 {\n  unicast_peer {\n    10.0.0.2\n  priority 100\n}\n';
    const { errors } = expectConfigError(() => parseKeepalivedConf(text, '/virtual/keepalived.conf'));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.line, 2);
    assert.match(errors[0]!.message, /found no '}' closing 'unicast_peer \{' before line 4/);
  });
});

describe('splitCommandLine (keepalived script arguments)', () => {
  it('splits like keepalived: quotes of both kinds group, escapes work inside quotes too', () => {
    assert.deepEqual(splitCommandLine(`/bin/x a 'b c' "d e" f\\ g "it's" 'say "hi"'`), ['/bin/x', 'a', 'b c', 'd e', 'f g', "it's", 'say "hi"']);
    assert.deepEqual(splitCommandLine('a"b c"d'), ['ab cd']);
    assert.deepEqual(splitCommandLine(`'a\\'b'`), ["a'b"]);
  });

  it('decodes keepalived escapes: \\t \\n \\E, octal, hex and control characters', () => {
    assert.deepEqual(splitCommandLine('x\\ty\\n \\101\\x42 \\cA\\E \\q'), ['x\ty\n', 'AB', '\x01\x1b', 'q']);
  });

  it('refuses an unterminated quote and a trailing backslash', () => {
    assert.throws(() => splitCommandLine("echo 'a"), /unterminated '/);
    assert.throws(() => splitCommandLine('echo a\\'), /'\\' at the end/);
  });

  it('gives a script the argv keepalived 2.2.7 was seen to give it (quoted line split twice)', () => {
    // Observed by running keepalived with this vrrp_script: argv was [s2][a][b c][d e][f][g]
    const text = `global_defs {\n enable_script_security\n}\nvrrp_script s2 {\n  script "/tmp/argv.sh s2 a 'b c' \\"d e\\" f\\ g"\n}\n` + minimal(' track_script {\n  s2\n }');
    const { config } = parseKeepalivedConf(text, '/virtual/keepalived.conf');
    assert.deepEqual(splitCommandLine(config.scripts.s2!.script!), ['/tmp/argv.sh', 's2', 'a', 'b c', 'd e', 'f', 'g']);
  });

  it('warns that unquoted words after a vrrp_script command are dropped, as keepalived drops them', () => {
    const text = 'vrrp_script s1 {\n  script /usr/bin/pgrep -x nginx\n}\n' + minimal(' track_script {\n  s1\n }');
    const { config, diagnostics } = parseKeepalivedConf(text, '/virtual/keepalived.conf');
    assert.equal(config.scripts.s1!.script, '/usr/bin/pgrep');
    assert.equal(diagnostics.length, 1);
    assert.equal(diagnostics[0]!.line, 2);
    assert.match(diagnostics[0]!.message, /keepalived runs only '\/usr\/bin\/pgrep'.*script "\/usr\/bin\/pgrep -x nginx"/);
  });

  it('takes the word after an unquoted notify command as the user to run it as, and says so', () => {
    // keepalived 2.2.7 logged "Script user 'master' does not exist" for this line
    const { config, diagnostics } = parseKeepalivedConf(minimal(' notify_master /etc/keepalived/notify.sh master'), '/virtual/keepalived.conf');
    assert.deepEqual(config.instances[0]!.notify.master, { command: '/etc/keepalived/notify.sh', user: 'master' });
    assert.equal(diagnostics.length, 1);
    assert.match(diagnostics[0]!.message, /'master' after the command is the user to run it as/);
    const quoted = parseKeepalivedConf(minimal(' notify_master "/etc/keepalived/notify.sh master" root'), '/virtual/keepalived.conf');
    assert.deepEqual(quoted.config.instances[0]!.notify.master, { command: '/etc/keepalived/notify.sh master', user: 'root' });
    assert.deepEqual(quoted.diagnostics, []);
  });
});
