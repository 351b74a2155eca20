/**
 * A long-running command as a well-behaved service, the same for `work` and `run`: probes and
 * metrics over HTTP from the start, a pool of workers that logs what it does, readiness only
 * while the work runs, the first SIGTERM/SIGINT drains within the grace and a second one cuts
 * it, SIGHUP and `POST /workers` resize (where the command allows it), and an exit code.
 * What differs between commands (how the work starts, what draining it means) is a
 * {@link Workload}.
 */

import type { Logger } from 'pino';
import { DeferredDashboard } from '../../http/dashboard/deferred.js';
import { createDashboard } from '../../http/dashboard/handler.js';
import { ROUTES } from '../../http/routes.js';
import type { HttpService } from '../../http/server.js';
import { logConnection, logJobs, logPool } from '../../observability/event-logs.js';
import { LivenessMonitor } from '../../observability/liveness.js';
import { METRIC } from '../../observability/metric-names.js';
import { METRICS_CONTENT_TYPE, ServiceMetrics, workersAlive } from '../../observability/metrics.js';
import { Pool } from '../../pool/pool.js';
import type { LogLevelOption } from '../../worker/task-logger.js';
import type { PreparedApp } from '../app.js';
import { authKind, browserAddress, type DashboardSettings } from '../commands/dashboard-settings.js';
import { requestedWorkers } from '../config.js';
import { readWorkersFile } from '../workers-file.js';
import { serveHttp } from './http.js';
import type { ServiceSettings } from './settings.js';
import { handleSignals } from './signals.js';
import type { ServiceContext, ServiceQueue, Workload } from './workload.js';

/** Where the service is in its life; only `running` is ready. */
type Phase = 'connecting' | 'starting' | 'running' | 'draining' | 'stopped';

/** Resizing by hand: `POST /workers` and SIGHUP. */
export interface ResizePolicy {
  /** Read again on SIGHUP. */
  workersFile: string | undefined;
  /** While the autoscaler owns the size, a resize by hand is refused (409). */
  autoscale: { min: number; max: number } | undefined;
}

/** Everything a command hands the service, once its settings are read and its app loaded. */
export interface ServicePlan {
  settings: ServiceSettings;
  app: PreparedApp;
  workload: Workload;
  /** Absent: the pool's size is not the operator's to change (`run`: one replica per worker). */
  resize?: ResizePolicy;
  /** `work --dashboard`: the dashboard of the queue, under /dashboard/ beside /metrics. */
  dashboard?: DashboardSettings | undefined;
}

/**
 * What `/metrics` says before the pool exists: a scrape that says "not ready" rather than
 * nothing. Valid OpenMetrics too, once followed by the `# EOF` that format ends with.
 */
const NOT_READY_METRICS = `# HELP ${METRIC.ready} 1 while /readyz answers 200.\n# TYPE ${METRIC.ready} gauge\n${METRIC.ready} 0\n`;
/** After the workload drained within the grace, the little left in the pool gets at most this. */
const POOL_CLOSE_MAX_MS = 1_000;

/**
 * Runs a service until it stops; resolves with the exit code. Signals are handled from the
 * first moment: a SIGTERM while `prepare` reads settings and loads the app stops the process
 * cleanly (exit 0) rather than killing it. A rejection of `prepare` (a bad setting) is thrown.
 */
export async function runService(log: Logger, prepare: () => Promise<ServicePlan>): Promise<number> {
  let service: Service | undefined;
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
    const plan = await prepare();
    if (stopBeforeStart) return 0;
    const started = new Service(plan, log);
    await started.listen();
    service = started;
    if (stopBeforeStart) started.drain('SIGTERM');
    // Not awaited: a stop asked while connecting must not wait for the connection attempt.
    started.start().catch((error: unknown) => started.fail(error, 'cannot start'));
    return await started.finished;
  } finally {
    removeSignals();
  }
}

/** The parts of a running service, and the moves between its phases. */
class Service {
  /** Resolves with the exit code once everything is closed. */
  readonly finished: Promise<number>;
  readonly #plan: ServicePlan;
  readonly #workload: Workload;
  readonly #log: Logger;
  readonly #liveness = new LivenessMonitor();
  readonly #connecting = new AbortController();
  #phase: Phase = 'connecting';
  #exitCode = 0;
  #finish!: (code: number) => void;
  #http: HttpService | undefined;
  #queue: ServiceQueue | undefined;
  #pool: Pool | undefined;
  #metrics: ServiceMetrics | undefined;
  readonly #dashboard: DeferredDashboard | undefined;

  constructor(plan: ServicePlan, log: Logger) {
    this.#plan = plan;
    this.#workload = plan.workload;
    this.#log = log;
    this.#dashboard = plan.dashboard === undefined ? undefined : new DeferredDashboard();
    this.finished = new Promise((resolve) => {
      this.#finish = resolve;
    });
  }

  get #stopping(): boolean {
    return this.#phase === 'draining' || this.#phase === 'stopped';
  }

  /** Starts the probes first: alive at once, ready only once the work runs. */
  async listen(): Promise<void> {
    this.#liveness.start();
    try {
      this.#http = await serveHttp(
        this.#plan.settings.http,
        {
          health: () => this.#liveness.report(),
          ready: () => this.#readiness(),
          metrics: async (format) => ({
            contentType: METRICS_CONTENT_TYPE[format],
            body:
              this.#metrics !== undefined
                ? await this.#metrics.text(format)
                : format === 'openmetrics'
                  ? `${NOT_READY_METRICS}# EOF\n`
                  : NOT_READY_METRICS,
          }),
          resize:
            this.#plan.resize === undefined
              ? undefined
              : (size) => this.#resize(requestedWorkers(size), 'POST /workers'),
          ...(this.#dashboard === undefined ? {} : { dashboard: this.#dashboard.handle }),
        },
        this.#log,
      );
    } catch (error) {
      this.#liveness.stop();
      throw error;
    }
  }

  /** Connects (when the work needs a queue), starts the pool, then the work. */
  async start(): Promise<void> {
    const connect = this.#workload.connect?.bind(this.#workload);
    if (connect !== undefined) {
      let queue: ServiceQueue | undefined;
      try {
        queue = await connect(this.#connecting.signal);
      } catch (error) {
        this.#log.fatal({ err: error }, 'cannot open the queue');
        this.#exitCode = 1;
        await this.#close();
        return;
      }
      if (queue === undefined) return;
      if (this.#phase !== 'connecting') {
        // Stopped while the last attempt was connecting.
        await queue.queue.close();
        return;
      }
      this.#queue = queue;
      logConnection(queue.queue, this.#log);
      this.#serveDashboard(queue);
    }
    if (this.#phase !== 'connecting') return;
    this.#phase = 'starting';
    await this.#workload.start(this.#context(this.#startPool()));
    if (this.#phase !== 'starting') return;
    this.#phase = 'running';
    this.#workload.running?.();
  }

  /** An error the service cannot go on with: logged, and the process stops with exit code 1. */
  fail(error: unknown, message: string): void {
    this.#log.fatal({ err: error }, message);
    this.#exitCode = 1;
    if (this.#stopping) return;
    this.#phase = 'draining';
    void this.#shutdown(0);
  }

  /** First SIGTERM/SIGINT: unready, no new work, the grace for what runs. */
  drain(signal: NodeJS.Signals): void {
    if (this.#phase === 'connecting') {
      this.#log.info({ signal }, 'stopping before the queue connected');
      this.#connecting.abort();
      void this.#close();
      return;
    }
    if (this.#stopping) return;
    const { graceMs } = this.#plan.settings;
    this.#log.info({ signal, graceMs, ...this.#workload.progress?.() }, this.#workload.messages.draining);
    this.#phase = 'draining';
    void this.#shutdown(graceMs);
  }

  /** Second signal: what runs is given up now. */
  stopNow(signal: NodeJS.Signals): void {
    this.#log.warn({ signal, ...this.#workload.progress?.() }, this.#workload.messages.stoppingNow);
    this.#workload.stopNow();
  }

  /** SIGHUP: the worker count from the workers file, where resizing applies. */
  reload(): void {
    if (this.#plan.resize === undefined) return;
    const file = this.#plan.resize.workersFile;
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

  /** `--dashboard`: the queue's dashboard takes over from the "connecting" answer. */
  #serveDashboard(queue: ServiceQueue): void {
    const settings = this.#plan.dashboard;
    if (this.#dashboard === undefined || settings === undefined || this.#http === undefined) return;
    const { auth, readOnly } = settings;
    this.#dashboard.attach(
      createDashboard(queue.queue, {
        basePath: ROUTES.dashboard,
        queues: [queue.name],
        readOnly,
        ...(auth === undefined ? {} : { auth }),
      }),
    );
    const address = browserAddress(this.#http.address, ROUTES.dashboard);
    this.#log.info({ address, auth: authKind(auth) }, 'dashboard');
  }

  /** The pool, with its workers' lines in the log and its numbers in the metrics. */
  #startPool(): Pool {
    const { settings, app } = this.#plan;
    const pool = new Pool({
      app: app.url,
      size: settings.workers,
      concurrency: settings.concurrency,
      graceMs: settings.graceMs,
      execArgv: app.workerExecArgv,
      // Tasks' ctx.log lines obey the command's level.
      logLevel: this.#log.level as LogLevelOption,
    });
    this.#pool = pool;
    logPool(pool, this.#log);
    pool.once('workerOnline', ({ workerId }) => this.#log.info({ workerId }, 'a worker is up'));
    pool.on('crashLoop', ({ taskName, error }) => {
      // A supervised task's crash loop is the workload's to judge; this one is the app's.
      if (taskName !== undefined || this.#stopping) return;
      // The app cannot boot in any worker: exit non-zero, so the orchestrator shows it.
      this.fail(error, 'the app cannot start in any worker; stopping');
    });
    this.#metrics = new ServiceMetrics({ pool, queue: this.#queue, ready: () => this.#readiness().ok });
    return pool;
  }

  #context(pool: Pool): ServiceContext {
    const isStopping = () => this.#stopping;
    const metrics = this.#metrics;
    return {
      pool,
      queue: this.#queue,
      log: this.#log,
      get stopping() {
        return isStopping();
      },
      observe: (consumer) => {
        metrics?.observe(consumer);
        logJobs(consumer, this.#log);
      },
      end: (exitCode) => {
        if (this.#stopping) return;
        if (exitCode !== 0) this.#exitCode = exitCode;
        this.#phase = 'draining';
        void this.#shutdown(0);
      },
      fail: (error, message) => this.fail(error, message),
    };
  }

  #readiness() {
    const alive = this.#pool === undefined ? 0 : workersAlive(this.#pool);
    // Only a service that consumes a queue depends on a broker.
    const broker =
      this.#workload.connect === undefined ? {} : { brokerConnected: this.#queue?.queue.connected ?? false };
    return {
      ok: this.#phase === 'running' && broker.brokerConnected !== false && alive > 0,
      phase: this.#phase,
      ...broker,
      workersAlive: alive,
    };
  }

  /** Resizes by hand; resolves with the size asked for, without waiting for a shrink to finish. */
  async #resize(size: number, why: string): Promise<number> {
    const pool = this.#pool;
    if (pool === undefined || this.#phase !== 'running') throw new Error(`not running (${this.#phase})`);
    const autoscale = this.#plan.resize?.autoscale;
    if (autoscale !== undefined) {
      // Two owners of one number would undo each other at the next check.
      throw Object.assign(
        new Error(
          `the autoscaler sizes the pool between ${autoscale.min} and ${autoscale.max} (--min-workers, --max-workers)`,
        ),
        { status: 409 },
      );
    }
    this.#log.info({ from: pool.size, to: size, why }, 'resizing the pool');
    pool.resize(size).catch((error: Error) => this.#log.error({ err: error.message }, 'resize failed'));
    return size;
  }

  /** The work first (its grace), then the pool, then the queue, then the probes. */
  async #shutdown(graceMs: number): Promise<void> {
    this.#connecting.abort();
    try {
      await this.#workload.drain(graceMs);
      await this.#pool?.close({ graceMs: Math.min(graceMs, POOL_CLOSE_MAX_MS) });
    } catch (error) {
      this.#log.error({ err: error }, 'shutdown failed');
      this.#exitCode = 1;
    }
    await this.#close();
  }

  async #close(): Promise<void> {
    if (this.#phase === 'stopped') return;
    this.#phase = 'stopped';
    // Its feed listener and timer go before the queue they read.
    await this.#dashboard?.close();
    await this.#queue?.queue.close().catch((error: unknown) => {
      this.#log.error({ err: error }, 'closing the queue failed');
      this.#exitCode = 1;
    });
    await this.#http?.close();
    this.#liveness.stop();
    this.#log.info({ ...this.#workload.summary(), exitCode: this.#exitCode }, 'stopped');
    this.#finish(this.#exitCode);
  }
}
