/**
 * What a pool tells the fleet about its consumers on one Queue object: the counts of each queue
 * they consume and the pool's workers. The queue side (src/queue/fleet.ts) reads it at every
 * announcement and carries it; the pool only counts. The first consumer makes the process an
 * instance of that queue's fleet, and the last one to stop says goodbye.
 */

import type { FleetSource, QueuePort, SourceQueueReport, SourceReport } from '../queue/port.js';
import type { Consumer } from './consumer.js';

/** See the module comment. */
export class FleetReport implements FleetSource {
  readonly #consumers = new Set<Consumer>();
  readonly #port: QueuePort;
  readonly #workers: () => SourceReport['workers'];
  #leave: (() => void) | undefined;

  constructor(port: QueuePort, workers: () => SourceReport['workers']) {
    this.#port = port;
    this.#workers = workers;
  }

  /** A consumer starts: the fleet hears of it from the next announcement (the first at once). */
  add(consumer: Consumer): void {
    this.#consumers.add(consumer);
    this.#leave ??= this.#port.fleet.join(this);
  }

  /** A consumer stopped; true when it was the last one (the fleet has been told goodbye). */
  remove(consumer: Consumer): boolean {
    this.#consumers.delete(consumer);
    if (this.#consumers.size > 0) return false;
    this.#leave?.();
    this.#leave = undefined;
    return true;
  }

  report(): SourceReport {
    const byQueue = new Map<string, SourceQueueReport>();
    for (const { queue, counts } of this.#consumers) {
      let sum = byQueue.get(queue);
      if (sum === undefined) {
        sum = { queue, inFlight: 0, completed: 0, failed: 0, retried: 0 };
        byQueue.set(queue, sum);
      }
      sum.inFlight += counts.inFlight;
      sum.completed += counts.completed;
      sum.failed += counts.failed;
      sum.retried += counts.retried;
    }
    return { workers: this.#workers(), queues: [...byQueue.values()] };
  }
}
