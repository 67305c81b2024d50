import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Keys whose values never reach a log line. */
export const REDACTED_PATHS = ['password', 'authPass', 'auth_pass', '*.password', '*.authPass', 'authentication.password'];

export function createLogger(options: { name: string; level?: string; destination?: number | string }): Logger {
  const opts: LoggerOptions = {
    name: options.name,
    level: options.level ?? process.env['KQ_LOG_LEVEL'] ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  const dest = pino.destination({ dest: options.destination ?? 1, sync: false });
  return pino(opts, dest);
}
