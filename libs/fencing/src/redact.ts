/**
 * Secrets never reach a log, an error or a result. What a fence agent prints
 * or a receiver answers is redacted before it is kept: every known secret
 * value, and the value of any key=value whose key names a secret (fence agents
 * echo unknown options back, `passwd=...` included).
 */

export const REDACTED = '***';

/** Option names whose values are secrets: passwd, password, snmp_priv_passwd, community, secret_key, api_token, ... */
export const SECRET_KEY_PATTERN = /(passw|secret|token|community|credential|(^|[_-])key$|^key$|auth)/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY_PATTERN.test(key);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// key=value or key: value, where key names a secret; the value runs to whitespace, a quote or a separator.
const KEY_VALUE = /(?<![A-Za-z0-9_-])([A-Za-z0-9_-]*(?:passw|secret|token|community|credential|auth)[A-Za-z0-9_-]*|[A-Za-z0-9_-]*[_-]key|key)(\s*[=:]\s*)(["']?)([^\s"',;]+)/gi;

/** Replaces each secret value (longest first, so no part of a longer one survives) and each secret-named key's value. */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  const values = [...new Set(secrets.filter((s) => s.length > 0))].sort((a, b) => b.length - a.length);
  for (const value of values) out = out.replace(new RegExp(escapeRegExp(value), 'g'), REDACTED);
  return out.replace(KEY_VALUE, (_m, key: string, sep: string, quote: string) => `${key}${sep}${quote}${REDACTED}`);
}

/**
 * A short excerpt of already redacted text: the head and, where it was long,
 * the tail (an agent's last lines say why it failed).
 */
export function excerpt(text: string, maxChars: number): string {
  const t = text.trim();
  if (t.length <= maxChars) return t;
  const head = Math.floor(maxChars / 3);
  const tail = maxChars - head - 5;
  return `${t.slice(0, head)} ... ${t.slice(t.length - tail)}`;
}
