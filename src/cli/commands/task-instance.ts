import { ErrorCode, hasCode } from '../../errors.js';
import { jsonFields } from '../../task/field-codec.js';
import { memberNamedField, rebuildTask } from '../../task/fields.js';
import type { TaskRegistry } from '../../task/registry.js';
import type { Task } from '../../task/task.js';
import { ConfigError, UsageError } from '../config.js';

/**
 * A task instance from its registered name and fields, built as a worker rebuilds one: from
 * the class's prototype, without calling its constructor. Checked as `queue.dispatch` checks
 * it, so that a batch is refused before its first job rather than halfway:
 * `ERR_TASK_NOT_REGISTERED`, `ERR_INVALID_TASK_FIELD`, or a field named like a member of the class.
 */
export function taskInstance(
  registry: TaskRegistry,
  name: string,
  fields: Record<string, unknown>,
): Task<unknown, never> {
  const taskClass = registry.classOf(name);
  // A field named like a member of the class (run, constructor, __proto__…) would hide it.
  const reserved = memberNamedField(taskClass, fields);
  if (reserved !== undefined)
    throw new Error(`field name "${reserved}" is reserved: the task's class has a member of that name`);
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
