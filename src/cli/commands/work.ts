/**
 * `multitask work`: one process, one pool, consuming one queue, observable and stoppable like a
 * well-behaved service. Readiness is true only while the broker is connected, a worker is up
 * and the instance is not draining; SIGTERM drains within the grace, a second one gives back
 * at once; SIGHUP and `POST /workers` resize; the autoscaler follows the backlog.
 */

import type { Logger } from 'pino';
import { METRIC } from '../../http/routes.js';
import type { HttpService } from '../../http/server.js';
import { LivenessMonitor } from '../../observability/liveness.js';
import { ServiceMetrics, workersAlive } from '../../observability/metrics.js';
import type { Consumer } from '../../pool/consumer.js';
import { Pool } from '../../pool/pool.js';
import type { Queue } from '../../queue/queue.js';
import type { LogLevelOption } from '../../worker/task-logger.js';
import { type PreparedApp, prepareApp } from '../app.js';
import { Autoscaler } from '../autoscaler.js';
import { ConfigError, type RawSettings, requestedWorkers } from '../config.js';
import { connectQueue } from '../connect.js';
import { handleSignals } from '../lifecycle.js';
import { serveHttp } from '../serve.js';
import { readWorkersFile } from '../workers-file.js';
import { logJobs, logPool } from './job-logs.js';
import { readWorkSettings, type WorkSettings } from './work-settings.js';

const NOT_READY_METRICS = `# HELP ${METRIC.ready} 1 while /readyz answers 200.\n# TYPE ${METRIC.ready} gauge\n${METRIC.ready} 0\n`;

/** Where the service is in its life; only `running` is ready. */
type Phase = 'connecting' | 'starting' | 'running' | 'draining' | 'stopped';

/** Runs the service until a signal stops it; resolves with the exit code. */
export async function work(raw: RawSettings, log: Logger): Promise<number> {
  // Listening first: a SIGTERM while the app loads must stop the process cleanly, not kill it.
  let service: WorkService | undefined;
  let stopBeforeStart = false;
  const removeSignals = handleSignals(
    {
      graceful(signal) {
        if (service === undefined) stopBeforeStart = true;
        else service.drain(signal);
      },
      immediate(signal) {
        if (service === undefined) stopBeforeStart = true;
        else service.stopNow(signal);
      },
      reload: () => service?.reload(),
    },
    log,
  );
  try {
    const settings = readWorkSettings(raw);
    if (settings.workersFile !== undefined) {
      if (settings.autoscale !== undefined)
        throw new ConfigError(
          'workersFile',
          'sizes the pool by hand: not with the autoscaler (--min-workers, --max-workers)',
        );
      // The file holds the size now, as it will after a SIGHUP: a restarted pod starts from it.
      settings.workers = await readWorkersFile(settings.workersFile);
    }
    const app = await prepareApp(settings.app);
    if (stopBeforeStart) return 0;
    const started = new WorkService(settings, app, log);
    await started.listen();
    service = started;
    if (stopBeforeStart) started.drain('SIGTERM');
    // Not awaited: a stop asked while connecting must not wait for the connection attempt.
    started.start().catch((error: unknown) => started.fail(error));
    return await started.finished;
  } finally {
    removeSignals();
  }
}

/** The parts of a running `work` process, and the moves between its phases. */
class WorkService {
  /** Resolves with the exit code once everything is closed. */
  readonly finished: Promise<number>;
  readonly #settings: WorkSettings;
  readonly #app: PreparedApp;
  readonly #log: Logger;
  readonly #liveness = new LivenessMonitor();
  readonly #connecting = new AbortController();
  #phase: Phase = 'connecting';
  #exitCode = 0;
  #finish!: (code: number) => void;
  #http: HttpService | undefined;
  #queue: Queue | undefined;
  #pool: Pool | undefined;
  #consumer: Consumer | undefined;
  #metrics: ServiceMetrics | undefined;
  #autoscaler: Autoscaler | undefined;

  constructor(settings: WorkSettings, app: PreparedApp, log: Logger) {
    this.#settings = settings;
    this.#app = app;
    this.#log = log;
    this.finished = new Promise((resolve) => {
      this.#finish = resolve;
    });
  }

  /** Starts the probes first: alive at once, ready only once consuming. */
  async listen(): Promise<void> {
    this.#liveness.start();
    try {
      this.#http = await serveHttp(
        this.#settings.http,
        {
          health: () => this.#liveness.report(),
          ready: () => this.#readiness(),
          metrics: async () => ({
            contentType: this.#metrics?.registry.contentType ?? 'text/plain; version=0.0.4',
            // Before the pool exists, still a scrape that says "not ready" rather than nothing.
            body: this.#metrics === undefined ? NOT_READY_METRICS : await this.#metrics.text(),
          }),
          resize: (size) => this.#resize(requestedWorkers(size), 'POST /workers'),
        },
        this.#log,
      );
    } catch (error) {
      this.#liveness.stop();
      throw error;
    }
  }

  /** Connects (waiting for the broker as long as it takes), then consumes. */
  async start(): Promise<void> {
    const settings = this.#settings;
    let queue: Queue | undefined;
    try {
      queue = await connectQueue({
        command: 'work',
        url: settings.url,
        app: this.#app.url,
        log: this.#log,
        signal: this.#connecting.signal,
      });
    } catch (error) {
      this.#log.fatal({ err: error }, 'cannot open the queue');
      this.#exitCode = 1;
      await this.#close();
      return;
    }
    if (queue === undefined) return;
    if (this.#phase !== 'connecting') {
      // Stopped while the last attempt was connecting.
      await queue.close();
      return;
    }
    this.#queue = queue;
    this.#watchConnection(queue);
    this.#phase = 'starting';
    const pool = new Pool({
      app: this.#app.url,
      size: settings.workers,
      concurrency: settings.concurrency,
      graceMs: settings.graceMs,
      execArgv: this.#app.workerExecArgv,
      // Tasks' ctx.log lines obey the command's level.
      logLevel: this.#log.level as LogLevelOption,
    });
    this.#pool = pool;
    logPool(pool, this.#log);
    pool.once('workerOnline', ({ workerId }) => this.#log.info({ workerId }, 'a worker is up'));
    pool.on('crashLoop', ({ taskName, error }) => {
      if (taskName !== undefined || this.#phase === 'draining' || this.#phase === 'stopped') return;
      // The app cannot boot in any worker: exit non-zero, so the orchestrator shows it.
      this.#log.fatal({ err: error }, 'the app cannot start in any worker; stopping');
      this.#exitCode = 1;
      this.#phase = 'draining';
      void this.#shutdown(0);
    });
    const consumer = pool.consume(queue, { queue: settings.queue, concurrency: settings.concurrency });
    this.#consumer = consumer;
    this.#metrics = new ServiceMetrics({
      pool,
      queue: { queue, name: settings.queue },
      ready: () => this.#readiness().ok,
    });
    this.#metrics.observe(consumer);
    logJobs(consumer, this.#log);
    try {
      await consumer.ready;
    } catch (error) {
      if (this.#phase !== 'starting') return;
      this.#log.fatal({ err: error }, 'cannot consume');
      this.#exitCode = 1;
      this.#phase = 'draining';
      void this.#shutdown(0);
      return;
    }
    if (this.#phase !== 'starting') return;
    this.#phase = 'running';
    const { queue: name, concurrency, autoscale } = settings;
    this.#log.info({ queue: name, workers: pool.size, concurrency, autoscale }, 'consuming');
    if (autoscale !== undefined) {
      this.#autoscaler = new Autoscaler(pool, queue, name, { ...autoscale, concurrency }, this.#log);
      this.#autoscaler.start();
    }
  }

  /** An unexpected error while starting: logged, and the process stops with exit code 1. */
  fail(error: unknown): void {
    this.#log.fatal({ err: error }, 'cannot start');
    this.#exitCode = 1;
    if (this.#phase === 'stopped' || this.#phase === 'draining') return;
    this.#phase = 'draining';
    void this.#shutdown(0);
  }

  /** First SIGTERM/SIGINT: unready, no new jobs, the grace for those in flight. */
  drain(signal: NodeJS.Signals): void {
    if (this.#phase === 'connecting') {
      this.#log.info({ signal }, 'stopping before the queue connected');
      this.#connecting.abort();
      void this.#close();
      return;
    }
    if (this.#phase === 'draining' || this.#phase === 'stopped') return;
    this.#log.info(
      { signal, graceMs: this.#settings.graceMs, inFlight: this.#consumer?.counts.inFlight ?? 0 },
      'draining: no new jobs; jobs in flight get the grace to finish',
    );
    this.#phase = 'draining';
    void this.#shutdown(this.#settings.graceMs);
  }

  /** Second signal: what is in flight goes back to the queue now. */
  stopNow(signal: NodeJS.Signals): void {
    this.#log.warn(
      { signal, inFlight: this.#consumer?.counts.inFlight ?? 0 },
      'stopping now: jobs in flight go back to the queue',
    );
    void this.#consumer?.stop({ graceMs: 0 });
  }

  /** SIGHUP: the worker count from the workers file. */
  reload(): void {
    const file = this.#settings.workersFile;
    if (file === undefined) {
      this.#log.warn(
        'SIGHUP: nothing to re-read; name a file with --workers-file (MULTITASK_WORKERS_FILE): a running process cannot see a new MULTITASK_WORKERS',
      );
      return;
    }
    readWorkersFile(file)
      .then((size) => this.#resize(size, `SIGHUP (${file})`))
      .catch((error: Error) => this.#log.error({ err: error.message }, 'SIGHUP: resize refused'));
  }

  #readiness() {
    const brokerConnected = this.#queue?.connected ?? false;
    const alive = this.#pool === undefined ? 0 : workersAlive(this.#pool);
    return {
      ok: this.#phase === 'running' && brokerConnected && alive > 0,
      phase: this.#phase,
      brokerConnected,
      workersAlive: alive,
    };
  }

  /** Resizes by hand; resolves with the size asked for, without waiting for a shrink to finish. */
  async #resize(size: number, why: string): Promise<number> {
    const pool = this.#pool;
    if (pool === undefined || this.#phase !== 'running') throw new Error(`not running (${this.#phase})`);
    if (this.#settings.autoscale !== undefined) {
      const { min, max } = this.#settings.autoscale;
      // Two owners of one number would undo each other at the next check.
      throw Object.assign(
        new Error(`the autoscaler sizes the pool between ${min} and ${max} (--min-workers, --max-workers)`),
        { status: 409 },
      );
    }
    this.#log.info({ from: pool.size, to: size, why }, 'resizing the pool');
    pool.resize(size).catch((error: Error) => this.#log.error({ err: error.message }, 'resize failed'));
    return size;
  }

  #watchConnection(queue: Queue): void {
    const url = queue.url;
    queue.on('disconnected', () =>
      this.#log.warn({ url }, 'broker connection lost; not ready until it is back'),
    );
    queue.on('reconnecting', ({ attempt, delayMs, error }) =>
      this.#log.warn(
        { url, attempt, retryInMs: Math.round(delayMs), err: error.message },
        'broker unreachable, retrying',
      ),
    );
    queue.on('connected', () => this.#log.info({ url }, 'broker connection back'));
  }

  /** Consumer first (its grace), then the pool, then the queue, then the probes. */
  async #shutdown(graceMs: number): Promise<void> {
    this.#autoscaler?.stop();
    try {
      await this.#consumer?.stop({ graceMs });
      await this.#pool?.close({ graceMs: Math.min(graceMs, 1_000) });
    } catch (error) {
      this.#log.error({ err: error }, 'shutdown failed');
      this.#exitCode = 1;
    }
    await this.#close();
  }

  async #close(): Promise<void> {
    if (this.#phase === 'stopped') return;
    this.#phase = 'stopped';
    await this.#queue?.close().catch((error: unknown) => {
      this.#log.error({ err: error }, 'closing the queue failed');
      this.#exitCode = 1;
    });
    await this.#http?.close();
    this.#liveness.stop();
    this.#log.info({ ...this.#consumer?.counts, exitCode: this.#exitCode }, 'stopped');
    this.#finish(this.#exitCode);
  }
}
