/**
 * The public queue: a thin facade over one {@link Transport}. It turns task instances into
 * version-1 job messages and validates what operators and producers pass in.
 */

import { EventEmitter } from 'node:events';
import { appUrl, type LoadedApp, loadApp } from '../app/load-app.js';
import { abortError, invalidOption, queueClosed, resultNotRequested } from '../errors.js';
import type { TaskRegistry } from '../task/registry.js';
import type { ResultOf, Task } from '../task/task.js';
import { type BatchEntry, type BatchJob, batchOutcome, encodeBatch, encodeJob } from './dispatch-many.js';
import { Fleet } from './fleet.js';
import type { EventsOptions, FeedEvent, InstanceInfo } from './fleet-types.js';
import type { StoredError } from './message.js';
import { openTransport } from './open-transport.js';
import {
  DEFAULT_QUEUE,
  type DispatchOptions,
  delay,
  type FailedIdsOptions,
  type FailedListOptions,
  jobId,
  type OpenQueueOptions,
  optionalSignal,
  queueName,
  type ResolvedQueueOptions,
  resolveDispatch,
  resolveFailedIds,
  resolveFailedPage,
  resolveQueueOptions,
} from './options.js';
import { attachPort } from './port.js';
import { type CallOptions, type ResultOptions, resolveWait } from './result-options.js';
import { ResultWaits } from './results.js';
import type { FailedJob, QueueStats, Transport } from './transport.js';
import { parseQueueUrl } from './url.js';

/**
 * A job's kept outcome, read without waiting ({@link Queue.storedResult}): its return value as
 * stored (JSON, with the field codec's tags for Dates, Maps, bigints… left as they are), or
 * the error it failed with; `pending` while it has not ended, `unknown` when nothing is kept.
 */
export type StoredResult =
  | { state: 'completed'; value: unknown }
  | { state: 'failed'; error: StoredError }
  | { state: 'pending' }
  | { state: 'unknown' };

/** The events of a {@link Queue}: its broker connection coming and going (RabbitMQ only). */
export interface QueueEvents {
  /**
   * The connection dropped; consumers and dispatches wait for it to come back. `node` is the
   * node it was to (password masked); `reason` says why when it is known (a missed heartbeat).
   */
  disconnected: { node?: string | undefined; reason?: string | undefined };
  /**
   * A connection attempt failed; the next one is in `delayMs` (0: the next node of the list at
   * once). The same thing as `openQueue`'s `onConnectRetry` callback, which also hears the
   * attempts made while opening.
   */
  reconnecting: { attempt: number; delayMs: number; error: Error; node?: string | undefined };
  /** The connection is back, to `node` (password masked); consumers subscribed again. */
  connected: { node?: string | undefined };
}

/**
 * Jobs carried between processes: RabbitMQ (`amqp://…`) or an embedded SQLite file (`sqlite:…`).
 * Emits {@link QueueEvents} as its broker connection comes and goes.
 */
export class Queue extends EventEmitter {
  /** The URL (or the list of node URLs), passwords masked: safe to log. */
  readonly url: string;
  readonly #transport: Transport;
  readonly #app: Promise<LoadedApp> | undefined;
  readonly #fleet: Fleet;
  #registry: TaskRegistry | undefined;
  #closed = false;
  /** The outcomes this process waits for (`call`, `result`), fed by the transport. */
  readonly #results: ResultWaits;

  /** Use {@link openQueue}. */
  constructor(transport: Transport, options: ResolvedQueueOptions, app: Promise<LoadedApp> | undefined) {
    super();
    this.url = transport.safeUrl;
    this.#transport = transport;
    this.#app = app;
    this.#results = new ResultWaits(options.resultTtlMs);
    transport.receiveResults(this.#results);
    this.#fleet = new Fleet(() => transport.fleet());
    const fleet = this.#fleet;
    attachPort(this, { transport, retry: options.retry, assertOpen: () => this.#assertOpen(), fleet });
    transport.watch((event) => {
      const { type, ...payload } = event;
      this.emit(type, payload);
    });
    app?.then(
      (loaded) => {
        this.#registry = loaded.registry;
      },
      () => {},
    );
  }

  /** True while the broker is reachable (an open SQLite file always is). */
  get connected(): boolean {
    return !this.#closed && this.#transport.connected;
  }

  /**
   * RabbitMQ: the node of the URL list the connection is to now (its URL, password masked), or
   * undefined while there is none; SQLite: undefined.
   */
  get node(): string | undefined {
    return this.#closed ? undefined : this.#transport.node;
  }

  /**
   * Puts a task on a queue as a job; resolves with the job's id once the broker has it
   * (publisher confirm, or a committed transaction). Fields must be JSON. With `result: true`
   * the job's outcome is kept for {@link Queue.result} (see docs/queues.md, "Results").
   */
  dispatch(task: Task<unknown, never>, options?: DispatchOptions): Promise<string> {
    // No async function here: on the hot path of a producer each awaited layer costs a tick.
    if (this.#registry === undefined) return this.#loadRegistry().then(() => this.dispatch(task, options));
    try {
      const job = this.#job(task, options, false);
      // A transport that keeps no outcomes (RabbitMQ) answers this process only: it keeps the reply.
      if (job.message.wantsResult && !this.#transport.keepsResults)
        this.#results.expect(job.id, true, job.task);
      return this.#transport.publish(job.queue, job.message).then(
        () => {
          this.#fleet.feed(job.queue).dispatched(job.id, job.task);
          return job.id;
        },
        (error: Error) => {
          this.#results.abandon(job.id, error);
          throw error;
        },
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Dispatches a batch: all checked first (a bad job refuses the batch, with its `index`, before
   * anything is sent), then published in one go. Resolves with the ids in order once all are
   * confirmed (RabbitMQ) or committed (SQLite); else rejects with `ERR_DISPATCH_INCOMPLETE`
   * (`accepted`, `notAccepted`). An entry `{ task, options }` overrides `options` for its job.
   * See docs/queues.md, "Dispatching in bulk".
   */
  dispatchMany(tasks: readonly BatchEntry[], options?: DispatchOptions): Promise<string[]> {
    return this.#run(async () => {
      const jobs = encodeBatch(this.#registry ?? (await this.#loadRegistry()), tasks, options);
      // As in dispatch: a transport that keeps no outcomes answers this process only.
      const keep = jobs.filter((job) => job.message.wantsResult && !this.#transport.keepsResults);
      for (const job of keep) this.#results.expect(job.id, true, job.task);
      const errors = await this.#transport.publishMany(jobs);
      for (let index = 0; index < jobs.length; index++) {
        const job = jobs[index]!;
        const error = errors[index];
        if (error === undefined) this.#fleet.feed(job.queue).dispatched(job.id, job.task);
        else this.#results.abandon(job.id, error);
      }
      return batchOutcome(jobs, errors);
    });
  }

  /**
   * Dispatches a task as a job and resolves with its return value, from whichever process ran
   * it, decoded as task fields are (a Date is a Date, a bigint a bigint). Rejects as `pool.run`
   * does once the job failed for good (`ERR_TASK_FAILED` with the task's error as `cause`,
   * `ERR_TASK_TIMEOUT`, `ERR_ATTEMPTS_EXHAUSTED`…), not on an attempt that will be retried;
   * with `ERR_RESULT_TIMEOUT` after `waitMs` (default: as long as it takes), with an AbortError
   * when `signal` aborts, and with `ERR_RESULT_LOST` when the reply can no longer arrive: only
   * the wait ends, the job goes on. Bad input is refused before anything is sent.
   */
  call<T extends Task<unknown, never>>(task: T, options?: CallOptions): Promise<ResultOf<T>> {
    if (this.#registry === undefined) return this.#loadRegistry().then(() => this.call(task, options));
    try {
      const wait = resolveWait(options);
      const job = this.#job(task, options, true);
      if (wait.signal?.aborted) throw abortError(wait.signal.reason);
      // Waiting before publishing: the outcome of a quick job can arrive before the confirm.
      const { id } = job;
      this.#results.expect(id, false, job.task);
      const waiting = this.#results.wait(id, wait);
      this.#transport.publish(job.queue, job.message).then(
        () => this.#fleet.feed(job.queue).dispatched(id, job.task),
        (error: Error) => this.#results.abandon(id, error),
      );
      return waiting as Promise<ResultOf<T>>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Waits for the outcome of job `id`, as {@link Queue.call} does. On RabbitMQ the job must
   * have been dispatched by this process with `result: true`; on SQLite any process's job that
   * asked for a result can be read, until `resultTtlMs` after it finished. Otherwise it
   * rejects at once with `ERR_INVALID_OPTION`.
   */
  result<R = unknown>(id: string, options?: ResultOptions): Promise<R> {
    return this.#run(async () => {
      jobId(id);
      const wait = resolveWait(options);
      if (this.#results.has(id)) return this.#results.wait(id, wait) as Promise<R>;
      if (!this.#transport.keepsResults) throw resultNotRequested(id, 'process');
      // Waiting first, then looking: an outcome written in between reaches the wait.
      this.#results.expect(id, false);
      const waiting = this.#results.wait(id, wait) as Promise<R>;
      waiting.catch(() => {});
      try {
        const stored = await this.#transport.storedResult(id);
        if (stored === 'unknown') this.#results.abandon(id, resultNotRequested(id, 'file'));
        else if (stored !== 'pending') this.#results.settled(id, stored);
      } catch (error) {
        this.#results.abandon(id, error as Error);
      }
      return waiting;
    });
  }

  /**
   * The kept outcome of job `id`, read once, without waiting and without keeping anything
   * (what a dashboard shows): on SQLite from the results table, whoever dispatched the job; on
   * RabbitMQ, which keeps no outcomes, `unknown`.
   */
  storedResult(id: string): Promise<StoredResult> {
    return this.#run(async () => {
      const stored = await this.#transport.storedResult(jobId(id));
      if (stored === 'pending' || stored === 'unknown') return { state: stored };
      return stored.ok
        ? { state: 'completed', value: stored.value }
        : { state: 'failed', error: stored.error };
    });
  }

  /** Checks a task and its options, and builds its message; throws before anything is sent. */
  #job(task: Task<unknown, never>, options: DispatchOptions | undefined, call: boolean): BatchJob {
    this.#assertOpen();
    return encodeJob(this.#registry!, task, resolveDispatch(options), call);
  }

  /**
   * Puts an already-encoded message on a queue as it is, for bridges from other systems and
   * for tests: the consumer validates it (see docs/message-format.md), and moves a message
   * that is not a job to the failed store.
   */
  async dispatchMessage(
    queue: string,
    body: string | Buffer,
    options: { delayMs?: number } = {},
  ): Promise<void> {
    this.#assertOpen();
    const name = queueName(queue);
    if (typeof body !== 'string' && !Buffer.isBuffer(body))
      throw invalidOption('body', body, 'a string or a Buffer');
    const delayMs = delay('delayMs', options.delayMs ?? 0);
    await this.#transport.publish(name, {
      body,
      id: undefined,
      attempt: 1,
      notBefore: delayMs > 0 ? Date.now() + delayMs : 0,
    });
  }

  /** Ready, in flight, delayed and failed counts of a queue. */
  stats(queue: string = DEFAULT_QUEUE): Promise<QueueStats> {
    return this.#run(() => this.#transport.stats(queueName(queue)));
  }

  /**
   * A page of a queue's failed store, oldest first: id, task, fields, attempts, error and body
   * of at most `limit` jobs (default 1000), after the job whose id is `after` (the last of the
   * page before). An `after` no failed job has rejects with `ERR_INVALID_OPTION`.
   */
  failed(queue: string = DEFAULT_QUEUE, options: FailedListOptions = {}): Promise<FailedJob[]> {
    return this.#run(() => this.#transport.failed(queueName(queue), resolveFailedPage(options)));
  }

  /** The failed job with this id in a queue's failed store, or undefined. */
  failedJob(queue: string, id: string): Promise<FailedJob | undefined> {
    return this.#run(() => this.#transport.failedJob(queueName(queue), jobId(id)));
  }

  /**
   * Moves failed jobs of a queue back to it (those with `ids`, else every one), ids unchanged
   * and attempts counted afresh; resolves with how many jobs moved (copies of one id, from an
   * at-least-once duplicate, counted once). Ids not in the store are passed over.
   */
  retryFailed(queue: string = DEFAULT_QUEUE, options: FailedIdsOptions = {}): Promise<number> {
    return this.#countFailed(queue, options, (name, ids) => this.#transport.retryFailed(name, ids));
  }

  /** Deletes failed jobs of a queue (those with `ids`, else every one); resolves with how many. */
  purgeFailed(queue: string = DEFAULT_QUEUE, options: FailedIdsOptions = {}): Promise<number> {
    return this.#countFailed(queue, options, (name, ids) => this.#transport.purgeFailed(name, ids));
  }

  /** Validates, then acts on the chosen failed jobs; an empty `ids` acts on none, without asking the broker. */
  #countFailed(
    queue: string,
    options: FailedIdsOptions,
    act: (name: string, ids: string[] | undefined) => Promise<string[]>,
  ): Promise<number> {
    return this.#run(async () => {
      const name = queueName(queue);
      const ids = resolveFailedIds(options);
      if (ids?.length === 0) return 0;
      return (await act(name, ids)).length;
    });
  }

  /**
   * True when the queue is there, checked without creating it: on RabbitMQ, declared by a
   * producer or a consumer; on SQLite, always (the file holds every queue).
   */
  exists(queue: string = DEFAULT_QUEUE): Promise<boolean> {
    return this.#run(() => this.#transport.exists(queueName(queue)));
  }

  /** Closes the connection (or the file). Stop the consumers on it first: what they hold goes back to the queue. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#transport.beginClose();
    this.#results.close();
    await this.#fleet.close();
    await this.#transport.close();
  }

  /**
   * The live consumer processes of this broker or file, every queue: one per process and Queue
   * object consuming (see docs/queues.md, "Instances"). On RabbitMQ the first call of a Queue
   * takes about 300 ms (it asks, and collects the answers); later ones answer at once.
   */
  instances(): Promise<InstanceInfo[]> {
    return this.#run(() => this.#fleet.instances());
  }

  /**
   * The job events of every instance as they happen (`dispatched`, `started`, `completed`,
   * `retried`, `failed`, `released`), of one queue or of all, with a `gap` event where some
   * were lost: the feed drops rather than slows the jobs (docs/queues.md, "The event feed").
   * It subscribes on the first `next()`; ending the iteration (`break`) or closing the queue
   * frees what it held.
   */
  events(options: EventsOptions = {}): AsyncIterableIterator<FeedEvent> {
    this.#assertOpen();
    return this.#fleet.events(options);
  }

  #assertOpen(): void {
    if (this.#closed) throw queueClosed(this.url);
  }

  async #run<T>(operation: () => Promise<T>): Promise<T> {
    this.#assertOpen();
    return operation();
  }

  async #loadRegistry(): Promise<TaskRegistry> {
    if (this.#app === undefined) {
      throw invalidOption('app', undefined, 'the app module (openQueue(url, { app })) to dispatch tasks');
    }
    this.#registry = (await this.#app).registry;
    return this.#registry;
  }

  override on<E extends keyof QueueEvents>(event: E, listener: (payload: QueueEvents[E]) => void): this;
  // biome-ignore lint/suspicious/noExplicitAny: the overload above types the listeners.
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }
}

/**
 * Opens a queue: `amqp://user:pass@host:5672/vhost` for RabbitMQ (or a comma-separated list
 * of such URLs, one per node of a cluster: the connection picks one, and moves to another when
 * it is lost), `sqlite:path.db` or
 * `sqlite:///abs/path.db` for the embedded queue, nothing for `./.multitask/queue.db`.
 * Rejects with `ERR_BROKER_UNAVAILABLE` (URL masked) when the broker stays unreachable for
 * `connectTimeoutMs` (`Infinity`: retries until `signal` aborts, then rejects with an
 * AbortError), and at once with `ERR_BROKER_REFUSED` when it refuses the login or the vhost,
 * or `ERR_BROKER_TLS` when its certificate does not verify (once every node of a list answered so).
 */
export async function openQueue(url: string | undefined, options: OpenQueueOptions = {}): Promise<Queue> {
  // A bad URL or option fails before anything is loaded or dialled.
  parseQueueUrl(url);
  const resolved = resolveQueueOptions(options);
  const signal = optionalSignal(options.signal);
  const app = options.app === undefined ? undefined : loadApp(appUrl(options.app));
  // Surface a bad app now rather than at the first dispatch.
  if (app !== undefined) await app;
  const transport = await openTransport(url, resolved, signal);
  return new Queue(transport, resolved, app);
}
