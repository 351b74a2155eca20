import { ErrorCode, MultitaskError } from '../errors.js';
import { fromWireError, type WireError } from '../worker/wire-error.js';
import type { Call } from './call.js';
import type { WorkerHandle } from './worker-handle.js';

/**
 * What a started call is told when its worker thread ends: the task that caused a termination
 * gets its own error (timeout), the others learn why their thread went away.
 */
export function errorForStartedCall(
  worker: WorkerHandle,
  call: Call,
  exitCode: number,
  threadError: Error | undefined,
): MultitaskError {
  const details = { workerId: worker.id, taskName: call.name, exitCode };
  const culprit = worker.terminatedFor;
  switch (worker.terminationReason) {
    case 'timeout':
      if (culprit === call) return timeoutError(call, worker.id);
      return new MultitaskError(
        ErrorCode.WORKER_CRASHED,
        `Worker ${worker.id} was terminated because task ${culprit?.name ?? '?'} sharing it timed out`,
        details,
      );
    case 'abort':
      return new MultitaskError(
        ErrorCode.WORKER_CRASHED,
        `Worker ${worker.id} was terminated because task ${culprit?.name ?? '?'} sharing it was aborted and did not stop`,
        details,
      );
    case 'close':
      return new MultitaskError(
        ErrorCode.POOL_CLOSED,
        `The pool closed and terminated worker ${worker.id} after its grace period`,
        details,
      );
    case 'retire':
      return new MultitaskError(
        ErrorCode.WORKER_CRASHED,
        `Worker ${worker.id} was retired (resize or recycling) and terminated after its grace period`,
        details,
      );
    default:
      return crashError(worker.id, exitCode, threadError, details);
  }
}

/** The error of a thread that died on its own: out of memory, an uncaught error, or process.exit. */
export function crashError(
  workerId: number,
  exitCode: number,
  threadError: Error | undefined,
  details: { taskName?: string } = {},
): MultitaskError {
  const code = (threadError as { code?: string } | undefined)?.code;
  if (code === 'ERR_WORKER_OUT_OF_MEMORY') {
    return new MultitaskError(
      ErrorCode.WORKER_OOM,
      `Worker ${workerId} ran out of memory under its resourceLimits`,
      {
        ...details,
        workerId,
        exitCode,
        cause: threadError,
      },
    );
  }
  const why = threadError
    ? `an uncaught ${threadError.name}: ${threadError.message}`
    : `exit code ${exitCode}`;
  return new MultitaskError(ErrorCode.WORKER_CRASHED, `Worker ${workerId} died with ${why}`, {
    ...details,
    workerId,
    exitCode,
    cause: threadError,
  });
}

export function timeoutError(call: Call, workerId?: number): MultitaskError {
  return new MultitaskError(
    ErrorCode.TASK_TIMEOUT,
    `Task ${call.name} ran past its timeout of ${call.timeoutMs} ms; its worker was terminated`,
    { taskName: call.name, workerId },
  );
}

/** `ERR_APP_SETUP_FAILED` with the app's own message and stack; the original is the cause. */
export function setupFailedError(wire: WireError, workerId: number): MultitaskError {
  const original = fromWireError(wire);
  const error = new MultitaskError(ErrorCode.APP_SETUP_FAILED, `App setup failed: ${wire.message}`, {
    cause: original,
    workerId,
  });
  if (wire.stack !== undefined)
    error.stack = `MultitaskError [ERR_APP_SETUP_FAILED]: App setup failed: ${wire.stack}`;
  return error;
}

/** The error an aborted call rejects with, as Node's own APIs do. */
export function abortError(signal: AbortSignal): Error {
  const error = new Error('The operation was aborted', { cause: signal.reason });
  error.name = 'AbortError';
  (error as Error & { code: string }).code = 'ABORT_ERR';
  return error;
}
