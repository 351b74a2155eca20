/**
 * The events an instance has not sent yet, by queue: what each transport's link fills between
 * two flushes (a tick) and sends as one message (RabbitMQ) or one row (SQLite) per queue. Full
 * past {@link FLUSH_MAX_EVENTS} a queue: what comes after is dropped, and the listeners see the
 * jump in `seq`.
 */

import { FLUSH_MAX_EVENTS, type WireEvent } from './fleet-types.js';

/** See the module comment. */
export class EventBatches {
  #pending = new Map<string, WireEvent[]>();

  /** Adds one event; true when it is the first since the last {@link take} (schedule a flush). */
  add(queue: string, event: WireEvent): boolean {
    const first = this.#pending.size === 0;
    let events = this.#pending.get(queue);
    if (events === undefined) {
      events = [];
      this.#pending.set(queue, events);
    }
    if (events.length < FLUSH_MAX_EVENTS) events.push(event);
    return first;
  }

  /** True while no event waits. */
  get empty(): boolean {
    return this.#pending.size === 0;
  }

  /** Takes every queue's events as a JSON array, the started ones' workers read now. */
  take(): Array<[queue: string, events: string]> {
    const pending = this.#pending;
    if (pending.size === 0) return [];
    this.#pending = new Map();
    const batches: Array<[string, string]> = [];
    for (const [queue, events] of pending) {
      for (const event of events) {
        const worker = event[4];
        // The pool picked the call's worker in the microtask after submit, before any flush.
        if (worker !== null && typeof worker === 'object') event[4] = worker.workerId ?? null;
      }
      batches.push([queue, JSON.stringify(events)]);
    }
    return batches;
  }
}
