/**
 * One catalogue of the errors a user can see, each with a stable code
 * (fastify's habit). A message says what is wrong, where, and what to do.
 */
export const ErrorCodes = {
  KQ_ERR_CONFIG_SYNTAX: 'KQ_ERR_CONFIG_SYNTAX',
  KQ_ERR_CONFIG_UNKNOWN_KEY: 'KQ_ERR_CONFIG_UNKNOWN_KEY',
  KQ_ERR_CONFIG_VALUE: 'KQ_ERR_CONFIG_VALUE',
  KQ_ERR_CONFIG_DUPLICATE: 'KQ_ERR_CONFIG_DUPLICATE',
  KQ_ERR_CONFIG_FILE: 'KQ_ERR_CONFIG_FILE',
  KQ_ERR_CONFIG_SCHEMA: 'KQ_ERR_CONFIG_SCHEMA',
  KQ_ERR_CONFIG_REFERENCE: 'KQ_ERR_CONFIG_REFERENCE',
  KQ_ERR_CONFIG_UNSUPPORTED: 'KQ_ERR_CONFIG_UNSUPPORTED',
  KQ_WARN_CONFIG_NOT_IMPLEMENTED: 'KQ_WARN_CONFIG_NOT_IMPLEMENTED',
  KQ_WARN_CONFIG_ADJUSTED: 'KQ_WARN_CONFIG_ADJUSTED',
  KQ_WARN_CONFIG_SUSPICIOUS: 'KQ_WARN_CONFIG_SUSPICIOUS',
  KQ_ERR_INTERFACE_MISSING: 'KQ_ERR_INTERFACE_MISSING',
  KQ_ERR_SOCKET: 'KQ_ERR_SOCKET',
  KQ_ERR_NETLINK: 'KQ_ERR_NETLINK',
  KQ_ERR_NATIVE_ADDON: 'KQ_ERR_NATIVE_ADDON',
  KQ_ERR_PRIVILEGE: 'KQ_ERR_PRIVILEGE',
  KQ_ERR_USAGE: 'KQ_ERR_USAGE',
  KQ_ERR_SCRIPT_NOT_FOUND: 'KQ_ERR_SCRIPT_NOT_FOUND',
  KQ_ERR_SCRIPT_NOT_EXECUTABLE: 'KQ_ERR_SCRIPT_NOT_EXECUTABLE',
  KQ_ERR_SCRIPT_INSECURE: 'KQ_ERR_SCRIPT_INSECURE',
  KQ_ERR_SCRIPT_USER: 'KQ_ERR_SCRIPT_USER',
  KQ_ERR_EVENT_NAME: 'KQ_ERR_EVENT_NAME',
  KQ_ERR_EVENT_INVALID: 'KQ_ERR_EVENT_INVALID',
  KQ_ERR_EVENTS_CLOSED: 'KQ_ERR_EVENTS_CLOSED',
  KQ_ERR_JOURNAL_LOCKED: 'KQ_ERR_JOURNAL_LOCKED',
  KQ_ERR_JOURNAL_IO: 'KQ_ERR_JOURNAL_IO',
  KQ_ERR_STREAM_CONFIG: 'KQ_ERR_STREAM_CONFIG',
  KQ_ERR_NATS_OPTIONS: 'KQ_ERR_NATS_OPTIONS',
  KQ_ERR_FENCE_CONFIG: 'KQ_ERR_FENCE_CONFIG',
  KQ_ERR_FENCE_SECRET: 'KQ_ERR_FENCE_SECRET',
  KQ_ERR_FENCE_REQUEST: 'KQ_ERR_FENCE_REQUEST',
  KQ_ERR_FENCE_FAILED: 'KQ_ERR_FENCE_FAILED',
  KQ_ERR_FENCE_TIMEOUT: 'KQ_ERR_FENCE_TIMEOUT',
  KQ_ERR_FENCE_REJECTED: 'KQ_ERR_FENCE_REJECTED',
  KQ_ERR_FENCE_UNCONFIRMED: 'KQ_ERR_FENCE_UNCONFIRMED',
  KQ_ERR_FENCE_GATED: 'KQ_ERR_FENCE_GATED',
  KQ_ERR_FENCE_ABORTED: 'KQ_ERR_FENCE_ABORTED',
  KQ_ERR_FENCE_SIGNATURE: 'KQ_ERR_FENCE_SIGNATURE',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** Where a configuration problem sits: file, line (1-based) and key. */
export interface SourceLocation {
  file: string;
  line?: number;
  column?: number;
  key?: string;
}

export class KqError extends Error {
  readonly code: ErrorCode;
  readonly location: SourceLocation | undefined;
  constructor(code: ErrorCode, message: string, location?: SourceLocation, options?: { cause?: unknown }) {
    super(location ? `${formatLocation(location)}: ${message}` : message, options);
    this.name = 'KqError';
    this.code = code;
    this.location = location;
  }
}

export function formatLocation(loc: SourceLocation): string {
  let s = loc.file;
  if (loc.line !== undefined) s += `:${loc.line}`;
  if (loc.column !== undefined) s += `:${loc.column}`;
  if (loc.key !== undefined) s += ` (${loc.key})`;
  return s;
}

export function isKqError(e: unknown): e is KqError {
  return e instanceof KqError;
}
