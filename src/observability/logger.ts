/**
 * The service's logger: pino, JSON lines in production (one object per line on stdout, for a
 * log shipper), readable lines on a terminal. URLs reach it only masked: nothing here ever sees
 * a password, and `redact` censors the usual places one could hide in anyway.
 */

import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

/** How lines look: `json` for machines, `pretty` for people. */
export type LogFormat = 'json' | 'pretty';

/** The levels `--log-level` takes. */
export const LOG_LEVEL_NAMES = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevelName = (typeof LOG_LEVEL_NAMES)[number];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level: LogLevelName;
  /** Default: pretty when stdout is a terminal. */
  format?: LogFormat | undefined;
  /** Where lines go: 1 (stdout, for services) or 2 (stderr, for commands whose stdout is their output). */
  fd?: 1 | 2;
}

/** A pino logger for the `multitask` command. */
export function createLogger(options: LoggerOptions): Logger {
  const fd = options.fd ?? 1;
  const format = options.format ?? ((fd === 1 ? process.stdout : process.stderr).isTTY ? 'pretty' : 'json');
  const settings = {
    level: options.level,
    base: { pid: process.pid },
    redact: { paths: ['password', '*.password', 'url.password', 'headers.authorization'], censor: '***' },
  };
  if (format === 'pretty') {
    // A stream in this thread, not a transport thread: lines keep their order with the
    // progress output, and the last ones are written before a quick exit.
    const stream = pretty({
      colorize: (fd === 1 ? process.stdout : process.stderr).isTTY === true,
      translateTime: 'HH:MM:ss.l',
      ignore: 'pid,hostname',
      destination: options.fd ?? 1,
      sync: true,
    });
    return pino(settings, stream);
  }
  return pino(settings, pino.destination({ dest: fd, sync: true }));
}
