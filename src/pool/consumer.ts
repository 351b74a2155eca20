/**
 * A pool consuming a queue: one lane per worker, each taking at most `concurrency` jobs at a
 * time, so prefetch follows the free slots and no instance hoards jobs. Every job runs as a
 * pool call; its outcome decides, once for every transport, whether the message is acked,
 * retried after a backoff, given back, or moved to the failed store.
 */

import { EventEmitter, setMaxListeners } from 'node:events';
import { ErrorCode, type ErrorCodeValue, hasCode, invalidOption } from '../errors.js';
import { backoffDelay } from '../internal/backoff.js';
import { type Grace, GracefulStop } from '../internal/grace.js';
import { nonNegative, positiveInteger } from '../internal/validate.js';
import {
  DEFAULT_QUEUE,
  type Delivery,
  decodeJob,
  type Job,
  type Lane,
  pastAttempts,
  type QueueFeed,
  type QueuePort,
  queueName,
  type StoredError,
  storedError,
  type Transport,
} from '../queue/port.js';
import type { TaskRegistry } from '../task/registry.js';
import type { Call, SubmitSpec } from './call.js';
import { IdleWatch } from './idle-watch.js';
import { type EncodedResult, settleValue } from './job-result.js';

/** Options of {@link Pool.consume}. */
export interface ConsumeOptions {
  /** The queue's name. Default "default". */
  queue?: string;
  /** Jobs each worker takes at once (its prefetch). Default: the pool's `concurrency`. */
  concurrency?: number;
}

/** Options of {@link Consumer.stop}. */
export interface StopOptions {
  /** How long jobs in flight have to finish before they are given back (ms). Default: the pool's `graceMs`. */
  graceMs?: number;
}

import type { ConsumerCounts, ConsumerEvents, SettledJob } from './consumer-types.js';

export type { ConsumerCounts, ConsumerEvents, SettledJob };

/** What a consumer needs of its pool. */
export interface ConsumerHost {
  submit(spec: SubmitSpec): Call;
  registry: Promise<TaskRegistry>;
  /** The pool's target size: one lane per worker. */
  workers(): number;
  /** True once the pool gave up (its app's setup kept failing). */
  broken(): boolean;
  concurrency: number;
  graceMs: number;
}

/** The crash kinds: the job did not fail, its worker died; it runs again at once. */
const CRASHES: readonly string[] = [ErrorCode.WORKER_CRASHED, ErrorCode.WORKER_OOM, ErrorCode.TASK_TIMEOUT];

/** The pool cannot run anything (its app's setup fails, or it gave up): not the job's fault. */
const POOL_FAULTS: readonly ErrorCodeValue[] = [ErrorCode.APP_SETUP_FAILED, ErrorCode.CRASH_LOOP];

/** One lane and the jobs it holds: the consumer's only count of jobs in flight. */
interface LaneSlot {
  lane: Promise<Lane>;
  inFlight: number;
  retiring: boolean;
}

/** A pool consuming one queue; from {@link Pool.consume}. */
export class Consumer extends EventEmitter {
  /** The queue consumed. */
  readonly queue: string;
  /** Live counts; read them any time. */
  readonly counts: ConsumerCounts;
  /** Resolves once the consumer is taking jobs; rejects when it cannot start (app or broker). */
  readonly ready: Promise<void>;
  readonly #host: ConsumerHost;
  readonly #transport: Transport;
  readonly #retry: QueuePort['retry'];
  readonly #concurrency: number;
  readonly #lanes: LaneSlot[] = [];
  /** One signal for every job of this consumer: aborted when stop() gives back what is still running. */
  readonly #giveBack = new AbortController();
  #registry: TaskRegistry | undefined;
  #state: 'starting' | 'running' | 'stopping' | 'stopped' = 'starting';
  /** Set while a stop waits for the jobs in flight to settle. */
  #idle: (() => void) | undefined;
  readonly #stopping = new GracefulStop();
  readonly #idleWatch: IdleWatch;
  readonly #feed: QueueFeed; // every job's events; sent on only while a listener wants them

  constructor(host: ConsumerHost, port: QueuePort, options: ConsumeOptions) {
    super();
    const lanes = this.#lanes;
    this.counts = {
      completed: 0,
      retried: 0,
      failed: 0,
      // Derived from the lanes, which hold the one count: it cannot drift from theirs.
      get inFlight() {
        let total = 0;
        for (const slot of lanes) total += slot.inFlight;
        return total;
      },
    };
    if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object');
    this.queue = queueName(options.queue ?? DEFAULT_QUEUE);
    this.#concurrency = positiveInteger('concurrency', options.concurrency ?? host.concurrency);
    this.#host = host;
    this.#transport = port.transport;
    this.#retry = port.retry;
    this.#feed = port.fleet.feed(this.queue);
    // Every job in flight listens on this one signal: hundreds of listeners are expected.
    setMaxListeners(0, this.#giveBack.signal);
    this.#idleWatch = new IdleWatch({
      holding: () => this.counts.inFlight,
      readyInQueue: () => this.#transport.ready(this.queue),
      listening: () => this.listenerCount('drained') > 0,
      drained: () => this.emit('drained'),
    });
    this.ready = host.registry.then(async (registry) => {
      this.#registry = registry;
      if (this.#state !== 'starting') return;
      this.#state = 'running';
      this.fitLanes();
      await Promise.all(this.#lanes.map((slot) => slot.lane));
      this.#idleWatch.settled();
    });
    this.ready.catch(() => {});
  }

  /** Opens or retires lanes so that there is one per worker of the pool. */
  fitLanes(): void {
    if (this.#state !== 'running') return;
    const active = this.#lanes.filter((slot) => !slot.retiring);
    for (let missing = this.#host.workers() - active.length; missing > 0; missing--) this.#openLane();
    for (let extra = active.length - this.#host.workers(); extra > 0; extra--) {
      const slot = active.pop()!;
      slot.retiring = true;
      void slot.lane.then((lane) => lane.stop());
      this.#closeIfDrained(slot);
    }
  }

  #openLane(): void {
    const slot: LaneSlot = { lane: undefined as unknown as Promise<Lane>, inFlight: 0, retiring: false };
    slot.lane = this.#transport.subscribe(this.queue, this.#concurrency, (delivery) =>
      this.#take(slot, delivery),
    );
    slot.lane.catch(() => {});
    this.#lanes.push(slot);
  }

  #take(slot: LaneSlot, delivery: Delivery): void {
    slot.inFlight++;
    this.#idleWatch.busy();
    const startedAt = performance.now();
    // A header its transport cannot use fails it as not a job: it could loop or park for ever.
    const decoded =
      delivery.invalid !== undefined
        ? { error: delivery.invalid }
        : decodeJob(delivery.body, this.#registry!, delivery.id);
    if (decoded.error !== undefined) {
      this.#settle(slot, delivery, undefined, startedAt, 'failed', storedError(decoded.error));
      return;
    }
    const job = decoded.job;
    if (delivery.attempt > job.attempts) {
      // Only a death of the whole process gets here (or a producer's attempt header out of range).
      const error = storedError(pastAttempts(job, delivery));
      this.#settle(slot, delivery, job, startedAt, 'failed', error);
      return;
    }
    const call = this.#host.submit({
      name: job.task,
      fields: job.fields,
      attempt: delivery.attempt,
      timeoutMs: job.timeoutMs,
      signal: this.#giveBack.signal,
      tags: { jobId: job.id, queue: this.queue },
    });
    this.#feed.started(job, delivery.attempt, call);
    // The worker is read when the call settles: a crash may have moved the job to another one.
    call.promise.then(
      (value) => {
        const { outcome, error, result } = settleValue(delivery.wantsResult === true, value);
        this.#settle(slot, delivery, job, startedAt, outcome, error, call.workerId, result);
      },
      (error: unknown) =>
        this.#settle(
          slot,
          delivery,
          job,
          startedAt,
          // Its worker was retired under it (a shrinking resize): not the job's fault.
          call.preempted ? 'released' : this.#outcomeOf(error, delivery, job),
          storedError(error),
          call.workerId ?? (error as { workerId?: number })?.workerId,
        ),
    );
  }

  #outcomeOf(error: unknown, delivery: Delivery, job: Job): SettledJob['outcome'] {
    if (
      (this.#giveBack.signal.aborted && (error as Error)?.name === 'AbortError') ||
      hasCode(error, ErrorCode.POOL_CLOSED)
    ) {
      return 'released';
    }
    // The pool, not the job, is at fault: the job goes back uncounted rather than burning its attempts.
    if (POOL_FAULTS.some((code) => hasCode(error, code))) {
      // A pool that gave up takes nothing more: stop, and let the jobs wait for a healthy instance.
      if (this.#host.broken()) void this.stop({ graceMs: 0 });
      return 'released';
    }
    if (hasCode(error, ErrorCode.RESULT_NOT_CLONEABLE)) return 'failed'; // no other attempt would return less
    return delivery.attempt >= job.attempts ? 'failed' : 'retried';
  }

  #settle(
    slot: LaneSlot,
    delivery: Delivery,
    job: Job | undefined,
    startedAt: number,
    outcome: SettledJob['outcome'],
    error?: StoredError,
    workerId?: number,
    result?: EncodedResult,
  ): void {
    let settling: Promise<void>;
    switch (outcome) {
      case 'completed':
        settling = delivery.ack(result);
        break;
      case 'failed':
        settling = delivery.fail(error!);
        break;
      case 'retried': {
        const crash = error?.code !== undefined && CRASHES.includes(error.code);
        const { initialDelayMs, maxDelayMs } = this.#retry;
        settling = delivery.retry(
          crash ? 0 : backoffDelay(delivery.attempt, initialDelayMs, maxDelayMs),
          error!,
        );
        break;
      }
      case 'released': {
        // Given back by stop() at once; after a pool fault, after a pause, so as not to spin on it.
        const poolFault = POOL_FAULTS.some((code) => error?.code === code);
        settling = delivery.release(poolFault ? this.#retry.initialDelayMs : 0);
        break;
      }
    }
    const durationMs = performance.now() - startedAt;
    this.#feed.ended(outcome, job, delivery, workerId, durationMs, error); // SQLite: in the outcome's transaction
    // Counted once the broker has the outcome, so that a count read is a state the queue shows
    // too; `settled` follows the count, so that its listeners see the job in it.
    // One reaction for both ends, not `.then().finally()`: a promise and a closure fewer a job.
    const after = () => {
      slot.inFlight--;
      if (slot.retiring) this.#closeIfDrained(slot);
      if (this.listenerCount('settled') > 0) {
        const settled: SettledJob = {
          outcome,
          queue: this.queue,
          id: job?.id ?? delivery.id,
          task: job?.task,
          attempt: delivery.attempt,
          workerId,
          durationMs,
        };
        if (error !== undefined) settled.error = error;
        this.emit('settled', settled);
      }
      if (this.counts.inFlight === 0) {
        this.#idle?.();
        this.#idleWatch.settled();
      }
    };
    settling.then(
      () => {
        if (outcome !== 'released') this.counts[outcome]++;
        after();
      },
      (settleError: Error) => {
        try {
          if (this.listenerCount('settleError') > 0)
            this.emit('settleError', { id: delivery.id, error: settleError });
        } finally {
          after();
        }
      },
    );
  }

  #closeIfDrained(slot: LaneSlot): void {
    if (slot.inFlight > 0) return;
    const index = this.#lanes.indexOf(slot);
    if (index >= 0) this.#lanes.splice(index, 1);
    void slot.lane.then((lane) => lane.close()).catch(() => {});
  }

  /**
   * Resolves when this consumer is idle: it holds no job, and the queue had no job ready when
   * it last looked (one count of ready jobs, taken when its last job settled; while jobs are
   * ready and none arrives, it looks again every 250 ms). Jobs waiting for their delay or a
   * retry's backoff are not ready. Resolves at once on a stopped consumer; rejects as `ready`
   * does when the consumer cannot start. The `drained` event fires at the same moments, once
   * per idle spell.
   */
  onIdle(): Promise<void> {
    return this.ready.then(() => this.#idleWatch.wait());
  }

  /**
   * Stops taking jobs, lets those in flight finish within `graceMs`, then gives back (to the
   * queue, attempt not counted) what did not finish. Resolves once every lane is closed.
   * Called again while stopping with `graceMs: 0`, it cuts the grace short (a second SIGTERM).
   */
  stop(options: StopOptions = {}): Promise<void> {
    const graceMs = nonNegative('graceMs', options.graceMs ?? this.#host.graceMs);
    return this.#stopping.request(graceMs, (grace) => this.#stop(grace));
  }

  async #stop(grace: Grace): Promise<void> {
    const wasStarting = this.#state === 'starting';
    this.#state = 'stopping';
    if (!wasStarting) await this.ready.catch(() => {});
    await Promise.all(
      this.#lanes.map((slot) =>
        slot.lane.then(
          (lane) => lane.stop(),
          () => {},
        ),
      ),
    );
    if (this.counts.inFlight > 0) {
      const drained = new Promise<void>((resolve) => {
        this.#idle = resolve;
      });
      if ((await Promise.race([drained, grace.over.then(() => 'grace' as const)])) === 'grace') {
        this.#giveBack.abort();
        await drained;
      }
    }
    await Promise.all(
      this.#lanes.map((slot) =>
        slot.lane.then(
          (lane) => lane.close(),
          () => {},
        ),
      ),
    );
    this.#lanes.length = 0;
    this.#state = 'stopped';
    this.#idleWatch.stop();
    this.emit('stopped');
  }

  override on<E extends keyof ConsumerEvents>(event: E, listener: (payload: ConsumerEvents[E]) => void): this;
  override on(event: 'stopped', listener: () => void): this;
  // biome-ignore lint/suspicious/noExplicitAny: the overloads above type the listeners.
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }
}
