import type { Call } from './call.js';

/**
 * The pool's FIFO of calls waiting for a worker. An array with a moving head keeps push and
 * shift O(1) at a hundred thousand calls; calls settled while queued (aborted) are dropped
 * lazily when they reach the head, and `size` counts only the live ones.
 */
export class CallQueue {
  #items: Array<Call | undefined> = [];
  #head = 0;
  #live = 0;

  /** Live calls waiting. */
  get size(): number {
    return this.#live;
  }

  push(call: Call): void {
    this.#items.push(call);
    this.#live++;
  }

  /** The first live call, without removing it. */
  peek(): Call | undefined {
    while (this.#head < this.#items.length) {
      const call = this.#items[this.#head]!;
      if (!call.settled) return call;
      this.#items[this.#head++] = undefined;
    }
    this.#compact();
    return undefined;
  }

  /** Removes and returns the first live call. */
  shift(): Call | undefined {
    const call = this.peek();
    if (call === undefined) return undefined;
    this.#items[this.#head++] = undefined;
    this.#live--;
    this.#compact();
    return call;
  }

  /** Puts calls back at the head, in their original order (their worker went away). */
  unshiftAll(calls: Call[]): void {
    calls.sort((a, b) => a.id - b.id);
    for (let i = calls.length - 1; i >= 0; i--) {
      if (this.#head > 0) this.#items[--this.#head] = calls[i];
      else this.#items.unshift(calls[i]);
      this.#live++;
    }
  }

  /** A queued call was settled where it stands (aborted): it no longer counts. */
  forget(): void {
    this.#live--;
  }

  /** Removes and returns every live call that `filter` accepts. */
  takeAll(filter: (call: Call) => boolean): Call[] {
    const taken: Call[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      const call = this.#items[i];
      if (call === undefined || call.settled || !filter(call)) continue;
      this.#items[i] = undefined;
      this.#live--;
      taken.push(call);
    }
    this.#items = this.#items.filter((call, index) => index >= this.#head && call !== undefined);
    this.#head = 0;
    return taken;
  }

  #compact(): void {
    if (this.#head === this.#items.length && this.#head > 0) {
      this.#items.length = 0;
      this.#head = 0;
    }
  }
}
