/**
 * `multitask work`: one process, one pool, consuming one queue, observable and stoppable like a
 * well-behaved service. Readiness is true only while the broker is connected, a worker is up
 * and the instance is not draining; SIGTERM drains within the grace, a second one gives back
 * at once; SIGHUP and `POST /workers` resize; the autoscaler follows the backlog.
 */

import type { Logger } from 'pino';
import { ErrorCode, hasCode } from '../../errors.js';
import { LivenessMonitor } from '../../observability/liveness.js';
import { ServiceMetrics, workersAlive } from '../../observability/metrics.js';
import { Pool } from '../../pool/pool.js';
import { resolveSize } from '../../pool/sizing.js';
import type { Consumer } from '../../queue/consumer.js';
import type { Queue } from '../../queue/queue.js';
import { prepareApp } from '../app.js';
import { Autoscaler } from '../autoscaler.js';
import {
  ConfigError,
  httpAddress,
  integer,
  optional,
  queue as queueSetting,
  queueUrl,
  type RawSettings,
  required,
  workerCount,
} from '../config.js';
import { connectQueue } from '../connect.js';
import { handleSignals } from '../lifecycle.js';
import { serveHttp } from '../serve.js';
import { DEFAULT_GRACE_MS } from '../settings.js';
import { readWorkersFile } from '../workers-file.js';
import { logJobs, logPool } from './job-logs.js';

/** `work`'s settings, checked. */
interface WorkSettings {
  app: string;
  url: string | undefined;
  queue: string;
  workers: number;
  concurrency: number;
  graceMs: number;
  http: { host: string; port: number } | undefined;
  autoscale: { min: number; max: number; intervalMs: number } | undefined;
  workersFile: string | undefined;
}

/** Checks every setting before anything starts, so a mistake costs nothing but its message. */
export function readWorkSettings(raw: RawSettings): WorkSettings {
  const min = workerCount(raw, 'minWorkers');
  const max = workerCount(raw, 'maxWorkers');
  if ((min === undefined) !== (max === undefined))
    throw new ConfigError(
      min === undefined ? 'minWorkers' : 'maxWorkers',
      'the autoscaler needs both --min-workers and --max-workers',
    );
  if (min !== undefined && max !== undefined && min > max)
    throw new ConfigError('minWorkers', `${min} is above --max-workers (${max})`);
  const workers = workerCount(raw, 'workers');
  const intervalMs = integer(raw, 'scaleIntervalMs', 100) ?? 2_000;
  const autoscale = min === undefined || max === undefined ? undefined : { min, max, intervalMs };
  return {
    app: required(raw, 'app'),
    url: queueUrl(raw),
    queue: queueSetting(raw),
    workers:
      autoscale === undefined
        ? (workers ?? resolveSize('100%'))
        : Math.min(max!, Math.max(min!, workers ?? min!)),
    concurrency: integer(raw, 'concurrency', 1, 10_000) ?? 1,
    graceMs: integer(raw, 'graceMs', 0) ?? DEFAULT_GRACE_MS,
    http: httpAddress(raw),
    autoscale,
    workersFile: optional(raw, 'workersFile'),
  };
}

type Phase = 'connecting' | 'starting' | 'running' | 'draining' | 'stopped';

/** Runs the service until a signal stops it; resolves with the exit code. */
export async function work(raw: RawSettings, log: Logger): Promise<number> {
  const settings = readWorkSettings(raw);
  const app = await prepareApp(settings.app);
  let phase: Phase = 'connecting';
  let queue: Queue | undefined;
  let pool: Pool | undefined;
  let consumer: Consumer | undefined;
  let metrics: ServiceMetrics | undefined;
  let autoscaler: Autoscaler | undefined;
  let exitCode = 0;
  const connecting = new AbortController();
  let finished!: (code: number) => void;
  const done = new Promise<number>((resolve) => {
    finished = resolve;
  });

  const liveness = new LivenessMonitor();
  liveness.start();
  const readiness = () => {
    const brokerConnected = queue?.connected ?? false;
    const alive = pool === undefined ? 0 : workersAlive(pool);
    return {
      ok: phase === 'running' && brokerConnected && alive > 0,
      phase,
      brokerConnected,
      workersAlive: alive,
    };
  };

  const resize = async (size: number, why: string) => {
    if (pool === undefined || phase !== 'running') throw new Error(`not running (${phase})`);
    log.info({ from: pool.size, to: size, why }, 'resizing the pool');
    await pool.resize(size);
    return pool.size;
  };

  const http = await serveHttp(
    settings.http,
    {
      health: () => liveness.report(),
      ready: readiness,
      metrics: async () => ({
        contentType: metrics?.registry.contentType ?? 'text/plain; version=0.0.4',
        body: metrics === undefined ? '' : await metrics.text(),
      }),
      resize: (size) => resize(resolveSize(size, 'size'), 'POST /workers'),
    },
    log,
  ).catch((error: unknown) => {
    liveness.stop();
    throw error;
  });

  const shutdown = async (graceMs: number) => {
    autoscaler?.stop();
    try {
      await consumer?.stop({ graceMs });
      await pool?.close({ graceMs: Math.min(graceMs, 1_000) });
      await queue?.close();
    } catch (error) {
      log.error({ err: error }, 'shutdown failed');
      exitCode = 1;
    }
    phase = 'stopped';
    await http?.close();
    liveness.stop();
    const counts = consumer?.counts;
    log.info({ ...counts, exitCode }, 'stopped');
    finished(exitCode);
  };

  const removeSignals = handleSignals(
    {
      graceful(signal) {
        if (phase === 'connecting') {
          log.info({ signal }, 'stopping before the queue connected');
          connecting.abort();
          phase = 'stopped';
          void http?.close().then(() => finished(0));
          return;
        }
        log.info(
          { signal, graceMs: settings.graceMs, inFlight: consumer?.counts.inFlight ?? 0 },
          'draining: no new jobs; jobs in flight get the grace to finish',
        );
        phase = 'draining';
        void shutdown(settings.graceMs);
      },
      immediate(signal) {
        log.warn(
          { signal, inFlight: consumer?.counts.inFlight ?? 0 },
          'stopping now: jobs in flight go back to the queue',
        );
        void consumer?.stop({ graceMs: 0 });
      },
      reload() {
        if (settings.workersFile === undefined) {
          log.warn(
            'SIGHUP: nothing to re-read; name a file with --workers-file (MULTITASK_WORKERS_FILE): a running process cannot see a new MULTITASK_WORKERS',
          );
          return;
        }
        readWorkersFile(settings.workersFile)
          .then((size) => resize(size, `SIGHUP (${settings.workersFile})`))
          .catch((error: Error) => log.error({ err: error.message }, 'SIGHUP: resize refused'));
      },
    },
    log,
  );

  try {
    queue = await connectQueue({
      command: 'work',
      url: settings.url,
      app: app.url,
      log,
      signal: connecting.signal,
    });
    if (queue === undefined) return await done;
    queue.on('disconnected', () =>
      log.warn({ url: queue?.url }, 'broker connection lost; not ready until it is back'),
    );
    queue.on('reconnecting', ({ attempt, delayMs, error }) =>
      log.warn(
        { url: queue?.url, attempt, retryInMs: Math.round(delayMs), err: error.message },
        'broker unreachable, retrying',
      ),
    );
    queue.on('connected', () => log.info({ url: queue?.url }, 'broker connection back'));
    if (phase !== 'connecting') {
      await queue.close();
      return await done;
    }
    phase = 'starting';
    pool = new Pool({
      app: app.url,
      size: settings.workers,
      concurrency: settings.concurrency,
      graceMs: settings.graceMs,
      execArgv: app.workerExecArgv,
    });
    logPool(pool, log);
    pool.on('crashLoop', ({ taskName, error }) => {
      if (taskName !== undefined || phase !== 'running') return;
      // The app cannot boot: say so loudly and exit non-zero, so the orchestrator shows it.
      log.fatal({ err: error }, 'the app cannot start in any worker; stopping');
      exitCode = 1;
      phase = 'draining';
      void shutdown(0);
    });
    consumer = pool.consume(queue, { queue: settings.queue, concurrency: settings.concurrency });
    metrics = new ServiceMetrics({
      pool,
      queue: { queue, name: settings.queue },
      ready: () => readiness().ok,
    });
    metrics.observe(consumer);
    logJobs(consumer, log);
    await consumer.ready;
    if (phase === 'starting') {
      phase = 'running';
      log.info(
        {
          queue: settings.queue,
          workers: pool.size,
          concurrency: settings.concurrency,
          autoscale: settings.autoscale,
        },
        'consuming',
      );
      if (settings.autoscale !== undefined) {
        autoscaler = new Autoscaler(
          pool,
          queue,
          settings.queue,
          { ...settings.autoscale, concurrency: settings.concurrency },
          log,
        );
        autoscaler.start();
      }
    }
    return await done;
  } catch (error) {
    if ((phase as Phase) === 'stopped') return await done;
    if (hasCode(error, ErrorCode.APP_SETUP_FAILED) || hasCode(error, ErrorCode.CRASH_LOOP)) {
      log.fatal({ err: error }, 'the app cannot start; stopping');
    } else if (!(error instanceof ConfigError)) {
      log.fatal({ err: error }, 'cannot start');
    }
    phase = 'draining';
    exitCode = 1;
    void shutdown(0);
    const code = await done;
    if (error instanceof ConfigError) throw error;
    return code;
  } finally {
    removeSignals();
  }
}
