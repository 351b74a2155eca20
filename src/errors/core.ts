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
  /**
   * The task's result could not be sent back to the caller: not structured-cloneable
   * (`pool.run`), or not what a task field may be (`queue.call`: the job fails at once).
   */
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
  /**
   * The TLS handshake with the broker failed: its certificate did not verify (unknown CA, wrong
   * host name, expired), it refused the client's certificate, or one side does not speak TLS.
   */
  BROKER_TLS: 'ERR_BROKER_TLS',
  /** The queue is closing or closed and takes no new work. */
  QUEUE_CLOSED: 'ERR_QUEUE_CLOSED',
  /** A queued job's process died in every one of its attempts (or past the broker's delivery limit). */
  ATTEMPTS_EXHAUSTED: 'ERR_ATTEMPTS_EXHAUSTED',
  /** `queue.call` or `queue.result` waited its `waitMs` and the job had not finished; the job goes on. */
  RESULT_TIMEOUT: 'ERR_RESULT_TIMEOUT',
  /**
   * A job's result can no longer reach this process: the RabbitMQ channel its reply was
   * addressed to closed (the connection dropped), or the queue was closed; the job goes on.
   */
  RESULT_LOST: 'ERR_RESULT_LOST',
  /**
   * `queue.dispatchMany`: some jobs of the batch were not accepted by the broker (not
   * confirmed before the connection's timeout, refused). `accepted` lists the ids the broker
   * confirmed, in the batch's order; `notAccepted` the others, each with its index, id and error.
   * A job not accepted may still have reached the queue (at least once): dispatching it again
   * with the same id is the way to be sure.
   */
  DISPATCH_INCOMPLETE: 'ERR_DISPATCH_INCOMPLETE',
  /**
   * The dashboard was asked to listen on an address other machines can reach without
   * credentials (a token, or a user and password): it refuses rather than show the queues to anyone.
   */
  DASHBOARD_INSECURE: 'ERR_DASHBOARD_INSECURE',
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
  /** Where in a batch (`queue.dispatchMany`) the job concerned is, from 0. */
  index?: number;
}

/** The one error class of multitask; see {@link ErrorCode} for the codes. */
export class MultitaskError extends Error {
  override name = 'MultitaskError';
  readonly code: ErrorCodeValue;
  declare exitCode?: number;
  declare workerId?: number;
  declare taskName?: string;
  declare field?: string;
  declare index?: number;

  constructor(code: ErrorCodeValue, message: string, details: MultitaskErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.exitCode !== undefined) this.exitCode = details.exitCode;
    if (details.workerId !== undefined) this.workerId = details.workerId;
    if (details.taskName !== undefined) this.taskName = details.taskName;
    if (details.field !== undefined) this.field = details.field;
    if (details.index !== undefined) this.index = details.index;
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
