/**
 * The worker service's Prometheus metrics (prom-client, on a registry of its own): what its
 * consumers did with jobs, its pool's workers, and the queue's own counts. Job counters move
 * on the consumer's `settled` events; the pool and queue gauges are read when scraped, so
 * nothing is computed while nobody scrapes.
 */

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Consumer, SettledJob } from '../pool/consumer.js';
import type { Pool } from '../pool/pool.js';
import type { Queue } from '../queue/queue.js';
import type { QueueStats } from '../queue/transport.js';
import { METRIC } from './metric-names.js';

/** Job durations span milliseconds (a lookup) to minutes (a report): seconds, as Prometheus counts them. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** A scrape (or several scrapers) asks the broker at most this often. */
const QUEUE_STATS_MAX_AGE_MS = 1_000;

/** What the metrics read when scraped. */
export interface MetricsSources {
  pool: Pool;
  /** The queue consumed, and its name; none for `multitask run`. */
  queue?: { queue: Queue; name: string } | undefined;
  /** Whether the instance is ready (the `/readyz` answer). */
  ready: () => boolean;
}

/** Worker threads up and taking work (booted, not stopping). */
export function workersAlive(pool: Pool): number {
  return pool.stats().workers.filter((worker) => worker.state === 'idle' || worker.state === 'busy').length;
}

/** The metrics of one `multitask work` process. */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly #jobs: Record<SettledJob['outcome'], Counter<'queue' | 'task'>>;
  readonly #duration: Histogram<'queue' | 'task' | 'outcome'>;
  readonly #inFlight: Gauge<'queue'>;
  readonly #consumers = new Set<Consumer>();
  #queueStats: { at: number; stats: Promise<QueueStats | undefined> } | undefined;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const jobCounter = (name: string, help: string) =>
      new Counter({ name, help, labelNames: ['queue', 'task'] as const, registers });
    this.#jobs = {
      completed: jobCounter(METRIC.jobsCompleted, 'Jobs that returned and were acknowledged.'),
      failed: jobCounter(METRIC.jobsFailed, 'Jobs moved to the failed store.'),
      retried: jobCounter(METRIC.jobsRetried, 'Failed attempts put back for another.'),
      released: jobCounter(METRIC.jobsReleased, 'Jobs given back unfinished (shutdown, app not starting).'),
    };
    this.#duration = new Histogram({
      name: METRIC.jobDuration,
      help: 'From delivery to outcome, by outcome.',
      labelNames: ['queue', 'task', 'outcome'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    });
    const consumers = this.#consumers;
    this.#inFlight = new Gauge({
      name: METRIC.jobsInFlight,
      help: 'Jobs this instance holds now.',
      labelNames: ['queue'] as const,
      registers,
      collect() {
        this.reset();
        for (const consumer of consumers) this.inc({ queue: consumer.queue }, consumer.counts.inFlight);
      },
    });
    const { pool } = sources;
    new Gauge({
      name: METRIC.workersAlive,
      help: 'Worker threads up and taking work.',
      registers,
      collect() {
        this.set(workersAlive(pool));
      },
    });
    new Gauge({
      name: METRIC.workersTarget,
      help: 'The pool size asked for (resize, autoscaler).',
      registers,
      collect() {
        this.set(pool.size);
      },
    });
    new Counter({
      name: METRIC.workerRestarts,
      help: 'Workers replaced after dying (crash, out of memory, timeout).',
      registers,
      collect() {
        this.reset();
        this.inc(pool.stats().workerRestarts);
      },
    });
    new Counter({
      name: METRIC.taskRestarts,
      help: 'Supervised tasks run again after they failed (multitask run).',
      registers,
      collect() {
        this.reset();
        this.inc(pool.stats().serviceRestarts);
      },
    });
    new Gauge({
      name: METRIC.ready,
      help: '1 while /readyz answers 200.',
      registers,
      collect() {
        this.set(sources.ready() ? 1 : 0);
      },
    });
    if (sources.queue !== undefined) this.#queueGauges(sources.queue.queue, sources.queue.name);
  }

  /** Counts the jobs `consumer` settles. */
  observe(consumer: Consumer): void {
    this.#consumers.add(consumer);
    consumer.on('settled', (job) => {
      const labels = { queue: job.queue, task: job.task ?? 'unknown' };
      this.#jobs[job.outcome].inc(labels);
      this.#duration.observe({ ...labels, outcome: job.outcome }, job.durationMs / 1000);
    });
  }

  /** The Prometheus text of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  #queueGauges(queue: Queue, queueName: string): void {
    const stats = (): Promise<QueueStats | undefined> => {
      const now = Date.now();
      if (this.#queueStats === undefined || now - this.#queueStats.at > QUEUE_STATS_MAX_AGE_MS) {
        // An unreachable broker leaves the gauges out of the scrape rather than failing it.
        const fresh = queue.connected
          ? queue.stats(queueName).catch(() => undefined)
          : Promise.resolve(undefined);
        this.#queueStats = { at: now, stats: fresh };
      }
      return this.#queueStats.stats;
    };
    const gauge = (name: string, help: string, pick: (stats: QueueStats) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['queue'] as const,
        registers: [this.registry],
        async collect() {
          this.reset();
          const current = await stats();
          if (current !== undefined) this.set({ queue: queueName }, pick(current));
        },
      });
    gauge(
      METRIC.queueReady,
      "Jobs ready in the queue (the broker's count, the same on every instance).",
      (s) => s.ready,
    );
    gauge(
      METRIC.queueUnacked,
      'Jobs delivered and not acknowledged: all consumers on SQLite, this instance on RabbitMQ.',
      (s) => s.inFlight,
    );
    gauge(METRIC.queueDelayed, 'Jobs waiting for their delay or retry backoff.', (s) => s.delayed);
    gauge(METRIC.queueFailed, 'Jobs in the failed store.', (s) => s.failed);
  }
}
