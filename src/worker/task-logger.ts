import type { TaskLogger } from '../task/task.js';

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;
type Level = keyof typeof LEVELS;

function threshold(): number {
  const wanted = process.env.MULTITASK_LOG_LEVEL as Level | undefined;
  return wanted !== undefined && wanted in LEVELS ? LEVELS[wanted] : LEVELS.info;
}

/**
 * A JSON-lines logger for tasks, written to stderr (which a worker forwards to its process).
 * Deliberately tiny: a worker must stay close to a bare thread in memory, and most tasks never log.
 */
export function createTaskLogger(bindings: Record<string, unknown>): TaskLogger {
  const minimum = threshold();
  const write = (level: Level, message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < minimum) return;
    const line = { level, time: Date.now(), ...bindings, ...fields, msg: message };
    process.stderr.write(`${JSON.stringify(line)}\n`);
  };
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}
