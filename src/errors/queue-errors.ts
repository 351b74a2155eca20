/** The errors of queues and their transports: the broker, a closed queue, bad messages, exhausted attempts. Built here, once; see ../errors.ts. */
import { ErrorCode, MultitaskError } from './core.js';

/** `ERR_BROKER_UNAVAILABLE` while connecting: `reason` must not hold the password (the caller scrubs it). */
export function brokerUnreachable(safeUrl: string, reason: string, cause?: unknown): MultitaskError {
  return new MultitaskError(
    ErrorCode.BROKER_UNAVAILABLE,
    `RabbitMQ at ${safeUrl} is unreachable: ${reason}`,
    {
      cause,
    },
  );
}

/** `ERR_BROKER_UNAVAILABLE` for an operation on a connected broker that failed (a channel, a publish). */
export function brokerUnavailable(safeUrl: string, cause: unknown): MultitaskError {
  return new MultitaskError(
    ErrorCode.BROKER_UNAVAILABLE,
    `RabbitMQ at ${safeUrl}: ${(cause as Error)?.message ?? String(cause)}`,
    { cause },
  );
}

/** `ERR_BROKER_UNAVAILABLE` for an embedded SQLite file that cannot be opened. */
export function sqliteUnavailable(safeUrl: string, cause: unknown): MultitaskError {
  return new MultitaskError(
    ErrorCode.BROKER_UNAVAILABLE,
    `Cannot open the SQLite queue ${safeUrl}: ${(cause as Error)?.message ?? String(cause)}`,
    { cause },
  );
}

/** `ERR_BROKER_REFUSED`: the broker answered and said no; `refusal` says to what (login, virtual host). */
export function brokerRefused(safeUrl: string, refusal: string, cause: unknown): MultitaskError {
  return new MultitaskError(ErrorCode.BROKER_REFUSED, `RabbitMQ at ${safeUrl} ${refusal}`, { cause });
}

/**
 * `ERR_BROKER_TLS`: the TLS handshake with a node failed; `reason` is Node's (it names the
 * certificate check that failed, never a password).
 */
export function brokerTls(safeUrl: string, reason: string, cause: unknown): MultitaskError {
  return new MultitaskError(ErrorCode.BROKER_TLS, `TLS with RabbitMQ at ${safeUrl} failed: ${reason}`, {
    cause,
  });
}

/** `ERR_QUEUE_CLOSED`: the queue (or its connection) is closed and takes no new work. */
export function queueClosed(safeUrl: string): MultitaskError {
  return new MultitaskError(ErrorCode.QUEUE_CLOSED, `Queue ${safeUrl} is closed`);
}

/** `ERR_BAD_MESSAGE`: a message that is not a version-1 job; `reason` says why. */
export function badMessage(reason: string): MultitaskError {
  return new MultitaskError(ErrorCode.BAD_MESSAGE, `Message is not a job: ${reason}`);
}

/**
 * `ERR_BAD_MESSAGE` for a message whose header multitask cannot use (RabbitMQ): `expected`
 * says what the header must hold. Such a message could loop or park for ever, so it is not run.
 */
export function badHeader(header: string, value: unknown, expected: string): MultitaskError {
  return badMessage(`header ${header} must be ${expected}, got ${quote(value)}`);
}

/**
 * `ERR_BAD_MESSAGE` for an attempt header out of range: greater than the job's `attempts` + 1,
 * which no republish of multitask writes (see docs/message-format.md), so deaths of its
 * consumers cannot explain it.
 */
export function attemptOutOfRange(header: string, value: number, attempts: number): MultitaskError {
  return badMessage(
    `header ${header} is ${value}, out of range for a job of ${attempts} attempts (at most ${attempts + 1}): not delivered that many times, the header is wrong`,
  );
}

function quote(value: unknown): string {
  if (typeof value === 'bigint') return `${value}`;
  if (Buffer.isBuffer(value)) return JSON.stringify(value.toString('utf8'));
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/**
 * `ERR_ATTEMPTS_EXHAUSTED`: a job delivered more times than its `attempts`, because the
 * process (or worker) running it died each time before it could fail by itself. Said by the
 * consumer that finds the attempts used up, and by a transport reading a job its broker
 * dead-lettered past the delivery limit.
 */
export function attemptsExhausted(
  job: { readonly id: string; readonly task: string | undefined; readonly attempts: number },
  deliveries: number,
  lastError?: { readonly message: string },
): MultitaskError {
  const which = job.task === undefined ? `Job ${job.id}` : `Job ${job.id} (${job.task})`;
  return new MultitaskError(
    ErrorCode.ATTEMPTS_EXHAUSTED,
    `${which} was delivered ${deliveries} times for ${job.attempts} attempts: the process running it died${lastError ? `; the last error was: ${lastError.message}` : ''}`,
    job.task === undefined ? {} : { taskName: job.task },
  );
}

/**
 * `ERR_ATTEMPTS_EXHAUSTED` for a job RabbitMQ dead-lettered by itself: every consumer that took
 * it died before settling it, `deliveries` times, past the queue's delivery limit. `reason` and
 * `from` are the broker's own (`x-first-death-reason`, `x-first-death-queue`).
 */
export function brokerDeadLettered(
  job: { readonly id: string; readonly task: string | undefined },
  deliveries: number,
  reason: string,
  from: string,
): MultitaskError {
  const which = job.task === undefined ? `Job ${job.id}` : `Job ${job.id} (${job.task})`;
  return new MultitaskError(
    ErrorCode.ATTEMPTS_EXHAUSTED,
    `${which} was dead-lettered by RabbitMQ from queue "${from}" (${reason}) after ${deliveries} deliveries: every process that took it died before settling it`,
    job.task === undefined ? {} : { taskName: job.task },
  );
}

/** The broker keeps returning a message as unroutable (its queue deleted again and again). */
export function messageUnroutable(queue: string): Error {
  return new Error(`queue ${queue} keeps refusing the message (unroutable)`);
}

/**
 * A delivery settled after its channel closed: the broker delivers it again, so this outcome
 * must not count. A plain Error (no code): the consumer reports it as a `settleError`.
 */
export function deliveryChannelGone(): Error {
  return new Error(
    'the channel this job came on closed before its outcome was recorded: the broker delivers it again',
  );
}

/** What `openQueue` rejects with when its `signal` aborts while it waits for the broker (as Node's APIs do). */
export function openAborted(signal: AbortSignal): Error {
  const error = new Error('The operation was aborted', { cause: signal.reason });
  error.name = 'AbortError';
  (error as Error & { code: string }).code = 'ABORT_ERR';
  return error;
}

/** A job of a batch the broker did not accept: its place, its id, and why. */
export interface NotAcceptedJob {
  readonly index: number;
  readonly id: string;
  readonly error: Error;
}

/** The error of a batch of which some jobs were not accepted; see `ERR_DISPATCH_INCOMPLETE`. */
export interface DispatchIncompleteError extends MultitaskError {
  readonly code: typeof ErrorCode.DISPATCH_INCOMPLETE;
  /** The ids the broker accepted, in the batch's order. */
  readonly accepted: readonly string[];
  /** The jobs it did not, in the batch's order. */
  readonly notAccepted: readonly NotAcceptedJob[];
}

/** `ERR_DISPATCH_INCOMPLETE`: `notAccepted` of the batch were not accepted, the rest were. */
export function dispatchIncomplete(
  total: number,
  accepted: readonly string[],
  notAccepted: readonly NotAcceptedJob[],
): DispatchIncompleteError {
  const first = notAccepted[0]!;
  const error = new MultitaskError(
    ErrorCode.DISPATCH_INCOMPLETE,
    `${notAccepted.length} of ${total} jobs were not accepted (the first: job ${first.index}, id ${first.id}: ${first.error.message}); ${accepted.length} were`,
    { cause: first.error, index: first.index },
  );
  return Object.assign(error, { accepted, notAccepted }) as DispatchIncompleteError;
}

/** A batch job's error with its place in the batch: `job 3 of 10: …`, `index` 3. */
export function inBatch(error: unknown, index: number, total: number): unknown {
  if (!(error instanceof MultitaskError)) return error;
  error.message = `job ${index} of ${total}: ${error.message}`;
  error.index = index;
  return error;
}
