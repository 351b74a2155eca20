/**
 * `multitask run --task Listen --workers 32 [fields]`: a long-running task supervised on every
 * worker (one replica each), restarted when it fails, until each returns or a signal stops it.
 */

import type { Logger } from 'pino';
import type { HttpService } from '../../http/server.js';
import { LivenessMonitor } from '../../observability/liveness.js';
import { ServiceMetrics, workersAlive } from '../../observability/metrics.js';
import { POOL_DEFAULTS } from '../../pool/options.js';
import { Pool } from '../../pool/pool.js';
import { resolveSize } from '../../pool/sizing.js';
import type { LogLevelOption } from '../../worker/task-logger.js';
import { prepareApp } from '../app.js';
import { httpAddress, integer, jsonObject, type RawSettings, required, workerCount } from '../config.js';
import { handleSignals } from '../lifecycle.js';
import { serveHttp } from '../serve.js';
import { logPool } from './job-logs.js';
import { taskFromSettings } from './task-instance.js';

/** Runs the supervised task until it ends or a signal stops it; resolves with the exit code. */
export async function run(raw: RawSettings, fieldsText: string | undefined, log: Logger): Promise<number> {
  const appPath = required(raw, 'app');
  const taskName = required(raw, 'task');
  const workers = workerCount(raw, 'workers') ?? resolveSize(POOL_DEFAULTS.size);
  const concurrency = integer(raw, 'concurrency', 1, 10_000);
  const graceMs = integer(raw, 'graceMs', 0);
  const listen = httpAddress(raw);
  const fields = jsonObject(fieldsText, 'the task fields');
  const app = await prepareApp(appPath);
  const task = taskFromSettings(app.loaded.registry, taskName, fields);

  const pool = new Pool({
    app: app.url,
    size: workers,
    concurrency,
    graceMs,
    execArgv: app.workerExecArgv,
    // Tasks' ctx.log lines obey the command's level.
    logLevel: log.level as LogLevelOption,
  });
  logPool(pool, log);
  let stopping = false;
  const liveness = new LivenessMonitor();
  liveness.start();
  const readiness = () => {
    const { state } = pool.stats();
    const alive = workersAlive(pool);
    return { ok: !stopping && state === 'running' && alive > 0, state, workersAlive: alive };
  };
  const metrics = new ServiceMetrics({ pool, ready: () => readiness().ok });
  let http: HttpService | undefined;
  try {
    http = await serveHttp(
      listen,
      {
        health: () => liveness.report(),
        ready: readiness,
        metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.text() }),
      },
      log,
    );
  } catch (error) {
    liveness.stop();
    await pool.close();
    throw error;
  }

  const service = pool.supervise(task, { replicas: workers });
  log.info({ task: taskName, replicas: workers }, 'supervising');
  const stop = (graceMs: number) => {
    stopping = true;
    return pool.close({ graceMs });
  };
  const removeSignals = handleSignals(
    {
      graceful(signal) {
        log.info({ signal, graceMs }, 'stopping: the task sees its signal abort and has the grace to return');
        void stop(graceMs);
      },
      immediate(signal) {
        log.warn({ signal }, 'stopping now');
        void stop(0);
      },
    },
    log,
  );
  let code = 0;
  try {
    await service.done;
    if (!stopping) log.info({ task: taskName, restarts: service.restarts }, 'every replica returned');
  } catch (error) {
    if (!stopping) {
      log.error({ err: error }, 'the task gave up');
      code = 1;
    }
  } finally {
    removeSignals();
    await stop(stopping ? graceMs : 0);
    await http?.close();
    liveness.stop();
  }
  log.info({ task: taskName, restarts: service.restarts, exitCode: code }, 'stopped');
  return code;
}
