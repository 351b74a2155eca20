import type { TransferListItem } from 'node:worker_threads';
import { deferred } from '../internal/deferred.js';
import type { TaskFields } from '../task/fields.js';

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
  /**
   * The worker holding it (its pool id), while one does; a call knows its worker by id only, so
   * that calls and worker handles do not depend on each other.
   */
  workerId: number | undefined;
  timer: NodeJS.Timeout | undefined;
  settled: boolean;
  /**
   * Ended because the pool retired its worker (resize, recycling), not because of the task:
   * supervisors run it again, consumers give its job back uncounted.
   */
  preempted: boolean;
  /** Added to the lines the task logs (a queued job's id and queue). */
  readonly tags: Readonly<Record<string, unknown>> | undefined;
}

/** What a submission carries besides the task. */
export interface SubmitSpec {
  name: string;
  fields: TaskFields;
  attempt?: number;
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  transfer?: TransferListItem[] | undefined;
  exclusive?: boolean;
  /** Added to the lines the task logs with `ctx.log`. */
  tags?: Record<string, unknown>;
}

/** A new call, queued nowhere yet, whose promise settles through `resolve` and `reject`. */
export function createCall(id: number, spec: SubmitSpec): Call {
  const { promise, resolve, reject } = deferred<unknown>();
  return {
    id,
    name: spec.name,
    fields: spec.fields,
    attempt: spec.attempt ?? 1,
    timeoutMs: spec.timeoutMs,
    signal: spec.signal,
    transfer: spec.transfer,
    exclusive: spec.exclusive ?? false,
    submittedAt: performance.now(),
    promise,
    resolve,
    reject,
    workerId: undefined,
    timer: undefined,
    settled: false,
    preempted: false,
    tags: spec.tags,
  };
}
