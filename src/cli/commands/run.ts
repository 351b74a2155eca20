/**
 * `multitask run --task Listen --workers 32 [fields]`: a long-running task supervised on every
 * worker (one replica each), restarted when it fails, until each returns or a signal stops it.
 * The service around it (probes, metrics, signals) is the same as `work`'s (see
 * ../service/service.ts); what is `run`'s own is here.
 */

import type { Logger } from 'pino';
import type { Pool } from '../../pool/pool.js';
import type { Task } from '../../task/task.js';
import { prepareApp } from '../app.js';
import { jsonObject, type RawSettings, required } from '../config.js';
import { runService } from '../service/service.js';
import { readServiceSettings } from '../service/settings.js';
import type { ServiceContext, Workload } from '../service/workload.js';
import { taskFromSettings } from './task-instance.js';

/** Runs the supervised task until it ends or a signal stops it; resolves with the exit code. */
export function run(raw: RawSettings, fieldsText: string | undefined, log: Logger): Promise<number> {
  return runService(log, async () => {
    const appPath = required(raw, 'app');
    const taskName = required(raw, 'task');
    const settings = readServiceSettings(raw);
    const fields = jsonObject(fieldsText, 'the task fields');
    const app = await prepareApp(appPath);
    const task = taskFromSettings(app.loaded.registry, taskName, fields);
    return { settings, app, workload: new Supervise(task, taskName, settings.workers, log) };
  });
}

/** What `pool.supervise` returns: the replicas' `done` and `restarts`. */
type Supervised = ReturnType<Pool['supervise']>;

/** One replica of the task per worker; the work ends when every replica returned or one gave up. */
class Supervise implements Workload {
  readonly messages = {
    draining: 'stopping: the task sees its signal abort and has the grace to return',
    stoppingNow: 'stopping now',
  };
  readonly #task: Task<unknown, never>;
  readonly #taskName: string;
  readonly #replicas: number;
  readonly #log: Logger;
  #pool: Pool | undefined;
  #supervised: Supervised | undefined;

  constructor(task: Task<unknown, never>, taskName: string, replicas: number, log: Logger) {
    this.#task = task;
    this.#taskName = taskName;
    this.#replicas = replicas;
    this.#log = log;
  }

  async start(context: ServiceContext): Promise<void> {
    this.#pool = context.pool;
    const supervised = context.pool.supervise(this.#task, { replicas: this.#replicas });
    this.#supervised = supervised;
    this.#log.info({ task: this.#taskName, replicas: this.#replicas }, 'supervising');
    // After a stop, the replicas end because the pool closed: no news, whatever they say.
    supervised.done.then(
      () => {
        if (context.stopping) return;
        this.#log.info({ task: this.#taskName, restarts: supervised.restarts }, 'every replica returned');
        context.end(0);
      },
      (error: unknown) => {
        if (context.stopping) return;
        this.#log.error({ err: error }, 'the task gave up');
        context.end(1);
      },
    );
  }

  /** The task sees its signal abort; the pool's grace is its time to return. */
  drain(graceMs: number): Promise<void> {
    return this.#pool?.close({ graceMs }) ?? Promise.resolve();
  }

  stopNow(): void {
    void this.#pool?.close({ graceMs: 0 });
  }

  summary(): Record<string, unknown> {
    return { task: this.#taskName, restarts: this.#supervised?.restarts ?? 0 };
  }
}
