/**
 * Opening the queue for a command: every failed attempt is logged (URL masked) with when the
 * next one comes, so an operator watching a pod that is not ready sees why. A long-running
 * command waits for the broker as long as it takes; a one-shot command gives up after
 * `--connect-timeout-ms`.
 */

import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ErrorCode, hasCode } from '../errors.js';
import { backoffDelay } from '../internal/backoff.js';
import { openQueue, type Queue } from '../queue/queue.js';
import { maskUrl, parseQueueUrl } from '../queue/url.js';

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
}

/** How long one openQueue call keeps retrying before this loop takes over. */
const ROUND_MS = 10_000;
const PAUSE_INITIAL_MS = 1_000;
const PAUSE_MAX_MS = 30_000;

/** Opens the queue, retrying with backoff; undefined when `signal` aborted first. */
export async function connectQueue(options: ConnectOptions): Promise<Queue | undefined> {
  const { log, signal } = options;
  const where =
    options.url === undefined ? 'the embedded queue (sqlite:.multitask/queue.db)' : maskUrl(options.url);
  const deadline =
    options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
  const remote = parseQueueUrl(options.url).kind === 'amqp';
  let tries = 0;
  // The callback stays with the connection for good; once open, the queue's own `reconnecting`
  // events are the ones the command logs.
  let opened = false;
  for (let round = 1; ; round++) {
    if (signal?.aborted) return undefined;
    try {
      const queue = await openQueue(options.url, {
        app: options.app,
        connectTimeoutMs: Math.max(0, Math.min(ROUND_MS, deadline - Date.now())),
        connectionName: connectionName(options.command),
        onConnectRetry: ({ delayMs, error }) => {
          if (opened) return;
          tries++;
          log.warn(
            { url: where, attempt: tries, retryInMs: Math.round(delayMs), err: error.message },
            'broker unreachable, retrying',
          );
        },
      });
      opened = true;
      log.debug({ url: queue.url }, 'queue connected');
      return queue;
    } catch (error) {
      // Only a broker can come back: a SQLite file that cannot be opened will not open later.
      if (!remote || !hasCode(error, ErrorCode.BROKER_UNAVAILABLE) || Date.now() >= deadline) throw error;
      tries++;
      const pause = Math.min(backoffDelay(round, PAUSE_INITIAL_MS, PAUSE_MAX_MS), deadline - Date.now());
      log.warn(
        { url: where, attempt: tries, retryInMs: Math.round(pause), err: (error as Error).message },
        'broker unreachable, retrying',
      );
      // An abort ends the pause early; the loop's first line then returns.
      await sleep(pause, undefined, { signal }).catch(() => {});
    }
  }
}

/** What the broker's connection list shows for this process, so an operator finds it. */
export function connectionName(command: string): string {
  return `multitask ${command} ${hostname()} ${process.pid}`;
}
