/**
 * The one adapter interface every queue transport implements (RabbitMQ, SQLite), proven by
 * the shared conformance suite in test/conformance. Transports move bytes and keep counts;
 * what a job means (decode, run, retry or fail) is decided once, in the consumer.
 */

import type { MultitaskError } from '../errors.js';
import type { FleetLink } from './fleet-types.js';
import type { StoredError } from './message.js';

/** A message on its way into a queue. */
export interface OutgoingMessage {
  /** The body: a version-1 job as JSON, or any bytes a producer sent. */
  readonly body: string | Buffer;
  readonly id: string | undefined;
  /** The attempt number its next delivery will be (1 for a new job). */
  readonly attempt: number;
  /** Not delivered before this time (epoch ms); 0 or past means at once. */
  readonly notBefore: number;
  readonly lastError?: StoredError | undefined;
  /** The dispatching process waits for the job's outcome (`queue.call`, `dispatch(…, { result: true })`). */
  readonly wantsResult?: boolean;
}

/** A message and the queue it goes to: one job of a batch. */
export interface QueuedMessage {
  readonly queue: string;
  readonly message: OutgoingMessage;
}

/** One delivery of a message to a consumer; exactly one of its four endings must be called. */
export interface Delivery {
  readonly body: string;
  readonly id: string | undefined;
  /** This delivery's attempt number, from 1; counts deliveries whose process or worker died. */
  readonly attempt: number;
  /** The error of the attempt before, when it threw. */
  readonly lastError: StoredError | undefined;
  /**
   * Of `attempt`, the deliveries the broker counted for consumers that died (RabbitMQ's
   * x-delivery-count); the rest came with the message. Undefined where the transport alone
   * writes the count (SQLite), which cannot be out of range.
   */
  readonly redeliveries?: number | undefined;
  /**
   * Set when what the transport carries beside the body cannot be used (RabbitMQ: an attempt
   * header that is not an integer >= 1, a not-before further ahead than `MAX_DELAY_MS`): the consumer
   * moves the message to the failed store at once with this error, without running it.
   */
  readonly invalid?: MultitaskError | undefined;
  /**
   * True when a caller waits for this job's outcome: the consumer then passes `ack` the
   * encoded return value, and the transport sends or stores it, or `fail`'s error, for the caller.
   */
  readonly wantsResult?: boolean;
  /** Done: the job leaves the queue; `result` goes to the caller when the job asked for one. */
  ack(result?: EncodedResult): Promise<void>;
  /** Failed this attempt: back in the queue after `delayMs`, as attempt `attempt + 1`. */
  retry(delayMs: number, error: StoredError): Promise<void>;
  /** Given back unfinished (the consumer stops, the app cannot start): back in the queue after `delayMs` (default 0), this attempt not counted. */
  release(delayMs?: number): Promise<void>;
  /** Failed for good: into the failed store with `error`, after `attempt` attempts. */
  fail(error: StoredError): Promise<void>;
}

/** A stream of deliveries with at most `prefetch` unsettled at a time (one per worker). */
export interface Lane {
  /** Stops taking new deliveries; those already delivered can still be settled. */
  stop(): Promise<void>;
  /** Stops and frees the lane; deliveries still unsettled go back to the queue. */
  close(): Promise<void>;
}

/** Counts of one queue, from {@link Queue.stats}. */
export interface QueueStats {
  /** Jobs that can run now. */
  ready: number;
  /** Jobs delivered to a consumer and not settled yet. */
  inFlight: number;
  /** Jobs waiting for their `delayMs` or their retry backoff. */
  delayed: number;
  /** Jobs in the failed store. */
  failed: number;
}

/** A job in the failed store, from {@link Queue.failed}. */
export interface FailedJob {
  id: string;
  queue: string;
  /** The task name, when the message was a readable job. */
  task: string | undefined;
  fields: Record<string, unknown> | undefined;
  /** Attempts made before it failed (0 for a message that was never a job). */
  attempts: number;
  error: StoredError;
  failedAt: Date;
  /** The message body as it was received. */
  body: string;
}

/** Which page of the failed store {@link Transport.failed} reads. */
export interface FailedPage {
  readonly limit: number;
  /** The id of the last job of the page before; undefined for the first page. */
  readonly after: string | undefined;
}

/**
 * A change of a transport's connection to its broker, as {@link Queue} re-emits it.
 * `reconnecting` is a failed connection attempt (the next in `delayMs`): the same report
 * `openQueue`'s `onConnectRetry` receives.
 */
export type ConnectionEvent =
  | { type: 'connected'; node?: string | undefined }
  | { type: 'disconnected'; node?: string | undefined; reason?: string | undefined }
  | { type: 'reconnecting'; attempt: number; delayMs: number; error: Error; node?: string | undefined };

/** What a transport does; see the module comment. */
export interface Transport {
  /** The URL with its password masked. */
  readonly safeUrl: string;
  /** True while the broker is reachable (always, for an embedded file that is open). */
  readonly connected: boolean;
  /** The node in use of a cluster (its URL, password masked); undefined while none is, and for a file. */
  readonly node?: string | undefined;
  /** Reports connection changes to `listener` (transports without a connection never call it). */
  watch(listener: (event: ConnectionEvent) => void): void;
  /** Resolves once the message is durable (publisher confirm, committed transaction). */
  publish(queue: string, message: OutgoingMessage): Promise<void>;
  /**
   * Publishes a batch with less work per message than {@link publish} one by one; resolves,
   * never rejects, with one entry per message in order: undefined once it is durable, or the
   * error it was not accepted with (after the retries {@link publish} would make).
   */
  publishMany(batch: readonly QueuedMessage[]): Promise<(Error | undefined)[]>;
  subscribe(queue: string, prefetch: number, onDelivery: (delivery: Delivery) => void): Promise<Lane>;
  stats(queue: string): Promise<QueueStats>;
  /** Jobs ready now: the one count a consumer's idle check needs, cheaper than {@link stats}. */
  ready(queue: string): Promise<number>;
  /**
   * A page of the failed store, oldest first: at most `limit` jobs, starting after the job whose
   * id is `after` (from the start when undefined). Reading never changes the store.
   */
  failed(queue: string, page: FailedPage): Promise<FailedJob[]>;
  /** The failed job with this id, or undefined. */
  failedJob(queue: string, id: string): Promise<FailedJob | undefined>;
  /**
   * Moves the failed jobs with these ids (every one when `ids` is undefined) back to the queue,
   * attempts counted afresh, ids unchanged; resolves with the ids moved, oldest first.
   */
  retryFailed(queue: string, ids?: readonly string[]): Promise<string[]>;
  /** Deletes the failed jobs with these ids (every one when undefined); resolves with the ids deleted. */
  purgeFailed(queue: string, ids?: readonly string[]): Promise<string[]>;
  /** True when the queue is there, without creating it (an open SQLite file holds every queue). */
  exists(queue: string): Promise<boolean>;
  /**
   * Closing has begun: nothing may wait for a link any more (a reconnection stops, waiters for
   * one fail at once), while a live link stays up for the goodbyes that come before
   * {@link close}. Without it, closing while the broker is unreachable waits on itself.
   */
  beginClose(): void;
  close(): Promise<void>;
  /**
   * True when outcomes are kept where any process can read them (SQLite's `results` table);
   * false when they travel only to the process that dispatched the job (RabbitMQ's replies).
   */
  readonly keepsResults: boolean;
  /** Hands the outcomes of the jobs this process asked results of to `sink`; called once, by the Queue. */
  receiveResults(sink: ResultSink): void;
  /**
   * The kept outcome of job `id`, whoever dispatched it: `pending` while a job with that id
   * waits for one, `unknown` when no job of that id asked for one (or it expired). Transports
   * that keep none (`keepsResults` false) answer `unknown`. A `pending` answer also makes the
   * transport watch for the outcome on the sink's behalf.
   */
  storedResult(id: string): Promise<JobOutcome | 'pending' | 'unknown'>;
  /** Instances and the event feed on this transport (made on first use; closed before the transport). */
  fleet(): FleetLink;
}

/**
 * A job's return value on its way to its caller, encoded once by the consumer: the JSON text of
 * the value, tagged as task fields are (src/task/field-codec.ts), undefined for undefined.
 */
export interface EncodedResult {
  readonly json: string | undefined;
}

/** How a job ended, as a transport records or sends it: its encoded return value, or its error. */
export type JobEnd = EncodedResult | { readonly error: StoredError };

/**
 * How a job ended, for its caller: `value` is the parsed JSON of its result, tags not decoded
 * yet (absent for undefined), or `error` the one it failed with for good.
 */
export type JobOutcome =
  | { readonly ok: true; readonly value?: unknown }
  | { readonly ok: false; readonly error: StoredError };

/** Where a transport hands the outcomes of the jobs this process waits for (the Queue's waits). */
export interface ResultSink {
  /** True while this process waits for job `id` (or keeps its outcome for `queue.result`). */
  expecting(id: string): boolean;
  /** How many jobs this process waits for: a transport that polls for outcomes stops at 0. */
  outstanding(): number;
  /** Job `id` ended; an outcome for an id no one expects is dropped. */
  settled(id: string, outcome: JobOutcome): void;
  /** The outcomes of these jobs can no longer arrive (the reply address died with its channel). */
  lost(ids: readonly string[], why: string): void;
}
