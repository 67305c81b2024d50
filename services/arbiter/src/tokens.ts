/**
 * The HTTP API's bearer tokens: from a file (one per line, `NAME TOKEN` or a
 * bare `TOKEN`; `#` comments) and/or an environment variable
 * (`NAME:TOKEN,NAME:TOKEN` or bare tokens). A token's NAME is what the audit
 * trail records as `by`; the token itself never reaches a log, an event or a
 * message. Comparison is constant-time over SHA-256 digests.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { KqError } from '../../../libs/common/src/errors.js';

/** Shorter tokens are refused at load: they could be guessed. */
export const MIN_TOKEN_CHARS = 16;

export interface TokenSet {
  readonly size: number;
  /** The token's name, or null when it is not one of ours. */
  check(token: string): string | null;
}

interface Entry {
  name: string;
  digest: Buffer;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function tokenSet(entries: readonly { name: string; token: string }[]): TokenSet {
  const list: Entry[] = entries.map((e) => ({ name: e.name, digest: digest(e.token) }));
  return {
    size: list.length,
    check(token: string): string | null {
      const d = digest(token);
      let found: string | null = null;
      // Every entry is compared, so the time says nothing about which one matched.
      for (const e of list) if (timingSafeEqual(e.digest, d) && found === null) found = e.name;
      return found;
    },
  };
}

/** Parses the lines of a tokens file; `where` names it in errors (never the token). */
export function parseTokens(text: string, where: string, separator: 'line' | 'comma'): { name: string; token: string }[] {
  const out: { name: string; token: string }[] = [];
  const items = separator === 'line' ? text.split(/\r?\n/) : text.split(',');
  items.forEach((raw, i) => {
    const item = raw.trim();
    if (item.length === 0 || item.startsWith('#')) return;
    const parts = separator === 'line' ? item.split(/\s+/) : item.split(':');
    const at = separator === 'line' ? `${where}:${i + 1}` : `${where} item ${i + 1}`;
    if (parts.length > 2) throw new KqError('KQ_ERR_CONFIG_VALUE', `${at}: expected NAME TOKEN or TOKEN, found ${parts.length} fields`);
    const [name, token] = parts.length === 2 ? [parts[0]!, parts[1]!] : [`token-${out.length + 1}`, parts[0]!];
    if (token.length < MIN_TOKEN_CHARS) throw new KqError('KQ_ERR_CONFIG_VALUE', `${at}: the token of ${name} is shorter than ${MIN_TOKEN_CHARS} characters; use a random one (openssl rand -hex 32)`);
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(name)) throw new KqError('KQ_ERR_CONFIG_VALUE', `${at}: token name '${name}' must be 1 to 64 letters, digits, or "_.@-"`);
    out.push({ name, token });
  });
  return out;
}

/** Reads the configured tokens. Refuses a file others can read. */
export function loadTokens(http: { tokensFile?: string | undefined; tokensEnv?: string | undefined }, env: NodeJS.ProcessEnv = process.env): TokenSet {
  const entries: { name: string; token: string }[] = [];
  if (http.tokensFile !== undefined) {
    let text: string;
    try {
      const st = statSync(http.tokensFile);
      if ((st.mode & 0o007) !== 0) {
        throw new KqError('KQ_ERR_CONFIG_FILE', `http.tokensFile ${http.tokensFile} is open to everyone (mode 0${(st.mode & 0o777).toString(8)}); chmod 600 it`);
      }
      text = readFileSync(http.tokensFile, 'utf8');
    } catch (e) {
      if (e instanceof KqError) throw e;
      throw new KqError('KQ_ERR_CONFIG_FILE', `http.tokensFile ${http.tokensFile}: cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    entries.push(...parseTokens(text, http.tokensFile, 'line'));
  }
  if (http.tokensEnv !== undefined) {
    const value = env[http.tokensEnv];
    if (value === undefined || value.trim() === '') throw new KqError('KQ_ERR_CONFIG_VALUE', `http.tokensEnv: the environment variable ${http.tokensEnv} is not set`);
    entries.push(...parseTokens(value, `$${http.tokensEnv}`, 'comma'));
  }
  return tokenSet(entries);
}
