import { invalidOption } from '../errors.js';
import { nonNegative, positiveInteger } from '../internal/validate.js';
import {
  DEFAULT_HEARTBEAT_SECONDS,
  type NodeOrder,
  type QuorumOptions,
  type ResolvedAmqpOptions,
  resolveAmqpOptions,
  type TlsOptions,
} from './amqp-options.js';
import { DEFAULT_ATTEMPTS, MAX_DELAY_MS } from './message.js';
import type { FailedPage } from './transport.js';
import { DELAY_LEVELS } from './transports/amqp-topology.js';

/** Options of {@link openQueue}. */
export interface OpenQueueOptions {
  /** The app module (path or URL): its registry names the tasks. Needed to dispatch or consume tasks. */
  app?: string | URL;
  /** Backoff between the attempts of a job that threw. Default 1 s, doubling, up to 5 min. */
  retry?: { initialDelayMs?: number; maxDelayMs?: number };
  /**
   * How long opening, and each dispatch, wait for an unreachable broker (ms): a number > 0, or
   * `Number.POSITIVE_INFINITY` to retry until `signal` aborts. Default 10 000.
   */
  connectTimeoutMs?: number;
  /**
   * Stops the connection attempts of `openQueue`: it then rejects with an `AbortError`.
   * Only opening listens to it; close the queue to end it once open.
   */
  signal?: AbortSignal;
  /** RabbitMQ: deliveries of one message after which the broker dead-letters it. Default 20. */
  deliveryLimit?: number;
  /** RabbitMQ: the connection's name as the broker shows it (management UI, rabbitmqctl). Default "multitask". */
  connectionName?: string;
  /** SQLite: how long a job stays leased without renewal; a dead process's jobs return after it (ms). Default 30 000. */
  leaseMs?: number;
  /** SQLite: how often an idle consumer looks for jobs dispatched by other processes (ms). Default 100. */
  pollMs?: number;
  /**
   * How long a job's outcome stays readable by `queue.result(id)` after it arrived (ms): rows of
   * SQLite's `results` table older than this are pruned, and on RabbitMQ a reply no one has read
   * is dropped from memory. Default 3 600 000 (an hour).
   */
  resultTtlMs?: number;
  /**
   * RabbitMQ: called for every failed connection attempt (before the next one), when opening
   * and when reconnecting, so that a service can say what it is waiting for. The same thing as
   * the Queue's `reconnecting` event (which only listeners added after `openQueue` resolved
   * hear); `attempt` counts from 1 in each run of attempts. A refused login or virtual host
   * (`ERR_BROKER_REFUSED`) fails `openQueue` at once, with no retry.
   */
  onConnectRetry?: (retry: ConnectRetry) => void;
  /**
   * RabbitMQ: the heartbeat asked of the broker (s; 0 for none). A link that brings nothing for
   * this long is taken as dead, dropped, and replaced (through another node of the URL list).
   * A URL's own `?heartbeat=` wins for its node. Default 15.
   */
  heartbeatSeconds?: number;
  /**
   * RabbitMQ, with a list of URLs: `random` (default) tries the nodes in an order shuffled per
   * connection, so that processes spread over the cluster; `listed` in the order written (the
   * first is preferred, e.g. the node in this zone). Either way a lost node is followed by the next.
   */
  nodeOrder?: NodeOrder;
  /**
   * RabbitMQ: how many delay queues each job queue has (4 to 10). The full ladder of 10 rungs
   * (50 ms × 4^k) hops a delayed job at most 3 times a rung; fewer rungs, further apart, cost
   * fewer queues (a job queue then has 3 + `delayRungs` queues) and more hops. Producers and
   * consumers of a queue should use the same value. Default 10.
   */
  delayRungs?: number;
  /** RabbitMQ: TLS for `amqps://` URLs (CA, client certificate and key, server name). */
  tls?: TlsOptions;
  /** RabbitMQ: where new quorum queues put their replicas and leader. Default: leaders balanced over the nodes. */
  quorum?: QuorumOptions;
}

/** A failed connection attempt, and when the next one will be made. */
export interface ConnectRetry {
  /** The attempt that just failed, from 1. */
  attempt: number;
  /** The pause before the next attempt (ms). */
  delayMs: number;
  /** Why the attempt failed (never contains the password). */
  error: Error;
  /** The node tried (RabbitMQ: its URL, password masked). */
  node?: string;
}

export interface ResolvedQueueOptions {
  connectionName: string;
  retry: { initialDelayMs: number; maxDelayMs: number };
  connectTimeoutMs: number;
  deliveryLimit: number;
  leaseMs: number;
  pollMs: number;
  resultTtlMs: number;
  onConnectRetry: ((retry: ConnectRetry) => void) | undefined;
  /** RabbitMQ's own: heartbeat, TLS, quorum placement. */
  amqp: ResolvedAmqpOptions;
}

export const QUEUE_DEFAULTS: ResolvedQueueOptions = Object.freeze({
  connectionName: 'multitask',
  retry: Object.freeze({ initialDelayMs: 1_000, maxDelayMs: 300_000 }),
  connectTimeoutMs: 10_000,
  deliveryLimit: 20,
  leaseMs: 30_000,
  pollMs: 100,
  resultTtlMs: 3_600_000,
  onConnectRetry: undefined,
  amqp: Object.freeze({
    heartbeatSeconds: DEFAULT_HEARTBEAT_SECONDS,
    nodeOrder: 'random',
    delayLadder: DELAY_LEVELS,
    tls: undefined,
    quorum: Object.freeze({ 'x-queue-leader-locator': 'balanced' }),
  }),
});

/** Validates {@link OpenQueueOptions} (all but `app`) over the defaults. */
export function resolveQueueOptions(options: OpenQueueOptions): ResolvedQueueOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object');
  const retry = options.retry ?? {};
  if (typeof retry !== 'object' || retry === null) throw invalidOption('retry', retry, 'an object');
  const initialDelayMs = nonNegative(
    'retry.initialDelayMs',
    retry.initialDelayMs ?? QUEUE_DEFAULTS.retry.initialDelayMs,
  );
  const maxDelayMs = delay(
    'retry.maxDelayMs',
    retry.maxDelayMs ?? Math.max(initialDelayMs, QUEUE_DEFAULTS.retry.maxDelayMs),
  );
  if (maxDelayMs < initialDelayMs) {
    throw invalidOption(
      'retry.maxDelayMs',
      maxDelayMs,
      `a number >= retry.initialDelayMs (${initialDelayMs})`,
    );
  }
  const leaseMs = nonNegative('leaseMs', options.leaseMs ?? QUEUE_DEFAULTS.leaseMs);
  if (leaseMs < 100) throw invalidOption('leaseMs', leaseMs, 'a number >= 100');
  const connectionName = options.connectionName ?? QUEUE_DEFAULTS.connectionName;
  if (typeof connectionName !== 'string') throw invalidOption('connectionName', connectionName, 'a string');
  return {
    connectionName,
    retry: { initialDelayMs, maxDelayMs },
    connectTimeoutMs: timeoutOrForever(
      'connectTimeoutMs',
      options.connectTimeoutMs ?? QUEUE_DEFAULTS.connectTimeoutMs,
    ),
    deliveryLimit: positiveInteger('deliveryLimit', options.deliveryLimit ?? QUEUE_DEFAULTS.deliveryLimit),
    leaseMs,
    pollMs: nonNegative('pollMs', options.pollMs ?? QUEUE_DEFAULTS.pollMs),
    resultTtlMs: positiveInteger('resultTtlMs', options.resultTtlMs ?? QUEUE_DEFAULTS.resultTtlMs),
    onConnectRetry: optionalFunction('onConnectRetry', options.onConnectRetry),
    amqp: resolveAmqpOptions(options),
  };
}

/** A number > 0 (ms), or `Infinity` for "as long as it takes". */
function timeoutOrForever(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0))
    throw invalidOption(name, value, 'a number > 0 (ms), or Infinity to retry until aborted');
  return value;
}

/** An AbortSignal, or undefined. */
export function optionalSignal(value: unknown): AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal))
    throw invalidOption('signal', value, 'an AbortSignal');
  return value;
}

function optionalFunction<F>(name: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw invalidOption(name, value, 'a function');
  return value;
}

/** Options of {@link Queue.dispatch}. */
export interface DispatchOptions {
  /** The queue's name. Default "default". */
  queue?: string;
  /** Deliveries allowed in all, the first included. Default 3. */
  attempts?: number;
  /** Past this (ms) the worker running it is terminated and the attempt counts as failed. */
  timeoutMs?: number;
  /** Holds the job back this long (ms) before it can run. Default 0. */
  delayMs?: number;
  /**
   * The job's id: 1 to 200 printable ASCII characters, no spaces (e.g. `order-42-email`). It is
   * the id in every log line, event and failed-store entry of the job. Default: a new UUID.
   */
  id?: string;
  /**
   * Keep the job's outcome for `queue.result(id)`: a reply to this process (RabbitMQ) or a row
   * of the `results` table (SQLite), which costs a message or a row per job. Default false.
   */
  result?: boolean;
}

export interface ResolvedDispatch {
  queue: string;
  attempts: number;
  timeoutMs: number | undefined;
  delayMs: number;
  id: string | undefined;
  result: boolean;
}

export const DEFAULT_QUEUE = 'default';

/** Validates {@link DispatchOptions}. */
export function resolveDispatch(options: DispatchOptions = {}): ResolvedDispatch {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object');
  const { timeoutMs, result = false } = options;
  if (typeof result !== 'boolean') throw invalidOption('result', result, 'a boolean');
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs > 0))) {
    throw invalidOption('timeoutMs', timeoutMs, 'a number > 0');
  }
  return {
    queue: queueName(options.queue ?? DEFAULT_QUEUE),
    attempts: positiveInteger('attempts', options.attempts ?? DEFAULT_ATTEMPTS),
    timeoutMs,
    delayMs: delay('delayMs', options.delayMs ?? 0),
    id: options.id === undefined ? undefined : jobId(options.id),
    result,
  };
}

/** What a caller-given job id may hold: it travels as an AMQP message-id and in every log line. */
const JOB_ID = /^[\x21-\x7e]{1,200}$/;

/** A caller-given job id, or `ERR_INVALID_OPTION` naming the option `name`. */
export function jobId(value: unknown, name = 'id'): string {
  if (typeof value !== 'string' || !JOB_ID.test(value))
    throw invalidOption(name, value, '1 to 200 printable ASCII characters, no spaces');
  return value;
}

/** Options of {@link Queue.failed}. */
export interface FailedListOptions {
  /** At most this many, oldest first. Default 1000. */
  limit?: number;
  /** Start after the job with this id: the last one of the page before. */
  after?: string;
}

/** Options of {@link Queue.retryFailed} and {@link Queue.purgeFailed}. */
export interface FailedIdsOptions {
  /** Only the failed jobs with these ids (none for an empty array). Default: every one. */
  ids?: readonly string[];
}

/** Validates {@link FailedListOptions}. */
export function resolveFailedPage(options: FailedListOptions): FailedPage {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object');
  return {
    limit: positiveInteger('limit', options.limit ?? 1000),
    after: options.after === undefined ? undefined : jobId(options.after, 'after'),
  };
}

/** Validates {@link FailedIdsOptions}: a copy of the ids, or undefined for every job. */
export function resolveFailedIds(options: FailedIdsOptions): string[] | undefined {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object');
  const { ids } = options;
  if (ids === undefined) return undefined;
  if (!Array.isArray(ids)) throw invalidOption('ids', ids, 'an array of job ids');
  return ids.map((id: unknown, index) => jobId(id, `ids[${index}]`));
}

/**
 * A delay (ms) from 0 to {@link MAX_DELAY_MS}: a longer one would park a job on the broker for
 * ever, and consumers refuse such a message from other producers (`ERR_BAD_MESSAGE`).
 */
export function delay(name: string, value: unknown): number {
  const ms = nonNegative(name, value);
  if (ms > MAX_DELAY_MS)
    throw invalidOption(name, value, `a number of ms from 0 to ${MAX_DELAY_MS} (30 days, the longest delay)`);
  return ms;
}

/**
 * A valid queue name. Names are AMQP queue names too, and the transports derive others from
 * them (`<queue>.failed`, `<queue>.delay.<ms>`), so those suffixes are reserved.
 */
export function queueName(name: unknown, option = 'queue'): string {
  if (typeof name === 'string' && validNames.has(name)) return name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/.test(name)) {
    throw invalidOption(option, name, 'a queue name of 1-200 letters, digits, "_", ".", ":" or "-"');
  }
  if (name.endsWith('.failed') || /\.delay\.\d+$/.test(name)) {
    throw invalidOption(option, name, 'a name that does not end in ".failed" or ".delay.<ms>" (reserved)');
  }
  if (validNames.size < 10_000) validNames.add(name);
  return name;
}

/** Names already checked: a producer names the same few queues on every dispatch. */
const validNames = new Set<string>();
