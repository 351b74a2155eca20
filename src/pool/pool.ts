/**
 * The public pool: a thin facade (as Piscina's class sits over its thread pool) over two parts
 * it builds and wires: the {@link Scheduler}, which moves calls to workers, and the
 * {@link Workforce}, which keeps the workers alive. It resolves options, turns task instances
 * into calls, and emits typed events.
 */

import { EventEmitter } from 'node:events';
import type { TransferListItem } from 'node:worker_threads';
import { type LoadedApp, loadApp } from '../app/load-app.js';
import { invalidOption } from '../errors.js';
import { type Grace, GracefulStop } from '../internal/grace.js';
import { nonNegative, positiveInteger } from '../internal/validate.js';
import { portOf, type QueuePort } from '../queue/port.js';
import type { Queue } from '../queue/queue.js';
import { cloneableFields } from '../task/field-codec.js';
import type { ResultOf, Task } from '../task/task.js';
import { type TaskLogRecord, writeTaskLogLine } from '../worker/task-logger.js';
import { type ConsumeOptions, Consumer } from './consumer.js';
import type { EmitPoolEvent, PoolEventName, PoolEvents } from './events.js';
import { FleetReport } from './fleet-report.js';
import { type PoolOptions, type ResolvedPoolOptions, resolvePoolOptions } from './options.js';
import { type RestartOptions, resolveRestart } from './restart-policy.js';
import { Scheduler } from './scheduler.js';
import { type PoolSize, resolveSize } from './sizing.js';
import { type PoolStats, poolStats } from './stats.js';
import { type Service, Supervision, type SupervisorHost } from './supervisor.js';
import { Workforce } from './workforce.js';

export type { PoolStats, WorkerStats } from './stats.js';

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

/**
 * A fixed number of worker threads, each booting the app once, that run tasks, supervise
 * long-running ones, replace workers that die, and can be resized while running.
 */
export class Pool extends EventEmitter {
  readonly #options: ResolvedPoolOptions;
  readonly #calls: Scheduler;
  readonly #workforce: Workforce;
  readonly #app: Promise<LoadedApp>;
  #loaded: LoadedApp | undefined;
  readonly #consumers = new Set<Consumer>();
  /** Per Queue object consumed: what this pool reports to its fleet. */
  readonly #reports = new Map<QueuePort, FleetReport>();
  readonly #closing = new GracefulStop();
  /** Aborted when close() is first called: supervised replicas waiting to restart end at once. */
  readonly #closeRequested = new AbortController();
  #serviceRestarts = 0;
  readonly #emitEvent: EmitPoolEvent = (event, payload) => {
    if (event === 'restart') this.#serviceRestarts++;
    if (event === 'log' && this.listenerCount('log') === 0) writeTaskLogLine(payload as TaskLogRecord);
    else this.emit(event, payload);
  };

  constructor(options: PoolOptions) {
    super();
    this.#options = resolvePoolOptions(options);
    this.#calls = new Scheduler(this.#options.concurrency, this.#emitEvent);
    this.#workforce = new Workforce(this.#options, this.#calls, this.#emitEvent);
    // The main thread imports the app only to read its registry; setup runs in workers alone.
    this.#app = loadApp(this.#options.appUrl).then((loaded) => {
      this.#loaded = loaded;
      return loaded;
    });
    this.#app.catch(() => {});
  }

  /** The target number of workers. */
  get size(): number {
    return this.#workforce.target;
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
      if (options === undefined) return this.#calls.submit({ name, fields }).promise as Promise<ResultOf<T>>;
      const { timeoutMs, signal, transfer } = validateRunOptions(options);
      return this.#calls.submit({ name, fields, timeoutMs, signal, transfer }).promise as Promise<
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
    const calls = this.#calls;
    const workforce = this.#workforce;
    const host: SupervisorHost = {
      submit: (spec) => calls.submit(spec),
      emit: this.#emitEvent,
      finished: () => workforce.state !== 'running',
      closing: this.#closeRequested.signal,
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
    const calls = this.#calls;
    const workforce = this.#workforce;
    const consumer = new Consumer(
      {
        submit: (spec) => calls.submit(spec),
        registry: this.#app.then((loaded) => loaded.registry),
        workers: () => (workforce.state === 'running' ? workforce.target : 0),
        broken: () => workforce.state === 'broken',
        concurrency: this.#options.concurrency,
        graceMs: this.#options.graceMs,
      },
      port,
      options,
    );
    this.#consumers.add(consumer);
    const report = this.#fleetReport(port);
    report.add(consumer);
    consumer.on('stopped', () => {
      this.#consumers.delete(consumer);
      if (report.remove(consumer)) this.#reports.delete(port);
    });
    return consumer;
  }

  #fleetReport(port: QueuePort): FleetReport {
    let report = this.#reports.get(port);
    if (report === undefined) {
      const workforce = this.#workforce;
      report = new FleetReport(port, () => {
        let alive = 0;
        for (const worker of workforce.workers)
          if (worker.state === 'idle' || worker.state === 'busy') alive++;
        return { alive, target: workforce.state === 'running' ? workforce.target : 0 };
      });
      this.#reports.set(port, report);
    }
    return report;
  }

  /** Grows at once or shrinks by retiring idle workers first; running tasks keep their grace. */
  resize(size: PoolSize): Promise<void> {
    let count: number;
    try {
      count = resolveSize(size, 'size');
    } catch (error) {
      return Promise.reject(error);
    }
    const resized = this.#workforce.resize(count);
    for (const consumer of this.#consumers) consumer.fitLanes();
    return resized;
  }

  /** Workers, states, counts, restarts, queue length and timings. */
  stats(): PoolStats {
    return poolStats(this.#calls, this.#workforce, this.#serviceRestarts);
  }

  /** Resolves when nothing is queued or running. */
  onIdle(): Promise<void> {
    // Calls made before the app module loaded reach the scheduler when it has: wait for them too.
    const idle = () => this.#calls.onIdle();
    return this.#app.then(idle, idle);
  }

  /**
   * Refuses new work (`ERR_POOL_CLOSED`), aborts running tasks' signals, waits up to `graceMs`,
   * then terminates what is left. Resolves once every thread has exited. Called again while
   * closing with `graceMs: 0`, it ends the grace at once.
   */
  close(options: CloseOptions = {}): Promise<void> {
    const graceMs = nonNegative('graceMs', options.graceMs ?? this.#options.graceMs);
    return this.#closing.request(graceMs, (grace) => this.#close(grace));
  }

  async #close(grace: Grace): Promise<void> {
    this.#closeRequested.abort();
    if (this.#consumers.size > 0) {
      // Consumers first: their jobs in flight finish or go back to the queue, not to nowhere.
      // They share the pool's grace: when it ends (or a second close cuts it), they give back.
      const consumers = [...this.#consumers];
      void grace.over.then(() => {
        for (const consumer of consumers) void consumer.stop({ graceMs: 0 });
      });
      await Promise.all(consumers.map((consumer) => consumer.stop({ graceMs: grace.remainingMs() })));
    }
    await this.#workforce.close(grace);
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
