/**
 * `queue.dispatchMany`: a batch of tasks checked and encoded in one pass (options resolved once
 * per distinct options object, one timestamp for the batch), refused whole before anything is
 * sent when one job is bad, then published by the transport in one go ({@link
 * Transport.publishMany}): on RabbitMQ one confirm callback per message and no promise each, on
 * SQLite one transaction.
 */

import { randomUUID } from 'node:crypto';
import { dispatchIncomplete, inBatch, invalidOption, type NotAcceptedJob } from '../errors.js';
import { jsonFields } from '../task/field-codec.js';
import type { TaskRegistry } from '../task/registry.js';
import type { Task, TaskFields } from '../task/task.js';
import { jobBodyJson } from './message.js';
import { type DispatchOptions, type ResolvedDispatch, resolveDispatch } from './options.js';
import type { OutgoingMessage, QueuedMessage } from './transport.js';

/** One job of a batch: a task, or a task with options of its own, taken over the batch's. */
export type BatchEntry =
  | Task<unknown, never>
  | { readonly task: Task<unknown, never>; readonly options?: DispatchOptions };

/** A job of the batch, checked and encoded. */
export interface BatchJob extends QueuedMessage {
  readonly id: string;
  readonly task: string;
}

/** True for `{ task, options }`: a plain object, where a task is an instance of its class. */
function isEntryWithOptions(
  entry: BatchEntry,
): entry is { readonly task: Task<unknown, never>; readonly options?: DispatchOptions } {
  if (typeof entry !== 'object' || entry === null) return false;
  const prototype = Object.getPrototypeOf(entry);
  return (prototype === Object.prototype || prototype === null) && 'task' in entry;
}

/**
 * Checks and encodes every job of `entries`; throws the first bad one's error, with its index
 * (`job 3 of 10: …`, `error.index`), before anything is sent.
 */
export function encodeBatch(
  registry: TaskRegistry,
  entries: readonly BatchEntry[],
  options: DispatchOptions | undefined,
  call = false,
): BatchJob[] {
  if (!Array.isArray(entries)) throw invalidOption('tasks', entries, 'an array of tasks');
  if (options?.id !== undefined)
    throw invalidOption(
      'id',
      options.id,
      'no id for a whole batch: give each job its own, as { task, options: { id } }',
    );
  const shared = resolveDispatch(options);
  const now = Date.now();
  const dispatchedAt = new Date(now).toISOString();
  const jobs: BatchJob[] = new Array(entries.length);
  const seen = new Map<string, number>();
  for (let index = 0; index < entries.length; index++) {
    try {
      const entry = entries[index]!;
      let task: Task<unknown, never>;
      let resolved: ResolvedDispatch = shared;
      if (isEntryWithOptions(entry)) {
        task = entry.task;
        if (entry.options !== undefined) resolved = resolveDispatch({ ...options, ...entry.options });
      } else task = entry;
      if (resolved.id !== undefined) {
        const before = seen.get(resolved.id);
        if (before !== undefined)
          throw invalidOption(
            'id',
            resolved.id,
            `an id no other job of the batch has (job ${before} has it)`,
          );
        seen.set(resolved.id, index);
      }
      jobs[index] = encodeJob(registry, task, resolved, call, now, dispatchedAt);
    } catch (error) {
      throw inBatch(error, index, entries.length);
    }
  }
  return jobs;
}

/** Checks one task and builds its message; throws before anything is sent. */
export function encodeJob(
  registry: TaskRegistry,
  task: Task<unknown, never>,
  resolved: ResolvedDispatch,
  call: boolean,
  now = Date.now(),
  dispatchedAt = new Date(now).toISOString(),
): BatchJob {
  const name = registry.nameOf(task);
  // Encoded (and so checked) now: the job is what the task was at the call.
  const fields = jsonFields(task, name);
  return new JobMessage(resolved.id ?? randomUUID(), name, fields, resolved, call, now, dispatchedAt);
}

/**
 * A new job: its message, and where it goes (one object, which is its own `message`: a batch
 * of 30,000 holds every job until the last is sent). Its body text is written out each time a
 * transport reads it rather than held: a batch of 30,000 jobs held 30,000 bodies while it was
 * sent, and their garbage collection made one such call 20 % slower than 30 calls of 1,000
 * (SQLite, bench dispatch).
 */
class JobMessage implements OutgoingMessage, BatchJob {
  readonly attempt = 1;
  readonly notBefore: number;
  readonly wantsResult: boolean;
  readonly queue: string;
  readonly #fields: TaskFields;
  readonly #attempts: number;
  readonly #timeoutMs: number | undefined;
  readonly #dispatchedAt: string;

  constructor(
    readonly id: string,
    readonly task: string,
    fields: TaskFields,
    resolved: ResolvedDispatch,
    call: boolean,
    now: number,
    dispatchedAt: string,
  ) {
    this.notBefore = resolved.delayMs > 0 ? now + resolved.delayMs : 0;
    this.wantsResult = call || resolved.result;
    this.queue = resolved.queue;
    this.#fields = fields;
    this.#attempts = resolved.attempts;
    this.#timeoutMs = resolved.timeoutMs;
    this.#dispatchedAt = dispatchedAt;
  }

  get message(): this {
    return this;
  }

  get body(): string {
    return jobBodyJson(this.id, this.task, this.#fields, this.#attempts, this.#timeoutMs, this.#dispatchedAt);
  }
}

/** The ids of `jobs` when every one was accepted; `ERR_DISPATCH_INCOMPLETE` naming the others otherwise. */
export function batchOutcome(jobs: readonly BatchJob[], errors: readonly (Error | undefined)[]): string[] {
  const accepted: string[] = [];
  const notAccepted: NotAcceptedJob[] = [];
  for (let index = 0; index < jobs.length; index++) {
    const error = errors[index];
    if (error === undefined) accepted.push(jobs[index]!.id);
    else notAccepted.push({ index, id: jobs[index]!.id, error });
  }
  if (notAccepted.length > 0) throw dispatchIncomplete(jobs.length, accepted, notAccepted);
  return accepted;
}
