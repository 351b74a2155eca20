/**
 * The code that runs inside a worker thread: boot the app once, then run tasks as they arrive,
 * each inside try/catch. Results go back in batches; the shared running slots tell the pool
 * which tasks were running if this thread dies, so that the others can run elsewhere.
 */
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { loadApp } from '../app/load-app.js';
import { abortError, resultNotCloneable, taskTimeoutSignal, workerShuttingDown } from '../errors.js';
import { rebuildTask } from '../task/fields.js';
import type { TaskRegistry } from '../task/registry.js';
import type { TaskContext, TaskLogger } from '../task/task.js';
import {
  appendResult,
  type FromWorker,
  ResultStatus,
  type ResultWire,
  resultCount,
  resultId,
  resultRunMs,
  resultStatus,
  resultValue,
  type TaskWire,
  type ToWorker,
  unknownMessage,
  type WorkerBoot,
} from './protocol.js';
import { createTaskLogger, type TaskLogRecord } from './task-logger.js';
import { toWireError } from './wire-error.js';

/** Results are sent at least this often (ms) while a batch runs, so a crash loses little. */
const FLUSH_INTERVAL_MS = 1;
const { OK, FAILED, SKIPPED, REFUSED } = ResultStatus;

/**
 * Set once per thread by whichever copy of this code starts it. Under tsx the thread runs these
 * sources while the app's `import 'multitask'` loads the built bundle, which holds this code too:
 * only the first copy may answer the pool.
 */
const STARTED = Symbol.for('multitask.thread.started');

let boot: WorkerBoot;
let port: NonNullable<typeof parentPort>;
let runningSlots: Int32Array;
/** Slots of `runningSlots` not in use; a task takes one while it runs. */
let freeSlots: number[];

let registry: TaskRegistry;
let app: unknown;
let teardown: ((app: unknown) => void | Promise<void>) | undefined;

const pending: TaskWire[] = [];
let pendingHead = 0;
let running = 0;
let stopping = false;
const cancelledBeforeStart = new Set<number>();
const runningContexts = new Map<number, RunContext>();

let results: unknown[] = [];
let lastFlush = performance.now();
let flushScheduled = false;

/** A task's context; the signal and the logger are made only when the task asks for them. */
class RunContext implements TaskContext<unknown> {
  #controller: AbortController | undefined;
  #log: TaskLogger | undefined;
  #abortReason: unknown;
  readonly app: unknown;
  readonly attempt: number;
  readonly #taskName: string;
  readonly #callId: number;

  constructor(appValue: unknown, attempt: number, taskName: string, callId: number) {
    this.#callId = callId;
    this.app = appValue;
    this.attempt = attempt;
    this.#taskName = taskName;
  }

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.#abortReason !== undefined && !this.#controller.signal.aborted)
      this.#controller.abort(this.#abortReason);
    return this.#controller.signal;
  }

  get log(): TaskLogger {
    this.#log ??= createTaskLogger(
      { workerId: boot.workerId, task: this.#taskName, attempt: this.attempt },
      sendLog,
      boot.logThreshold,
      this.#callId,
    );
    return this.#log;
  }

  abort(reason: unknown): void {
    this.#abortReason = reason;
    this.#controller?.abort(reason);
  }
}

function post(message: FromWorker): void {
  port.postMessage(message);
}

/** A task's log line goes to the pool, which writes it with the service's logger. */
function sendLog(record: TaskLogRecord): void {
  try {
    post({ type: 'log', record });
  } catch {
    // A field that cannot be cloned (a function, a socket): keep the line, drop the fields.
    post({ type: 'log', record: { ...record, fields: { note: 'fields not cloneable' } } });
  }
}

function flush(): void {
  flushScheduled = false;
  lastFlush = performance.now();
  if (results.length === 0) return;
  const batch = results;
  results = [];
  const heapUsed = boot.reportHeap ? getHeapStatistics().used_heap_size : undefined;
  try {
    post({ type: 'results', results: batch, heapUsed });
  } catch {
    // One value in the batch cannot be cloned: send the results one by one and replace the culprits.
    for (let i = 0; i < resultCount(batch); i++) {
      const one: ResultWire = [];
      appendResult(
        one,
        resultId(batch, i),
        resultStatus(batch, i),
        resultValue(batch, i),
        resultRunMs(batch, i),
      );
      try {
        post({ type: 'results', results: one });
      } catch (error) {
        const refused: ResultWire = [];
        const wire = toWireError(resultNotCloneable(error as Error));
        appendResult(refused, resultId(batch, i), REFUSED, wire, resultRunMs(batch, i));
        post({ type: 'results', results: refused });
      }
    }
  }
}

function scheduleFlush(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flush);
}

function report(id: number, status: number, payload: unknown, startedAt: number): void {
  appendResult(results, id, status, payload, performance.now() - startedAt);
}

function drain(): void {
  while (running < boot.concurrency && pendingHead < pending.length) {
    const wire = pending[pendingHead++]!;
    const startedAt = performance.now();
    if (results.length > 0 && startedAt - lastFlush > FLUSH_INTERVAL_MS) flush();
    const [id, name, fields, attempt] = wire;
    if (stopping || cancelledBeforeStart.delete(id)) {
      report(id, SKIPPED, undefined, startedAt);
      continue;
    }
    start(id, name, fields, attempt, startedAt);
  }
  if (pendingHead === pending.length) {
    pending.length = 0;
    pendingHead = 0;
  }
  if (stopping && running === 0) void finishStop();
}

function start(id: number, name: string, fields: TaskWire[2], attempt: number, startedAt: number): void {
  let task: ReturnType<typeof rebuildTask>;
  try {
    task = rebuildTask(registry.classOf(name), fields);
  } catch (error) {
    report(id, REFUSED, toWireError(error), startedAt);
    return;
  }
  const slot = freeSlots.pop()!;
  Atomics.store(runningSlots, slot, id);
  let outcome: unknown;
  const context = new RunContext(app, attempt, name, id);
  try {
    outcome = task.run(context);
  } catch (error) {
    releaseSlot(slot);
    report(id, FAILED, toWireError(error), startedAt);
    return;
  }
  if (outcome === null || typeof (outcome as Promise<unknown>)?.then !== 'function') {
    releaseSlot(slot);
    report(id, OK, outcome, startedAt);
    return;
  }
  running++;
  runningContexts.set(id, context);
  (outcome as Promise<unknown>).then(
    (value) => settleAsync(id, slot, OK, value, startedAt),
    (error) => settleAsync(id, slot, FAILED, toWireError(error), startedAt),
  );
}

/** The task in `slot` is no longer running: if the thread dies now, it is not to blame. */
function releaseSlot(slot: number): void {
  Atomics.store(runningSlots, slot, 0);
  freeSlots.push(slot);
}

function settleAsync(id: number, slot: number, status: number, payload: unknown, startedAt: number): void {
  releaseSlot(slot);
  running--;
  runningContexts.delete(id);
  report(id, status, payload, startedAt);
  if (pendingHead < pending.length || stopping) drain();
  scheduleFlush();
}

let stopPromise: Promise<void> | undefined;
function finishStop(): Promise<void> {
  stopPromise ??= (async () => {
    flush();
    try {
      await teardown?.(app);
    } catch (error) {
      createTaskLogger({ workerId: boot.workerId }, sendLog, boot.logThreshold).error('app teardown failed', {
        error: toWireError(error),
      });
    }
    post({ type: 'stopped' });
  })();
  return stopPromise;
}

function onMessage(message: ToWorker): void {
  switch (message.type) {
    case 'run':
      for (const wire of message.tasks) pending.push(wire);
      drain();
      flush();
      return;
    case 'cancel': {
      const context = runningContexts.get(message.id);
      const reason =
        message.reason === 'timeout'
          ? taskTimeoutSignal()
          : abortError(undefined, 'The caller aborted the task');
      if (context) context.abort(reason);
      else cancelledBeforeStart.add(message.id);
      return;
    }
    case 'release': {
      const now = performance.now();
      while (pendingHead < pending.length) report(pending[pendingHead++]![0], SKIPPED, undefined, now);
      pending.length = 0;
      pendingHead = 0;
      flush();
      return;
    }
    case 'stop':
      stopping = true;
      if (message.abort) {
        const reason = workerShuttingDown();
        for (const context of runningContexts.values()) context.abort(reason);
      }
      drain();
      flush();
      return;
    default:
      unknownMessage(message);
  }
}

/** True in a thread a multitask pool started, until one copy of this code has taken it. */
function isPoolThread(): boolean {
  const data = workerData as Partial<WorkerBoot> | undefined;
  return (
    parentPort !== null &&
    typeof data?.appUrl === 'string' &&
    data.running instanceof SharedArrayBuffer &&
    (globalThis as Record<symbol, unknown>)[STARTED] === undefined
  );
}

/** Boots the app, then says ready (or why it could not) and runs what the pool sends. */
async function startThread(): Promise<void> {
  (globalThis as Record<symbol, unknown>)[STARTED] = true;
  boot = workerData as WorkerBoot;
  // Start loading the app at once. loadApp() below imports the same URL, which joins this load
  // (a module loads once per thread) and reports its errors; this early import only starts the
  // work, so its own rejection is not an error here.
  import(boot.appUrl).catch(() => {});
  port = parentPort!;
  runningSlots = new Int32Array(boot.running);
  freeSlots = Array.from({ length: boot.concurrency }, (_, index) => boot.concurrency - 1 - index);
  port.on('message', onMessage);
  try {
    const loaded = await loadApp(boot.appUrl);
    registry = loaded.registry;
    teardown = loaded.definition.teardown;
    app = await loaded.definition.setup?.();
    post({ type: 'ready' });
  } catch (error) {
    post({ type: 'setupFailed', error: toWireError(error) });
  }
}

// No top-level await: once built, the app's own `import 'multitask'` resolves to this very
// module (see thread.ts), which must finish evaluating before the app can.
if (isPoolThread()) void startThread();
