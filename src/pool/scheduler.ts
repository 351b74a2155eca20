/**
 * The pool's engine: a FIFO of calls, a set of worker threads, and the rules that move calls
 * from one to the other. Tasks are tiny or huge, so a worker is sent more than it can run at
 * once only while its tasks are short (an adaptive prefetch): the batching that makes tiny
 * tasks fast never leaves a long task queued behind another in a busy thread.
 */

import { performance } from 'node:perf_hooks';
import { ErrorCode, MultitaskError } from '../errors.js';
import { ResultStatus, type ResultWire } from '../worker/protocol.js';
import type { TaskLogRecord } from '../worker/task-logger.js';
import { fromWireError, taskFailed, type WireError } from '../worker/wire-error.js';
import { type Call, createCall, type SubmitSpec } from './call.js';
import { CallQueue } from './call-queue.js';
import type { PoolEvents } from './events.js';
import { abortError, timeoutError } from './exit-errors.js';
import type { ResolvedPoolOptions } from './options.js';
import { SampleWindow } from './run-stats.js';
import type { WorkerHandle, WorkerListener } from './worker-handle.js';

export type { SubmitSpec } from './call.js';

/** Prefetch at most this many tasks beyond `concurrency` into one worker. */
const MAX_PREFETCH = 256;
/** Prefetch only as much work as a worker gets through in about this long (ms). */
const PREFETCH_BUDGET_MS = 4;
/** At most this many tasks in one message, so a worker always has the next batch waiting. */
const MAX_BATCH = 64;
/**
 * A worker that has said nothing for this long (ms) while tasks wait in its prefetch is asked to
 * hand them back when another worker sits idle: a long task must not hold up short ones.
 */
const REBALANCE_AFTER_MS = 2;
/** An aborted task that has not stopped after this long (ms) has its thread terminated. */
export const ABORT_GRACE_MS = 500;

/** How the scheduler tells the pool's facade what happened. */
export type EmitPoolEvent = <E extends keyof PoolEvents>(event: E, payload: PoolEvents[E]) => void;

export abstract class Scheduler implements WorkerListener {
  protected readonly workers = new Set<WorkerHandle>();
  readonly #queue = new CallQueue();
  #nextCallId = 1;
  #pumpScheduled = false;
  #idleWaiters: Array<() => void> = [];
  protected tasksDone = 0;
  protected tasksFailed = 0;
  protected readonly runTimes = new SampleWindow();
  protected readonly waitTimes = new SampleWindow();

  constructor(
    protected readonly options: ResolvedPoolOptions,
    protected readonly emit: EmitPoolEvent,
  ) {}

  /** Queues a task; the call's promise settles with its result. */
  submit(spec: SubmitSpec): Call {
    const call = createCall(this.#nextCallId++, spec);
    const refusal = this.refusal();
    if (refusal !== undefined) {
      this.settle(call);
      call.reject(refusal);
      return call;
    }
    if (call.signal !== undefined) {
      if (call.signal.aborted) {
        this.settle(call);
        call.reject(abortError(call.signal));
        return call;
      }
      call.abortListener = () => this.#abort(call);
      call.signal.addEventListener('abort', call.abortListener, { once: true });
    }
    this.#queue.push(call);
    this.schedulePump();
    return call;
  }

  /** Calls waiting for a worker. */
  get queueLength(): number {
    return this.#queue.size;
  }

  /** Resolves when nothing is queued or running. */
  onIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  protected schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    // A microtask coalesces every call submitted in the same tick into few, large messages.
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.pump();
    });
  }

  /** Moves queued calls to workers with room, in batches. */
  protected pump(): void {
    for (let first = this.#queue.peek(); first !== undefined; first = this.#queue.peek()) {
      const worker = this.#pick(first.exclusive);
      if (worker === undefined) break;
      const batch: Call[] = [this.#queue.shift()!];
      if (!first.exclusive) {
        const free = this.options.concurrency - worker.inflight.size;
        // Fill free slots first, one worker at a time, so work spreads before anything is prefetched.
        const room = free > 0 ? free : Math.min(MAX_BATCH, this.#capacity(worker));
        for (
          let next = this.#queue.peek();
          batch.length < room && next !== undefined && !next.exclusive;
          next = this.#queue.peek()
        ) {
          batch.push(this.#queue.shift()!);
        }
      }
      this.#send(worker, batch);
    }
    if (this.#queue.size === 0) this.#rebalance();
    this.checkIdle();
  }

  #rebalanceTimer: NodeJS.Timeout | undefined;

  /**
   * With nothing queued and a worker idle, calls prefetched into a worker that is busy with a
   * long task would wait for nothing: ask that worker to hand back what it has not started.
   */
  #rebalance(): void {
    let idle = false;
    for (const worker of this.workers) {
      if (worker.accepting && worker.inflight.size < this.options.concurrency) {
        idle = true;
        break;
      }
    }
    if (!idle) return;
    const now = performance.now();
    let recheckIn = Number.POSITIVE_INFINITY;
    for (const worker of this.workers) {
      if (!worker.accepting || worker.releasePending || worker.inflight.size <= this.options.concurrency)
        continue;
      const quietFor = now - worker.lastReportAt;
      if (quietFor >= REBALANCE_AFTER_MS) {
        worker.releasePending = true;
        worker.post({ type: 'release' });
      } else {
        recheckIn = Math.min(recheckIn, REBALANCE_AFTER_MS - quietFor);
      }
    }
    if (recheckIn !== Number.POSITIVE_INFINITY && this.#rebalanceTimer === undefined) {
      this.#rebalanceTimer = setTimeout(() => {
        this.#rebalanceTimer = undefined;
        if (this.#queue.size === 0) this.#rebalance();
      }, Math.ceil(recheckIn));
      this.#rebalanceTimer.unref();
    }
  }

  /** Puts calls back at the head of the queue, in their original order (a worker went away). */
  protected requeue(calls: Call[]): void {
    for (const call of calls) call.worker = undefined;
    this.#queue.unshiftAll(calls);
    this.schedulePump();
  }

  /** Rejects every queued call that `filter` accepts (the pool closed or cannot start its app). */
  protected rejectQueued(error: Error, filter: (call: Call) => boolean = () => true): void {
    for (const call of this.#queue.takeAll(filter)) {
      this.settle(call);
      call.reject(error);
    }
    this.checkIdle();
  }

  #capacity(worker: WorkerHandle): number {
    let prefetch = 0;
    if (worker.exclusive === 0 && worker.avgRunMs !== undefined) {
      prefetch = Math.min(MAX_PREFETCH, Math.floor(PREFETCH_BUDGET_MS / Math.max(worker.avgRunMs, 0.001)));
    }
    return this.options.concurrency + prefetch - worker.inflight.size;
  }

  /**
   * Where the next call goes: the worker with the most free slots; when none has a free slot,
   * the one with the most prefetch room. A long-running call only takes a free slot.
   */
  #pick(exclusive: boolean): WorkerHandle | undefined {
    let best: WorkerHandle | undefined;
    let bestFree = 0;
    let bestRoom = 0;
    for (const worker of this.workers) {
      if (!worker.accepting) continue;
      const free = this.options.concurrency - worker.inflight.size;
      if (free > bestFree) {
        best = worker;
        bestFree = free;
      } else if (bestFree === 0 && !exclusive) {
        const room = this.#capacity(worker);
        if (room > bestRoom) {
          best = worker;
          bestRoom = room;
        }
      }
    }
    return best;
  }

  #send(worker: WorkerHandle, batch: Call[]): void {
    try {
      worker.send(batch);
    } catch (error) {
      // Something in the batch cannot be cloned (a transfer list, a field the walk missed): send
      // the calls one by one and refuse only the guilty ones.
      if (batch.length > 1) {
        for (const call of batch) this.#send(worker, [call]);
        return;
      }
      const call = batch[0]!;
      this.settle(call);
      call.reject(
        new MultitaskError(
          ErrorCode.INVALID_TASK_FIELD,
          `Task ${call.name} cannot be sent to a worker: ${(error as Error).message}`,
          {
            taskName: call.name,
            cause: error,
          },
        ),
      );
      return;
    }
    for (const call of batch) {
      if (call.timeoutMs !== undefined) call.timer = setTimeout(() => this.#timeout(call), call.timeoutMs);
    }
  }

  /** Stops watching a call: timers and abort listeners go; it will be settled exactly once. */
  protected settle(call: Call): void {
    call.settled = true;
    if (call.timer !== undefined) clearTimeout(call.timer);
    if (call.abortListener !== undefined) call.signal!.removeEventListener('abort', call.abortListener);
  }

  /** Settles a call as failed, counts it, and tells listeners. */
  protected fail(call: Call, error: Error, worker: WorkerHandle): void {
    this.settle(call);
    this.tasksFailed++;
    call.reject(error);
    this.emit('taskFailed', { taskName: call.name, workerId: worker.id, error });
  }

  /**
   * Calls a worker gave back without running them (it stopped, released its prefetch, or died):
   * they run elsewhere, unless the pool takes no more work, and then they are refused.
   */
  protected giveBack(calls: Call[]): void {
    const refusal = this.refusal();
    if (refusal === undefined) {
      if (calls.length > 0) this.requeue(calls);
      return;
    }
    for (const call of calls) {
      this.settle(call);
      call.reject(refusal);
    }
  }

  #timeout(call: Call): void {
    const worker = call.worker;
    if (call.settled || worker === undefined) return;
    this.fail(call, timeoutError(call, worker.id), worker);
    // Only terminating the thread stops a synchronous loop; the exit handler replaces it. A call
    // still waiting in the worker's prefetch is only withdrawn: the task ahead of it is innocent.
    if (worker.isRunning(call)) worker.terminate('timeout', call);
    else this.#withdraw(worker, call, 'timeout');
  }

  #abort(call: Call): void {
    if (call.settled) return;
    this.settle(call);
    call.reject(abortError(call.signal!));
    const worker = call.worker;
    if (worker === undefined) {
      this.#queue.forget();
      this.checkIdle();
      return;
    }
    this.#withdraw(worker, call, 'abort');
  }

  /**
   * Tells a worker to skip a settled call, or to abort its signal if it is running; a task that
   * ignores its signal (or loops synchronously) is stopped by ending its thread.
   */
  #withdraw(worker: WorkerHandle, call: Call, reason: 'abort' | 'timeout'): void {
    worker.post({ type: 'cancel', id: call.id, reason });
    setTimeout(() => {
      if (worker.inflight.has(call.id) && worker.isRunning(call)) worker.terminate(reason, call);
    }, ABORT_GRACE_MS).unref();
  }

  onResults(worker: WorkerHandle, results: ResultWire, heapUsed: number | undefined): void {
    const now = performance.now();
    worker.lastReportAt = now;
    worker.releasePending = false;
    const skipped: Call[] = [];
    for (let i = 0; i < results.length; i += 4) {
      const call = worker.inflight.get(results[i] as number);
      if (call === undefined) continue;
      worker.release(call);
      const status = results[i + 1] as number;
      if (status === ResultStatus.SKIPPED) {
        if (!call.settled) skipped.push(call);
        continue;
      }
      const runMs = results[i + 3] as number;
      worker.recordRunTime(runMs);
      if (call.settled) continue;
      this.runTimes.record(runMs);
      // Waiting ends when the task starts, which may be after it reached its worker (prefetch).
      this.waitTimes.record(Math.max(0, now - runMs - call.submittedAt));
      if (worker.retireAborted) call.preempted = true;
      if (status === ResultStatus.OK) {
        this.settle(call);
        this.tasksDone++;
        worker.tasksDone++;
        call.resolve(results[i + 2]);
      } else {
        worker.tasksFailed++;
        const wire = results[i + 2] as WireError;
        const error =
          status === ResultStatus.REFUSED ? fromWireError(wire) : taskFailed(wire, call.name, worker.id);
        this.fail(call, error, worker);
      }
    }
    if (heapUsed !== undefined) worker.heapUsed = heapUsed;
    this.giveBack(skipped);
    this.afterResults(worker);
    this.pump();
  }

  #isIdle(): boolean {
    if (this.#queue.size > 0) return false;
    for (const worker of this.workers) if (worker.inflight.size > 0) return false;
    return true;
  }

  protected checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Accepting work? Otherwise the error to refuse it with. */
  protected abstract refusal(): Error | undefined;
  /** A worker has settled calls: recycling may retire it. */
  protected abstract afterResults(worker: WorkerHandle): void;
  abstract onReady(worker: WorkerHandle): void;
  abstract onSetupFailed(worker: WorkerHandle, error: WireError): void;
  abstract onStopped(worker: WorkerHandle): void;
  abstract onLog(worker: WorkerHandle, record: TaskLogRecord): void;
  abstract onExit(worker: WorkerHandle, exitCode: number, error: Error | undefined): void;
}
