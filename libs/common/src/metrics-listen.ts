/**
 * A metrics endpoint's listen address, parsed without loading node:http: the
 * agent's command line checks `--metrics` at start, and an agent that serves no
 * metrics should not pay for the HTTP server's modules.
 */
import { KqError } from './errors.js';

/** `HOST:PORT` or `[IPV6]:PORT` → listen arguments; `what` names the setting in the error. */
export function parseListenAddress(listen: string, what: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(listen) ?? /^([^:[\]]+):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new KqError('KQ_ERR_CONFIG_VALUE', `${what} ${listen}: expected HOST:PORT (e.g. 127.0.0.1:9650, or [::1]:9650), port 0-65535`);
  return { host: m[1]!, port };
}
