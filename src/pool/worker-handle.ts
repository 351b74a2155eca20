/**
 * The main thread's view of one worker thread: its state, the calls it holds, and the raw
 * thread events turned into calls on a {@link WorkerListener}. It knows nothing of queues or
 * scheduling: the pool's scheduler decides what to send and what a death means.
 */
import { type ResourceLimits, type TransferListItem, Worker } from 'node:worker_threads';
import type { FromWorker, ResultWire, TaskWire, ToWorker, WorkerBoot } from '../worker/protocol.js';
import type { TaskLogRecord } from '../worker/task-logger.js';
import type { WireError } from '../worker/wire-error.js';
import type { Call } from './call.js';

/** A worker's lifecycle: booting its app, taking work, or on its way out. */
export type WorkerState = 'starting' | 'idle' | 'busy' | 'stopping';

/** Why the pool ended a thread on purpose; any other exit is a crash. */
export type TerminationReason = 'timeout' | 'abort' | 'retire' | 'close' | 'setupFailed';

/** What a handle reports to its owner. */
export interface WorkerListener {
  onReady(worker: WorkerHandle): void;
  onSetupFailed(worker: WorkerHandle, error: WireError): void;
  onResults(worker: WorkerHandle, results: ResultWire, heapUsed: number | undefined): void;
  onStopped(worker: WorkerHandle): void;
  onLog(worker: WorkerHandle, record: TaskLogRecord): void;
  onExit(worker: WorkerHandle, exitCode: number, error: Error | undefined): void;
}

/** Options a handle needs to start its thread. */
export interface WorkerSpawnOptions {
  id: number;
  /** The module the thread starts with. */
  boot: URL;
  /** The module `boot` imports: the thread's real code. */
  entry: string;
  appUrl: string;
  concurrency: number;
  resourceLimits: ResourceLimits | undefined;
  reportHeap: boolean;
  logThreshold: number;
  execArgv: string[] | undefined;
  /** Flags that help but are not required (the light-API export condition). */
  extraExecArgv: readonly string[];
}

/**
 * Whether threads accept the parent's flags plus ours. Flags given explicitly are validated,
 * and per-process ones (--expose-gc, --max-old-space-size…) are refused, while inherited ones
 * are not: then threads inherit the flags and do without the extras.
 */
let extrasAccepted = true;

function startThread(options: WorkerSpawnOptions, boot: WorkerBoot): Worker {
  const start = (execArgv: string[] | undefined) =>
    new Worker(options.boot, {
      workerData: boot,
      resourceLimits: options.resourceLimits,
      execArgv,
      name: `multitask-worker-${options.id}`,
    });
  if (extrasAccepted) {
    try {
      return start([...(options.execArgv ?? process.execArgv), ...options.extraExecArgv]);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
      extrasAccepted = false;
    }
  }
  return start(options.execArgv);
}

/** Weight of the newest sample in the running average of task run time. */
const EWMA_WEIGHT = 0.2;

export class WorkerHandle {
  readonly id: number;
  state: WorkerState = 'starting';
  /** Calls sent to this thread and not yet settled by it, by call id. */
  readonly inflight = new Map<number, Call>();
  /** How many supervised (long-running) calls it holds: no prefetch next to those. */
  exclusive = 0;
  tasksDone = 0;
  tasksFailed = 0;
  /** Average task run time in ms (exponentially weighted); undefined before the first result. */
  avgRunMs: number | undefined;
  heapUsed: number | undefined;
  /** When its last results arrived (performance.now()): a quiet worker with a backlog may be stuck on a long task. */
  lastReportAt = 0;
  /** A 'release' was sent and not yet answered. */
  releasePending = false;
  /** Set when the pool ends the thread on purpose, so that the exit is not taken as a crash. */
  terminationReason: TerminationReason | undefined;
  /** The call whose timeout or abort ended the thread. */
  terminatedFor: Call | undefined;
  readonly startedAt = Date.now();
  /** Booted its app at least once: a later death is not a boot failure. */
  ready = false;
  /** Being retired (resize, recycling): finishes what runs, takes nothing new. */
  retiring = false;
  /** Its retirement grace ran out and running tasks were told to stop: they may run again elsewhere. */
  retireAborted = false;
  /** Why its app could not start, when that is how it ended. */
  setupError: Error | undefined;

  #lastError: Error | undefined;
  readonly #runningSlots: Int32Array;
  readonly #thread: Worker;
  #referenced = true;

  constructor(options: WorkerSpawnOptions, listener: WorkerListener) {
    this.id = options.id;
    const running = new SharedArrayBuffer(4 * options.concurrency);
    this.#runningSlots = new Int32Array(running);
    const boot: WorkerBoot = {
      workerId: options.id,
      entry: options.entry,
      appUrl: options.appUrl,
      concurrency: options.concurrency,
      running,
      reportHeap: options.reportHeap,
      logThreshold: options.logThreshold,
    };
    this.#thread = startThread(options, boot);
    this.#thread.on('message', (message: FromWorker) => {
      switch (message.type) {
        case 'ready':
          listener.onReady(this);
          return;
        case 'setupFailed':
          listener.onSetupFailed(this, message.error);
          return;
        case 'results':
          listener.onResults(this, message.results, message.heapUsed);
          return;
        case 'stopped':
          listener.onStopped(this);
          return;
        case 'log':
          listener.onLog(this, message.record);
          return;
        default: {
          const unknown: never = message;
          throw new Error(`multitask: unknown message from worker ${this.id}: ${JSON.stringify(unknown)}`);
        }
      }
    });
    this.#thread.on('error', (error) => {
      this.#lastError = error;
    });
    this.#thread.on('exit', (exitCode) => listener.onExit(this, exitCode, this.#lastError));
  }

  /** The app is up: take work. Until now the thread kept the process alive; idle, it no longer does. */
  markReady(): void {
    this.ready = true;
    this.state = this.inflight.size > 0 ? 'busy' : 'idle';
    this.#setReferenced(this.inflight.size > 0);
  }

  /** True while the thread can take new calls. */
  get accepting(): boolean {
    return this.state === 'idle' || this.state === 'busy';
  }

  /** Sends calls to the thread in one message. Throws what `postMessage` throws (DataCloneError). */
  send(calls: Call[]): void {
    const tasks: TaskWire[] = new Array(calls.length);
    let transfer: TransferListItem[] | undefined;
    for (let i = 0; i < calls.length; i++) {
      const call = calls[i]!;
      tasks[i] = [call.id, call.name, call.fields, call.attempt];
      if (call.transfer !== undefined) {
        transfer ??= [];
        transfer.push(...call.transfer);
      }
    }
    this.post({ type: 'run', tasks }, transfer);
    for (const call of calls) {
      call.worker = this;
      this.inflight.set(call.id, call);
      if (call.exclusive) this.exclusive++;
    }
    this.state = 'busy';
    this.#setReferenced(true);
  }

  /** Forgets a settled call; returns to idle when nothing is left. */
  release(call: Call): void {
    if (!this.inflight.delete(call.id)) return;
    if (call.exclusive) this.exclusive--;
    if (this.inflight.size === 0 && this.state === 'busy') {
      this.state = 'idle';
      // Idle threads must not keep the process alive; a stopping one must, until it has exited.
      this.#setReferenced(false);
    }
  }

  /** Whether `call` is running in the thread right now (read from the shared running slots). */
  isRunning(call: Call): boolean {
    for (let slot = 0; slot < this.#runningSlots.length; slot++) {
      if (Atomics.load(this.#runningSlots, slot) === call.id) return true;
    }
    return false;
  }

  recordRunTime(ms: number): void {
    this.avgRunMs = this.avgRunMs === undefined ? ms : this.avgRunMs + EWMA_WEIGHT * (ms - this.avgRunMs);
  }

  post(message: ToWorker, transfer?: TransferListItem[]): void {
    this.#thread.postMessage(message, transfer as never);
  }

  /** Ends the thread now; the exit is then reported with `reason`, not as a crash. */
  terminate(reason: TerminationReason, forCall?: Call): void {
    this.terminationReason ??= reason;
    this.terminatedFor ??= forCall;
    this.state = 'stopping';
    void this.#thread.terminate();
  }

  /** A worker with pending work keeps the process alive; an idle one does not. */
  #setReferenced(referenced: boolean): void {
    if (referenced === this.#referenced) return;
    this.#referenced = referenced;
    if (referenced) this.#thread.ref();
    else this.#thread.unref();
  }

  /** Keeps the process alive while the pool waits on this thread (booting, stopping). */
  hold(): void {
    this.#setReferenced(true);
  }
}
