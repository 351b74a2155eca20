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

  /**
   * Takes every queue's events as a JSON array of tuples (fleet-types.ts), with the `t0` their
   * times count from: the started ones' workers read now, and a start folded into its job's
   * ending when both are here.
   */
  take(): { t0: number; batches: Array<[queue: string, events: string]> } {
    const t0 = Date.now();
    const pending = this.#pending;
    if (pending.size === 0) return { t0, batches: [] };
    this.#pending = new Map();
    const batches: Array<[string, string]> = [];
    for (const [queue, events] of pending) batches.push([queue, JSON.stringify(compact(events, t0))]);
    return { t0, batches };
  }
}

/** The events to send: starts folded into their endings, workers read, times made relative to `t0`. */
function compact(events: WireEvent[], t0: number): WireEvent[] {
  const starts = new Map<string, number>();
  const folded = new Set<number>();
  for (let index = 0; index < events.length; index++) {
    const event = events[index]!;
    const worker = event[4];
    // The pool picked the call's worker in the microtask after submit, before any flush.
    if (worker !== null && typeof worker === 'object') event[4] = worker.workerId ?? null;
    const [type, id, , attempt] = event;
    if (type === 'dispatched' || id === null) continue;
    const key = `${id}\n${attempt}`;
    if (type === 'started') {
      starts.set(key, index);
      continue;
    }
    const start = starts.get(key);
    if (start === undefined) continue;
    starts.delete(key);
    folded.add(start);
    const started = events[start]!;
    event[8] ??= null;
    event[9] ??= null;
    event[10] = started[7];
    event[11] = started[6] - t0;
  }
  const sent = folded.size === 0 ? events : events.filter((_, index) => !folded.has(index));
  for (const event of sent) event[6] -= t0;
  return sent;
}
