/**
 * `multitask work`: one process, one pool, consuming one queue. The service (probes, metrics,
 * signals, resizing) is the same as `run`'s (see ../service/service.ts); what is `work`'s own
 * is here: waiting for the broker, consuming, draining the consumer, and the autoscaler.
 */

import type { Logger } from 'pino';
import type { Consumer } from '../../pool/consumer.js';
import { prepareApp } from '../app.js';
import { Autoscaler } from '../autoscaler.js';
import type { RawSettings } from '../config.js';
import { connectQueue } from '../connect.js';
import { runService } from '../service/service.js';
import type { ServiceContext, ServiceQueue, Workload } from '../service/workload.js';
import { readWorkersFile } from '../workers-file.js';
import { readWorkSettings, type WorkSettings } from './work-settings.js';

/** Runs the service until a signal stops it; resolves with the exit code. */
export function work(raw: RawSettings, log: Logger): Promise<number> {
  return runService(log, async () => {
    const settings = readWorkSettings(raw);
    // The file holds the size now, as it will after a SIGHUP: a restarted pod starts from it.
    if (settings.workersFile !== undefined) settings.workers = await readWorkersFile(settings.workersFile);
    const app = await prepareApp(settings.app);
    return {
      settings,
      app,
      workload: new Consume(settings, app.url, log),
      resize: { workersFile: settings.workersFile, autoscale: settings.autoscale },
      dashboard: settings.dashboard,
    };
  });
}

/** Consuming one queue with the pool, and the autoscaler that follows its backlog. */
class Consume implements Workload {
  readonly messages = {
    draining: 'draining: no new jobs; jobs in flight get the grace to finish',
    stoppingNow: 'stopping now: jobs in flight go back to the queue',
  };
  readonly #settings: WorkSettings;
  readonly #appUrl: string;
  readonly #log: Logger;
  #context: ServiceContext | undefined;
  #consumer: Consumer | undefined;
  #autoscaler: Autoscaler | undefined;

  constructor(settings: WorkSettings, appUrl: string, log: Logger) {
    this.#settings = settings;
    this.#appUrl = appUrl;
    this.#log = log;
  }

  /** Waits for the broker as long as it takes: a worker that gave up would need a restart. */
  async connect(signal: AbortSignal): Promise<ServiceQueue | undefined> {
    const queue = await connectQueue({
      command: 'work',
      url: this.#settings.url,
      broker: this.#settings.broker,
      app: this.#appUrl,
      log: this.#log,
      signal,
    });
    return queue === undefined ? undefined : { queue, name: this.#settings.queue };
  }

  async start(context: ServiceContext): Promise<void> {
    this.#context = context;
    const { queue, concurrency } = this.#settings;
    const consumer = context.pool.consume(context.queue!.queue, { queue, concurrency });
    this.#consumer = consumer;
    context.observe(consumer);
    try {
      await consumer.ready;
    } catch (error) {
      if (!context.stopping) context.fail(error, 'cannot consume');
    }
  }

  running(): void {
    const context = this.#context!;
    const { queue: name, concurrency, autoscale } = this.#settings;
    this.#log.info({ queue: name, workers: context.pool.size, concurrency, autoscale }, 'consuming');
    if (autoscale === undefined) return;
    const queue = context.queue!.queue;
    this.#autoscaler = new Autoscaler(context.pool, queue, name, { ...autoscale, concurrency }, this.#log);
    this.#autoscaler.start();
  }

  async drain(graceMs: number): Promise<void> {
    this.#autoscaler?.stop();
    await this.#consumer?.stop({ graceMs });
  }

  stopNow(): void {
    void this.#consumer?.stop({ graceMs: 0 });
  }

  progress(): Record<string, unknown> {
    return { inFlight: this.#consumer?.counts.inFlight ?? 0 };
  }

  summary(): Record<string, unknown> {
    return { ...this.#consumer?.counts };
  }
}
