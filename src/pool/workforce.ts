/**
 * The pool's workers over time: spawning to the target size, replacing the dead, backing off
 * when the app cannot boot, retiring on resize and recycling, and closing. It hands every
 * worker whose app is up to the scheduler (a {@link CallRouter}), and tells it when one is
 * gone; it never decides where a call goes.
 */
import {
  appSetupFailed,
  diedBeforeAppUp,
  poolClosed,
  poolClosedBeforeStart,
  poolCrashLoop,
} from '../errors.js';
import type { Grace } from '../internal/grace.js';
import type { ResultWire } from '../worker/protocol.js';
import { logThreshold, type TaskLogRecord } from '../worker/task-logger.js';
import { fromWireError, type WireError } from '../worker/wire-error.js';
import type { Call } from './call.js';
import type { EmitPoolEvent } from './events.js';
import { crashError, errorForStartedCall } from './exit-errors.js';
import type { ResolvedPoolOptions } from './options.js';
import { RestartTracker } from './restart-policy.js';
import { ABORT_GRACE_MS } from './scheduler.js';
import { threadStart, WORKER_EXTRA_EXEC_ARGV } from './thread-files.js';
import { WorkerHandle, type WorkerListener } from './worker-handle.js';

/** The pool's lifecycle: taking work, closing, closed, or given up because its app cannot boot. */
export type PoolState = 'running' | 'closing' | 'closed' | 'broken';

/**
 * What the workforce needs of the pool's scheduler (the `Scheduler` is one): it hands over a
 * worker whose app is up, passes its results on, takes it back when its thread is gone, and
 * says when work must be refused.
 */
export interface CallRouter {
  /** A worker's app is up: send it calls. */
  enlist(worker: WorkerHandle): void;
  /** A worker's thread exited: fail what it ran (with `errorFor`), run the rest elsewhere. */
  workerGone(worker: WorkerHandle, errorFor: (call: Call) => Error): void;
  /** A worker reported results: settle their calls. */
  takeResults(worker: WorkerHandle, results: ResultWire, heapUsed: number | undefined): void;
  /** Send queued calls to workers with room. */
  pump(): void;
  /** Refuse new calls from now on, with what `reason` builds. */
  refuse(reason: () => Error): void;
  /** Reject the queued calls `filter` accepts (all by default). */
  rejectQueued(error: Error, filter?: (call: Call) => boolean): void;
}

export class Workforce implements WorkerListener {
  readonly #options: ResolvedPoolOptions;
  readonly #calls: CallRouter;
  readonly #emit: EmitPoolEvent;
  /** Every thread of the pool, from spawn to exit. */
  readonly #workers = new Set<WorkerHandle>();
  #target: number;
  #state: PoolState = 'running';
  #nextWorkerId = 1;
  readonly #delayedSpawns = new Set<NodeJS.Timeout>();
  readonly #bootFailures: RestartTracker;
  #brokenError: Error | undefined;
  #closed: Promise<void> | undefined;
  #workerRestarts = 0;
  #recycled = 0;
  /** Threads start without the parent's tsx (a JavaScript app): a setup error may need saying so. */
  #tsxLeftOut = false;

  constructor(options: ResolvedPoolOptions, calls: CallRouter, emit: EmitPoolEvent) {
    this.#options = options;
    this.#calls = calls;
    this.#emit = emit;
    this.#target = options.size;
    this.#bootFailures = new RestartTracker(options.restart);
    this.#fill();
  }

  /** The number of workers the pool keeps. */
  get target(): number {
    return this.#target;
  }

  get state(): PoolState {
    return this.#state;
  }

  /** Every thread, booting ones included. */
  get workers(): ReadonlySet<WorkerHandle> {
    return this.#workers;
  }

  /** Workers replaced after dying unexpectedly (crash, out of memory, timeout, abort). */
  get workerRestarts(): number {
    return this.#workerRestarts;
  }

  /** Workers replaced by recycling. */
  get recycled(): number {
    return this.#recycled;
  }

  #activeCount(): number {
    let count = 0;
    for (const worker of this.#workers)
      if (!worker.retiring && worker.terminationReason === undefined) count++;
    return count + this.#delayedSpawns.size;
  }

  #fill(): WorkerHandle[] {
    const spawned: WorkerHandle[] = [];
    if (this.#state !== 'running') return spawned;
    for (let missing = this.#target - this.#activeCount(); missing > 0; missing--)
      spawned.push(this.#spawn());
    return spawned;
  }

  #spawn(): WorkerHandle {
    const options = this.#options;
    const { boot, entry, tsx, execArgv, inherited, tsxLeftOut } = threadStart(
      options.execArgv,
      options.appUrl,
    );
    this.#tsxLeftOut = tsxLeftOut;
    const worker = new WorkerHandle(
      {
        id: this.#nextWorkerId++,
        boot,
        entry,
        appUrl: options.appUrl,
        concurrency: options.concurrency,
        resourceLimits: options.resourceLimits,
        reportHeap: Number.isFinite(options.recycle.maxHeapBytes),
        logThreshold: logThreshold(options.logLevel),
        tsx,
        execArgv,
        inheritedExecArgv: inherited,
        extraExecArgv: WORKER_EXTRA_EXEC_ARGV,
      },
      this,
    );
    this.#workers.add(worker);
    return worker;
  }

  onReady(worker: WorkerHandle): void {
    worker.markReady();
    this.#calls.enlist(worker);
    this.#emit('workerOnline', { workerId: worker.id });
    if (this.#state === 'closing') worker.stop(true);
    else this.#calls.pump();
  }

  onSetupFailed(worker: WorkerHandle, error: WireError): void {
    worker.failSetup(appSetupFailed(fromWireError(error), error.stack, worker.id, this.#tsxLeftOut));
  }

  onResults(worker: WorkerHandle, results: ResultWire, heapUsed: number | undefined): void {
    this.#calls.takeResults(worker, results, heapUsed);
    this.#recycleIfDue(worker);
    this.#calls.pump();
  }

  onLog(worker: WorkerHandle, record: TaskLogRecord): void {
    const { callId, ...line } = record;
    const tags = callId === undefined ? undefined : worker.inflight.get(callId)?.tags;
    this.#emit('log', tags === undefined ? line : { ...line, fields: { ...tags, ...line.fields } });
  }

  onStopped(worker: WorkerHandle): void {
    // Teardown is done: nothing the app left open (timers, sockets) may keep the thread alive.
    worker.terminate(this.#state === 'running' ? 'retire' : 'close');
  }

  onExit(worker: WorkerHandle, exitCode: number, threadError: Error | undefined): void {
    this.#workers.delete(worker);
    const reason = worker.terminationReason;
    const hadWork = worker.inflight.size > 0;
    this.#calls.workerGone(worker, (call) => errorForStartedCall(worker, call, exitCode, threadError));
    this.#emit('workerExit', {
      workerId: worker.id,
      // Ending a thread that stopped cleanly reports 1 (terminate's code); what happened is a clean stop.
      exitCode: worker.stoppedCleanly ? 0 : exitCode,
      reason: reason ?? (exitCode === 0 ? 'stopped' : 'crash'),
      error: worker.setupError ?? threadError,
    });

    if (this.#state === 'running') {
      // A thread that died before its app was up, or while idle with nobody to blame, is a boot
      // failure: those back off and count toward giving up. Threads the pool ended are not.
      const endedByPool = reason !== undefined && reason !== 'setupFailed';
      const bootFailure = !endedByPool && (!worker.ready || (!hadWork && !worker.retiring));
      if (bootFailure) {
        // A thread that died before its app was up failed to boot, as a throwing setup does:
        // the calls it leaves are not at fault (a queue gives their jobs back uncounted).
        const crash = crashError(worker.id, exitCode, threadError);
        this.#onBootFailure(worker.setupError ?? (worker.ready ? crash : diedBeforeAppUp(worker.id, crash)));
      } else {
        if (reason !== 'retire') this.#workerRestarts++;
        this.#fill();
      }
    }
    this.#calls.pump();
  }

  /** A worker could not boot its app: back off, and give up after too many failures in the window. */
  #onBootFailure(error: Error): void {
    const delayMs = this.#bootFailures.next();
    if (delayMs === undefined) {
      this.#becomeBroken(error);
      return;
    }
    // Nobody can run calls now: callers hear why at once instead of waiting on backoff.
    if (![...this.#workers].some((worker) => worker.ready))
      this.#calls.rejectQueued(error, (call) => !call.exclusive);
    const timer = setTimeout(() => {
      this.#delayedSpawns.delete(timer);
      this.#fill();
    }, delayMs);
    this.#delayedSpawns.add(timer);
    this.#fill();
  }

  #becomeBroken(cause: Error): void {
    this.#state = 'broken';
    this.#brokenError = cause;
    this.#calls.refuse(() => cause);
    const { maxRestarts, windowMs } = this.#options.restart;
    this.#emit('crashLoop', { error: poolCrashLoop(maxRestarts, windowMs, cause) });
    this.#calls.rejectQueued(cause);
    // Threads still booting would fail the same way: end them rather than let them linger.
    for (const worker of this.#workers) if (!worker.ready) worker.terminate('setupFailed');
  }

  /** Accepting work? Otherwise the error to refuse it with. */
  #refusal(): Error | undefined {
    if (this.#state === 'running') return undefined;
    return this.#state === 'broken' ? this.#brokenError : poolClosed();
  }

  /** Grows at once (resolving when the new workers are up) or retires workers, idle ones first. */
  async resize(size: number): Promise<void> {
    const refusal = this.#refusal();
    if (refusal !== undefined) throw refusal;
    this.#target = size;
    const spawned = this.#fill();
    if (spawned.length > 0) {
      await Promise.all(spawned.map((worker) => worker.whenUp));
      return;
    }
    const excess = this.#activeCount() - size;
    if (excess <= 0) return;
    const candidates = [...this.#workers]
      .filter((worker) => !worker.retiring && worker.terminationReason === undefined)
      .sort((a, b) => retireOrder(a) - retireOrder(b));
    const victims = candidates.slice(0, excess);
    for (const worker of victims) this.#retire(worker);
    await Promise.all(victims.map((worker) => worker.whenExited));
  }

  /**
   * Takes a worker out of service: it runs what it has started, hands back what it has not,
   * tears its app down and exits. Past the grace its tasks are told to stop, and then it ends.
   */
  #retire(worker: WorkerHandle): void {
    if (!worker.retire()) return;
    setTimeout(() => {
      if (!this.#workers.has(worker)) return;
      worker.abortRetirement();
      setTimeout(() => worker.terminate('retire'), ABORT_GRACE_MS).unref();
    }, this.#options.graceMs).unref();
  }

  /** A worker has settled calls: past its task count or heap size, it is replaced. */
  #recycleIfDue(worker: WorkerHandle): void {
    if (!worker.accepting) return;
    const { maxTasks, maxHeapBytes } = this.#options.recycle;
    if (worker.tasksDone + worker.tasksFailed >= maxTasks || (worker.heapUsed ?? 0) > maxHeapBytes) {
      this.#recycled++;
      this.#retire(worker);
      this.#fill();
    }
  }

  /**
   * Refuses new work, tells running tasks to stop, and ends every thread still there when
   * `grace` ends. Resolves once every thread has exited. Only the pool calls it, once.
   */
  close(grace: Grace): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    this.#state = 'closing';
    this.#calls.refuse(poolClosed);
    for (const timer of this.#delayedSpawns) clearTimeout(timer);
    this.#delayedSpawns.clear();
    this.#calls.rejectQueued(poolClosedBeforeStart());
    const workers = [...this.#workers];
    for (const worker of workers) {
      if (worker.ready) worker.stop(true);
      else worker.terminate('close');
    }
    void grace.over.then(() => {
      for (const worker of this.#workers) worker.terminate('close');
    });
    this.#closed = Promise.all(workers.map((worker) => worker.whenExited)).then(() => {
      this.#state = 'closed';
    });
    return this.#closed;
  }
}

/** Retire the cheapest first: threads still booting, then idle ones, then the least loaded. */
function retireOrder(worker: WorkerHandle): number {
  if (!worker.ready) return -1;
  return worker.inflight.size;
}
