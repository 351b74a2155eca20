/**
 * The failed store on RabbitMQ is a log: a stream (`<queue>.failed-log`) that is only ever
 * appended to and read from its first offset, so reading it takes nothing away and counts no
 * delivery. Three kinds of record:
 *
 * - a failed job (no `x-multitask-record` header): its body as received, its error, attempts
 *   and failure time in headers. A later record with the same id replaces an earlier one.
 * - `removed`: a JSON body `{"offsets":[…]}` (those records were retried or purged) or
 *   `{"upTo":n}` (every record up to offset n was purged).
 * - `marker`: written by a reader, which reads until it meets its own marker. A stream tells
 *   an AMQP 0-9-1 consumer neither its length nor its end, and a marker confirmed before the
 *   read began is the only end that is exact: every record confirmed before it is read.
 *
 * What the log costs and what it cannot do is in docs/queues.md ("The failed store").
 */

import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, Message } from 'amqplib';
import { peekJob } from '../message.js';
import { numberHeader, sendConfirmed, stringHeader } from './amqp-message.js';
import { failedLogOf, HEADER } from './amqp-topology.js';

/** Deliveries a log reader may hold unacknowledged: streams need a prefetch, and acks only grant credit. */
const READ_PREFETCH = 1_000;

/** The kinds of record besides a failed job. */
export const RECORD = { removed: 'removed', marker: 'marker' } as const;

/** A `removed` record's body. */
export type Removal = { offsets: number[] } | { upTo: number };

/** A record's place in the log. */
export function offsetOf(message: Message): number {
  const offset = numberHeader(message.properties.headers?.['x-stream-offset']);
  if (offset === undefined) throw new Error('a failed-log record without x-stream-offset');
  return offset;
}

/**
 * The live records of a log, in log order: what the store holds once every record read so far
 * is applied. `T` is what is kept of a live job: the whole {@link FailedJob} for a listing, its
 * id alone for a count.
 */
export class FailedLogState<T> {
  readonly #live = new Map<number, { id: string; value: T }>();
  readonly #offsetOfId = new Map<string, number>();

  constructor(readonly read: (message: Message, offset: number) => { id: string; value: T }) {}

  get size(): number {
    return this.#live.size;
  }

  /** Live jobs, oldest first, each with its record's offset. */
  entries(): IterableIterator<[number, { id: string; value: T }]> {
    return this.#live.entries();
  }

  /** The offset of the live record of job `id`, if any. */
  offsetOf(id: string): number | undefined {
    return this.#offsetOfId.get(id);
  }

  get(offset: number): T | undefined {
    return this.#live.get(offset)?.value;
  }

  apply(message: Message, offset: number): void {
    const kind = stringHeader(message.properties.headers?.[HEADER.record]);
    if (kind === RECORD.marker) return;
    if (kind === RECORD.removed) {
      const removal = parseRemoval(message.content);
      if (removal === undefined) return;
      if ('upTo' in removal) {
        for (const [at] of this.#live) if (at <= removal.upTo) this.#remove(at);
      } else for (const at of removal.offsets) this.#remove(at);
      return;
    }
    const entry = this.read(message, offset);
    const before = this.#offsetOfId.get(entry.id);
    if (before !== undefined) this.#live.delete(before);
    this.#live.set(offset, entry);
    this.#offsetOfId.set(entry.id, offset);
  }

  #remove(offset: number): void {
    const entry = this.#live.get(offset);
    if (entry === undefined) return;
    this.#live.delete(offset);
    if (this.#offsetOfId.get(entry.id) === offset) this.#offsetOfId.delete(entry.id);
  }
}

function parseRemoval(content: Buffer): Removal | undefined {
  try {
    const value = JSON.parse(content.toString('utf8')) as Partial<{ offsets: unknown; upTo: unknown }>;
    if (Array.isArray(value.offsets)) return { offsets: value.offsets.filter((n) => typeof n === 'number') };
    if (typeof value.upTo === 'number') return { upTo: value.upTo };
  } catch {
    // Not ours: a record this version cannot read removes nothing.
  }
  return undefined;
}

/** A count's state: ids only (a process that counts should not hold every failed body). */
export function countingState(): FailedLogState<null> {
  return new FailedLogState((message) => ({ id: recordId(message), value: null }));
}

/** A failed job record's id, as {@link toFailedJob} names it. */
function recordId(message: Message): string {
  return peekJob(message.content.toString('utf8')).id ?? String(message.properties.messageId);
}

/** Appends a record to the log of `queue` and waits for its confirm. */
export function appendRecord(
  channel: ConfirmChannel,
  queue: string,
  kind: (typeof RECORD)[keyof typeof RECORD],
  body: Buffer,
  messageId: string = randomUUID(),
): Promise<void> {
  return sendConfirmed(channel, failedLogOf(queue), body, {
    persistent: true,
    contentType: 'application/json',
    messageId,
    headers: { [HEADER.record]: kind },
  });
}

/**
 * A consumer that reads the log of one queue from its first record and stays, applying every
 * record to its state as it comes. {@link LogFollower.sync} appends a marker and resolves once
 * the follower has read up to it: every record confirmed before the call is then applied. The
 * first sync reads the whole log; later ones only what was written since.
 */
export class LogFollower<T> {
  readonly #waiting = new Map<
    string,
    { resolve: (offset: number) => void; reject: (error: Error) => void }
  >();
  #gone: Error | undefined;

  private constructor(
    readonly channel: ConfirmChannel,
    readonly queue: string,
    readonly state: FailedLogState<T>,
  ) {
    channel.once('close', () => this.#end(new Error(`the channel reading ${failedLogOf(queue)} closed`)));
  }

  /** Starts following on `channel`, which the follower owns from now on. */
  static async start<T>(
    channel: ConfirmChannel,
    queue: string,
    state: FailedLogState<T>,
  ): Promise<LogFollower<T>> {
    const follower = new LogFollower(channel, queue, state);
    await channel.prefetch(READ_PREFETCH);
    await channel.consume(failedLogOf(queue), (message) => follower.#receive(message), {
      noAck: false,
      arguments: { 'x-stream-offset': 'first' },
    });
    return follower;
  }

  /** False once its channel closed: a new follower must read the log again. */
  get live(): boolean {
    return this.#gone === undefined;
  }

  /** Resolves with a marker's offset once every record before it is applied. */
  async sync(): Promise<number> {
    if (this.#gone !== undefined) throw this.#gone;
    const id = randomUUID();
    const reached = new Promise<number>((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    try {
      await appendRecord(this.channel, this.queue, RECORD.marker, Buffer.alloc(0), id);
    } catch (error) {
      this.#waiting.delete(id);
      throw error;
    }
    return reached;
  }

  async close(): Promise<void> {
    await this.channel.close().catch(() => {});
  }

  #receive(message: Message | null): void {
    if (message === null) {
      this.#end(new Error(`${failedLogOf(this.queue)} was deleted`));
      return;
    }
    const offset = offsetOf(message);
    this.channel.ack(message);
    const id = message.properties.messageId;
    const waiter = typeof id === 'string' ? this.#waiting.get(id) : undefined;
    if (waiter !== undefined) {
      this.#waiting.delete(id);
      waiter.resolve(offset);
      return;
    }
    this.state.apply(message, offset);
  }

  #end(error: Error): void {
    this.#gone ??= error;
    for (const waiter of this.#waiting.values()) waiter.reject(error);
    this.#waiting.clear();
  }
}
