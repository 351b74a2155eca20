/**
 * The scheduler: a FIFO of calls, the workers that take them, and the rules that move calls
 * from one to the other (batching, prefetch, timeouts, aborts, results, idleness). It knows
 * nothing of how workers come and go: the workforce enlists a worker once its app is up, tells
 * the scheduler when it is gone, and says when work must be refused.
 */

import { performance } from 'node:perf_hooks';
import { abortError, taskFailed, taskNotSendable, taskTimeout } from '../errors.js';
import {
  ResultStatus,
  type ResultWire,
  resultCount,
  resultId,
  resultRunMs,
  resultStatus,
  resultValue,
} from '../worker/protocol.js';
import { fromWireError, type WireError } from '../worker/wire-error.js';
import { type Call, createCall, type SubmitSpec } from './call.js';
import { CallQueue } from './call-queue.js';
import type { EmitPoolEvent } from './events.js';
import { batchSize, pickWorker } from './pick.js';
import { SampleWindow } from './run-stats.js';
import { SignalWatch } from './signal-watch.js';
import type { WorkerHandle } from './worker-handle.js';

/**
 * A worker that has said nothing for this long (ms) while tasks wait in its prefetch is asked to
 * hand them back when another worker sits idle: a long task must not hold up short ones.
 */
const REBALANCE_AFTER_MS = 2;
/** An aborted task that has not stopped after this long (ms) has its thread terminated. */
export const ABORT_GRACE_MS = 500;

export class Scheduler {
  /** Workers whose app is up, until they exit: the only ones calls are sent to. */
  readonly #workers = new Map<number, WorkerHandle>();
  readonly #queue = new CallQueue();
  readonly #concurrency: number;
  readonly #emit: EmitPoolEvent;
  #refusal: (() => Error) | undefined;
  #nextCallId = 1;
  #pumpScheduled = false;
  #rebalanceTimer: NodeJS.Timeout | undefined;
  #idleWaiters: Array<() => void> = [];
  #tasksDone = 0;
  #tasksFailed = 0;
  /** The abort signals calls were given: one listener a signal (signal-watch.ts). */
  readonly #signals = new SignalWatch<Call>((call) => this.#abort(call));
  /** How long tasks ran in their worker (ms). */
  readonly runTimes = new SampleWindow();
  /** How long tasks waited between submission and starting in a worker (ms). */
  readonly waitTimes = new SampleWindow();

  constructor(concurrency: number, emit: EmitPoolEvent) {
    this.#concurrency = concurrency;
    this.#emit = emit;
  }

  /** Tasks that returned. */
  get tasksDone(): number {
    return this.#tasksDone;
  }

  /** Calls that failed (their task's error, a crash, a timeout). */
  get tasksFailed(): number {
    return this.#tasksFailed;
  }

  /** Calls waiting for a worker. */
  get queueLength(): number {
    return this.#queue.size;
  }

  /** Queues a task; the call's promise settles with its result. */
  submit(spec: SubmitSpec): Call {
    const call = createCall(this.#nextCallId++, spec);
    if (this.#refusal !== undefined) {
      this.#settle(call);
      call.reject(this.#refusal());
      return call;
    }
    if (call.signal !== undefined) {
      if (call.signal.aborted) {
        this.#settle(call);
        call.reject(abortError(call.signal.reason));
        return call;
      }
      this.#signals.add(call.signal, call);
    }
    this.#queue.push(call);
    this.#schedulePump();
    return call;
  }

  /** From now on, new calls (and calls given back) are refused with what `reason` builds. */
  refuse(reason: () => Error): void {
    this.#refusal = reason;
  }

  /** Resolves when nothing is queued or running. */
  onIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** A worker's app is up: it takes calls from now on. */
  enlist(worker: WorkerHandle): void {
    this.#workers.set(worker.id, worker);
  }

  /**
   * A worker's thread has exited. Calls it was running fail with `errorFor` (their own timeout,
   * or why the thread went away); the others (not started, or finished with their result
   * unsent) run again elsewhere: at least once, as a queue would redeliver them.
   */
  workerGone(worker: WorkerHandle, errorFor: (call: Call) => Error): void {
    this.#workers.delete(worker.id);
    const notRunning: Call[] = [];
    const retired = worker.terminationReason === 'retire';
    for (const call of worker.inflight.values()) {
      if (call.settled) continue;
      if (!worker.isRunning(call)) {
        notRunning.push(call);
        continue;
      }
      // Ended because the pool retired its worker: not the task's fault.
      if (retired) call.preempted = true;
      this.#fail(call, errorFor(call), worker);
    }
    for (const call of [...worker.inflight.values()]) worker.release(call);
    this.#giveBack(notRunning);
  }

  /** Rejects every queued call that `filter` accepts (the pool closed or cannot start its app). */
  rejectQueued(error: Error, filter: (call: Call) => boolean = () => true): void {
    for (const call of this.#queue.takeAll(filter)) {
      this.#settle(call);
      call.reject(error);
    }
    this.#checkIdle();
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    // The end of this turn of the event loop, not a microtask: a consumer's deliveries arrive a
    // few per socket read, each read its own tick, and waiting for the turn's other reads makes
    // few, large messages to the workers (15 % less CPU a job for a consumer of 1,000 I/O-bound
    // jobs in flight; bench/queue-child.mjs io). A pool.run caller waits one turn more.
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.pump();
    });
  }

  /** Moves queued calls to workers with room, in batches. */
  pump(): void {
    const concurrency = this.#concurrency;
    for (let first = this.#queue.peek(); first !== undefined; first = this.#queue.peek()) {
      const worker = pickWorker(this.#workers.values(), concurrency, first.exclusive);
      if (worker === undefined) break;
      const batch: Call[] = [this.#queue.shift()!];
      if (!first.exclusive) {
        const room = batchSize(worker, concurrency);
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
    this.#checkIdle();
  }

  /**
   * With nothing queued and a worker idle, calls prefetched into a worker that is busy with a
   * long task would wait for nothing: ask that worker to hand back what it has not started.
   */
  #rebalance(): void {
    let idle = false;
    for (const worker of this.#workers.values()) {
      if (worker.accepting && worker.load < this.#concurrency) {
        idle = true;
        break;
      }
    }
    if (!idle) return;
    const now = performance.now();
    let recheckIn = Number.POSITIVE_INFINITY;
    for (const worker of this.#workers.values()) {
      if (!worker.accepting || worker.load <= this.#concurrency) continue;
      const quietFor = worker.quietFor(now);
      if (quietFor >= REBALANCE_AFTER_MS) worker.requestRelease();
      else recheckIn = Math.min(recheckIn, REBALANCE_AFTER_MS - quietFor);
    }
    if (recheckIn !== Number.POSITIVE_INFINITY && this.#rebalanceTimer === undefined) {
      this.#rebalanceTimer = setTimeout(() => {
        this.#rebalanceTimer = undefined;
        if (this.#queue.size === 0) this.#rebalance();
      }, Math.ceil(recheckIn));
      this.#rebalanceTimer.unref();
    }
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
      this.#settle(call);
      call.reject(taskNotSendable(call.name, error as Error));
      return;
    }
    for (const call of batch) {
      if (call.timeoutMs !== undefined) call.timer = setTimeout(() => this.#timeout(call), call.timeoutMs);
    }
  }

  /** Stops watching a call: timers and abort listeners go; it will be settled exactly once. */
  #settle(call: Call): void {
    call.settled = true;
    if (call.timer !== undefined) clearTimeout(call.timer);
    if (call.signal !== undefined) this.#signals.delete(call.signal, call);
  }

  /** Settles a call as failed, counts it, and tells listeners. */
  #fail(call: Call, error: Error, worker: WorkerHandle): void {
    this.#settle(call);
    this.#tasksFailed++;
    call.reject(error);
    this.#emit('taskFailed', { taskName: call.name, workerId: worker.id, error });
  }

  /**
   * Calls a worker gave back without running them (it stopped, released its prefetch, or died):
   * they run elsewhere, unless the pool takes no more work, and then they are refused.
   */
  #giveBack(calls: Call[]): void {
    if (calls.length === 0) return;
    if (this.#refusal === undefined) {
      for (const call of calls) call.workerId = undefined;
      this.#queue.unshiftAll(calls);
      this.#schedulePump();
      return;
    }
    for (const call of calls) {
      this.#settle(call);
      call.reject(this.#refusal());
    }
  }

  /** The worker holding `call`, if one does. */
  #holderOf(call: Call): WorkerHandle | undefined {
    return call.workerId === undefined ? undefined : this.#workers.get(call.workerId);
  }

  #timeout(call: Call): void {
    const worker = this.#holderOf(call);
    if (call.settled || worker === undefined) return;
    this.#fail(call, taskTimeout(call.name, call.timeoutMs, worker.id), worker);
    // Only terminating the thread stops a synchronous loop; the exit handler replaces it. A call
    // still waiting in the worker's prefetch is only withdrawn: the task ahead of it is innocent.
    if (worker.isRunning(call)) worker.terminate('timeout', call);
    else this.#withdraw(worker, call, 'timeout');
  }

  #abort(call: Call): void {
    if (call.settled) return;
    this.#settle(call);
    call.reject(abortError(call.signal!.reason));
    const worker = this.#holderOf(call);
    if (worker === undefined) {
      this.#queue.forget();
      this.#checkIdle();
      return;
    }
    this.#withdraw(worker, call, 'abort');
  }

  /**
   * Tells a worker to skip a settled call, or to abort its signal if it is running; a task that
   * ignores its signal (or loops synchronously) is stopped by ending its thread.
   */
  #withdraw(worker: WorkerHandle, call: Call, reason: 'abort' | 'timeout'): void {
    worker.cancel(call, reason);
    setTimeout(() => {
      if (worker.inflight.has(call.id) && worker.isRunning(call)) worker.terminate(reason, call);
    }, ABORT_GRACE_MS).unref();
  }

  /** Settles the calls a worker reports on; the caller pumps afterwards (after its own checks). */
  takeResults(worker: WorkerHandle, results: ResultWire, heapUsed: number | undefined): void {
    const now = performance.now();
    worker.noteReport(now, heapUsed);
    let skipped: Call[] | undefined;
    const count = resultCount(results);
    for (let i = 0; i < count; i++) {
      const call = worker.inflight.get(resultId(results, i));
      if (call === undefined) continue;
      worker.release(call);
      const status = resultStatus(results, i);
      if (status === ResultStatus.SKIPPED) {
        if (!call.settled) {
          skipped ??= [];
          skipped.push(call);
        }
        continue;
      }
      const runMs = resultRunMs(results, i);
      worker.recordRunTime(runMs);
      if (call.settled) continue;
      this.runTimes.record(runMs);
      // Waiting ends when the task starts, which may be after it reached its worker (prefetch).
      this.waitTimes.record(Math.max(0, now - runMs - call.submittedAt));
      if (worker.retireAborted) call.preempted = true;
      if (status === ResultStatus.OK) {
        this.#settle(call);
        this.#tasksDone++;
        worker.countOutcome(true);
        call.resolve(resultValue(results, i));
      } else {
        worker.countOutcome(false);
        const wire = resultValue(results, i) as WireError;
        const original = fromWireError(wire);
        const error =
          status === ResultStatus.REFUSED ? original : taskFailed(original, wire.stack, call.name, worker.id);
        this.#fail(call, error, worker);
      }
    }
    if (skipped !== undefined) this.#giveBack(skipped);
  }

  #isIdle(): boolean {
    if (this.#queue.size > 0) return false;
    for (const worker of this.#workers.values()) if (worker.load > 0) return false;
    return true;
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
