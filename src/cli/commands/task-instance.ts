import { ErrorCode, hasCode } from '../../errors.js';
import { rebuildTask } from '../../task/fields.js';
import { jsonFields } from '../../task/json-fields.js';
import type { TaskRegistry } from '../../task/registry.js';
import type { Task } from '../../task/task.js';
import { ConfigError, UsageError } from '../config.js';

/** Field names that would stand in for the class's own: the task could no longer be named. */
const RESERVED = ['constructor', '__proto__'];

/**
 * A task instance from its registered name and fields, built as a worker rebuilds one: from
 * the class's prototype, without calling its constructor. Checked as `queue.dispatch` checks
 * it, so that a batch is refused before its first job rather than halfway:
 * `ERR_TASK_NOT_REGISTERED`, `ERR_INVALID_TASK_FIELD`, or a reserved field name.
 */
export function taskInstance(
  registry: TaskRegistry,
  name: string,
  fields: Record<string, unknown>,
): Task<unknown, never> {
  const taskClass = registry.classOf(name);
  const reserved = RESERVED.find((key) => Object.hasOwn(fields, key));
  if (reserved !== undefined)
    throw new Error(`field name "${reserved}" is reserved: it would hide the task's class`);
  const task = rebuildTask(taskClass, fields);
  jsonFields(task, name);
  return task as Task<unknown, never>;
}

/** {@link taskInstance} for `--task` and its fields: a usage error naming what is wrong. */
export function taskFromSettings(
  registry: TaskRegistry,
  name: string,
  fields: Record<string, unknown>,
): Task<unknown, never> {
  try {
    return taskInstance(registry, name, fields);
  } catch (error) {
    const message = (error as Error).message;
    if (hasCode(error, ErrorCode.TASK_NOT_REGISTERED)) throw new ConfigError('task', message);
    throw new UsageError(`the task fields: ${message}`);
  }
}
