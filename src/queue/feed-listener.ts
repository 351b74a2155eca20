/**
 * A reader of the event feed: the async iterator {@link Queue.events} returns. It subscribes on
 * its first `next()` (so an iterator never read holds nothing), turns the batches the transport
 * delivers into events, finds the events it missed by the jumps in each instance's `seq` (and
 * says so with a `gap` event), and, past {@link LISTENER_MAX_EVENTS} unread events, drops rather
 * than grows: the jobs never wait for a reader. `return()` (a `break` out of `for await`) frees
 * the subscription: its queue or table row, its channel, its timers.
 */

import {
  type EventBatch,
  type FeedEvent,
  type FeedSubscription,
  type FleetLink,
  type JobEvent,
  LISTENER_MAX_EVENTS,
  type ListenerNotice,
  type WireEvent,
} from './fleet-types.js';

/** What a reader tells the Queue it belongs to. */
export interface ReaderHooks {
  /** It subscribed: the queue ends it when it closes. */
  opened(reader: FeedListener): void;
  closed(reader: FeedListener): void;
  isClosed(): boolean;
}

type Waiter = { resolve: (result: IteratorResult<FeedEvent>) => void; reject: (error: Error) => void };

/** See the module comment. */
export class FeedListener implements AsyncIterableIterator<FeedEvent> {
  readonly #link: FleetLink;
  readonly #notice: ListenerNotice;
  readonly #hooks: ReaderHooks;
  #buffer: FeedEvent[] = [];
  #head = 0;
  /** Reads waiting for an event, oldest first. */
  readonly #waiters: Waiter[] = [];
  #subscription: Promise<FeedSubscription> | undefined;
  #done = false;
  #error: Error | undefined;
  /** The last `seq` taken, per instance and queue. */
  readonly #lastSeq = new Map<string, number>();

  constructor(link: FleetLink, notice: ListenerNotice, hooks: ReaderHooks) {
    this.#link = link;
    this.#notice = notice;
    this.#hooks = hooks;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<FeedEvent> {
    return this;
  }

  next(): Promise<IteratorResult<FeedEvent>> {
    if (this.#subscription === undefined && !this.#done) this.#start();
    if (this.#head < this.#buffer.length) {
      const value = this.#buffer[this.#head++]!;
      if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
        this.#buffer = this.#buffer.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#error !== undefined) {
      const error = this.#error;
      this.#error = undefined;
      return Promise.reject(error);
    }
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
    });
  }

  /** Ends the iteration and frees the subscription. */
  async return(): Promise<IteratorResult<FeedEvent>> {
    if (!this.#done) {
      this.#done = true;
      this.#buffer = [];
      this.#head = 0;
      for (const waiter of this.#waiters.splice(0)) waiter.resolve({ value: undefined, done: true });
      const subscription = this.#subscription;
      if (subscription !== undefined) {
        this.#hooks.closed(this);
        await subscription.then(
          (opened) => opened.close(),
          () => {},
        );
      }
    }
    return { value: undefined, done: true };
  }

  #start(): void {
    if (this.#hooks.isClosed()) {
      this.#done = true;
      return;
    }
    this.#hooks.opened(this);
    this.#subscription = this.#link.listen(
      this.#notice,
      (batch) => this.#take(batch),
      (error) => this.#fail(error),
    );
    this.#subscription.catch((error: Error) => {
      this.#hooks.closed(this);
      this.#fail(error);
      this.#done = true;
      for (const waiter of this.#waiters.splice(0)) waiter.resolve({ value: undefined, done: true });
    });
  }

  #fail(error: Error): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter.reject(error);
    else this.#error = error;
  }

  #take(batch: EventBatch): void {
    if (this.#done || !Array.isArray(batch.events)) return;
    const { instance, queue } = batch;
    const t0 = Number(batch.t0) || 0;
    const key = `${instance}\n${queue}`;
    let last = this.#lastSeq.get(key);
    for (const job of unfold(batch.events, instance, queue, t0)) {
      if (last !== undefined && job.seq <= last) continue;
      // Full: dropped without being counted as seen, so the next one taken reports the gap.
      if (this.#buffer.length - this.#head >= LISTENER_MAX_EVENTS) break;
      if (last !== undefined && job.seq > last + 1)
        this.#push({ type: 'gap', instance, queue, missed: job.seq - last - 1, time: job.time });
      last = job.seq;
      this.#push(job);
    }
    if (last !== undefined) this.#lastSeq.set(key, last);
  }

  #push(event: FeedEvent): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter.resolve({ value: event, done: false });
    else this.#buffer.push(event);
  }
}

/** A batch's tuples as events, in `seq` order, a start folded into its ending yielded before it. */
export function unfold(events: WireEvent[], instance: string, queue: string, t0: number): JobEvent[] {
  const jobs: JobEvent[] = [];
  let sorted = true;
  for (const event of events) {
    if (!Array.isArray(event)) continue;
    const [type, id, task, attempt, worker, durationMs, time, seq, code, message, startedSeq, startedTime] =
      event;
    const job: JobEvent = {
      type,
      id: id ?? undefined,
      task: task ?? undefined,
      queue,
      attempt,
      instance,
      worker: typeof worker === 'number' ? worker : undefined,
      time: new Date(t0 + time),
      seq,
    };
    if (durationMs !== null) job.durationMs = durationMs;
    if (typeof message === 'string') job.error = { code: code ?? undefined, message };
    if (typeof startedSeq === 'number') {
      const { id: jobId, task: name, worker: ran } = job;
      const at = new Date(t0 + (startedTime ?? time));
      jobs.push({
        type: 'started',
        id: jobId,
        task: name,
        queue,
        attempt,
        instance,
        worker: ran,
        time: at,
        seq: startedSeq,
      });
      sorted = false;
    }
    jobs.push(job);
  }
  return sorted ? jobs : jobs.sort((a, b) => a.seq - b.seq);
}
