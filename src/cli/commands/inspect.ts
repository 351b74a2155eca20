/**
 * The operator's look at a queue: `status` (its counts), and the one-shot opening of an existing
 * queue that `status` and `failed` (failed.ts) share. They need no app: they read and move
 * messages, they run no task.
 */

import type { Logger } from 'pino';
import type { Queue } from '../../queue/queue.js';
import { flag, queue as queueSetting, type RawSettings } from '../config.js';
import { readQueueTarget, withQueue } from '../one-shot.js';
import { instancesOf, instanceTable } from './fleet-lines.js';

/**
 * A one-shot look at (or move in) the queue `--queue` names, which must exist already;
 * resolves with the exit code `use` resolves with (a number), else 0.
 */
export async function withExistingQueue(
  raw: RawSettings,
  log: Logger,
  use: (queue: Queue, name: string) => Promise<unknown>,
): Promise<number> {
  const target = readQueueTarget(raw);
  const name = queueSetting(raw);
  return withQueue(target, { command: 'inspect', log, existing: name }, (queue) => use(queue, name));
}

/**
 * `multitask status`: ready, in flight, delayed, failed, and the instances consuming the queue.
 * In flight is the sum of what those instances report holding, on both transports: RabbitMQ
 * reports no unacknowledged count over AMQP, and this process holds none.
 */
export function status(raw: RawSettings, log: Logger): Promise<number> {
  const json = flag(raw, 'json');
  return withExistingQueue(raw, log, async (queue, name) => {
    const [stats, all] = await Promise.all([queue.stats(name), queue.instances()]);
    const { instances, inFlight } = instancesOf(all, name);
    if (json) {
      print(JSON.stringify({ queue: name, url: queue.url, ...stats, inFlight, instances }));
      return;
    }
    print(`queue ${name} on ${queue.url}`);
    print(`  ready      ${stats.ready}`);
    print(`  in flight  ${inFlight}`);
    print(`  delayed    ${stats.delayed}`);
    print(`  failed     ${stats.failed}`);
    print(`  instances  ${instances.length}`);
    if (instances.length > 0) for (const line of instanceTable(instances, name)) print(`    ${line}`);
  });
}

/** One line on stdout. */
export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}
