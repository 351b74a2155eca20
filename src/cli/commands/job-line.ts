/**
 * One JSON line of `multitask dispatch`, in either of its two shapes:
 *
 * - the command's own, `{"task":"Name","fields":{…}}` with optional `queue`, `attempts`,
 *   `timeoutMs`, `delayMs` and `id`;
 * - a message-format body, `{"v":1,"id":…,"task":…,"fields":{…},"attempts":…,"timeoutMs":…}`
 *   (docs/message-format.md), which is what a producer in another language already writes for
 *   RabbitMQ, and its only way into a SQLite queue, whose file only multitask writes.
 *
 * A line with a `"v"` key is a body. Both shapes are refused for any key they do not define,
 * so a typo (`"atempts"`) is an error rather than a default silently taken.
 */

import { describeValue } from '../../errors.js';
import { decodeJob } from '../../queue/message.js';
import { type DispatchOptions, resolveDispatch } from '../../queue/options.js';
import type { TaskRegistry } from '../../task/registry.js';
import type { Task } from '../../task/task.js';
import { taskInstance } from './task-instance.js';

/** A line read: the task to send and its options. */
export interface ParsedJobLine {
  task: Task<unknown, never>;
  options: DispatchOptions;
}

/** The keys of the command's own line. */
const LINE_KEYS = ['task', 'fields', 'attempts', 'timeoutMs', 'delayMs', 'queue', 'id'];
/** The keys of a version-1 body (docs/message-format.md). */
const BODY_KEYS = ['v', 'id', 'task', 'fields', 'attempts', 'timeoutMs', 'dispatchedAt'];

/**
 * Reads and checks one line against `registry`; throws an Error whose message the caller
 * prefixes with the line's number. `defaults` are the flags' values, which a line's own win over.
 */
export function jobLine(line: string, registry: TaskRegistry, defaults: DispatchOptions): ParsedJobLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    throw new Error(`not JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error(`expected {"task":"Name","fields":{…}}, got ${describeValue(parsed)}`);
  const record = parsed as Record<string, unknown>;
  if (Object.hasOwn(record, 'v')) return bodyLine(line, record, registry, defaults);
  const { task, fields = {}, ...options } = record;
  if (typeof task !== 'string') throw new Error(`"task" must be a task name, got ${describeValue(task)}`);
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields))
    throw new Error(`"fields" must be an object, got ${describeValue(fields)}`);
  refuseUnknownKeys(options, LINE_KEYS, '');
  const merged = { ...defaults, ...(options as DispatchOptions) };
  resolveDispatch(merged); // checked now: a bad value must not stop the batch halfway
  return { task: taskInstance(registry, task, fields as Record<string, unknown>), options: merged };
}

/**
 * A message-format body, read by the consumer's own `decodeJob` so that the command accepts
 * exactly what a consumer would run (the version, the types of `id`, `attempts` and
 * `timeoutMs`, a registered task, no field named like a member, fields it can decode), then
 * rebuilt into a task as the worker rebuilds one, decoding the `$multitask` tags: a tagged
 * Date is a Date in the task, and `queue.dispatch` encodes it again as the same tag.
 * The body's `id`, `attempts` and `timeoutMs` become the job's; those it leaves out take the
 * flags' values. It has no queue or delay of its own (they travel beside a body, not in it):
 * `--queue` and `--delay-ms` give them. Its `dispatchedAt` is informative and replaced by the
 * time of sending, as every dispatch sets it.
 */
function bodyLine(
  line: string,
  body: Record<string, unknown>,
  registry: TaskRegistry,
  defaults: DispatchOptions,
): ParsedJobLine {
  const decoded = decodeJob(line, registry);
  if (decoded.error !== undefined) throw decoded.error;
  refuseUnknownKeys(
    body,
    BODY_KEYS,
    ' in a message body',
    '; its queue and delay are --queue and --delay-ms',
  );
  if (body.dispatchedAt !== undefined && typeof body.dispatchedAt !== 'string')
    throw new Error(`"dispatchedAt" must be an ISO 8601 string, got ${describeValue(body.dispatchedAt)}`);
  const { job } = decoded;
  const options: DispatchOptions = { ...defaults };
  // The job's values only where the body has them: decodeJob fills in its own defaults.
  if (body.id !== undefined) options.id = job.id;
  if (body.attempts !== undefined) options.attempts = job.attempts;
  if (job.timeoutMs !== undefined) options.timeoutMs = job.timeoutMs;
  resolveDispatch(options); // the id as queue.dispatch takes it: printable ASCII, no spaces
  return { task: taskInstance(registry, job.task, job.fields), options };
}

/** `unknown key "priority"<where> (<known keys><hint>)`, for the first key not in `known`. */
function refuseUnknownKeys(record: Record<string, unknown>, known: string[], where: string, hint = ''): void {
  for (const key of Object.keys(record)) {
    if (!known.includes(key)) throw new Error(`unknown key "${key}"${where} (${known.join(', ')}${hint})`);
  }
}
