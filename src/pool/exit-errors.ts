/**
 * Which error a call gets when its worker's thread ends: the decision only (the errors
 * themselves are built in errors.ts). The task that caused a termination gets its own error
 * (timeout), the others learn why their thread went away.
 */
import {
  poolClosedAfterGrace,
  taskTimeout,
  terminatedForAbort,
  terminatedForRetire,
  terminatedForTimeout,
  workerCrashed,
  workerOutOfMemory,
} from '../errors.js';
import type { Call } from './call.js';
import type { WorkerHandle } from './worker-handle.js';

/** The error of a call that was running in `worker` when its thread ended. */
export function errorForStartedCall(
  worker: WorkerHandle,
  call: Call,
  exitCode: number,
  threadError: Error | undefined,
): Error {
  const end = { workerId: worker.id, taskName: call.name, exitCode };
  const culprit = worker.terminatedFor;
  switch (worker.terminationReason) {
    case 'timeout':
      if (culprit === call) return taskTimeout(call.name, call.timeoutMs, worker.id);
      return terminatedForTimeout(end, culprit?.name ?? '?');
    case 'abort':
      return terminatedForAbort(end, culprit?.name ?? '?');
    case 'close':
      return poolClosedAfterGrace(worker.id, call.name, exitCode);
    case 'retire':
      return terminatedForRetire(end);
    default:
      return crashError(worker.id, exitCode, threadError, call.name);
  }
}

/** The error of a thread that died on its own: out of memory, an uncaught error, or process.exit. */
export function crashError(
  workerId: number,
  exitCode: number,
  threadError: Error | undefined,
  taskName?: string,
): Error {
  const code = (threadError as { code?: string } | undefined)?.code;
  if (code === 'ERR_WORKER_OUT_OF_MEMORY')
    return workerOutOfMemory(workerId, exitCode, threadError, taskName);
  return workerCrashed(workerId, exitCode, threadError, taskName);
}
