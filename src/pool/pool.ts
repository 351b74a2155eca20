/**
 * The public pool: a thin facade over the {@link Workforce} engine (as Piscina's class sits
 * over its thread pool). It resolves options, turns task instances into calls, and emits typed
 * events.
 */

import { EventEmitter } from 'node:events';
import type { TransferListItem } from 'node:worker_threads';
import { type LoadedApp, loadApp } from '../app/load-app.js';
import { invalidOption } from '../errors.js';
import { nonNegative, positiveInteger } from '../internal/validate.js';
import { portOf } from '../queue/port.js';
import type { Queue } from '../queue/queue.js';
import { cloneableFields } from '../task/fields.js';
import type { ResultOf, Task } from '../task/task.js';
import { type TaskLogRecord, writeTaskLogLine } from '../worker/task-logger.js';
import { type ConsumeOptions, Consumer } from './consumer.js';
import type { PoolEventName, PoolEvents } from './events.js';
import { type PoolOptions, type ResolvedPoolOptions, resolvePoolOptions } from './options.js';
import { type RestartOptions, resolveRestart } from './restart-policy.js';
import type { Percentiles } from './run-stats.js';
import type { EmitPoolEvent } from './scheduler.js';
import { type PoolSize, resolveSize } from './sizing.js';
import { type Service, Supervision, type SupervisorHost } from './supervisor.js';
import type { WorkerState } from './worker-handle.js';
import { type PoolState, Workforce } from './workforce.js';

/** Options of one {@link Pool.run} call. */
export interface RunOptions {
  /** Past this (ms) the worker is terminated for real and the call rejects with `ERR_TASK_TIMEOUT`. */
  timeoutMs?: number;
  /** Aborting removes a queued call, or stops the running one (its thread ends if it ignores its signal). */
  signal?: AbortSignal;
  /** Objects to transfer rather than copy (ArrayBuffers, MessagePorts), as in `postMessage`. */
  transfer?: TransferListItem[];
}

/** Options of {@link Pool.supervise}. */
export interface SuperviseOptions {
  /** How many copies run at once. Default 1. */
  replicas?: number;
  /** Overrides the pool's restart policy for this service. */
  restart?: RestartOptions;
}

/** Options of {@link Pool.close}. */
export interface CloseOptions {
  /** How long running tasks have, after their signal aborts, before their threads end (ms). */
  graceMs?: number;
}

/** One worker in {@link PoolStats}. */
export interface WorkerStats {
  id: number;
  state: WorkerState;
  /** Tasks it holds now (running or about to). */
  inflight: number;
  tasksDone: number;
  tasksFailed: number;
  /** Average run time of its recent tasks (ms). */
  avgRunMs: number | undefined;
  /** V8 heap in use (MiB), when recycling on heap size. */
  heapUsedMb: number | undefined;
}

/** A snapshot of a pool, from {@link Pool.stats}. */
export interface PoolStats {
  state: PoolState;
  /** The target number of workers. */
  size: number;
  workers: WorkerStats[];
  /** Calls waiting for a worker. */
  queueLength: number;
  tasks: { running: number; done: number; failed: number };
  /** Workers replaced after dying, plus supervised replicas restarted. */
  restarts: number;
  workerRestarts: number;
  serviceRestarts: number;
  recycled: number;
  /** How long tasks ran in their worker. */
  runTime: Percentiles;
  /** How long tasks waited between `run()` and starting in a worker. */
  waitTime: Percentiles;
}

class PoolEngine extends Workforce {
  serviceRestarts = 0;

  snapshot(): PoolStats {
    const workers: WorkerStats[] = [...this.workers].map((worker) => ({
      id: worker.id,
      state: worker.state,
      inflight: worker.inflight.size,
      tasksDone: worker.tasksDone,
      tasksFailed: worker.tasksFailed,
      avgRunMs: worker.avgRunMs,
      heapUsedMb: worker.heapUsed === undefined ? undefined : Math.round(worker.heapUsed / 1024 / 102.4) / 10,
    }));
    return {
      state: this.state,
      size: this.target,
      workers,
      queueLength: this.queueLength,
      tasks: {
        running: workers.reduce((sum, worker) => sum + worker.inflight, 0),
        done: this.tasksDone,
        failed: this.tasksFailed,
      },
      restarts: this.workerRestarts + this.serviceRestarts,
      workerRestarts: this.workerRestarts,
      serviceRestarts: this.serviceRestarts,
      recycled: this.recycled,
      runTime: this.runTimes.percentiles(),
      waitTime: this.waitTimes.percentiles(),
    };
  }
}

/**
 * A fixed number of worker threads, each booting the app once, that run tasks, supervise
 * long-running ones, replace workers that die, and can be resized while running.
 */
export class Pool extends EventEmitter {
  readonly #options: ResolvedPoolOptions;
  readonly #engine: PoolEngine;
  readonly #app: Promise<LoadedApp>;
  #loaded: LoadedApp | undefined;
  readonly #consumers = new Set<Consumer>();
  #stoppingConsumers: Promise<void> | undefined;
  #closeNow = false;
  #consumersStopped = false;
  readonly #emitEvent: EmitPoolEvent = (event, payload) => {
    if (event === 'restart') this.#engine.serviceRestarts++;
    if (event === 'log' && this.listenerCount('log') === 0) writeTaskLogLine(payload as TaskLogRecord);
    else this.emit(event, payload);
  };

  constructor(options: PoolOptions) {
    super();
    this.#options = resolvePoolOptions(options);
    this.#engine = new PoolEngine(this.#options, this.#emitEvent);
    // The main thread imports the app only to read its registry; setup runs in workers alone.
    this.#app = loadApp(this.#options.appUrl).then((loaded) => {
      this.#loaded = loaded;
      return loaded;
    });
    this.#app.catch(() => {});
  }

  /** The target number of workers. */
  get size(): number {
    return this.#engine.target;
  }

  /** Resolves once the app module is loaded in this thread (rejects when it cannot be). */
  get ready(): Promise<void> {
    return this.#app.then(() => undefined);
  }

  /** Runs a task in a worker and resolves with what its `run` returned. */
  run<T extends Task<unknown, never>>(task: T, options?: RunOptions): Promise<ResultOf<T>> {
    if (this.#loaded === undefined) return this.#app.then(() => this.run(task, options));
    try {
      // Two plain lookups, no wrapper object: this is the per-call hot path.
      const name = this.#loaded.registry.nameOf(task);
      const fields = cloneableFields(task, name);
      if (options === undefined) return this.#engine.submit({ name, fields }).promise as Promise<ResultOf<T>>;
      const { timeoutMs, signal, transfer } = validateRunOptions(options);
      return this.#engine.submit({ name, fields, timeoutMs, signal, transfer }).promise as Promise<
        ResultOf<T>
      >;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Runs `replicas` copies of a long-running task, each restarted after a failure with backoff,
   * until it returns. `ctx.attempt` counts a replica's runs from 1.
   */
  supervise(task: Task<unknown, never>, options: SuperviseOptions = {}): Service {
    const replicas = positiveInteger('replicas', options.replicas ?? 1);
    const policy = resolveRestart(options.restart, this.#options.restart);
    const engine = this.#engine;
    const host: SupervisorHost = {
      submit: (spec) => engine.submit(spec),
      emit: this.#emitEvent,
      finished: () => engine.state !== 'running',
      closing: () => engine.state === 'closing' || engine.state === 'closed',
    };
    const start = (loaded: LoadedApp) => {
      const name = loaded.registry.nameOf(task);
      return new Supervision(host, name, cloneableFields(task, name), replicas, policy);
    };
    // Before the registry is known the task has no name yet: the service starts once it has.
    return this.#loaded === undefined ? lazyService(this.#app.then(start)) : start(this.#loaded);
  }

  /**
   * Consumes a queue: every worker takes up to `concurrency` jobs at a time from it, runs them,
   * and acknowledges each only after its task returned. A job that throws is retried after a
   * backoff until its `attempts`, then moved to the failed store; a job whose worker dies runs
   * again at once, counting an attempt. `stop()` the consumer (or close the pool) to give back
   * what is in flight.
   */
  consume(queue: Queue, options: ConsumeOptions = {}): Consumer {
    const port = portOf(queue);
    const engine = this.#engine;
    const consumer = new Consumer(
      {
        submit: (spec) => engine.submit(spec),
        registry: this.#app.then((loaded) => loaded.registry),
        workers: () => (engine.state === 'running' ? engine.target : 0),
        broken: () => engine.state === 'broken',
        concurrency: this.#options.concurrency,
        graceMs: this.#options.graceMs,
      },
      port,
      options,
    );
    this.#consumers.add(consumer);
    consumer.on('stopped', () => this.#consumers.delete(consumer));
    return consumer;
  }

  /** Grows at once or shrinks by retiring idle workers first; running tasks keep their grace. */
  resize(size: PoolSize): Promise<void> {
    let count: number;
    try {
      count = resolveSize(size, 'size');
    } catch (error) {
      return Promise.reject(error);
    }
    const resized = this.#engine.resize(count);
    for (const consumer of this.#consumers) consumer.fitLanes();
    return resized;
  }

  /** Workers, states, counts, restarts, queue length and timings. */
  stats(): PoolStats {
    return this.#engine.snapshot();
  }

  /** Resolves when nothing is queued or running. */
  onIdle(): Promise<void> {
    // Calls made before the app module loaded reach the engine when it has: wait for them too.
    const idle = () => this.#engine.onIdle();
    return this.#app.then(idle, idle);
  }

  /**
   * Refuses new work (`ERR_POOL_CLOSED`), aborts running tasks' signals, waits up to `graceMs`,
   * then terminates what is left. Resolves once every thread has exited. Called again while
   * closing with `graceMs: 0`, it ends the grace at once.
   */
  close(options: CloseOptions = {}): Promise<void> {
    const graceMs = nonNegative('graceMs', options.graceMs ?? this.#options.graceMs);
    if (this.#stoppingConsumers !== undefined) {
      // Asked again with no grace (a second SIGTERM): cut the consumers' grace, then the threads'.
      if (graceMs === 0) {
        this.#closeNow = true;
        for (const consumer of this.#consumers) void consumer.stop({ graceMs: 0 });
        if (this.#consumersStopped) void this.#engine.close(0);
      }
      return this.#stoppingConsumers;
    }
    if (this.#consumers.size === 0) return this.#engine.close(graceMs);
    // Consumers first: their jobs in flight finish or go back to the queue, not to nowhere.
    const started = performance.now();
    this.#stoppingConsumers = Promise.all(
      [...this.#consumers].map((consumer) => consumer.stop({ graceMs })),
    ).then(() => {
      this.#consumersStopped = true;
      return this.#engine.close(this.#closeNow ? 0 : Math.max(0, graceMs - (performance.now() - started)));
    });
    return this.#stoppingConsumers;
  }

  override on<E extends PoolEventName>(event: E, listener: (payload: PoolEvents[E]) => void): this;
  override on(event: string | symbol, listener: (...args: unknown[]) => void): this {
    return super.on(event, listener);
  }

  override once<E extends PoolEventName>(event: E, listener: (payload: PoolEvents[E]) => void): this;
  override once(event: string | symbol, listener: (...args: unknown[]) => void): this {
    return super.once(event, listener);
  }
}

function validateRunOptions(options: RunOptions): RunOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object');
  const { timeoutMs, signal, transfer } = options;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs > 0))) {
    throw invalidOption('timeoutMs', timeoutMs, 'a number > 0');
  }
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw invalidOption('signal', signal, 'an AbortSignal');
  if (transfer !== undefined && !Array.isArray(transfer))
    throw invalidOption('transfer', transfer, 'an array');
  return options;
}

/** A service whose task name is resolved once the app has loaded. */
function lazyService(pending: Promise<Service>): Service {
  let service: Service | undefined;
  const done = pending.then((resolved) => {
    service = resolved;
    return resolved.done;
  });
  done.catch(() => {});
  return {
    done,
    get restarts() {
      return service?.restarts ?? 0;
    },
    get running() {
      return service?.running ?? 0;
    },
  };
}
