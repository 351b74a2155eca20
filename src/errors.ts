/**
 * Every error multitask raises is a {@link MultitaskError} with a stable string `code`.
 * Codes never change meaning once published (like fastify's FST_ERR_*): match on `code`,
 * never on `message` or on the class, because classes do not survive `postMessage`.
 */
export const ErrorCode = {
  /** The task threw or rejected; `cause` is the task's own error, rebuilt with name, message and stack. */
  TASK_FAILED: 'ERR_TASK_FAILED',
  /** The worker thread died while the task ran (process.exit, uncaught error); `exitCode` says how. */
  WORKER_CRASHED: 'ERR_WORKER_CRASHED',
  /** The worker ran out of memory under its `resourceLimits`. */
  WORKER_OOM: 'ERR_WORKER_OOM',
  /** The task ran past its `timeoutMs`; its thread was terminated and replaced. */
  TASK_TIMEOUT: 'ERR_TASK_TIMEOUT',
  /** The task's class (or name) is not in the app's `tasks` registry. */
  TASK_NOT_REGISTERED: 'ERR_TASK_NOT_REGISTERED',
  /** A task field cannot cross to a worker (not structured-cloneable); `field` names it. */
  INVALID_TASK_FIELD: 'ERR_INVALID_TASK_FIELD',
  /** The task's result could not be sent back to the caller (not structured-cloneable). */
  RESULT_NOT_CLONEABLE: 'ERR_RESULT_NOT_CLONEABLE',
  /** The app's `setup` threw; `cause` is the app's own error. */
  APP_SETUP_FAILED: 'ERR_APP_SETUP_FAILED',
  /** The app module could not be imported or does not export an app made by `defineApp`. */
  APP_INVALID: 'ERR_APP_INVALID',
  /** The pool is closing or closed and takes no new work. */
  POOL_CLOSED: 'ERR_POOL_CLOSED',
  /** An option was missing, of the wrong type or out of range; the message quotes the value. */
  INVALID_OPTION: 'ERR_INVALID_OPTION',
  /** A supervised replica (or the pool's workers) restarted too often in the window and gave up. */
  CRASH_LOOP: 'ERR_CRASH_LOOP',
  /** A message could not be read as a job (queue transports). */
  BAD_MESSAGE: 'ERR_BAD_MESSAGE',
  /** The queue's broker or database could not be reached (the URL in the message has its password masked). */
  BROKER_UNAVAILABLE: 'ERR_BROKER_UNAVAILABLE',
  /** The broker answered and refused: a login refused, a virtual host that does not exist or is not allowed. */
  BROKER_REFUSED: 'ERR_BROKER_REFUSED',
  /** The queue is closing or closed and takes no new work. */
  QUEUE_CLOSED: 'ERR_QUEUE_CLOSED',
  /** A queued job's process died in every one of its attempts (or past the broker's delivery limit). */
  ATTEMPTS_EXHAUSTED: 'ERR_ATTEMPTS_EXHAUSTED',
} as const;

/** One of the stable error codes of {@link ErrorCode}. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Extra facts an error may carry; all optional, all plain data. */
export interface MultitaskErrorDetails {
  cause?: unknown;
  /** The exit code of the worker thread that died. */
  exitCode?: number;
  /** The worker that ran the task, as numbered by its pool. */
  workerId?: number;
  /** The registered name of the task concerned. */
  taskName?: string;
  /** The option or field concerned. */
  field?: string;
}

/** The one error class of multitask; see {@link ErrorCode} for the codes. */
export class MultitaskError extends Error {
  override name = 'MultitaskError';
  readonly code: ErrorCodeValue;
  declare exitCode?: number;
  declare workerId?: number;
  declare taskName?: string;
  declare field?: string;

  constructor(code: ErrorCodeValue, message: string, details: MultitaskErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.exitCode !== undefined) this.exitCode = details.exitCode;
    if (details.workerId !== undefined) this.workerId = details.workerId;
    if (details.taskName !== undefined) this.taskName = details.taskName;
    if (details.field !== undefined) this.field = details.field;
  }
}

/**
 * True when `error` carries the given multitask code (works across threads and realms: it only
 * reads `.code`, because an error rebuilt from another thread is not an instance of this class).
 * A type guard, so that `error.field`, `error.exitCode`… type-check after it.
 */
export function hasCode<C extends ErrorCodeValue>(
  error: unknown,
  code: C,
): error is MultitaskError & { readonly code: C } {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

/** `ERR_INVALID_OPTION` for `name`, quoting the value that was given. */
export function invalidOption(name: string, value: unknown, expected: string): MultitaskError {
  return new MultitaskError(
    ErrorCode.INVALID_OPTION,
    `Invalid option "${name}": expected ${expected}, got ${describeValue(value)}`,
    { field: name },
  );
}

/** A short, safe rendering of a value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return value.toString();
  if (value === null || typeof value !== 'object') return String(value);
  try {
    const json = JSON.stringify(value);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/*
 * Every error multitask raises is built below, one function per kind of error, so that each
 * wording lives once. Callers elsewhere in src/ call these; they never `new MultitaskError`.
 * (Sections by layer; keep each section's functions together.)
 */

// ───────────────────────────── tasks, app and options ─────────────────────────────
// (errors of src/task, src/app and option validation)

/** `ERR_INVALID_TASK_FIELD`: a field that would not arrive intact in a worker or a queued job. */
export function invalidTaskField(taskName: string, path: string, reason: string): MultitaskError {
  return new MultitaskError(
    ErrorCode.INVALID_TASK_FIELD,
    `Task ${taskName}: field "${path}" cannot be sent to a worker or put in a queued job (${reason}); task fields must be strings, finite numbers, booleans, null, bigints, arrays, plain objects, Date, Map, Set, URL, ArrayBuffer or typed arrays`,
    { taskName, field: path },
  );
}

/** `ERR_TASK_NOT_REGISTERED` for an instance whose class is not in the app's `tasks`. */
export function taskClassNotRegistered(className: string, registered: string[]): MultitaskError {
  return new MultitaskError(
    ErrorCode.TASK_NOT_REGISTERED,
    `Task class ${className} is not registered in the app's tasks (registered: ${registered.join(', ') || 'none'})`,
    { taskName: className },
  );
}

/** `ERR_TASK_NOT_REGISTERED` for a task name (from a message or the command line). */
export function taskNameNotRegistered(name: string, registered: string[]): MultitaskError {
  return new MultitaskError(
    ErrorCode.TASK_NOT_REGISTERED,
    `Task "${name}" is not registered in the app's tasks (registered: ${registered.join(', ') || 'none'})`,
    { taskName: name },
  );
}

/** `ERR_APP_INVALID`: an entry of the app's `tasks` that is not a task class. */
export function appTaskNotAClass(name: string): MultitaskError {
  return new MultitaskError(ErrorCode.APP_INVALID, `App task "${name}" is not a class with a run() method`, {
    taskName: name,
  });
}

/** `ERR_APP_INVALID`: the app module could not be imported. */
export function appImportFailed(url: string, error: unknown): MultitaskError {
  return new MultitaskError(
    ErrorCode.APP_INVALID,
    `Cannot import the app module ${url}: ${(error as Error)?.message ?? error}`,
    { cause: error },
  );
}

/** `ERR_APP_INVALID`: the app module exports no app made by `defineApp`. */
export function appNotDefined(url: string): MultitaskError {
  return new MultitaskError(
    ErrorCode.APP_INVALID,
    `The app module ${url} does not export an app made by defineApp() (as its default export or as "app")`,
  );
}

/** `ERR_INVALID_OPTION`: `new Pool()` inside a worker thread. */
export function poolInWorker(): MultitaskError {
  return new MultitaskError(
    ErrorCode.INVALID_OPTION,
    'A Pool cannot be created inside a multitask worker thread; create pools in the main thread',
  );
}

// ───────────────────────────── pool and workers ─────────────────────────────
// (errors of src/pool and src/worker: crashes, timeouts, closes, setup failures, aborts)

/** A MultitaskError thrown in a worker thread, rebuilt on this side (codes survive, classes do not). */
export function rebuiltInThisThread(
  code: ErrorCodeValue,
  message: string,
  details: MultitaskErrorDetails,
): MultitaskError {
  return new MultitaskError(code, message, details);
}

/** New work refused: the pool is closing or closed. */
export function poolClosed(): MultitaskError {
  return new MultitaskError(ErrorCode.POOL_CLOSED, 'The pool is closed and takes no new work');
}

/** A queued call the pool refused when it closed, before any worker took it. */
export function poolClosedBeforeStart(): MultitaskError {
  return new MultitaskError(ErrorCode.POOL_CLOSED, 'The pool closed before this task started');
}

/** A running call whose worker the pool terminated when its close grace ran out. */
export function poolClosedAfterGrace(workerId: number, taskName: string, exitCode: number): MultitaskError {
  return new MultitaskError(
    ErrorCode.POOL_CLOSED,
    `The pool closed and terminated worker ${workerId} after its grace period`,
    { workerId, taskName, exitCode },
  );
}

/** A supervised replica ended by the pool's close while its task ran (its signal aborted). */
export function poolClosedWhileSupervised(taskName: string, replica: number, cause: Error): MultitaskError {
  return new MultitaskError(
    ErrorCode.POOL_CLOSED,
    `The pool closed while task ${taskName} (replica ${replica}) ran: ${cause?.message ?? cause}`,
    { cause, taskName },
  );
}

/** A supervised replica ended by the pool's close while it waited to restart; `cause` is its last failure. */
export function poolClosedBeforeRestart(taskName: string, replica: number, cause: Error): MultitaskError {
  return new MultitaskError(
    ErrorCode.POOL_CLOSED,
    `The pool closed while task ${taskName} (replica ${replica}) waited to restart`,
    { cause, taskName },
  );
}

/** `ERR_TASK_FAILED`: the task's own error (rebuilt from its thread) as `cause`, with its message and stack. */
export function taskFailed(
  original: Error,
  stack: string | undefined,
  taskName: string,
  workerId: number,
): MultitaskError {
  const error = new MultitaskError(ErrorCode.TASK_FAILED, original.message, {
    cause: original,
    taskName,
    workerId,
  });
  if (stack !== undefined) error.stack = stack;
  return error;
}

/** `ERR_TASK_TIMEOUT` for the task that ran past its `timeoutMs`. */
export function taskTimeout(
  taskName: string,
  timeoutMs: number | undefined,
  workerId?: number,
): MultitaskError {
  return new MultitaskError(
    ErrorCode.TASK_TIMEOUT,
    `Task ${taskName} ran past its timeout of ${timeoutMs} ms; its worker was terminated`,
    { taskName, workerId },
  );
}

/** The reason a worker gives a task's signal when its timeout passed (inside the thread). */
export function taskTimeoutSignal(): MultitaskError {
  return new MultitaskError(ErrorCode.TASK_TIMEOUT, 'The task ran past its timeout');
}

/** The reason a worker gives its running tasks' signals when the pool stops it (inside the thread). */
export function workerShuttingDown(): MultitaskError {
  return new MultitaskError(ErrorCode.POOL_CLOSED, 'The worker is shutting down');
}

/** A task whose result cannot be cloned back to the caller (inside the thread). */
export function resultNotCloneable(cause: Error): MultitaskError {
  return new MultitaskError(
    ErrorCode.RESULT_NOT_CLONEABLE,
    `The task's result cannot be sent back to the caller: ${cause.message}`,
  );
}

/** A call whose task cannot be cloned to a worker (a transfer list, a field the check missed). */
export function taskNotSendable(taskName: string, cause: Error): MultitaskError {
  return new MultitaskError(
    ErrorCode.INVALID_TASK_FIELD,
    `Task ${taskName} cannot be sent to a worker: ${cause.message}`,
    { taskName, cause },
  );
}

/**
 * The error an aborted call rejects with, as Node's own APIs build it (not a MultitaskError:
 * callers match `name === 'AbortError'`). `cause` is the signal's reason.
 */
export function abortError(cause?: unknown, message = 'The operation was aborted'): Error {
  const error = cause === undefined ? new Error(message) : new Error(message, { cause });
  error.name = 'AbortError';
  (error as Error & { code: string }).code = 'ABORT_ERR';
  return error;
}

/** What a worker that is being ended on purpose, or its neighbours, are told. */
interface WorkerEnd {
  workerId: number;
  taskName: string;
  exitCode: number;
}

/** A call that shared its thread with a task that timed out: the thread was terminated. */
export function terminatedForTimeout(end: WorkerEnd, culprit: string): MultitaskError {
  return new MultitaskError(
    ErrorCode.WORKER_CRASHED,
    `Worker ${end.workerId} was terminated because task ${culprit} sharing it timed out`,
    { ...end },
  );
}

/** A call that shared its thread with an aborted task that did not stop: the thread was terminated. */
export function terminatedForAbort(end: WorkerEnd, culprit: string): MultitaskError {
  return new MultitaskError(
    ErrorCode.WORKER_CRASHED,
    `Worker ${end.workerId} was terminated because task ${culprit} sharing it was aborted and did not stop`,
    { ...end },
  );
}

/** A call still running when its retired worker's grace ran out. */
export function terminatedForRetire(end: WorkerEnd): MultitaskError {
  return new MultitaskError(
    ErrorCode.WORKER_CRASHED,
    `Worker ${end.workerId} was retired (resize or recycling) and terminated after its grace period`,
    { ...end },
  );
}

/** `ERR_WORKER_OOM`: the thread ran out of memory under its `resourceLimits`. */
export function workerOutOfMemory(
  workerId: number,
  exitCode: number,
  cause: Error | undefined,
  taskName?: string,
): MultitaskError {
  return new MultitaskError(
    ErrorCode.WORKER_OOM,
    `Worker ${workerId} ran out of memory under its resourceLimits`,
    { taskName, workerId, exitCode, cause },
  );
}

/** `ERR_WORKER_CRASHED`: the thread died on its own (an uncaught error, process.exit). */
export function workerCrashed(
  workerId: number,
  exitCode: number,
  cause: Error | undefined,
  taskName?: string,
): MultitaskError {
  const why = cause ? `an uncaught ${cause.name}: ${cause.message}` : `exit code ${exitCode}`;
  return new MultitaskError(ErrorCode.WORKER_CRASHED, `Worker ${workerId} died with ${why}`, {
    taskName,
    workerId,
    exitCode,
    cause,
  });
}

/** `ERR_APP_SETUP_FAILED` with the app's own message and stack; `original` is the app's error, rebuilt. */
export function appSetupFailed(original: Error, stack: string | undefined, workerId: number): MultitaskError {
  const error = new MultitaskError(ErrorCode.APP_SETUP_FAILED, `App setup failed: ${original.message}`, {
    cause: original,
    workerId,
  });
  if (stack !== undefined) error.stack = `MultitaskError [ERR_APP_SETUP_FAILED]: App setup failed: ${stack}`;
  return error;
}

/** A thread that died before its app was up failed to boot, as a throwing setup does. */
export function diedBeforeAppUp(workerId: number, crash: Error): MultitaskError {
  return new MultitaskError(
    ErrorCode.APP_SETUP_FAILED,
    `Worker ${workerId} died before its app was up: ${crash.message}`,
    { cause: crash, workerId },
  );
}

/**
 * The pool gives up: its workers cannot boot. The message says what happened and `cause` says
 * why, once: loggers that print an error with its causes (pino) would otherwise repeat it.
 */
export function poolCrashLoop(maxRestarts: number, windowMs: number, cause: Error): MultitaskError {
  return new MultitaskError(
    ErrorCode.CRASH_LOOP,
    `Workers failed to start more than ${maxRestarts} times in ${windowMs} ms; the pool gives up`,
    { cause },
  );
}

/** A supervised replica gives up after too many failures; `cause` is the last one. */
export function serviceCrashLoop(
  taskName: string,
  replica: number,
  maxRestarts: number,
  windowMs: number,
  cause: Error,
): MultitaskError {
  return new MultitaskError(
    ErrorCode.CRASH_LOOP,
    `Task ${taskName} (replica ${replica}) failed more than ${maxRestarts} times in ${windowMs} ms and gave up; last error: ${cause?.message ?? cause}`,
    { cause, taskName },
  );
}

// ───────────────────────────── queue and transports ─────────────────────────────
// (errors of src/queue: broker, closed queue, bad messages, exhausted attempts)

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

/** `ERR_QUEUE_CLOSED`: the queue (or its connection) is closed and takes no new work. */
export function queueClosed(safeUrl: string): MultitaskError {
  return new MultitaskError(ErrorCode.QUEUE_CLOSED, `Queue ${safeUrl} is closed`);
}

/** `ERR_BAD_MESSAGE`: a message that is not a version-1 job; `reason` says why. */
export function badMessage(reason: string): MultitaskError {
  return new MultitaskError(ErrorCode.BAD_MESSAGE, `Message is not a job: ${reason}`);
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

// ───────────────────────────── end of the error builders ─────────────────────────────
