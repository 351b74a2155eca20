/** The pool's stats snapshot: what {@link Pool.stats} returns, read from the scheduler and the workforce. */
import type { Percentiles } from './run-stats.js';
import type { Scheduler } from './scheduler.js';
import type { WorkerState } from './worker-handle.js';
import type { PoolState, Workforce } from './workforce.js';

/** One worker in {@link PoolStats}. */
export interface WorkerStats {
  id: number;
  state: WorkerState;
  /** Tasks it holds now (running or about to). */
  inflight: number;
  tasksDone: number;
  tasksFailed: number;
  /** Average run time of its recent tasks (ms). */
  avgRunMs: number | undefined;
  /** V8 heap in use (MiB), when recycling on heap size. */
  heapUsedMb: number | undefined;
}

/** A snapshot of a pool, from {@link Pool.stats}. */
export interface PoolStats {
  state: PoolState;
  /** The target number of workers. */
  size: number;
  workers: WorkerStats[];
  /** Calls waiting for a worker. */
  queueLength: number;
  tasks: { running: number; done: number; failed: number };
  /** Workers replaced after dying, plus supervised replicas restarted. */
  restarts: number;
  workerRestarts: number;
  serviceRestarts: number;
  recycled: number;
  /** How long tasks ran in their worker. */
  runTime: Percentiles;
  /** How long tasks waited between `run()` and starting in a worker. */
  waitTime: Percentiles;
}

/** Reads a snapshot; `serviceRestarts` is counted by the facade, which sees the supervisors' events. */
export function poolStats(calls: Scheduler, workforce: Workforce, serviceRestarts: number): PoolStats {
  const workers: WorkerStats[] = [...workforce.workers].map((worker) => ({
    id: worker.id,
    state: worker.state,
    inflight: worker.inflight.size,
    tasksDone: worker.tasksDone,
    tasksFailed: worker.tasksFailed,
    avgRunMs: worker.avgRunMs,
    heapUsedMb: worker.heapUsed === undefined ? undefined : Math.round(worker.heapUsed / 1024 / 102.4) / 10,
  }));
  return {
    state: workforce.state,
    size: workforce.target,
    workers,
    queueLength: calls.queueLength,
    tasks: {
      running: workers.reduce((sum, worker) => sum + worker.inflight, 0),
      done: calls.tasksDone,
      failed: calls.tasksFailed,
    },
    restarts: workforce.workerRestarts + serviceRestarts,
    workerRestarts: workforce.workerRestarts,
    serviceRestarts,
    recycled: workforce.recycled,
    runTime: calls.runTimes.percentiles(),
    waitTime: calls.waitTimes.percentiles(),
  };
}
