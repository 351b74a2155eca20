/**
 * What multitask declares on RabbitMQ for one queue, and the headers it writes. RabbitMQ 3.10
 * has no delayed-message exchange, so delays use a ladder of quorum queues with a fixed TTL that
 * dead-letter back into the queue: a job waits on the largest rung that fits its remaining
 * delay, and a consumer that receives it early sends it up the ladder again (at most 3 hops a
 * rung), and holds a job due in less than the first rung on a timer. Every queue is a durable quorum queue; dead-lettering is at-least-once.
 */

import type { Channel } from 'amqplib';

/** TTLs of the delay ladder (ms): 50 ms × 4^k, up to about 3.6 h; longer delays take the top rung again. */
export const DELAY_LEVELS: readonly number[] = Array.from({ length: 10 }, (_, k) => 50 * 4 ** k);

/** Below the first rung's TTL, a consumer holds an early job on a timer rather than send it up the ladder. */
export const HOLD_BELOW_MS = DELAY_LEVELS[0]!;

export const HEADER = {
  /** The attempt number of the next delivery; the broker's x-delivery-count adds deliveries that died. */
  attempt: 'x-multitask-attempt',
  /** Epoch ms before which the job must not run. */
  notBefore: 'x-multitask-not-before',
  /** JSON of the previous attempt's error, or of the reason it failed for good. */
  error: 'x-multitask-error',
  /** In the failed store: attempts made. */
  attempts: 'x-multitask-attempts',
  /** In the failed store: when (epoch ms). */
  failedAt: 'x-multitask-failed-at',
} as const;

export function failedQueueOf(queue: string): string {
  return `${queue}.failed`;
}

export function delayQueueOf(queue: string, level: number): string {
  return `${queue}.delay.${level}`;
}

/** Where a job with `remainingMs` still to wait goes: a rung of the ladder, or the queue itself. */
export function delayTarget(queue: string, remainingMs: number): string {
  if (remainingMs < HOLD_BELOW_MS) return queue;
  let level = HOLD_BELOW_MS;
  for (const candidate of DELAY_LEVELS) if (candidate <= remainingMs) level = candidate;
  return delayQueueOf(queue, level);
}

const QUORUM = { 'x-queue-type': 'quorum' };
const AT_LEAST_ONCE = { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' };

/** Declares the queue, its failed store and its delay ladder (idempotent). */
export async function declareTopology(channel: Channel, queue: string, deliveryLimit: number): Promise<void> {
  const failed = failedQueueOf(queue);
  await channel.assertQueue(failed, { durable: true, arguments: QUORUM });
  await channel.assertQueue(queue, {
    durable: true,
    arguments: {
      ...QUORUM,
      ...AT_LEAST_ONCE,
      // A message whose consumers all die never gets acked: past this many deliveries the broker
      // moves it to the failed store instead of looping it forever.
      'x-delivery-limit': deliveryLimit,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': failed,
    },
  });
  for (const level of DELAY_LEVELS) {
    await channel.assertQueue(delayQueueOf(queue, level), {
      durable: true,
      arguments: {
        ...QUORUM,
        ...AT_LEAST_ONCE,
        'x-message-ttl': level,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': queue,
      },
    });
  }
}

/** Every queue name {@link declareTopology} creates for `queue`. */
export function topologyQueues(queue: string): string[] {
  return [queue, failedQueueOf(queue), ...DELAY_LEVELS.map((level) => delayQueueOf(queue, level))];
}
