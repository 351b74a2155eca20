import type { MultitaskError } from '../errors.js';
import type { TaskLogRecord } from '../worker/task-logger.js';
import type { TerminationReason } from './worker-handle.js';

/** The events a {@link Pool} emits, with their payloads. Listening is optional and costs nothing otherwise. */
export interface PoolEvents {
  /** A worker booted its app and takes work. */
  workerOnline: { workerId: number };
  /** A worker thread ended: `reason` is why the pool ended it, or 'crash'. */
  workerExit: {
    workerId: number;
    /**
     * The thread's exit code; 0 for a worker that stopped cleanly (it finished, tore its app
     * down and said so) even though the pool then ends the thread to reclaim it.
     */
    exitCode: number;
    reason: TerminationReason | 'crash' | 'stopped';
    error?: Error;
  };
  /** A task call failed (its own error, a crash, a timeout). */
  taskFailed: { taskName: string; workerId: number | undefined; error: Error };
  /** A supervised replica will run again after `delayMs`. */
  restart: { taskName: string; replica: number; attempt: number; delayMs: number; error: Error };
  /** A supervised replica, or the pool's app setup, failed too often and gave up. */
  crashLoop: { taskName?: string; replica?: number; error: MultitaskError };
  /**
   * A task logged a line (`ctx.log`); `fields` hold workerId, task, attempt and the task's own.
   * With no listener the line goes to stderr as JSON.
   */
  log: TaskLogRecord;
}

/** Names of {@link PoolEvents}. */
export type PoolEventName = keyof PoolEvents;

/** How the pool's parts tell the facade what happened (it emits the events). */
export type EmitPoolEvent = <E extends PoolEventName>(event: E, payload: PoolEvents[E]) => void;
