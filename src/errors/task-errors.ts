/** The errors of tasks, the app and option validation (src/task, src/app). Built here, once; see ../errors.ts. */
import { ErrorCode, MultitaskError } from './core.js';

/** `ERR_INVALID_TASK_FIELD`: a field that would not arrive intact in a worker or a queued job. */
export function invalidTaskField(taskName: string, path: string, reason: string): MultitaskError {
  return new MultitaskError(
    ErrorCode.INVALID_TASK_FIELD,
    `Task ${taskName}: field "${path}" cannot be sent to a worker or put in a queued job (${reason}); task fields must be strings, finite numbers, booleans, null, bigints, arrays, plain objects, Date, Map, Set, URL, ArrayBuffer or typed arrays`,
    { taskName, field: path },
  );
}

/** `ERR_TASK_NOT_REGISTERED` for an instance whose class is not in the app's `tasks`. */
export function taskClassNotRegistered(className: string, registered: string[]): MultitaskError {
  return new MultitaskError(
    ErrorCode.TASK_NOT_REGISTERED,
    `Task class ${className} is not registered in the app's tasks (registered: ${registered.join(', ') || 'none'})`,
    { taskName: className },
  );
}

/** `ERR_TASK_NOT_REGISTERED` for a task name (from a message or the command line). */
export function taskNameNotRegistered(name: string, registered: string[]): MultitaskError {
  return new MultitaskError(
    ErrorCode.TASK_NOT_REGISTERED,
    `Task "${name}" is not registered in the app's tasks (registered: ${registered.join(', ') || 'none'})`,
    { taskName: name },
  );
}

/** `ERR_APP_INVALID`: an entry of the app's `tasks` that is not a task class. */
export function appTaskNotAClass(name: string): MultitaskError {
  return new MultitaskError(ErrorCode.APP_INVALID, `App task "${name}" is not a class with a run() method`, {
    taskName: name,
  });
}

/** `ERR_APP_INVALID`: the app module could not be imported. */
export function appImportFailed(url: string, error: unknown): MultitaskError {
  return new MultitaskError(
    ErrorCode.APP_INVALID,
    `Cannot import the app module ${url}: ${(error as Error)?.message ?? error}`,
    { cause: error },
  );
}

/** `ERR_APP_INVALID`: the app module exports no app made by `defineApp`. */
export function appNotDefined(url: string): MultitaskError {
  return new MultitaskError(
    ErrorCode.APP_INVALID,
    `The app module ${url} does not export an app made by defineApp() (as its default export or as "app")`,
  );
}

/** `ERR_INVALID_OPTION`: `new Pool()` inside a worker thread. */
export function poolInWorker(): MultitaskError {
  return new MultitaskError(
    ErrorCode.INVALID_OPTION,
    'A Pool cannot be created inside a multitask worker thread; create pools in the main thread',
  );
}
