/**
 * The job message, version 1: the JSON a producer in any language puts on a queue
 * (documented in docs/message-format.md). The body never changes once dispatched; what
 * changes between deliveries (the attempt, the time it may run, the last error) travels beside
 * it, in AMQP headers or SQLite columns.
 */

import { randomUUID } from 'node:crypto';
import {
  attemptOutOfRange,
  attemptsExhausted,
  badMessage,
  ErrorCode,
  hasCode,
  type MultitaskError,
} from '../errors.js';
import { decodeFields } from '../task/field-tags.js';
import { memberNamedField, type TaskFields } from '../task/fields.js';
import type { TaskRegistry } from '../task/registry.js';

/** The version this code writes and reads. */
export const MESSAGE_VERSION = 1;

/** Attempts when neither the dispatch nor the message says. */
export const DEFAULT_ATTEMPTS = 3;

/**
 * The longest a job may be held back (ms): 30 days. `dispatch` refuses a longer `delayMs`
 * (`ERR_INVALID_OPTION`), and a message from another producer whose not-before lies further
 * ahead goes to the failed store (`ERR_BAD_MESSAGE`) instead of parking on the delay ladder
 * for ever. A month covers billing cycles and trial reminders; anything later belongs to a
 * scheduler or a database row, not to a message a broker keeps in memory and moves every few
 * hours (the top rung of RabbitMQ's ladder is ~3.6 h).
 */
export const MAX_DELAY_MS = 30 * 24 * 60 * 60 * 1000;

/** A job as read from its message. */
export interface Job {
  readonly id: string;
  readonly task: string;
  readonly fields: TaskFields;
  /** Deliveries allowed in all, this one included. */
  readonly attempts: number;
  readonly timeoutMs: number | undefined;
}

/** The body of a version-1 message: `{"v":1,"id":…,"task":…,"fields":{…},"attempts":…,"timeoutMs":…}`. */
export interface JobBody {
  v: 1;
  id: string;
  task: string;
  fields: TaskFields;
  attempts: number;
  timeoutMs?: number;
  /** When it was dispatched (ISO 8601); informative. */
  dispatchedAt?: string;
}

/**
 * The JSON of a new version-1 job body: what `JSON.stringify` of the {@link JobBody} object
 * writes, key for key, written out directly (a producer's hot path: no object to build, and
 * only the id and the fields to escape).
 */
export function jobBodyJson(
  id: string,
  task: string,
  fields: TaskFields,
  attempts: number,
  timeoutMs: number | undefined,
  dispatchedAt: string,
): string {
  const timeout = timeoutMs === undefined ? '' : `,"timeoutMs":${JSON.stringify(timeoutMs)}`;
  return `{"v":${MESSAGE_VERSION},"id":${JSON.stringify(id)},"task":${JSON.stringify(task)},"fields":${JSON.stringify(fields)},"attempts":${attempts}${timeout},"dispatchedAt":${JSON.stringify(dispatchedAt)}}`;
}

/** The result of reading a message: a job, or the reason it is not one. */
export type Decoded = { job: Job; error?: undefined } | { job?: undefined; error: MultitaskError };

/**
 * Reads a message body. Anything that is not a job for this app comes back as an error:
 * `ERR_BAD_MESSAGE` (not JSON, wrong version, a field of the wrong type) or
 * `ERR_TASK_NOT_REGISTERED`. `fallbackId` names a message that carries no id of its own.
 */
export function decodeJob(content: string, registry: TaskRegistry, fallbackId?: string): Decoded {
  let body: unknown;
  try {
    body = JSON.parse(content);
  } catch (error) {
    return bad(`not JSON (${(error as Error).message})`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('not a JSON object');
  const { v, id, task, fields, attempts, timeoutMs } = body as Record<string, unknown>;
  if (v !== MESSAGE_VERSION) return bad(`"v" must be ${MESSAGE_VERSION}, got ${JSON.stringify(v)}`);
  if (id !== undefined && (typeof id !== 'string' || id === ''))
    return bad('"id" must be a non-empty string');
  if (typeof task !== 'string' || task === '') return bad('"task" must be a non-empty string');
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    return bad(
      `"fields" must be a JSON object, got ${fields === null ? 'null' : Array.isArray(fields) ? 'an array' : typeof fields}`,
    );
  }
  if (attempts !== undefined && (!Number.isInteger(attempts) || (attempts as number) < 1)) {
    return bad('"attempts" must be an integer >= 1');
  }
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs > 0))) {
    return bad('"timeoutMs" must be a number > 0');
  }
  let taskClass: ReturnType<TaskRegistry['classOf']>;
  try {
    taskClass = registry.classOf(task);
  } catch (error) {
    return { error: error as MultitaskError }; // the registry's own ERR_TASK_NOT_REGISTERED
  }
  // A job that could never run is not a job: refused now rather than through all its attempts.
  const member = memberNamedField(taskClass, fields);
  if (member !== undefined)
    return bad(
      `field "${member}" is named like a member of ${task}: it would hide it, so the task could never run`,
    );
  const undecodable = undecodableFields(content, fields as TaskFields, task);
  if (undecodable !== undefined) return bad(undecodable);
  return {
    job: {
      id: (id as string | undefined) ?? fallbackId ?? randomUUID(),
      task,
      fields: fields as TaskFields,
      attempts: (attempts as number | undefined) ?? DEFAULT_ATTEMPTS,
      timeoutMs: timeoutMs as number | undefined,
    },
  };
}

/**
 * Why the worker could not decode the fields (a malformed `$multitask` tag, nesting past
 * the codec's limit), or undefined. Only fields holding objects can fail, so a job of plain
 * values costs one typeof per field; otherwise the fields are decoded from a second parse of
 * the body, because decoding works in place and the worker must receive them undecoded
 * (a URL does not survive structured clone, and a 100,000-deep array overflows it).
 */
function undecodableFields(content: string, fields: TaskFields, task: string): string | undefined {
  let hasObject = false;
  for (const key in fields) {
    const value = fields[key];
    if (typeof value === 'object' && value !== null) {
      hasObject = true;
      break;
    }
  }
  if (!hasObject) return undefined;
  try {
    decodeFields((JSON.parse(content) as { fields: TaskFields }).fields, task);
    return undefined;
  } catch (error) {
    if (hasCode(error, ErrorCode.INVALID_TASK_FIELD)) return (error as Error).message;
    return `the fields cannot be decoded (${(error as Error).message})`;
  }
}

function bad(reason: string): Decoded {
  return { error: badMessage(reason) };
}

/**
 * Why a job delivered past its `attempts` fails. Normally `ERR_ATTEMPTS_EXHAUSTED`: the
 * process running it died each time. But when the attempt the message came with (RabbitMQ's
 * x-multitask-attempt, without the broker's redeliveries) is above `attempts` + 1, which no
 * republish of multitask writes (a retry follows only an attempt below `attempts`), no deaths
 * explain it: `ERR_BAD_MESSAGE`, the header out of range.
 */
export function pastAttempts(
  job: Job,
  delivery: {
    attempt: number;
    redeliveries?: number | undefined;
    lastError?: { message: string } | undefined;
  },
): MultitaskError {
  const sent = delivery.attempt - (delivery.redeliveries ?? 0);
  if (delivery.redeliveries !== undefined && sent > job.attempts + 1)
    return attemptOutOfRange('x-multitask-attempt', sent, job.attempts);
  return attemptsExhausted(job, delivery.attempt, delivery.lastError);
}

/** What the failed store keeps of an error: plain data that survives JSON. */
export interface StoredError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

/** An error as the failed store keeps it; a task's own error is preferred to the pool's wrapper. */
export function storedError(error: unknown): StoredError {
  const own = taskError(error);
  if (typeof own !== 'object' || own === null) return { name: 'Error', message: String(own) };
  const { name, message, stack, code } = own as {
    name?: unknown;
    message?: unknown;
    stack?: unknown;
    code?: unknown;
  };
  const stored: StoredError = {
    name: typeof name === 'string' ? name : 'Error',
    message: String(message ?? ''),
  };
  if (typeof stack === 'string') stored.stack = stack;
  if (typeof code === 'string') stored.code = code;
  else if (hasStringCode(error)) stored.code = error.code;
  return stored;
}

/** `ERR_TASK_FAILED` wraps the task's own error in `cause`: that one tells the operator what went wrong. */
function taskError(error: unknown): unknown {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (hasStringCode(error) && error.code === ErrorCode.TASK_FAILED && cause !== undefined) return cause;
  return error;
}

function hasStringCode(error: unknown): error is { code: string } {
  return (
    typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
  );
}

/** What a listing shows of a stored body, when it is a readable job. */
export interface PeekedJob {
  id?: string;
  task?: string;
  fields?: Record<string, unknown>;
  /** The body's `attempts`, when it is a valid count. */
  attempts?: number;
}

/** The id, task, fields and attempts of a stored body, when it is a readable job (for listings). */
export function peekJob(body: string): PeekedJob {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    if (typeof parsed !== 'object' || parsed === null) return {};
    const peeked: PeekedJob = {};
    if (typeof parsed.id === 'string') peeked.id = parsed.id;
    if (typeof parsed.task === 'string') peeked.task = parsed.task;
    if (typeof parsed.fields === 'object' && parsed.fields !== null && !Array.isArray(parsed.fields)) {
      peeked.fields = parsed.fields as Record<string, unknown>;
    }
    if (Number.isInteger(parsed.attempts) && (parsed.attempts as number) >= 1) {
      peeked.attempts = parsed.attempts as number;
    }
    return peeked;
  } catch {
    return {};
  }
}

/** Reads a stored error back; anything unreadable becomes a plain message. */
export function parseStoredError(text: string | undefined | null): StoredError | undefined {
  if (text === undefined || text === null) return undefined;
  try {
    const parsed = JSON.parse(text) as StoredError;
    if (typeof parsed === 'object' && parsed !== null && typeof parsed.message === 'string') return parsed;
  } catch {}
  return { name: 'Error', message: text };
}
