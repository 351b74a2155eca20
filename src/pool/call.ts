import type { TransferListItem } from 'node:worker_threads';
import type { TaskFields } from '../task/fields.js';
import type { WorkerHandle } from '../worker/handle.js';

/** One submitted task on its way through the pool: queued, then held by a worker, then settled. */
export interface Call {
  readonly id: number;
  readonly name: string;
  readonly fields: TaskFields;
  readonly attempt: number;
  readonly timeoutMs: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly transfer: TransferListItem[] | undefined;
  /** Long-running (supervised): never batched with or queued behind other calls in a worker. */
  readonly exclusive: boolean;
  readonly submittedAt: number;
  /** Settles with the task's result; what `pool.run` returns. */
  readonly promise: Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: Error): void;
  worker: WorkerHandle | undefined;
  timer: NodeJS.Timeout | undefined;
  abortListener: (() => void) | undefined;
  settled: boolean;
  /** Ended because the pool retired its worker, not because of the task: supervisors run it again. */
  preempted: boolean;
}
