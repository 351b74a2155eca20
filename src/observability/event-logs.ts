/**
 * How the service's events become log lines: jobs, workers, supervised tasks, and the broker
 * connection. Every job line carries the job id, task, queue,
 * attempt and worker id, so one grep follows a job across retries and instances. Completions
 * log at debug: at thousands of jobs a second, info is for what needs a look.
 */

import type { Logger } from 'pino';
import type { Consumer, SettledJob } from '../pool/consumer.js';
import type { Pool } from '../pool/pool.js';
import type { Queue } from '../queue/queue.js';

const LEVEL: Record<SettledJob['outcome'], 'debug' | 'info' | 'warn' | 'error'> = {
  completed: 'debug',
  released: 'info',
  retried: 'warn',
  failed: 'error',
};

const MESSAGE: Record<SettledJob['outcome'], string> = {
  completed: 'job completed',
  released: 'job given back to the queue',
  retried: 'job failed, will be retried',
  failed: 'job failed for good: moved to the failed store',
};

/** Logs each job a consumer settles. */
export function logJobs(consumer: Consumer, log: Logger): void {
  consumer.on('settled', (job) => {
    const level = LEVEL[job.outcome];
    if (!log.isLevelEnabled(level)) return;
    const line: Record<string, unknown> = {
      jobId: job.id,
      task: job.task,
      queue: job.queue,
      attempt: job.attempt,
      workerId: job.workerId,
      durationMs: Math.round(job.durationMs * 10) / 10,
    };
    // Not `err`: pino's serializer would reshape it. The stack is in the failed store.
    if (job.error !== undefined)
      line.error = { code: job.error.code, name: job.error.name, message: job.error.message };
    log[level](line, MESSAGE[job.outcome]);
  });
  consumer.on('settleError', ({ id, error }) =>
    log.warn(
      { jobId: id, queue: consumer.queue, err: error.message },
      'job outcome not recorded; the broker will deliver it again',
    ),
  );
}

/** Logs worker lifecycle and the lines tasks write with `ctx.log`. */
export function logPool(pool: Pool, log: Logger): void {
  pool.on('workerOnline', ({ workerId }) => log.debug({ workerId }, 'worker online'));
  pool.on('workerExit', ({ workerId, exitCode, reason, error }) => {
    if (reason === 'setupFailed')
      log.warn(
        { workerId, err: error?.message },
        "the app's setup failed in a worker; trying again after a pause",
      );
    else if (reason === 'crash' || reason === 'timeout')
      log.warn({ workerId, exitCode, reason, err: error?.message }, 'worker died; replacing it');
    else log.debug({ workerId, exitCode, reason }, 'worker exited');
  });
  pool.on('restart', ({ taskName, replica, attempt, delayMs, error }) =>
    log.warn(
      { task: taskName, replica, attempt, retryInMs: Math.round(delayMs), err: error.message },
      'task failed; restarting it',
    ),
  );
  pool.on('crashLoop', ({ taskName, replica, error }) =>
    log.error(
      // The whole error: pino prints its cause, where the reason the pool gave up is.
      { task: taskName, replica, err: error },
      'crash loop: gave up',
    ),
  );
  pool.on('log', (record) => log[record.level](record.fields, record.msg));
}

/** What a failed try to reach the broker says; `url` and `node` are masked. */
export interface BrokerRetry {
  url: string;
  /** The node tried, of a URL list. */
  node?: string | undefined;
  attempt: number;
  delayMs: number;
  error: Error;
}

/**
 * Logs one failed try to reach the broker: the same line whether the command is still opening
 * the queue or the open queue lost its connection, so one search finds every outage. With a
 * list of nodes, a try that fails is followed by the next node at once (`retryInMs` 0).
 */
export function logBrokerRetry(log: Logger, { url, node, attempt, delayMs, error }: BrokerRetry): void {
  const code = (error as { code?: unknown }).code;
  log.warn(
    { url, node, attempt, retryInMs: Math.round(delayMs), code, err: error.message },
    'broker unreachable, retrying',
  );
}

/** Logs the broker connection going and coming back (readiness follows it), naming the node. */
export function logConnection(queue: Queue, log: Logger): void {
  const url = queue.url;
  if (queue.node !== undefined) log.info({ url, node: queue.node }, 'broker connected');
  queue.on('disconnected', ({ node, reason }) =>
    log.warn({ url, node, reason }, 'broker connection lost; not ready until it is back'),
  );
  queue.on('reconnecting', ({ attempt, delayMs, error, node }) =>
    logBrokerRetry(log, { url, node, attempt, delayMs, error }),
  );
  queue.on('connected', ({ node }) => log.info({ url, node }, 'broker connection back'));
}
