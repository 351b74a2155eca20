/**
 * One queue's side of the event feed in one instance: consumers and `dispatch` report every job
 * event here, always. Each report costs a counter increment; only while a listener wants the
 * queue (`active`) does it build an event and hand it to the transport, which batches it.
 * The counter (`seq`) runs whether or not anyone listens, so that a listener finds the events
 * it missed as a jump in it: it is how a drop, anywhere on the way, is seen.
 *
 * Under a flood it samples: past {@link FEED_FULL_RATE} events a second, only the jobs whose id
 * hashes into one k-th of the space are sent (the whole job: its dispatch, start and ending),
 * with k set each second from the second before; `retried`, `failed` and `released` are always
 * sent. A job left out still counts in `seq`, so listeners see it as a gap. Why: on this
 * project's two-core benchmark machine, sending and reading every event of 15,000 jobs/s cost
 * a fifth of the end-to-end throughput (the instance's work, the broker's, the listener's);
 * nobody reads that many events, and rates and percentiles come out the same from a sample.
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

/** Events a second (one instance, one queue) above which the feed samples (see the module comment). */
export const FEED_FULL_RATE = 2_000;
const SAMPLE_WINDOW_MS = 1_000;

/** FNV-1a of a job id: spreads ids over 32 bits, so that "one in k" picks whole jobs, evenly. */
function idHash(id: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < id.length; index++) hash = Math.imul(hash ^ id.charCodeAt(index), 0x01000193);
  return hash >>> 0;
}

/** See the module comment. */
export class QueueFeed {
  /** True while some listener wants this queue's events, or while that is being found out. */
  active = false;
  #seq = 0;
  /** Events kept while `active` is only provisional (the fleet is engaging); undefined otherwise. */
  #held: WireEvent[] | undefined;
  /** Sampling: one job in `#every` is sent (1: all); the window counts events offered. */
  #every = 1;
  #windowStart = 0;
  #windowEvents = 0;

  constructor(
    readonly queue: string,
    readonly sink: FeedSink,
  ) {}

  /** A job went to the pool; its worker is read when its batch is sent, once the pool has picked one. */
  started(job: FeedJob, attempt: number, call: WorkerOf): void {
    const seq = ++this.#seq;
    if (!this.active) return;
    const now = Date.now();
    if (this.#sampled(job.id, now)) this.#send(['started', job.id, job.task, attempt, call, null, now, seq]);
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
    const id = job?.id ?? delivery.id;
    const now = Date.now();
    // Failures are few and are what an operator looks for: never sampled out.
    if (type === 'completed' && id !== undefined && !this.#sampled(id, now)) return;
    if (type !== 'completed') this.#windowEvents++;
    const event: WireEvent = [
      type,
      id ?? null,
      job?.task ?? null,
      delivery.attempt,
      worker ?? null,
      Math.round(durationMs * 10) / 10,
      now,
      seq,
    ];
    if (error !== undefined) event.push(error.code ?? null, error.message);
    this.#send(event);
  }

  /** `queue.dispatch` has the broker's confirmation for a new job. */
  dispatched(id: string, task: string): void {
    const seq = ++this.#seq;
    if (!this.active) return;
    const now = Date.now();
    if (this.#sampled(id, now)) this.#send(['dispatched', id, task, 1, null, null, now, seq]);
  }

  /** Whether this job's event goes out: all of them, or under a flood one job in `#every`. */
  #sampled(id: string, now: number): boolean {
    if (now - this.#windowStart >= SAMPLE_WINDOW_MS) {
      const rate =
        (this.#windowEvents * SAMPLE_WINDOW_MS) / Math.max(SAMPLE_WINDOW_MS, now - this.#windowStart);
      this.#every = rate > FEED_FULL_RATE ? Math.ceil(rate / FEED_FULL_RATE) : 1;
      this.#windowStart = now;
      this.#windowEvents = 0;
    }
    this.#windowEvents++;
    return this.#every === 1 || idHash(id) % this.#every === 0;
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
