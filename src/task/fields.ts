import { decodeFields } from './field-tags.js';
import type { Task, TaskClass, TaskFields } from './task.js';

export type { TaskFields } from './task.js';

/**
 * Rebuilds a task from its class and fields without calling the constructor (like PHP's
 * unserialize). Tagged values (field-tags.ts) are decoded here, the one place where both a
 * cloned call and a parsed job arrive: callers hand over the fields as they came, undecoded.
 * `fields` is the caller's own copy and is decoded in place.
 */
export function rebuildTask(taskClass: TaskClass, fields: TaskFields): Task<unknown, unknown> {
  decodeFields(fields, taskClass.name);
  const task = Object.create(taskClass.prototype) as Task<unknown, unknown>;
  // JSON.parse makes "__proto__" an own key, and Object.assign would set the prototype with it.
  if (!Object.hasOwn(fields, '__proto__')) return Object.assign(task, fields);
  for (const [key, value] of Object.entries(fields))
    Object.defineProperty(task, key, { value, writable: true, enumerable: true, configurable: true });
  return task;
}
