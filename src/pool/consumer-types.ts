/** The types of a {@link Consumer}'s counts and events, apart from the consumer's logic. */

import type { StoredError } from '../queue/port.js';

/** Live counts of a consumer. */
export interface ConsumerCounts {
  /** Jobs that returned and were acknowledged. (Each count moves once the broker has the outcome.) */
  completed: number;
  /** Attempts that failed and were put back for another. */
  retried: number;
  /** Jobs moved to the failed store (attempts used up, or not a job at all). */
  failed: number;
  /** Jobs taken and not settled yet. */
  inFlight: number;
}

/**
 * What happened to one delivery, in a `settled` event. The event fires once the queue has the
 * outcome and `consumer.counts` shows it: a listener that reads the counts, or the failed
 * store, sees this job in them.
 */
export interface SettledJob {
  outcome: 'completed' | 'retried' | 'failed' | 'released';
  queue: string;
  id: string | undefined;
  task: string | undefined;
  attempt: number;
  /** The pool worker that ran it (undefined when it never reached one). */
  workerId: number | undefined;
  /** From delivery to outcome (ms). */
  durationMs: number;
  error?: StoredError;
}

/** The consumer's events. */
export interface ConsumerEvents {
  settled: SettledJob;
  /** The consumer went idle (see {@link Consumer.onIdle}); once per idle spell. */
  drained: undefined;
  /** A message could not be settled (the broker connection dropped): the broker will deliver it again. */
  settleError: { id: string | undefined; error: Error };
}
