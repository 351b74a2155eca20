/**
 * Abort listeners for many calls: one listener per signal, not one per call. Node's EventTarget
 * walks the listeners already on a signal each time one is added or removed, so a consumer whose
 * 1,000 jobs in flight each listened on its one stop signal paid that walk twice a job: 7.7 µs
 * of the main thread per job, the largest cost after garbage collection (CPU profile of
 * `bench/queue-child.mjs io multitask-amqp`). Here a signal gets one listener while any call
 * watches it, and a call comes and goes from a Set.
 */
export class SignalWatch<T> {
  readonly #watched = new Map<AbortSignal, { items: Set<T>; listener: () => void }>();

  /** @param onAbort called for every item still watched on a signal when it aborts */
  constructor(readonly onAbort: (item: T) => void) {}

  /** Calls `onAbort(item)` when `signal` aborts, unless {@link delete} came first. */
  add(signal: AbortSignal, item: T): void {
    let entry = this.#watched.get(signal);
    if (entry === undefined) {
      const items = new Set<T>();
      const listener = () => {
        this.#watched.delete(signal);
        for (const watched of [...items]) this.onAbort(watched);
      };
      signal.addEventListener('abort', listener, { once: true });
      entry = { items, listener };
      this.#watched.set(signal, entry);
    }
    entry.items.add(item);
  }

  /** Stops watching `item`; the signal's listener goes with its last item. */
  delete(signal: AbortSignal, item: T): void {
    const entry = this.#watched.get(signal);
    if (entry === undefined || !entry.items.delete(item) || entry.items.size > 0) return;
    signal.removeEventListener('abort', entry.listener);
    this.#watched.delete(signal);
  }
}
