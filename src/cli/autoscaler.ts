/**
 * The in-process autoscaler of `multitask work --min-workers --max-workers`: every few seconds
 * it reads the queue's backlog and sizes the pool to it. It grows at once (a backlog is work
 * waiting) and shrinks only after the backlog stayed small for several checks in a row, so
 * a bursty queue does not make workers come and go (each one boots the app again).
 */

import type { Logger } from 'pino';
import type { Pool } from '../pool/pool.js';
import type { Queue } from '../queue/queue.js';

/** Bounds and pace of the autoscaler. */
export interface AutoscaleOptions {
  min: number;
  max: number;
  /** Jobs one worker runs at once: a worker per `concurrency` jobs of backlog. */
  concurrency: number;
  /** Between two checks (ms). */
  intervalMs: number;
  /** Checks in a row that must all want fewer workers before the pool shrinks. */
  shrinkAfter?: number;
}

/** One reading of the queue and the pool. */
export interface BacklogSample {
  /** Jobs ready to run. */
  ready: number;
  /** Jobs running (on this instance, for RabbitMQ). */
  inFlight: number;
  /** Workers holding a job now: jobs spread over workers, so fewer would cut running jobs short. */
  busyWorkers: number;
}

/** The size the backlog asks for, within the bounds, and never below the busy workers. */
export function wantedWorkers(
  sample: BacklogSample,
  options: Pick<AutoscaleOptions, 'min' | 'max' | 'concurrency'>,
): number {
  const wanted = Math.max(
    Math.ceil((sample.ready + sample.inFlight) / options.concurrency),
    sample.busyWorkers,
  );
  return Math.min(options.max, Math.max(options.min, wanted));
}

/** Sizes a pool to its queue's backlog until stopped. */
export class Autoscaler {
  readonly #pool: Pool;
  readonly #queue: Queue;
  readonly #queueName: string;
  readonly #options: Required<AutoscaleOptions>;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #lowChecks = 0;
  #checking = false;
  #stopped = false;

  constructor(pool: Pool, queue: Queue, queueName: string, options: AutoscaleOptions, log: Logger) {
    this.#pool = pool;
    this.#queue = queue;
    this.#queueName = queueName;
    this.#options = { shrinkAfter: 3, ...options };
    this.#log = log;
  }

  start(): void {
    this.#timer = setInterval(() => void this.check(), this.#options.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  /** Reads the backlog once and resizes if it asks for it. */
  async check(): Promise<void> {
    if (this.#checking || this.#stopped || !this.#queue.connected) return;
    this.#checking = true;
    try {
      const { ready, inFlight } = await this.#queue.stats(this.#queueName);
      if (this.#stopped) return;
      const busyWorkers = this.#pool.stats().workers.filter((worker) => worker.inflight > 0).length;
      const current = this.#pool.size;
      const wanted = wantedWorkers({ ready, inFlight, busyWorkers }, this.#options);
      this.#lowChecks = wanted < current ? this.#lowChecks + 1 : 0;
      if (wanted > current || this.#lowChecks >= this.#options.shrinkAfter) {
        this.#lowChecks = 0;
        if (wanted !== current) {
          this.#log.info({ from: current, to: wanted, ready, inFlight }, 'autoscaler resizes the pool');
          // Not awaited: a shrink waits for the retired workers to finish, and the next check
          // must be free to grow again meanwhile.
          this.#pool
            .resize(wanted)
            .catch((error: Error) => this.#log.warn({ err: error.message }, 'autoscaler could not resize'));
        }
      }
    } catch (error) {
      this.#log.warn({ err: (error as Error).message }, 'autoscaler could not read the queue');
    } finally {
      this.#checking = false;
    }
  }
}
