/**
 * The errors of results across processes (`queue.call`, `queue.result`): a wait that ran out
 * or lost its reply path, a result asked of a job that did not ask for one, a return value JSON
 * cannot carry, and the caller's view of a job that failed for good. Built here, once; see ../errors.ts.
 */
import { ErrorCode, type ErrorCodeValue, MultitaskError } from './core.js';

/** `ERR_RESULT_TIMEOUT`: `waitMs` ran out; the job goes on. */
export function resultTimeout(id: string, waitMs: number): MultitaskError {
  return new MultitaskError(
    ErrorCode.RESULT_TIMEOUT,
    `Job ${id} had not finished after ${waitMs} ms of waiting for its result; the job itself goes on`,
  );
}

/** `ERR_RESULT_LOST`: the result can no longer reach this process; `why` says what closed. */
export function resultLost(id: string, why: string): MultitaskError {
  return new MultitaskError(
    ErrorCode.RESULT_LOST,
    `The result of job ${id} can no longer reach this process: ${why}; the job itself goes on`,
  );
}

/** `ERR_INVALID_OPTION`: `queue.result(id)` for a job whose result this process cannot get. */
export function resultNotRequested(id: string, where: 'process' | 'file'): MultitaskError {
  const why =
    where === 'process'
      ? 'was not dispatched by this process with { result: true } (or by queue.call), or its result expired'
      : 'asked for no result (dispatch it with { result: true }, or use queue.call), or its result expired';
  return new MultitaskError(ErrorCode.INVALID_OPTION, `Invalid option "id": job ${id} ${why}`, {
    field: 'id',
  });
}

/** `ERR_INVALID_OPTION`: a second call or dispatch with a result under an id this process still waits on. */
export function resultAlreadyAwaited(id: string): MultitaskError {
  return new MultitaskError(
    ErrorCode.INVALID_OPTION,
    `Invalid option "id": this process already waits for the result of a job with id ${JSON.stringify(id)}; give each call its own id`,
    { field: 'id' },
  );
}

/** `ERR_RESULT_NOT_CLONEABLE`: a task's return value that JSON (with multitask's tags) cannot carry to its caller. */
export function resultNotEncodable(path: string, problem: string): MultitaskError {
  return new MultitaskError(
    ErrorCode.RESULT_NOT_CLONEABLE,
    `The task's result cannot be sent to its caller: ${path} (${problem}); a result must be what a task field may be (JSON, bigint, Date, Map, Set, URL, ArrayBuffer or typed arrays)`,
    { field: path },
  );
}

/**
 * The codes multitask itself gives a job that failed (a crash, a timeout, its attempts used up,
 * a message that is not a job, a result it could not send…): the caller sees these as they are.
 * Any other stored error is the task's own, and the caller sees `ERR_TASK_FAILED` with it as
 * `cause`, as `pool.run` does.
 */
const JOB_FAILURE_CODES: ReadonlySet<string> = new Set<ErrorCodeValue>([
  ErrorCode.WORKER_CRASHED,
  ErrorCode.WORKER_OOM,
  ErrorCode.TASK_TIMEOUT,
  ErrorCode.TASK_NOT_REGISTERED,
  ErrorCode.INVALID_TASK_FIELD,
  ErrorCode.RESULT_NOT_CLONEABLE,
  ErrorCode.BAD_MESSAGE,
  ErrorCode.ATTEMPTS_EXHAUSTED,
]);

/** An error as the failed store keeps it (`StoredError` of src/queue/message.ts). */
interface StoredErrorShape {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly code?: string;
}

/**
 * What `queue.call` rejects with for a job that failed for good, rebuilt from the error the
 * failed store holds: multitask's own failure as a `MultitaskError` of its code, the task's own
 * error as `ERR_TASK_FAILED` with the task's error (name, message, stack, code) as `cause`.
 */
export function jobFailed(stored: StoredErrorShape, taskName?: string): MultitaskError {
  const details = taskName === undefined ? {} : { taskName };
  if (stored.name === 'MultitaskError' && stored.code !== undefined && JOB_FAILURE_CODES.has(stored.code)) {
    const error = new MultitaskError(stored.code as ErrorCodeValue, stored.message, details);
    if (stored.stack !== undefined) error.stack = stored.stack;
    return error;
  }
  const original = new Error(stored.message);
  original.name = stored.name;
  if (stored.stack !== undefined) original.stack = stored.stack;
  // The pool stores ERR_TASK_FAILED as the code of a task error that has none of its own.
  if (stored.code !== undefined && stored.code !== ErrorCode.TASK_FAILED)
    (original as Error & { code?: string }).code = stored.code;
  const error = new MultitaskError(ErrorCode.TASK_FAILED, stored.message, { ...details, cause: original });
  if (stored.stack !== undefined) error.stack = stored.stack;
  return error;
}
