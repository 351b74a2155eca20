/**
 * Opening the queue for a command: every failed attempt is logged (URL masked) with when the
 * next one comes, so an operator watching a pod that is not ready sees why. A long-running
 * command waits for the broker as long as it takes; a one-shot command gives up after
 * `--connect-timeout-ms`. The retrying itself is the queue's own (openQueue's backoff): this
 * module only logs it and stops it on shutdown.
 */

import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { logBrokerRetry } from '../observability/event-logs.js';
import { openQueue, type Queue } from '../queue/queue.js';
import { maskUrl } from '../queue/url.js';
import type { BrokerOptions } from './broker-settings.js';

/** Options of {@link connectQueue}. */
export interface ConnectOptions {
  url: string | undefined;
  app?: string | undefined;
  log: Logger;
  /** Give up after this long (ms); undefined: never. */
  timeoutMs?: number | undefined;
  /** The command, in the connection's name as the broker shows it: `multitask work host pid`. */
  command: string;
  /** Stop trying (shutdown asked while waiting): resolves undefined. */
  signal?: AbortSignal | undefined;
  /** RabbitMQ: heartbeat, TLS, quorum size. */
  broker?: BrokerOptions | undefined;
}

/** Opens the queue, retrying with backoff; undefined when `signal` aborted first. */
export async function connectQueue(options: ConnectOptions): Promise<Queue | undefined> {
  const { log, signal } = options;
  const where =
    options.url === undefined ? 'the embedded queue (sqlite:.multitask/queue.db)' : maskUrl(options.url);
  // The callback stays with the connection for good; once open, the queue's own `reconnecting`
  // events are the ones the command logs.
  let opened = false;
  try {
    const queue = await openQueue(options.url, {
      ...options.broker,
      app: options.app,
      connectTimeoutMs: options.timeoutMs ?? Number.POSITIVE_INFINITY,
      connectionName: connectionName(options.command),
      signal,
      onConnectRetry: ({ attempt, delayMs, error, node }) => {
        if (!opened) logBrokerRetry(log, { url: where, node, attempt, delayMs, error });
      },
    });
    opened = true;
    log.debug({ url: queue.url, node: queue.node }, 'queue connected');
    return queue;
  } catch (error) {
    if (signal?.aborted) return undefined;
    throw error;
  }
}

/** What the broker's connection list shows for this process, so an operator finds it. */
export function connectionName(command: string): string {
  return `multitask ${command} ${hostname()} ${process.pid}`;
}
