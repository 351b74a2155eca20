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

/**
 * The first field named like a member of the task's class (`run`, `constructor`, `toString`,
 * `__proto__`…), or undefined. Such a field would hide the member on the rebuilt task, so the
 * task could never run as written: the CLI refuses it at dispatch, and a consumer refuses a
 * queued job carrying one as not a job. The one rule for both.
 */
export function memberNamedField(taskClass: TaskClass, fields: object): string | undefined {
  const members = membersOf(taskClass);
  for (const key in fields) if (members.has(key)) return key;
  return undefined;
}

/**
 * The names a task class's instances inherit (its prototype chain's, `Object.prototype`'s
 * included), read once per class: `key in prototype` walks that chain for every field of
 * every job a consumer takes.
 */
function membersOf(taskClass: TaskClass): ReadonlySet<string> {
  let members = memberNames.get(taskClass);
  if (members === undefined) {
    members = new Set(['__proto__']);
    for (let proto: object | null = taskClass.prototype; proto !== null; proto = Object.getPrototypeOf(proto))
      for (const name of Object.getOwnPropertyNames(proto)) members.add(name);
    memberNames.set(taskClass, members);
  }
  return members;
}

const memberNames = new WeakMap<TaskClass, Set<string>>();
