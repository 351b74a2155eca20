/**
 * What a long-running command puts into the service (see service.ts): how its work starts on
 * the pool, what draining it means, and the words of its log lines. Everything else (probes,
 * metrics, signals, the pool, the exit code) the service does the same way for every command.
 */

import type { Logger } from 'pino';
import type { Consumer } from '../../pool/consumer.js';
import type { Pool } from '../../pool/pool.js';
import type { Queue } from '../../queue/queue.js';

/** A queue the service consumes, and its name: readiness, metrics and logs follow it. */
export interface ServiceQueue {
  queue: Queue;
  name: string;
}

/** What the service gives a workload once its pool exists. */
export interface ServiceContext {
  readonly pool: Pool;
  /** The queue {@link Workload.connect} opened, if any. */
  readonly queue: ServiceQueue | undefined;
  readonly log: Logger;
  /** True once the service drains or has stopped: work ending now is no news. */
  readonly stopping: boolean;
  /** Logs and counts every job `consumer` settles. */
  observe(consumer: Consumer): void;
  /** The work ended on its own: stop the service with this exit code. */
  end(exitCode: number): void;
  /** The work cannot go on: logged at fatal, and the service stops with exit code 1. */
  fail(error: unknown, message: string): void;
}

/** One command's part of a service. */
export interface Workload {
  /**
   * Opens the queue the work needs before the pool starts, waiting for the broker as long as
   * it takes; undefined when `signal` aborted first (a stop asked meanwhile). A rejection stops
   * the service with exit code 1. Without it the pool starts at once.
   */
  connect?(signal: AbortSignal): Promise<ServiceQueue | undefined>;
  /** Starts the work on the pool; resolves once it is running (ready, as far as the work goes). */
  start(context: ServiceContext): Promise<void>;
  /** Called once the service is running: what should happen only then (a log line, the autoscaler). */
  running?(): void;
  /** Stops taking work; resolves once what runs finished within `graceMs` or was given back. */
  drain(graceMs: number): Promise<void>;
  /** A second signal: what still runs is given up now. */
  stopNow(): void;
  /** How far the work is, for the lines logged on a signal (e.g. jobs in flight). */
  progress?(): Record<string, unknown>;
  /** The fields of the last line, `stopped`. */
  summary(): Record<string, unknown>;
  /** The lines logged on the first and second SIGTERM/SIGINT. */
  messages: { draining: string; stoppingNow: string };
}
