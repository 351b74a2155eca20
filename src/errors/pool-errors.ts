/** The errors of the pool and its worker threads: crashes, timeouts, closes, setup failures, aborts. Built here, once; see ../errors.ts. */
import { ErrorCode, type ErrorCodeValue, MultitaskError, type MultitaskErrorDetails } from './core.js';

/** A MultitaskError thrown in a worker thread, rebuilt on this side (codes survive, classes do not). */
export function rebuiltInThisThread(
  code: ErrorCodeValue,
  message: string,
  details: MultitaskErrorDetails,
): MultitaskError {
  return new MultitaskError(code, message, details);
}

/** New work refused: the pool is closing or closed. */
export function poolClosed(): MultitaskError {
  return new MultitaskError(ErrorCode.POOL_CLOSED, 'The pool is closed and takes no new work');
}

/** A queued call the pool refused when it closed, before any worker took it. */
export function poolClosedBeforeStart(): MultitaskError {
  return new MultitaskError(ErrorCode.POOL_CLOSED, 'The pool closed before this task started');
}

/** A running call whose worker the pool terminated when its close grace ran out. */
export function poolClosedAfterGrace(workerId: number, taskName: string, exitCode: number): MultitaskError {
  return new MultitaskError(
    ErrorCode.POOL_CLOSED,
    `The pool closed and terminated worker ${workerId} after its grace period`,
    { workerId, taskName, exitCode },
  );
}

/** A supervised replica ended by the pool's close while its task ran (its signal aborted). */
export function poolClosedWhileSupervised(taskName: string, replica: number, cause: Error): MultitaskError {
  return new MultitaskError(
    ErrorCode.POOL_CLOSED,
    `The pool closed while task ${taskName} (replica ${replica}) ran: ${cause?.message ?? cause}`,
    { cause, taskName },
  );
}

/** A supervised replica ended by the pool's close while it waited to restart; `cause` is its last failure. */
export function poolClosedBeforeRestart(taskName: string, replica: number, cause: Error): MultitaskError {
  return new MultitaskError(
    ErrorCode.POOL_CLOSED,
    `The pool closed while task ${taskName} (replica ${replica}) waited to restart`,
    { cause, taskName },
  );
}

/** `ERR_TASK_FAILED`: the task's own error (rebuilt from its thread) as `cause`, with its message and stack. */
export function taskFailed(
  original: Error,
  stack: string | undefined,
  taskName: string,
  workerId: number,
): MultitaskError {
  const error = new MultitaskError(ErrorCode.TASK_FAILED, original.message, {
    cause: original,
    taskName,
    workerId,
  });
  if (stack !== undefined) error.stack = stack;
  return error;
}

/** `ERR_TASK_TIMEOUT` for the task that ran past its `timeoutMs`. */
export function taskTimeout(
  taskName: string,
  timeoutMs: number | undefined,
  workerId?: number,
): MultitaskError {
  return new MultitaskError(
    ErrorCode.TASK_TIMEOUT,
    `Task ${taskName} ran past its timeout of ${timeoutMs} ms; its worker was terminated`,
    { taskName, workerId },
  );
}

/** The reason a worker gives a task's signal when its timeout passed (inside the thread). */
export function taskTimeoutSignal(): MultitaskError {
  return new MultitaskError(ErrorCode.TASK_TIMEOUT, 'The task ran past its timeout');
}

/** The reason a worker gives its running tasks' signals when the pool stops it (inside the thread). */
export function workerShuttingDown(): MultitaskError {
  return new MultitaskError(ErrorCode.POOL_CLOSED, 'The worker is shutting down');
}

/** A task whose result cannot be cloned back to the caller (inside the thread). */
export function resultNotCloneable(cause: Error): MultitaskError {
  return new MultitaskError(
    ErrorCode.RESULT_NOT_CLONEABLE,
    `The task's result cannot be sent back to the caller: ${cause.message}`,
  );
}

/** A call whose task cannot be cloned to a worker (a transfer list, a field the check missed). */
export function taskNotSendable(taskName: string, cause: Error): MultitaskError {
  return new MultitaskError(
    ErrorCode.INVALID_TASK_FIELD,
    `Task ${taskName} cannot be sent to a worker: ${cause.message}`,
    { taskName, cause },
  );
}

/**
 * The error an aborted call rejects with, as Node's own APIs build it (not a MultitaskError:
 * callers match `name === 'AbortError'`). `cause` is the signal's reason.
 */
export function abortError(cause?: unknown, message = 'The operation was aborted'): Error {
  const error = cause === undefined ? new Error(message) : new Error(message, { cause });
  error.name = 'AbortError';
  (error as Error & { code: string }).code = 'ABORT_ERR';
  return error;
}

/** What a worker that is being ended on purpose, or its neighbours, are told. */
interface WorkerEnd {
  workerId: number;
  taskName: string;
  exitCode: number;
}

/** A call that shared its thread with a task that timed out: the thread was terminated. */
export function terminatedForTimeout(end: WorkerEnd, culprit: string): MultitaskError {
  return new MultitaskError(
    ErrorCode.WORKER_CRASHED,
    `Worker ${end.workerId} was terminated because task ${culprit} sharing it timed out`,
    { ...end },
  );
}

/** A call that shared its thread with an aborted task that did not stop: the thread was terminated. */
export function terminatedForAbort(end: WorkerEnd, culprit: string): MultitaskError {
  return new MultitaskError(
    ErrorCode.WORKER_CRASHED,
    `Worker ${end.workerId} was terminated because task ${culprit} sharing it was aborted and did not stop`,
    { ...end },
  );
}

/** A call still running when its retired worker's grace ran out. */
export function terminatedForRetire(end: WorkerEnd): MultitaskError {
  return new MultitaskError(
    ErrorCode.WORKER_CRASHED,
    `Worker ${end.workerId} was retired (resize or recycling) and terminated after its grace period`,
    { ...end },
  );
}

/** `ERR_WORKER_OOM`: the thread ran out of memory under its `resourceLimits`. */
export function workerOutOfMemory(
  workerId: number,
  exitCode: number,
  cause: Error | undefined,
  taskName?: string,
): MultitaskError {
  return new MultitaskError(
    ErrorCode.WORKER_OOM,
    `Worker ${workerId} ran out of memory under its resourceLimits`,
    { taskName, workerId, exitCode, cause },
  );
}

/** `ERR_WORKER_CRASHED`: the thread died on its own (an uncaught error, process.exit). */
export function workerCrashed(
  workerId: number,
  exitCode: number,
  cause: Error | undefined,
  taskName?: string,
): MultitaskError {
  const why = cause ? `an uncaught ${cause.name}: ${cause.message}` : `exit code ${exitCode}`;
  return new MultitaskError(ErrorCode.WORKER_CRASHED, `Worker ${workerId} died with ${why}`, {
    taskName,
    workerId,
    exitCode,
    cause,
  });
}

/** `ERR_APP_SETUP_FAILED` with the app's own message and stack; `original` is the app's error, rebuilt. */
export function appSetupFailed(
  original: Error,
  stack: string | undefined,
  workerId: number,
  tsxLeftOut = false,
): MultitaskError {
  // A JavaScript app's threads start without the parent's tsx (pool/thread-files.ts): say so
  // when such an app turns out to import TypeScript.
  const hint =
    tsxLeftOut && /Unknown file extension "\.[cm]?tsx?"/.test(original.message)
      ? ' (the parent runs under tsx, but the workers of a JavaScript app start without it: give them tsx with the Pool option `execArgv: process.execArgv`)'
      : '';
  const error = new MultitaskError(
    ErrorCode.APP_SETUP_FAILED,
    `App setup failed: ${original.message}${hint}`,
    {
      cause: original,
      workerId,
    },
  );
  if (stack !== undefined)
    error.stack = `MultitaskError [ERR_APP_SETUP_FAILED]: App setup failed${hint}: ${stack}`;
  return error;
}

/** A thread that died before its app was up failed to boot, as a throwing setup does. */
export function diedBeforeAppUp(workerId: number, crash: Error): MultitaskError {
  return new MultitaskError(
    ErrorCode.APP_SETUP_FAILED,
    `Worker ${workerId} died before its app was up: ${crash.message}`,
    { cause: crash, workerId },
  );
}

/**
 * The pool gives up: its workers cannot boot. The message says what happened and `cause` says
 * why, once: loggers that print an error with its causes (pino) would otherwise repeat it.
 */
export function poolCrashLoop(maxRestarts: number, windowMs: number, cause: Error): MultitaskError {
  return new MultitaskError(
    ErrorCode.CRASH_LOOP,
    `Workers failed to start more than ${maxRestarts} times in ${windowMs} ms; the pool gives up`,
    { cause },
  );
}

/** A supervised replica gives up after too many failures; `cause` is the last one. */
export function serviceCrashLoop(
  taskName: string,
  replica: number,
  maxRestarts: number,
  windowMs: number,
  cause: Error,
): MultitaskError {
  return new MultitaskError(
    ErrorCode.CRASH_LOOP,
    `Task ${taskName} (replica ${replica}) failed more than ${maxRestarts} times in ${windowMs} ms and gave up; last error: ${cause?.message ?? cause}`,
    { cause, taskName },
  );
}
