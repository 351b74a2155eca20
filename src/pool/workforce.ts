/**
 * The pool's workers over time: spawning to the target size, replacing the dead, backing off
 * when the app cannot boot, retiring on resize and recycling, and closing.
 */
import { ErrorCode, MultitaskError } from '../errors.js';
import { logThreshold, type TaskLogRecord } from '../worker/task-logger.js';
import type { WireError } from '../worker/wire-error.js';
import type { Call } from './call.js';
import { crashError, errorForStartedCall, setupFailedError } from './exit-errors.js';
import type { ResolvedPoolOptions } from './options.js';
import { RestartTracker } from './restart-policy.js';
import { ABORT_GRACE_MS, type EmitPoolEvent, Scheduler } from './scheduler.js';
import { threadFiles, WORKER_EXTRA_EXEC_ARGV } from './thread-files.js';
import { WorkerHandle } from './worker-handle.js';

/** The pool's lifecycle: taking work, closing, closed, or given up because its app cannot boot. */
export type PoolState = 'running' | 'closing' | 'closed' | 'broken';

export class Workforce extends Scheduler {
  #target: number;
  #state: PoolState = 'running';
  #brokenError: Error | undefined;
  #nextWorkerId = 1;
  #delayedSpawns = new Set<NodeJS.Timeout>();
  readonly #bootFailures: RestartTracker;
  readonly #exitWaiters = new Map<WorkerHandle, Array<() => void>>();
  readonly #readyWaiters = new Map<WorkerHandle, Array<() => void>>();
  #closed: Promise<void> | undefined;
  /** Workers replaced after dying unexpectedly (crash, out of memory, timeout, abort). */
  protected workerRestarts = 0;
  /** Workers replaced by recycling. */
  protected recycled = 0;

  constructor(options: ResolvedPoolOptions, emit: EmitPoolEvent) {
    super(options, emit);
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

  protected refusal(): Error | undefined {
    if (this.#state === 'running') return undefined;
    if (this.#state === 'broken') return this.#brokenError;
    return new MultitaskError(ErrorCode.POOL_CLOSED, 'The pool is closed and takes no new work');
  }

  #activeCount(): number {
    let count = 0;
    for (const worker of this.workers)
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
    const { boot, entry } = threadFiles(this.options.execArgv ?? process.execArgv);
    const worker = new WorkerHandle(
      {
        id: this.#nextWorkerId++,
        boot,
        entry,
        appUrl: this.options.appUrl,
        concurrency: this.options.concurrency,
        resourceLimits: this.options.resourceLimits,
        reportHeap: Number.isFinite(this.options.recycle.maxHeapBytes),
        logThreshold: logThreshold(this.options.logLevel),
        execArgv: this.options.execArgv,
        extraExecArgv: WORKER_EXTRA_EXEC_ARGV,
      },
      this,
    );
    this.workers.add(worker);
    return worker;
  }

  onReady(worker: WorkerHandle): void {
    worker.markReady();
    this.#wake(this.#readyWaiters, worker);
    this.emit('workerOnline', { workerId: worker.id });
    if (this.#state === 'closing') this.#stopForClose(worker);
    else this.pump();
  }

  onSetupFailed(worker: WorkerHandle, error: WireError): void {
    worker.setupError = setupFailedError(error, worker.id);
    worker.terminate('setupFailed');
  }

  onLog(worker: WorkerHandle, record: TaskLogRecord): void {
    const { callId, ...line } = record;
    const tags = callId === undefined ? undefined : worker.inflight.get(callId)?.tags;
    this.emit('log', tags === undefined ? line : { ...line, fields: { ...tags, ...line.fields } });
  }

  onStopped(worker: WorkerHandle): void {
    // Teardown is done: nothing the app left open (timers, sockets) may keep the thread alive.
    worker.terminate(this.#state === 'running' ? 'retire' : 'close');
  }

  onExit(worker: WorkerHandle, exitCode: number, threadError: Error | undefined): void {
    this.workers.delete(worker);
    const notRunning: Call[] = [];
    const reason = worker.terminationReason;
    for (const call of worker.inflight.values()) {
      if (call.settled) continue;
      // Calls that were not running (not started, or finished with their result still unsent)
      // run again elsewhere: at least once, as a queue would redeliver them.
      if (!worker.isRunning(call)) {
        notRunning.push(call);
        continue;
      }
      if (reason === 'retire') call.preempted = true;
      this.fail(call, errorForStartedCall(worker, call, exitCode, threadError), worker);
    }
    const hadWork = worker.inflight.size > 0;
    for (const call of [...worker.inflight.values()]) worker.release(call);
    this.emit('workerExit', {
      workerId: worker.id,
      exitCode,
      reason: reason ?? (exitCode === 0 ? 'stopped' : 'crash'),
      error: worker.setupError ?? threadError,
    });
    this.#wake(this.#readyWaiters, worker);
    this.#wake(this.#exitWaiters, worker);
    this.giveBack(notRunning);

    if (this.#state === 'running') {
      // A thread that died before its app was up, or while idle with nobody to blame, is a boot
      // failure: those back off and count toward giving up. Threads the pool ended are not.
      const endedByPool = reason !== undefined && reason !== 'setupFailed';
      const bootFailure = !endedByPool && (!worker.ready || (!hadWork && !worker.retiring));
      if (bootFailure) {
        const crash = crashError(worker.id, exitCode, threadError);
        // A thread that died before its app was up failed to boot, as a throwing setup does:
        // the calls it leaves are not at fault (a queue gives their jobs back uncounted).
        this.#onBootFailure(
          worker.setupError ??
            (worker.ready
              ? crash
              : new MultitaskError(
                  ErrorCode.APP_SETUP_FAILED,
                  `Worker ${worker.id} died before its app was up: ${crash.message}`,
                  { cause: crash, workerId: worker.id },
                )),
        );
      } else {
        if (reason !== 'retire') this.workerRestarts++;
        this.#fill();
      }
    }
    this.pump();
  }

  /** A worker could not boot its app: back off, and give up after too many failures in the window. */
  #onBootFailure(error: Error): void {
    const delayMs = this.#bootFailures.next();
    if (delayMs === undefined) {
      this.#becomeBroken(error);
      return;
    }
    // Nobody can run calls now: callers hear why at once instead of waiting on backoff.
    if (![...this.workers].some((worker) => worker.ready))
      this.rejectQueued(error, (call) => !call.exclusive);
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
    const { maxRestarts, windowMs } = this.options.restart;
    const error = new MultitaskError(
      ErrorCode.CRASH_LOOP,
      `Workers failed to start more than ${maxRestarts} times in ${windowMs} ms; the pool gives up: ${cause.message}`,
      { cause },
    );
    this.emit('crashLoop', { error });
    this.rejectQueued(cause);
    // Threads still booting would fail the same way: end them rather than let them linger.
    for (const worker of this.workers) if (!worker.ready) worker.terminate('setupFailed');
  }

  /** Grows at once (resolving when the new workers are up) or retires workers, idle ones first. */
  async resize(size: number): Promise<void> {
    const refusal = this.refusal();
    if (refusal !== undefined) throw refusal;
    this.#target = size;
    const spawned = this.#fill();
    if (spawned.length > 0) {
      await Promise.all(
        spawned.map((worker) => this.#waitFor(this.#readyWaiters, worker, () => worker.ready)),
      );
      return;
    }
    const excess = this.#activeCount() - size;
    if (excess <= 0) return;
    const candidates = [...this.workers]
      .filter((worker) => !worker.retiring && worker.terminationReason === undefined)
      .sort((a, b) => retireOrder(a) - retireOrder(b));
    const victims = candidates.slice(0, excess);
    for (const worker of victims) this.retire(worker);
    await Promise.all(
      victims.map((worker) => this.#waitFor(this.#exitWaiters, worker, () => !this.workers.has(worker))),
    );
  }

  /**
   * Takes a worker out of service: it runs what it has started, hands back what it has not,
   * tears its app down and exits. Past the grace its tasks are told to stop, and then it ends.
   */
  protected retire(worker: WorkerHandle): void {
    worker.retiring = true;
    if (!worker.ready) {
      worker.terminate('retire');
      return;
    }
    worker.state = 'stopping';
    worker.hold();
    worker.post({ type: 'stop', abort: false });
    const graceTimer = setTimeout(() => {
      if (!this.workers.has(worker)) return;
      worker.retireAborted = true;
      worker.post({ type: 'stop', abort: true });
      setTimeout(() => worker.terminate('retire'), ABORT_GRACE_MS).unref();
    }, this.options.graceMs);
    graceTimer.unref();
  }

  protected afterResults(worker: WorkerHandle): void {
    if (!worker.accepting) return;
    const { maxTasks, maxHeapBytes } = this.options.recycle;
    if (worker.tasksDone + worker.tasksFailed >= maxTasks || (worker.heapUsed ?? 0) > maxHeapBytes) {
      this.recycled++;
      this.retire(worker);
      this.#fill();
    }
  }

  /** Refuses new work, tells running tasks to stop, and ends every thread after `graceMs`. */
  close(graceMs: number): Promise<void> {
    if (this.#closed !== undefined) {
      // Asked again with a shorter grace (a second SIGTERM): what still runs ends now.
      if (graceMs === 0) for (const worker of this.workers) worker.terminate('close');
      return this.#closed;
    }
    this.#state = 'closing';
    for (const timer of this.#delayedSpawns) clearTimeout(timer);
    this.#delayedSpawns.clear();
    this.rejectQueued(new MultitaskError(ErrorCode.POOL_CLOSED, 'The pool closed before this task started'));
    const workers = [...this.workers];
    for (const worker of workers) {
      if (worker.ready) this.#stopForClose(worker);
      else worker.terminate('close');
    }
    const graceTimer = setTimeout(() => {
      for (const worker of this.workers) worker.terminate('close');
    }, graceMs);
    this.#closed = Promise.all(
      workers.map((worker) => this.#waitFor(this.#exitWaiters, worker, () => !this.workers.has(worker))),
    ).then(() => {
      clearTimeout(graceTimer);
      this.#state = 'closed';
      this.checkIdle();
    });
    return this.#closed;
  }

  #stopForClose(worker: WorkerHandle): void {
    worker.state = 'stopping';
    worker.hold();
    worker.post({ type: 'stop', abort: true });
  }

  #waitFor(
    waiters: Map<WorkerHandle, Array<() => void>>,
    worker: WorkerHandle,
    done: () => boolean,
  ): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const list = waiters.get(worker) ?? [];
      list.push(resolve);
      waiters.set(worker, list);
    });
  }

  #wake(waiters: Map<WorkerHandle, Array<() => void>>, worker: WorkerHandle): void {
    const list = waiters.get(worker);
    if (list === undefined) return;
    waiters.delete(worker);
    for (const resolve of list) resolve();
  }
}

/** Retire the cheapest first: threads still booting, then idle ones, then the least loaded. */
function retireOrder(worker: WorkerHandle): number {
  if (!worker.ready) return -1;
  return worker.inflight.size;
}
