/**
 * Every message between a pool and its worker threads, as one tagged union per direction.
 * Both sides `switch` on `type` and fail loudly on anything else (see {@link unknownMessage}).
 *
 * Tasks travel in batches: one `postMessage` carries many tasks and one carries many results,
 * because a message costs far more than a tiny task does.
 */
import type { TaskFields } from '../task/fields.js';
import type { TaskLogRecord } from './task-logger.js';
import type { WireError } from './wire-error.js';

/** What a worker thread is started with (`workerData`). */
export interface WorkerBoot {
  workerId: number;
  /** The thread's real entry module, imported by the boot module. */
  entry: string;
  appUrl: string;
  concurrency: number;
  /**
   * Int32Array over this buffer, one slot per concurrent task: the id of the call running in it,
   * or 0. If the thread dies, the pool reads it to tell the calls that were running (and fail)
   * from those that had finished or not started (and run again elsewhere).
   */
  running: SharedArrayBuffer;
  /** Report heap usage with results (only when the pool recycles on heap size). */
  reportHeap: boolean;
  /** `ctx.log` lines below this pino level are dropped in the thread (the pool's `logLevel`). */
  logThreshold: number;
  /** Register tsx before the entry (thread-boot.mjs): the entry or the app is TypeScript. */
  tsx: boolean;
}

/** One task to run: [id, registered name, fields, attempt]. Tuples clone faster than objects. */
export type TaskWire = [id: number, name: string, fields: TaskFields, attempt: number];

export type ToWorker =
  | { type: 'run'; tasks: TaskWire[] }
  /** Abort the task's signal; skip it if it has not started yet. */
  | { type: 'cancel'; id: number; reason: 'abort' | 'timeout' }
  /** Hand back every task not started yet (reported as skipped): an idle worker will take them. */
  | { type: 'release' }
  /** Abort every running task's signal, skip the rest, tear the app down and exit. */
  | { type: 'stop'; abort: boolean };

/**
 * Results, flattened: for each task, [id, status, value-or-error, runMs], with a status from
 * {@link ResultStatus}. A flat array clones faster than an array of tuples; write it with
 * {@link appendResult} and read it with {@link resultCount} and the `result*` readers, so the
 * layout lives here alone.
 */
export type ResultWire = Array<number | unknown>;

/** Slots one result takes in a {@link ResultWire}. */
const RESULT_STRIDE = 4;

/** Adds one task's result to a batch. */
export function appendResult(
  results: ResultWire,
  id: number,
  status: number,
  value: unknown,
  runMs: number,
): void {
  results.push(id, status, value, runMs);
}

/** How many results a batch holds; read result `i` (0-based) with the readers below. */
export function resultCount(results: ResultWire): number {
  return results.length / RESULT_STRIDE;
}

/** The call id of result `i`. */
export function resultId(results: ResultWire, i: number): number {
  return results[i * RESULT_STRIDE] as number;
}

/** How result `i` ended: a {@link ResultStatus}. */
export function resultStatus(results: ResultWire, i: number): ResultStatusValue {
  return results[i * RESULT_STRIDE + 1] as ResultStatusValue;
}

/** The value (OK) or the WireError (FAILED, REFUSED) of result `i`. */
export function resultValue(results: ResultWire, i: number): unknown {
  return results[i * RESULT_STRIDE + 2];
}

/** How long the task of result `i` ran in its thread (ms). */
export function resultRunMs(results: ResultWire, i: number): number {
  return results[i * RESULT_STRIDE + 3] as number;
}

/** How a task ended, in a {@link ResultWire}. */
export const ResultStatus = {
  /** The task threw or rejected: a {@link WireError} of the task's own error follows. */
  FAILED: 0,
  /** The task returned: its value follows. */
  OK: 1,
  /** The worker was stopping and never ran it. */
  SKIPPED: 2,
  /** multitask itself refused it in the worker (unknown task, result not cloneable): a WireError follows. */
  REFUSED: 3,
} as const;

/** One of {@link ResultStatus}. */
export type ResultStatusValue = (typeof ResultStatus)[keyof typeof ResultStatus];

export type FromWorker =
  | { type: 'ready' }
  | { type: 'setupFailed'; error: WireError }
  | { type: 'results'; results: ResultWire; heapUsed?: number }
  | { type: 'stopped' }
  /** A line a task (or the app's teardown) logged, for the pool's logger. */
  | { type: 'log'; record: TaskLogRecord };

/** The loud failure for a message type neither side knows: a bug in multitask, never in user code. */
export function unknownMessage(message: never): never {
  throw new Error(`multitask: unknown thread message ${JSON.stringify(message)}`);
}
