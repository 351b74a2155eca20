import { ErrorCode, MultitaskError } from '../errors.js';
import type { Task, TaskClass } from './task.js';

/** A task's own enumerable fields: its whole input. */
export type TaskFields = Record<string, unknown>;

/**
 * The task's own enumerable fields, refused with `ERR_INVALID_TASK_FIELD` naming the first field
 * that structured clone would reject. The walk costs nothing for primitive fields, which is the
 * common case on the hot path; a full `structuredClone` check would double the copying.
 */
export function cloneableFields(task: Task<unknown, unknown>, taskName: string): TaskFields {
  const fields: TaskFields = { ...task };
  for (const key in fields) {
    const value = fields[key];
    if (
      value !== null &&
      (typeof value === 'object' || typeof value === 'function' || typeof value === 'symbol')
    ) {
      const problem = findUncloneable(value, key, new Set());
      if (problem !== undefined) {
        throw new MultitaskError(
          ErrorCode.INVALID_TASK_FIELD,
          `Task ${taskName}: field "${problem.path}" cannot be sent to a worker (${problem.reason}); task fields must be structured-cloneable`,
          { taskName, field: problem.path },
        );
      }
    }
  }
  return fields;
}

interface Uncloneable {
  path: string;
  reason: string;
}

const UNCLONEABLE_TYPES: Array<[Function, string]> = [
  [Promise, 'a Promise'],
  [WeakMap, 'a WeakMap'],
  [WeakSet, 'a WeakSet'],
  [WeakRef, 'a WeakRef'],
];

function findUncloneable(value: unknown, path: string, seen: Set<object>): Uncloneable | undefined {
  if (typeof value === 'function') return { path, reason: 'a function' };
  if (typeof value === 'symbol') return { path, reason: 'a symbol' };
  if (value === null || typeof value !== 'object') return undefined;
  if (seen.has(value)) return undefined;
  seen.add(value);
  if (
    ArrayBuffer.isView(value) ||
    value instanceof ArrayBuffer ||
    value instanceof Date ||
    value instanceof RegExp
  ) {
    return undefined;
  }
  for (const [type, reason] of UNCLONEABLE_TYPES) if (value instanceof type) return { path, reason };
  if (value instanceof Map) {
    for (const [k, v] of value) {
      const problem =
        findUncloneable(k, `${path}.<key>`, seen) ?? findUncloneable(v, `${path}.get(${String(k)})`, seen);
      if (problem) return problem;
    }
    return undefined;
  }
  if (value instanceof Set) {
    for (const v of value) {
      const problem = findUncloneable(v, `${path}.<item>`, seen);
      if (problem) return problem;
    }
    return undefined;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (item !== null && typeof item !== 'object' && typeof item !== 'function' && typeof item !== 'symbol')
        continue;
      const problem = findUncloneable(item, `${path}[${i}]`, seen);
      if (problem) return problem;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const problem = findUncloneable((value as Record<string, unknown>)[key], `${path}.${key}`, seen);
    if (problem) return problem;
  }
  return undefined;
}

/** Rebuilds a task from its class and fields without calling the constructor (like PHP's unserialize). */
export function rebuildTask(taskClass: TaskClass, fields: TaskFields): Task<unknown, unknown> {
  const task = Object.create(taskClass.prototype) as Task<unknown, unknown>;
  // JSON.parse makes "__proto__" an own key, and Object.assign would set the prototype with it.
  if (!Object.hasOwn(fields, '__proto__')) return Object.assign(task, fields);
  for (const [key, value] of Object.entries(fields))
    Object.defineProperty(task, key, { value, writable: true, enumerable: true, configurable: true });
  return task;
}
