/**
 * The part of glob(3) keepalived's `include` uses: `*`, `?`, `[...]` and csh
 * braces (GLOB_BRACE), leading dots matched only explicitly, results sorted per
 * brace alternative. Node 20 has no fs.glob, and a dependency for forty lines
 * is not worth it.
 */
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

export interface GlobMatch {
  path: string;
  isDirectory: boolean;
}

export interface GlobResult {
  matches: GlobMatch[];
  /** The pattern had wildcards (a no-match is then usual for a conf.d directory). */
  hadWildcard: boolean;
}

export function expandGlob(pattern: string, baseDir: string): GlobResult {
  const alternatives = expandBraces(pattern);
  const hadWildcard = alternatives.some((p) => hasMagic(p)) || alternatives.length > 1;
  const matches: GlobMatch[] = [];
  const seen = new Set<string>();
  for (const alt of alternatives) {
    const absolute = isAbsolute(alt) ? alt : resolve(baseDir, alt);
    const found = walk('/', absolute.split('/').filter((s) => s !== '')).sort();
    for (const path of found) {
      if (seen.has(path)) continue;
      seen.add(path);
      let isDirectory = false;
      try {
        isDirectory = statSync(path).isDirectory();
      } catch {
        continue;
      }
      matches.push({ path, isDirectory });
    }
  }
  return { matches, hadWildcard };
}

function walk(dir: string, segments: string[]): string[] {
  if (segments.length === 0) return [dir];
  const [seg, ...rest] = segments as [string, ...string[]];
  if (!hasMagic(seg)) {
    const next = join(dir, unescape(seg));
    try {
      statSync(next);
    } catch {
      return [];
    }
    return walk(next, rest);
  }
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const re = segmentRegExp(seg);
  const out: string[] = [];
  for (const entry of entries) {
    if (entry.startsWith('.') && !seg.startsWith('.')) continue;
    if (re.test(entry)) out.push(...walk(join(dir, entry), rest));
  }
  return out;
}

function hasMagic(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

function segmentRegExp(seg: string): RegExp {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '\\' && i + 1 < seg.length) re += escapeRe(seg[++i]!);
    else if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = seg.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/\\/g, '\\\\').replace(/\]/g, '\\]')}]`;
      i = close;
    } else re += escapeRe(c);
  }
  return new RegExp(`${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** csh-style brace expansion: a{b,c}d → abd acd; nested braces work; `{}` and `{x}` stay literal. */
export function expandBraces(pattern: string): string[] {
  let depth = 0;
  let open = -1;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '{') {
      if (depth === 0) open = i;
      depth++;
    } else if (c === '}' && depth > 0) {
      depth--;
      if (depth === 0) {
        const body = pattern.slice(open + 1, i);
        const parts = splitTopLevelCommas(body);
        if (parts.length < 2) continue;
        const head = pattern.slice(0, open);
        const tail = pattern.slice(i + 1);
        return parts.flatMap((p) => expandBraces(head + p + tail));
      }
    }
  }
  return [pattern];
}

function splitTopLevelCommas(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}
