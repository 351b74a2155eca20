/**
 * One queue's side of the event feed in one instance: consumers and `dispatch` report every job
 * event here, always. Each report costs a counter increment; only while a listener wants the
 * queue (`active`) does it build an event and hand it to the transport, which batches it.
 * The counter (`seq`) runs whether or not anyone listens, so that a listener finds the events
 * it missed as a jump in it: it is how a drop, anywhere on the way, is seen.
 */

import type { JobEventType, WireEvent } from './fleet-types.js';
import type { StoredError } from './message.js';

/** Where a feed sends its events: the transport's link, or a hold while listeners are looked up. */
export type FeedSink = (queue: string, event: WireEvent) => void;

/** The worker a started job went to, once the pool picked one (a pool call). */
export interface WorkerOf {
  readonly workerId: number | undefined;
}

/** The job an event is about, as the consumer decoded it. */
export interface FeedJob {
  readonly id: string;
  readonly task: string;
}

/** The delivery an event is about. */
export interface FeedDelivery {
  readonly id: string | undefined;
  readonly attempt: number;
}

/** Events one feed holds while its instance is still finding out whether anyone listens. */
const HELD_MAX = 10_000;

/** See the module comment. */
export class QueueFeed {
  /** True while some listener wants this queue's events, or while that is being found out. */
  active = false;
  #seq = 0;
  /** Events kept while `active` is only provisional (the fleet is engaging); undefined otherwise. */
  #held: WireEvent[] | undefined;

  constructor(
    readonly queue: string,
    readonly sink: FeedSink,
  ) {}

  /** A job went to the pool; its worker is read when its batch is sent, once the pool has picked one. */
  started(job: FeedJob, attempt: number, call: WorkerOf): void {
    const seq = ++this.#seq;
    if (this.active) this.#send(['started', job.id, job.task, attempt, call, null, Date.now(), seq]);
  }

  /**
   * A delivery's outcome was decided (`completed`, `retried`, `failed` or `released`); `job` is
   * undefined for a message that was not a job.
   */
  ended(
    type: JobEventType,
    job: FeedJob | undefined,
    delivery: FeedDelivery,
    worker: number | undefined,
    durationMs: number,
    error: StoredError | undefined,
  ): void {
    const seq = ++this.#seq;
    if (!this.active) return;
    const event: WireEvent = [
      type,
      job?.id ?? delivery.id ?? null,
      job?.task ?? null,
      delivery.attempt,
      worker ?? null,
      Math.round(durationMs * 10) / 10,
      Date.now(),
      seq,
    ];
    if (error !== undefined) event.push(error.code ?? null, error.message);
    this.#send(event);
  }

  /** `queue.dispatch` has the broker's confirmation for a new job. */
  dispatched(id: string, task: string): void {
    const seq = ++this.#seq;
    if (this.active) this.#send(['dispatched', id, task, 1, null, null, Date.now(), seq]);
  }

  /** Whether anyone listens is being found out: events are held until {@link settle}. */
  hold(): void {
    this.active = true;
    this.#held ??= [];
  }

  /** Listeners known: `active` says whether to send; what was held goes out, or away. */
  settle(active: boolean): void {
    const held = this.#held;
    this.#held = undefined;
    this.active = active;
    if (active && held !== undefined) for (const event of held) this.sink(this.queue, event);
  }

  #send(event: WireEvent): void {
    const held = this.#held;
    if (held === undefined) this.sink(this.queue, event);
    else if (held.length < HELD_MAX) held.push(event);
  }
}
