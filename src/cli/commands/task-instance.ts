import type { TaskRegistry } from '../../task/registry.js';
import type { Task } from '../../task/task.js';

/**
 * A task instance from its registered name and fields, built as a worker rebuilds one: from
 * the class's prototype, without calling its constructor. `ERR_TASK_NOT_REGISTERED` otherwise.
 */
export function taskInstance(
  registry: TaskRegistry,
  name: string,
  fields: Record<string, unknown>,
): Task<unknown, never> {
  const taskClass = registry.classOf(name);
  return Object.assign(Object.create(taskClass.prototype), fields) as Task<unknown, never>;
}
