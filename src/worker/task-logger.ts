import type { TaskLogger } from '../task/task.js';

/** Pino's numeric levels, so that a task's lines sort and filter with the service's own. */
export const LOG_LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
/** A level name a task logger writes at. */
export type TaskLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One line a task logged, as it crosses from its worker to the pool. */
export interface TaskLogRecord {
  level: TaskLogLevel;
  /** Epoch ms. */
  time: number;
  msg: string;
  /** Who logged it (worker, task, attempt), the call's tags (a job's id and queue) and the task's own fields. */
  fields: Record<string, unknown>;
  /** The pool's id of the call that logged, so the pool can add the call's tags; none for the app itself. */
  callId?: number;
}

/** A pool's `logLevel`: the lowest level of `ctx.log` lines its workers send, or none. */
export type LogLevelOption = keyof typeof LOG_LEVELS | 'silent';

/** The numeric threshold of a level name: lines below it cost one comparison and go nowhere. */
export function logThreshold(level: LogLevelOption): number {
  return level === 'silent' ? Number.POSITIVE_INFINITY : LOG_LEVELS[level];
}

/**
 * A logger for tasks that hands each line to `sink` (in a worker: a message to the pool, which
 * logs it with the service's logger). Deliberately tiny: a worker must stay close to a bare
 * thread in memory, and most tasks never log. Lines under the threshold cost one comparison.
 */
export function createTaskLogger(
  bindings: Record<string, unknown>,
  sink: (record: TaskLogRecord) => void,
  minimum: number,
  callId?: number,
): TaskLogger {
  const write = (level: TaskLogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LOG_LEVELS[level] < minimum) return;
    const record: TaskLogRecord = { level, time: Date.now(), msg, fields: { ...bindings, ...fields } };
    if (callId !== undefined) record.callId = callId;
    sink(record);
  };
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}

/** The line a task's log record makes when nobody listens for it: JSON on stderr, as pino writes. */
export function writeTaskLogLine(record: TaskLogRecord): void {
  const line = { level: LOG_LEVELS[record.level], time: record.time, ...record.fields, msg: record.msg };
  let text: string;
  try {
    text = JSON.stringify(line);
  } catch {
    text = JSON.stringify({
      level: line.level,
      time: line.time,
      msg: record.msg,
      fields: '[unserializable]',
    });
  }
  process.stderr.write(`${text}\n`);
}
