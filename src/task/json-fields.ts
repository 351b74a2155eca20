import { ErrorCode, MultitaskError } from '../errors.js';
import type { TaskFields } from './fields.js';
import type { Task } from './task.js';

/**
 * The task's own enumerable fields, refused with `ERR_INVALID_TASK_FIELD` naming the first field
 * that would not come back the same from JSON: a queued job is JSON, and a Date that comes back
 * as a string or a Map that comes back as `{}` would be a silent change of type.
 */
export function jsonFields(task: Task<unknown, unknown>, taskName: string): TaskFields {
  const fields: TaskFields = { ...task };
  for (const key of Object.keys(fields)) {
    const problem = findNonJson(fields[key], key, []);
    if (problem !== undefined) {
      throw new MultitaskError(
        ErrorCode.INVALID_TASK_FIELD,
        `Task ${taskName}: field "${problem.path}" cannot be put in a queued job (${problem.reason}); task fields must be JSON: strings, finite numbers, booleans, null, arrays and plain objects`,
        { taskName, field: problem.path },
      );
    }
  }
  return fields;
}

interface NonJson {
  path: string;
  reason: string;
}

function findNonJson(value: unknown, path: string, ancestors: object[]): NonJson | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : { path, reason: `${value} is not a finite number` };
    case 'undefined':
      // A missing property reads back as undefined; an array hole would read back as null.
      return path.endsWith(']') ? { path, reason: 'undefined in an array' } : undefined;
    case 'object':
      break;
    default:
      return { path, reason: `a ${typeof value}` };
  }
  if (value === null) return undefined;
  if (ancestors.includes(value)) return { path, reason: 'a circular reference' };
  const nested = [...ancestors, value];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = findNonJson(value[i], `${path}[${i}]`, nested);
      if (problem) return problem;
    }
    return undefined;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    return { path, reason: `an instance of ${proto?.constructor?.name ?? 'a class'}, not a plain object` };
  }
  for (const key of Object.keys(value)) {
    const problem = findNonJson((value as Record<string, unknown>)[key], `${path}.${key}`, nested);
    if (problem) return problem;
  }
  return undefined;
}
