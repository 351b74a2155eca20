/**
 * The operator's commands on a queue: `status` (its counts) and `failed list|retry|purge` (its
 * failed store). They need no app: they read and move messages, they run no task.
 */

import type { Logger } from 'pino';
import type { Queue } from '../../queue/queue.js';
import type { FailedJob } from '../../queue/transport.js';
import { flag, integer, queue as queueSetting, type RawSettings, UsageError } from '../config.js';
import { readQueueTarget, withQueue } from '../one-shot.js';

/** What `failed` does. */
export type FailedAction = 'list' | 'retry' | 'purge';

/** A one-shot look at (or move in) the queue `--queue` names, which must exist already. */
async function withExistingQueue(
  raw: RawSettings,
  log: Logger,
  use: (queue: Queue, name: string) => Promise<void>,
): Promise<number> {
  const target = readQueueTarget(raw);
  const name = queueSetting(raw);
  return withQueue(target, { command: 'inspect', log, existing: name }, (queue) => use(queue, name));
}

/** `multitask status`: ready, in flight, delayed, failed. */
export function status(raw: RawSettings, log: Logger): Promise<number> {
  const json = flag(raw, 'json');
  return withExistingQueue(raw, log, async (queue, name) => {
    const stats = await queue.stats(name);
    // Over AMQP the broker reports ready messages only; unacknowledged ones are each consumer's
    // (its multitask_queue_unacked gauge), so this process, which holds none, cannot count them.
    const inFlight = /^amqps?:/.test(queue.url) ? null : stats.inFlight;
    if (json) {
      print(JSON.stringify({ queue: name, url: queue.url, ...stats, inFlight }));
      return;
    }
    print(`queue ${name} on ${queue.url}`);
    print(`  ready      ${stats.ready}`);
    print(
      `  in flight  ${inFlight ?? "not reported over AMQP: sum the consumers' multitask_queue_unacked, or rabbitmqctl list_queues name messages_unacknowledged"}`,
    );
    print(`  delayed    ${stats.delayed}`);
    print(`  failed     ${stats.failed}`);
  });
}

/** `multitask failed list|retry|purge`. */
export function failed(action: string, raw: RawSettings, log: Logger): Promise<number> {
  if (action !== 'list' && action !== 'retry' && action !== 'purge')
    throw new UsageError(`unknown action "${action}": failed list, failed retry or failed purge`);
  const limit = integer(raw, 'limit', 1);
  const json = flag(raw, 'json');
  return withExistingQueue(raw, log, async (queue, name) => {
    if (action === 'retry') {
      print(`moved ${await queue.retryFailed(name)} failed jobs back to "${name}"`);
    } else if (action === 'purge') {
      print(`deleted ${await queue.purgeFailed(name)} failed jobs of "${name}"`);
    } else {
      const jobs = await queue.failed(name, { limit });
      if (json)
        print(
          JSON.stringify(
            jobs.map(({ body: _, ...job }) => job),
            null,
            2,
          ),
        );
      // A URL typed as a flag must be typed again; one from MULTITASK_URL is read again.
      else printFailed(name, jobs, raw.url !== undefined && raw.url !== process.env.MULTITASK_URL);
    }
  });
}

function printFailed(name: string, jobs: FailedJob[], urlFlag: boolean): void {
  if (jobs.length === 0) {
    print(`no failed jobs in "${name}"`);
    return;
  }
  print(`${jobs.length} failed job${jobs.length === 1 ? '' : 's'} in "${name}" (oldest first):`);
  for (const job of jobs) {
    print('');
    print(
      `${job.id}  ${job.task ?? '(not a job)'}  attempts ${job.attempts}  failed ${job.failedAt.toISOString()}`,
    );
    print(`  fields: ${job.fields === undefined ? job.body.slice(0, 200) : JSON.stringify(job.fields)}`);
    print(
      `  error:  ${job.error.code === undefined ? '' : `${job.error.code} `}${job.error.name}: ${job.error.message}`,
    );
  }
  print('');
  print(
    `move them back with: multitask failed retry --queue ${name}${urlFlag ? ' --url <the same URL>' : ''}`,
  );
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}
