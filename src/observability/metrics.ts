/**
 * The worker service's Prometheus metrics (prom-client, on a registry of its own): what its
 * consumers did with jobs, its pool's workers, and the queue's own counts. Job counters move
 * on the consumer's `settled` events, each with the job's id as an exemplar (`job_id`), so that
 * a spike on a dashboard leads to a job in the logs; the pool and queue gauges are read when
 * scraped, so nothing is computed while nobody scrapes.
 */

import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  Registry,
  type RegistryContentType,
} from 'prom-client';
import type { Consumer, SettledJob } from '../pool/consumer.js';
import type { Pool } from '../pool/pool.js';
import type { Queue } from '../queue/queue.js';
import type { QueueStats } from '../queue/transport.js';
import { METRIC } from './metric-names.js';

/** Job durations span milliseconds (a lookup) to minutes (a report): seconds, as Prometheus counts them. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** A scrape (or several scrapers) asks the broker at most this often. */
const QUEUE_STATS_MAX_AGE_MS = 1_000;
/**
 * The longest job id given as an exemplar. OpenMetrics caps an exemplar's label set at 128
 * characters, names included (prom-client throws past it, counting as this does), and
 * `job_id` takes 6: a longer id (ids may have 200) is counted without an exemplar rather than
 * cut into an id that names no job.
 */
const MAX_EXEMPLAR_ID = 128 - 'job_id'.length;

/**
 * The two text formats: `prometheus` (text 0.0.4, what scrapers have always read) and
 * `openmetrics` (1.0.0), the only one with exemplars. The same union as http/server.ts's, which
 * picks one per request: neither layer may import the other, and the CLI joins them.
 */
export type MetricsFormat = 'prometheus' | 'openmetrics';

/** The Content-Type of each format. */
export const METRICS_CONTENT_TYPE: Readonly<Record<MetricsFormat, string>> = {
  prometheus: Registry.PROMETHEUS_CONTENT_TYPE,
  openmetrics: Registry.OPENMETRICS_CONTENT_TYPE,
};

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
  /** Each render sets the format it is asked for (see {@link text}). */
  readonly #registry = new Registry<RegistryContentType>();
  /** Every metric and its name as registered, which each render puts back (see {@link text}). */
  readonly #names: Array<[{ name: string }, string]>;
  readonly #jobs: Record<SettledJob['outcome'], Counter<'queue' | 'task'>>;
  readonly #duration: Histogram<'queue' | 'task' | 'outcome'>;
  readonly #inFlight: Gauge<'queue'>;
  readonly #consumers = new Set<Consumer>();
  /** The last render, which the next one waits for (see {@link text}). */
  #rendering: Promise<unknown> = Promise.resolve();
  #queueStats: { at: number; stats: Promise<QueueStats | undefined> } | undefined;

  constructor(sources: MetricsSources) {
    // prom-client refuses to register a metric with exemplars on a Prometheus registry.
    this.#registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const registers = [this.#registry];
    collectDefaultMetrics({ register: this.#registry });
    const jobCounter = (name: string, help: string) =>
      new Counter({ name, help, labelNames: ['queue', 'task'] as const, registers, enableExemplars: true });
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
      enableExemplars: true,
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
    if (sources.queue !== undefined) {
      this.#queueGauges(sources.queue.queue, sources.queue.name);
      this.#brokerGauge(sources.queue.queue);
    }
    this.#names = this.#registry.getMetricsAsArray().map((metric) => [metric, metric.name]);
  }

  /** Counts the jobs `consumer` settles. */
  observe(consumer: Consumer): void {
    this.#consumers.add(consumer);
    consumer.on('settled', (job) => {
      const labels = { queue: job.queue, task: job.task ?? 'unknown' };
      const exemplarLabels = exemplarOf(job.id);
      this.#jobs[job.outcome].inc({ labels, exemplarLabels });
      this.#duration.observe({
        labels: { ...labels, outcome: job.outcome },
        value: job.durationMs / 1000,
        exemplarLabels,
      });
    });
  }

  /**
   * Every metric as text in `format`. prom-client renders one registry in either format, by its
   * content type, so each render sets it. But an OpenMetrics render also renames every counter
   * in place (it drops `_total` from the metric's name, adding it back to the samples in
   * OpenMetrics only), so a Prometheus render after it would lose the `_total` that dashboards
   * and KEDA query, and one that ran during it would mix the two formats. A second registry
   * would not help: it would hold the same metric objects. So renders run one at a time, and
   * each starts from the names as registered.
   */
  text(format: MetricsFormat = 'prometheus'): Promise<string> {
    const rendered = this.#rendering.then(() => this.#render(format));
    this.#rendering = rendered.catch(() => undefined);
    return rendered;
  }

  #render(format: MetricsFormat): Promise<string> {
    for (const [metric, name] of this.#names) metric.name = name;
    this.#registry.setContentType(
      format === 'openmetrics' ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE,
    );
    return this.#registry.metrics();
  }

  /**
   * RabbitMQ: which node of the URL list the connection is to; every node of the list has its
   * series, so that a dashboard sees a failover as one series dropping to 0 and another rising.
   */
  #brokerGauge(queue: Queue): void {
    if (!/^\s*amqps?:/i.test(queue.url)) return;
    const nodes = queue.url.split(',').flatMap((url) => nodeAddress(url) ?? []);
    new Gauge({
      name: METRIC.brokerConnected,
      help: 'RabbitMQ: 1 for the node the connection is to, 0 for the other nodes of the URL list.',
      labelNames: ['node'] as const,
      registers: [this.#registry],
      collect() {
        const current = queue.node === undefined ? undefined : nodeAddress(queue.node);
        for (const node of nodes) this.set({ node }, node === current ? 1 : 0);
      },
    });
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
        registers: [this.#registry],
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

/** `host:port` of a RabbitMQ URL (masked or not), the `node` label of the broker gauge. */
function nodeAddress(url: string): string | undefined {
  try {
    const parsed = new URL(url.trim());
    return `${parsed.hostname}:${parsed.port || (parsed.protocol === 'amqps:' ? 5671 : 5672)}`;
  } catch {
    return undefined;
  }
}

/**
 * The exemplar of a settled job: its id, when it has one short enough. prom-client types an
 * exemplar's labels as the metric's own label names, which `job_id` is not (it must not be: a
 * label per job id would make a series per job), hence the cast.
 */
function exemplarOf(id: string | undefined): Record<'queue' | 'task', string> | undefined {
  if (id === undefined || id.length > MAX_EXEMPLAR_ID) return undefined;
  return { job_id: id } as Record<string, string> as Record<'queue' | 'task', string>;
}
