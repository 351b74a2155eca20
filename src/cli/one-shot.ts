/**
 * Opening the queue for a one-shot command (`dispatch`, `failed`, `status`): the settings that
 * say where it is and how long to wait for it are read with the rest, before anything starts;
 * the queue is opened (waiting for the broker up to `--connect-timeout-ms`), used, and closed.
 */

import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Queue } from '../queue/queue.js';
import { parseQueueUrl } from '../queue/url.js';
import { type BrokerOptions, readBrokerSettings } from './broker-settings.js';
import { ConfigError, integer, queueUrl, type RawSettings } from './config.js';
import { connectQueue } from './connect.js';

/** Where the queue is and how long to wait for its broker, checked. */
export interface QueueTarget {
  url: string | undefined;
  connectTimeoutMs: number;
  /** Heartbeat, TLS, quorum size. */
  broker: BrokerOptions;
}

/** Reads `--url`, `--connect-timeout-ms` and the broker's settings. */
export function readQueueTarget(raw: RawSettings): QueueTarget {
  return {
    url: queueUrl(raw),
    connectTimeoutMs: integer(raw, 'connectTimeoutMs', 0),
    broker: readBrokerSettings(raw),
  };
}

/** Options of {@link withQueue}. */
export interface OneShotOptions {
  /** The command, as the broker's connection list shows it. */
  command: string;
  log: Logger;
  /** The app whose registry names the tasks (dispatch); none to only read and move messages. */
  app?: string;
  /**
   * A queue that must exist already: looking at a queue must not create one (from the wrong
   * directory, or with a mistyped name, that would show zeros).
   */
  existing?: string;
}

/**
 * Refuses a SQLite file that is not there: looking at one must not create it (from the wrong
 * directory that would show nothing, and leave an empty queue behind).
 */
export function assertQueueFile(target: QueueTarget): void {
  const location = parseQueueUrl(target.url);
  if (location.kind === 'sqlite' && !existsSync(location.path))
    throw new ConfigError(
      'url',
      `no queue at ${location.safeUrl} (${location.path}): run where the workers run, or give the URL`,
    );
}

/**
 * Opens the queue, hands it to `use`, and closes it; resolves with the exit code: the number
 * `use` resolves with (a command that did part of what it was asked), else 0.
 */
export async function withQueue(
  target: QueueTarget,
  options: OneShotOptions,
  use: (queue: Queue) => Promise<unknown>,
): Promise<number> {
  const { existing } = options;
  if (existing !== undefined) assertQueueFile(target);
  const queue = await connectQueue({
    command: options.command,
    url: target.url,
    app: options.app,
    log: options.log,
    timeoutMs: target.connectTimeoutMs,
    broker: target.broker,
  });
  if (queue === undefined) return 1;
  try {
    // Stats and the failed store would declare a queue that is not there.
    if (existing !== undefined && !(await queue.exists(existing)))
      throw new ConfigError('queue', `no queue "${existing}" on ${queue.url}`);
    const code = await use(queue);
    return typeof code === 'number' ? code : 0;
  } finally {
    await queue.close();
  }
}
