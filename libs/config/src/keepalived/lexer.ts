/**
 * keepalived.conf lexer. keepalived reads its configuration line by line
 * (lib/parser.c read_line): it strips comments, handles `@id` conditional lines,
 * `$NAME=value` definitions and `include` lines, then cuts each line at every
 * `{` and `}` outside double quotes, so braces are tokens even without spaces
 * around them. Words are split on whitespace; a double-quoted string is one word.
 * This lexer does the same and remembers file, line and column of every token,
 * following includes (globs relative to the including file, cycles refused).
 */
import { accessSync, constants, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { DiagnosticSink } from '../diagnostics.js';
import { expandGlob } from './glob.js';
import { KqError } from '../../../common/src/errors.js';

export interface WordToken {
  text: string;
  file: string;
  line: number;
  column: number;
  /** Written between double quotes. */
  quoted: boolean;
}

export type LexItem =
  | { kind: 'words'; words: WordToken[]; /** the segment as written (comments removed), re-split for scripts */ raw: string; file: string; line: number }
  | { kind: 'open' | 'close'; file: string; line: number; column: number };

export interface LexOptions {
  /** keepalived's config-id for `@id` lines: by default the host name up to its first dot. */
  configId: string;
}

interface LexState {
  options: LexOptions;
  sink: DiagnosticSink;
  items: LexItem[];
  /** Real paths of the files being read, outermost first, to refuse include cycles. */
  stack: string[];
  /** The same files as they are named in messages. */
  names: string[];
  defs: Map<string, string>;
}

const WS = new Set([' ', '\t', '\f', '\n', '\r', '\v']);
/** A line after $NAME substitution is at most this long (keepalived's own buffer is far smaller). */
const MAX_SUBSTITUTED_LINE = 64 * 1024;

/** Read a keepalived.conf and everything it includes into one stream of items. */
export function lexFile(file: string, options: LexOptions, sink: DiagnosticSink): LexItem[] {
  const state: LexState = { options, sink, items: [], stack: [], names: [], defs: new Map() };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    sink.error('KQ_ERR_CONFIG_FILE', { file }, `cannot read the configuration file: ${(e as Error).message}`);
    return [];
  }
  lexInto(state, text, file);
  return state.items;
}

/** As lexFile, from text already read; includes are still read from disk, relative to `file`. */
export function lexText(text: string, file: string, options: LexOptions, sink: DiagnosticSink): LexItem[] {
  const state: LexState = { options, sink, items: [], stack: [], names: [], defs: new Map() };
  lexInto(state, text, file);
  return state.items;
}

function lexInto(state: LexState, text: string, file: string): void {
  let real = file;
  try {
    real = realpathSync(file);
  } catch {
    // text given directly for a file that does not exist: no cycle is possible through it
  }
  state.stack.push(real);
  state.names.push(file);
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    lexLine(state, lines[i]!.replace(/\r$/, ''), file, i + 1);
  }
  state.stack.pop();
  state.names.pop();
}

// ---------------------------------------------------------------------------
// One physical line

interface Text {
  s: string;
  /** 1-based column in the physical line of each character of s. */
  cols: number[];
}

function lexLine(state: LexState, physical: string, file: string, line: number): void {
  const { sink } = state;
  const syntax = (msg: string, column?: number) => sink.error('KQ_ERR_CONFIG_SYNTAX', { file, line, column, key: physical.trim().split(/[ \t]/)[0] }, msg);
  let t = decomment({ s: physical, cols: [...physical].map((_, i) => i + 1) }, syntax);
  if (t === undefined || t.s === '') return;

  for (let round = 0; ; round++) {
    if (round > 32) {
      sink.error('KQ_ERR_CONFIG_SYNTAX', { file, line }, 'parameter substitution does not terminate; expected definitions that do not refer to themselves');
      return;
    }
    // @id / @^id: keep the line only on the host(s) it names
    if (t.s.startsWith('@')) {
      const negate = t.s[1] === '^';
      const idStart = negate ? 2 : 1;
      const space = t.s.search(/[ \t]/);
      if (space < 0) return;
      const id = t.s.slice(idStart, space);
      if ((id === state.options.configId) === negate) return;
      let rest = space;
      while (t.s[rest] === ' ' || t.s[rest] === '\t') rest++;
      t = slice(t, rest);
      continue;
    }
    const def = /^\$([A-Za-z_][A-Za-z0-9_]*)=/.exec(t.s);
    if (def) {
      let value = t.s.slice(def[0].length).replace(/^[ \t]+/, '');
      if (value.endsWith('\\')) {
        sink.error('KQ_ERR_CONFIG_UNSUPPORTED', { file, line, key: `$${def[1]}` }, 'found a multi-line definition; keepquorum supports single-line $NAME=value definitions only (expand it by hand)');
        value = value.slice(0, -1);
      }
      state.defs.set(def[1]!, value);
      return;
    }
    if (t.s.startsWith('~SEQ') || t.s.startsWith('~LST')) {
      sink.error('KQ_ERR_CONFIG_UNSUPPORTED', { file, line, key: t.s.slice(0, 4) }, `found a ${t.s.slice(0, 4)} line; keepquorum does not expand sequence or list blocks (expand them by hand)`);
      return;
    }
    if (t.s.includes('$')) {
      const replaced = substitute(state, t, file, line);
      if (replaced !== undefined && replaced.s.length > MAX_SUBSTITUTED_LINE) {
        // `$A=$A $A` doubles the line at each round: stop before it eats the memory.
        sink.error('KQ_ERR_CONFIG_SYNTAX', { file, line }, `parameter substitution makes the line longer than ${MAX_SUBSTITUTED_LINE} characters; expected definitions that do not grow by referring to themselves`);
        return;
      }
      if (replaced !== undefined) {
        const again = decomment(replaced, syntax);
        if (again === undefined || again.s === '') return;
        t = again;
        continue;
      }
    }
    break;
  }

  if (t.s.endsWith('\\')) {
    sink.error('KQ_ERR_CONFIG_SYNTAX', { file, line, column: t.cols[t.s.length - 1] }, "found '\\' at the end of the line; keepalived continues lines only inside $definitions, which keepquorum does not support over several lines");
    t = slice(t, 0, t.s.length - 1);
  }

  const include = /^include([rmwba]?)[ \t]+/.exec(t.s);
  if (include) {
    handleInclude(state, t.s.slice(include[0].length), include[1] ?? '', file, line);
    return;
  }

  splitBraces(state, t, file, line);
}

/**
 * keepalived's decomment(): `!` or `#` outside double quotes starts a comment;
 * `\#` and `\!` outside quotes are the characters themselves; other escapes are
 * kept for the script parser. Single quotes do not protect comment characters.
 */
function decomment(t: Text, error: (msg: string, column?: number) => void): Text | undefined {
  let start = 0;
  while (start < t.s.length && (t.s[start] === ' ' || t.s[start] === '\t')) start++;
  const src = slice(t, start);
  const out: string[] = [];
  const cols: number[] = [];
  let quote = false;
  let quoteColumn: number | undefined;
  for (let i = 0; i < src.s.length; i++) {
    const c = src.s[i]!;
    if (c === '"') {
      quote = !quote;
      quoteColumn = src.cols[i];
    }
    else if (c === '\\') {
      if (i + 1 >= src.s.length) {
        out.push(c);
        cols.push(src.cols[i]!);
        break;
      }
      const next = src.s[i + 1]!;
      if (!quote && (next === '#' || next === '!')) {
        out.push(next);
        cols.push(src.cols[i + 1]!);
      } else {
        out.push(c, next);
        cols.push(src.cols[i]!, src.cols[i + 1]!);
      }
      i++;
      continue;
    } else if (!quote && (c === '!' || c === '#')) {
      break;
    }
    out.push(c);
    cols.push(src.cols[i]!);
  }
  if (quote) {
    error(`found an unterminated double quote in '${src.s}'; expected a closing '"' on the same line`, quoteColumn);
  }
  let end = out.length;
  while (end > 0 && (out[end - 1] === ' ' || out[end - 1] === '\t')) end--;
  return { s: out.slice(0, end).join(''), cols: cols.slice(0, end) };
}

function slice(t: Text, start: number, end?: number): Text {
  return { s: t.s.slice(start, end), cols: t.cols.slice(start, end) };
}

/** Replace $NAME and ${NAME} of defined names, once; undefined names are left as written (keepalived). */
function substitute(state: LexState, t: Text, file: string, line: number): Text | undefined {
  let changed = false;
  const out: string[] = [];
  const cols: number[] = [];
  const s = t.s;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '$') {
      const m = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)((?: *\d+)*)\}|([A-Za-z_][A-Za-z0-9_]*)(?=[ \t,)]|$))/.exec(s.slice(i));
      const nameFound = m ? (m[1] ?? m[3]) : undefined;
      if (m && nameFound !== undefined) {
        const value = builtinOrDefined(state, nameFound, file, line);
        if (value !== undefined) {
          for (const ch of value) {
            out.push(ch);
            cols.push(t.cols[i]!);
          }
          i += m[0].length - 1;
          changed = true;
          if (out.length > MAX_SUBSTITUTED_LINE) break; // the caller reports the line as too long
          continue;
        }
      }
    }
    out.push(s[i]!);
    cols.push(t.cols[i]!);
  }
  return changed ? { s: out.join(''), cols } : undefined;
}

function builtinOrDefined(state: LexState, name: string, file: string, line: number): string | undefined {
  const user = state.defs.get(name);
  if (user !== undefined) return user;
  switch (name) {
    case '_PWD':
      return dirname(file);
    case '_INSTANCE':
      return state.options.configId;
    case '_HASH':
      return '#';
    case '_BANG':
      return '!';
    case '_RANDOM':
      state.sink.error('KQ_ERR_CONFIG_UNSUPPORTED', { file, line, key: '${_RANDOM}' }, 'found ${_RANDOM}; keepquorum does not generate random configuration values (write the value)');
      return '0';
    default:
      return undefined;
  }
}

/**
 * keepalived's read_line(): cut the line before and after every brace that is
 * not inside double quotes; the pieces between braces are separate statements.
 */
function splitBraces(state: LexState, t: Text, file: string, line: number): void {
  let rest = t;
  while (rest.s.length > 0) {
    const c = rest.s[0];
    if (c === '{' || c === '}') {
      state.items.push({ kind: c === '{' ? 'open' : 'close', file, line, column: rest.cols[0]! });
      let skip = 1;
      while (rest.s[skip] === ' ' || rest.s[skip] === '\t') skip++;
      rest = slice(rest, skip);
      continue;
    }
    let cut = -1;
    for (let i = 0; i < rest.s.length; i++) {
      const ch = rest.s[i];
      if (ch === '"') {
        const close = rest.s.indexOf('"', i + 1);
        if (close < 0) break;
        i = close;
      } else if (ch === '{' || ch === '}') {
        cut = i;
        break;
      }
    }
    const segment = cut < 0 ? rest : slice(rest, 0, cut);
    pushWords(state, trimEnd(segment), file, line);
    if (cut < 0) break;
    rest = slice(rest, cut);
  }
}

function trimEnd(t: Text): Text {
  let end = t.s.length;
  while (end > 0 && WS.has(t.s[end - 1]!)) end--;
  return slice(t, 0, end);
}

/** keepalived's alloc_strvec_r(): whitespace-separated words, a double-quoted string is one word. */
function pushWords(state: LexState, t: Text, file: string, line: number): void {
  const words: WordToken[] = [];
  const s = t.s;
  let i = 0;
  for (;;) {
    while (i < s.length && WS.has(s[i]!)) i++;
    if (i >= s.length) break;
    if (s[i] === '"') {
      const close = s.indexOf('"', i + 1);
      if (close < 0) {
        // decomment already reported the missing quote; keep the rest as the word
        words.push({ text: s.slice(i + 1), file, line, column: t.cols[i]!, quoted: true });
        break;
      }
      words.push({ text: s.slice(i + 1, close), file, line, column: t.cols[i]!, quoted: true });
      i = close + 1;
    } else {
      let end = i;
      while (end < s.length && !WS.has(s[end]!) && s[end] !== '"') end++;
      words.push({ text: s.slice(i, end), file, line, column: t.cols[i]!, quoted: false });
      i = end;
    }
  }
  if (words.length > 0) state.items.push({ kind: 'words', words, raw: s, file, line });
}

// ---------------------------------------------------------------------------
// include, includer, includem, includew, includeb, includea

function handleInclude(state: LexState, pattern: string, variant: string, file: string, line: number): void {
  const { sink } = state;
  const where = { file, line, key: `include${variant}` };
  const strict = variant === 'm' || variant === 'w' || variant === 'a';
  if (pattern === '') {
    sink.error('KQ_ERR_CONFIG_SYNTAX', where, 'found no file name after include; expected include FILE-OR-GLOB');
    return;
  }
  const { matches, hadWildcard } = expandGlob(pattern, dirname(resolve(file)));
  // name included files as the including file is named (relative stays relative)
  const display = (p: string) => (isAbsolute(pattern) ? p : join(dirname(file), relative(dirname(resolve(file)), p)));
  const files = matches.filter((m) => {
    if (m.isDirectory) {
      sink.warn('KQ_WARN_CONFIG_SUSPICIOUS', where, `'${display(m.path)}' is a directory; skipped as keepalived does (include a glob such as ${display(m.path)}/*.conf)`);
      return false;
    }
    return true;
  });
  if (files.length === 0) {
    const quoted = /^["'].*["']$/.test(pattern) ? ' (quotes are part of the file name for keepalived: remove them)' : '';
    const msg = `found no file matching '${pattern}' (relative to ${dirname(file)})${quoted}`;
    if (strict && (hadWildcard ? variant !== 'm' : true)) sink.error('KQ_ERR_CONFIG_FILE', where, `${msg}; expected at least one file`);
    else sink.warn('KQ_WARN_CONFIG_SUSPICIOUS', where, `${msg}; nothing included`);
    return;
  }
  for (const m of files) {
    let real = m.path;
    try {
      real = realpathSync(m.path);
    } catch {
      // reported when read below
    }
    if (state.stack.includes(real)) {
      const chain = [...state.names.slice(state.stack.indexOf(real)), display(m.path)].join(' -> ');
      sink.error('KQ_ERR_CONFIG_FILE', where, `including '${display(m.path)}' would loop (${chain}); expected each file included at most once along a chain`);
      continue;
    }
    try {
      const st = statSync(m.path);
      if (!st.isFile() || (st.mode & 0o111) !== 0) {
        sink.warn('KQ_WARN_CONFIG_SUSPICIOUS', where, `'${display(m.path)}' is not a regular non-executable file; skipped, as keepalived skips it (chmod -x it to include it)`);
        continue;
      }
      accessSync(m.path, constants.R_OK);
    } catch (e) {
      const report = variant === '' ? sink.warn.bind(sink) : sink.error.bind(sink);
      report(variant === '' ? 'KQ_WARN_CONFIG_SUSPICIOUS' : 'KQ_ERR_CONFIG_FILE', where, `cannot read '${display(m.path)}': ${(e as Error).message}`);
      continue;
    }
    let text: string;
    try {
      text = readFileSync(m.path, 'utf8');
    } catch (e) {
      sink.error('KQ_ERR_CONFIG_FILE', where, `cannot read '${display(m.path)}': ${(e as Error).message}`);
      continue;
    }
    lexInto(state, text, display(m.path));
  }
}

// ---------------------------------------------------------------------------
// Command lines

/**
 * Split a command line as keepalived does for scripts (alloc_strvec_quoted_escaped):
 * words separated by whitespace; '…' and "…" group and may be joined to
 * neighbouring text; backslash escapes \a \b \E \f \n \r \t \v, \nnn (octal),
 * \xHH, \cC (control character), and \C for any other C, also inside quotes.
 * keepalived applies it twice to a script: once to the configuration line, which
 * yields the command string, then to that string, which yields argv.
 * Throws a KqError (KQ_ERR_CONFIG_SYNTAX) quoting the line on an unterminated quote or a trailing '\'.
 */
export function splitCommandLine(src: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < src.length) {
    while (i < src.length && WS.has(src[i]!)) i++;
    if (i >= src.length) break;
    let word = '';
    let quote: '"' | "'" | undefined;
    for (; i < src.length; i++) {
      const c = src[i]!;
      if (c === '\\') {
        i++;
        if (i >= src.length) throw new KqError('KQ_ERR_CONFIG_SYNTAX', `found '\\' at the end of '${src}'; expected a character after it`);
        const e = src[i]!;
        if (e === 'x' && /[0-9a-fA-F]/.test(src[i + 1] ?? '')) {
          let v = 0;
          while (/[0-9a-fA-F]/.test(src[i + 1] ?? '')) v = ((v << 4) | parseInt(src[++i]!, 16)) & 0xff;
          word += String.fromCharCode(v);
        } else if (e === 'c' && i + 1 < src.length) {
          word += String.fromCharCode(src.charCodeAt(++i) & 0x1f);
        } else if (e >= '0' && e <= '7') {
          let v = Number(e);
          for (let k = 0; k < 2 && /[0-7]/.test(src[i + 1] ?? ''); k++) v = v * 8 + Number(src[++i]);
          word += String.fromCharCode(v & 0xff);
        } else {
          const named: Record<string, string> = { a: '\x07', b: '\b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
          word += named[e] ?? e;
        }
        continue;
      }
      if (quote) {
        if (c === quote) quote = undefined;
        else word += c;
        continue;
      }
      if (c === '"' || c === "'") {
        quote = c;
        continue;
      }
      if (WS.has(c)) break;
      word += c;
    }
    if (quote) throw new KqError('KQ_ERR_CONFIG_SYNTAX', `found an unterminated ${quote} in '${src}'; expected a closing ${quote}`);
    words.push(word);
  }
  return words;
}
