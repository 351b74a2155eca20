/**
 * The main thread's view of one worker thread: its state, the calls it holds, and the raw
 * thread events turned into calls on a {@link WorkerListener}. It knows nothing of queues or
 * scheduling: the pool's scheduler decides what to send, the workforce what a death means. Its
 * state changes only through its methods.
 */
import { type ResourceLimits, type TransferListItem, Worker } from 'node:worker_threads';
import {
  type FromWorker,
  type ResultWire,
  type TaskWire,
  type ToWorker,
  unknownMessage,
  type WorkerBoot,
} from '../worker/protocol.js';
import type { TaskLogRecord } from '../worker/task-logger.js';
import type { WireError } from '../worker/wire-error.js';
import type { Call } from './call.js';
import { startWithFlags } from './thread-files.js';

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
  /** Register tsx in the thread before its entry. */
  tsx: boolean;
  /** Node flags for the thread (see thread-files.ts). */
  execArgv: string[];
  /** True when `execArgv` is the parent's own rather than the Pool's `execArgv` option. */
  inheritedExecArgv: boolean;
  /** Flags that help but are not required (the light-API export condition). */
  extraExecArgv: readonly string[];
}

function startThread(options: WorkerSpawnOptions, boot: WorkerBoot): Worker {
  return startWithFlags(
    (execArgv) =>
      new Worker(options.boot, {
        workerData: boot,
        resourceLimits: options.resourceLimits,
        execArgv,
        name: `multitask-worker-${options.id}`,
      }),
    options.execArgv,
    options.inheritedExecArgv,
    options.extraExecArgv,
  );
}

/** Weight of the newest sample in the running average of task run time. */
const EWMA_WEIGHT = 0.2;

export class WorkerHandle {
  readonly id: number;
  /** Calls sent to this thread and not yet settled by it, by call id. Read it; only the handle writes it. */
  readonly inflight = new Map<number, Call>();
  /** Resolves once its app is up, or once the thread has exited without getting there. */
  readonly whenUp: Promise<void>;
  /** Resolves once the thread has exited (after its owner heard of it). */
  readonly whenExited: Promise<void>;
  #up!: () => void;
  #exited!: () => void;
  #state: WorkerState = 'starting';
  #exclusive = 0;
  #tasksDone = 0;
  #tasksFailed = 0;
  #avgRunMs: number | undefined;
  #heapUsed: number | undefined;
  /** When its last results arrived (performance.now()): a quiet worker with a backlog may be stuck on a long task. */
  #lastReportAt = 0;
  /** A 'release' was sent and not yet answered. */
  #releasePending = false;
  #terminationReason: TerminationReason | undefined;
  #terminatedFor: Call | undefined;
  #ready = false;
  #retiring = false;
  #retireAborted = false;
  #stopped = false;
  #setupError: Error | undefined;
  #lastError: Error | undefined;
  readonly #runningSlots: Int32Array;
  readonly #thread: Worker;
  #referenced = true;

  constructor(options: WorkerSpawnOptions, listener: WorkerListener) {
    this.id = options.id;
    this.whenUp = new Promise((resolve) => {
      this.#up = resolve;
    });
    this.whenExited = new Promise((resolve) => {
      this.#exited = resolve;
    });
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
      tsx: options.tsx,
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
          this.#stopped = true;
          listener.onStopped(this);
          return;
        case 'log':
          listener.onLog(this, message.record);
          return;
        default:
          unknownMessage(message);
      }
    });
    this.#thread.on('error', (error) => {
      this.#lastError = error;
    });
    this.#thread.on('exit', (exitCode) => {
      listener.onExit(this, exitCode, this.#lastError);
      this.#up();
      this.#exited();
    });
  }

  get state(): WorkerState {
    return this.#state;
  }

  /** True while the thread can take new calls. */
  get accepting(): boolean {
    return this.#state === 'idle' || this.#state === 'busy';
  }

  /** Calls it holds (running or waiting in its prefetch). */
  get load(): number {
    return this.inflight.size;
  }

  /** How many supervised (long-running) calls it holds: no prefetch next to those. */
  get exclusive(): number {
    return this.#exclusive;
  }

  get tasksDone(): number {
    return this.#tasksDone;
  }

  get tasksFailed(): number {
    return this.#tasksFailed;
  }

  /** Average task run time in ms (exponentially weighted); undefined before the first result. */
  get avgRunMs(): number | undefined {
    return this.#avgRunMs;
  }

  /** V8 heap in use (bytes), when the pool asked the thread to report it. */
  get heapUsed(): number | undefined {
    return this.#heapUsed;
  }

  /** Booted its app at least once: a later death is not a boot failure. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Being retired (resize, recycling): finishes what runs, takes nothing new. */
  get retiring(): boolean {
    return this.#retiring;
  }

  /** Its retirement grace ran out and running tasks were told to stop: they may run again elsewhere. */
  get retireAborted(): boolean {
    return this.#retireAborted;
  }

  /** Why the pool ended the thread on purpose; undefined for a crash. */
  get terminationReason(): TerminationReason | undefined {
    return this.#terminationReason;
  }

  /** The call whose timeout or abort ended the thread. */
  get terminatedFor(): Call | undefined {
    return this.#terminatedFor;
  }

  /** Why its app could not start, when that is how it ended. */
  get setupError(): Error | undefined {
    return this.#setupError;
  }

  /** It said 'stopped': its app was torn down and it ended as asked (the pool then reclaims the thread). */
  get stoppedCleanly(): boolean {
    return this.#stopped;
  }

  /** The app is up: take work. Until now the thread kept the process alive; idle, it no longer does. */
  markReady(): void {
    this.#ready = true;
    this.#state = this.inflight.size > 0 ? 'busy' : 'idle';
    this.#setReferenced(this.inflight.size > 0);
    this.#up();
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
    this.#post({ type: 'run', tasks }, transfer);
    for (const call of calls) {
      call.workerId = this.id;
      this.inflight.set(call.id, call);
      if (call.exclusive) this.#exclusive++;
    }
    this.#state = 'busy';
    this.#setReferenced(true);
  }

  /** Forgets a settled call; returns to idle when nothing is left. */
  release(call: Call): void {
    if (!this.inflight.delete(call.id)) return;
    if (call.exclusive) this.#exclusive--;
    if (this.inflight.size === 0 && this.#state === 'busy') {
      this.#state = 'idle';
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

  /** A results message arrived (at `now`, performance.now()): the worker is not stuck, and a release was answered. */
  noteReport(now: number, heapUsed: number | undefined): void {
    this.#lastReportAt = now;
    this.#releasePending = false;
    if (heapUsed !== undefined) this.#heapUsed = heapUsed;
  }

  /** How long since its last results (ms). */
  quietFor(now: number): number {
    return now - this.#lastReportAt;
  }

  /** A task ran for `ms` in the thread: feeds the running average the prefetch follows. */
  recordRunTime(ms: number): void {
    this.#avgRunMs = this.#avgRunMs === undefined ? ms : this.#avgRunMs + EWMA_WEIGHT * (ms - this.#avgRunMs);
  }

  /** Counts a task it settled for its caller. */
  countOutcome(ok: boolean): void {
    if (ok) this.#tasksDone++;
    else this.#tasksFailed++;
  }

  /** Asks the thread to hand back the calls it has not started; false when a request is already out. */
  requestRelease(): boolean {
    if (this.#releasePending) return false;
    this.#releasePending = true;
    this.#post({ type: 'release' });
    return true;
  }

  /** Tells the thread to skip a call, or to abort its signal if it is running. */
  cancel(call: Call, reason: 'abort' | 'timeout'): void {
    this.#post({ type: 'cancel', id: call.id, reason });
  }

  /** Its app's setup failed with `error`: the thread ends, and that is how it ended. */
  failSetup(error: Error): void {
    this.#setupError = error;
    this.terminate('setupFailed');
  }

  /** Asks the thread to finish (or, with `abort`, abort) its tasks, tear its app down and exit. */
  stop(abort: boolean): void {
    this.#state = 'stopping';
    // Keeps the process alive while the pool waits on this thread to exit.
    this.#setReferenced(true);
    this.#post({ type: 'stop', abort });
  }

  /**
   * Takes it out of service: a thread still booting ends at once (returns false); a booted one
   * runs what it has started and stops (returns true: the caller keeps the grace).
   */
  retire(): boolean {
    this.#retiring = true;
    if (!this.#ready) {
      this.terminate('retire');
      return false;
    }
    this.stop(false);
    return true;
  }

  /** Its retirement grace ran out: running tasks are told to stop, and may run again elsewhere. */
  abortRetirement(): void {
    this.#retireAborted = true;
    this.#post({ type: 'stop', abort: true });
  }

  /** Ends the thread now; the exit is then reported with `reason`, not as a crash. */
  terminate(reason: TerminationReason, forCall?: Call): void {
    this.#terminationReason ??= reason;
    this.#terminatedFor ??= forCall;
    this.#state = 'stopping';
    void this.#thread.terminate();
  }

  #post(message: ToWorker, transfer?: TransferListItem[]): void {
    this.#thread.postMessage(message, transfer as never);
  }

  /** A worker with pending work keeps the process alive; an idle one does not. */
  #setReferenced(referenced: boolean): void {
    if (referenced === this.#referenced) return;
    this.#referenced = referenced;
    if (referenced) this.#thread.ref();
    else this.#thread.unref();
  }
}
