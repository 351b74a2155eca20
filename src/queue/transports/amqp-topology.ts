/**
 * What multitask declares on RabbitMQ for one queue, and the headers it writes. RabbitMQ 3.10
 * has no delayed-message exchange, so delays use a ladder of quorum queues with a fixed TTL that
 * dead-letter back into the queue: a job waits on the largest rung that fits its remaining
 * delay, and a consumer that receives it early sends it up the ladder again (at most 3 hops a
 * rung on the full ladder of 10 rungs; more on a shorter one), and holds a job due in less than the first rung on a timer. Every queue is a durable quorum queue; dead-lettering is at-least-once.
 */

import type { Channel } from 'amqplib';

/** The rungs of the full ladder, and the fewest a shorter one may have (see {@link delayLadder}). */
export const MAX_DELAY_RUNGS = 10;
export const MIN_DELAY_RUNGS = 4;

/**
 * The TTLs of a ladder of `rungs` rungs (ms), from 50 ms to 50 × 4^9 ms (about 3.6 h), spaced
 * evenly on a log scale: 10 rungs are 50 ms × 4^k; fewer rungs are further apart (4 rungs: ×64),
 * so a delay hops more often on its way (at most the ratio between two rungs, less one, per
 * rung) but still never runs early. Delays past the top rung take it again.
 */
export function delayLadder(rungs: number = MAX_DELAY_RUNGS): readonly number[] {
  const top = 50 * 4 ** (MAX_DELAY_RUNGS - 1);
  return Array.from({ length: rungs }, (_, k) => Math.round(50 * (top / 50) ** (k / (rungs - 1))));
}

/** TTLs of the full delay ladder (ms): 50 ms × 4^k, up to about 3.6 h; longer delays take the top rung again. */
export const DELAY_LEVELS: readonly number[] = delayLadder();

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
  /** In the failed log: what a record is (see amqp-failed-log.ts); absent on a failed job. */
  record: 'x-multitask-record',
} as const;

/**
 * The failed store's inbox: where the broker dead-letters a job past its delivery limit (and
 * where multitask before the failed log kept failed jobs). Moved into the log by its readers.
 */
export function failedQueueOf(queue: string): string {
  return `${queue}.failed`;
}

/** The failed store itself: a stream read from its first offset, never consumed away. */
export function failedLogOf(queue: string): string {
  return `${queue}.failed-log`;
}

export function delayQueueOf(queue: string, level: number): string {
  return `${queue}.delay.${level}`;
}

/** Where a job with `remainingMs` still to wait goes: a rung of `ladder`, or the queue itself. */
export function delayTarget(
  queue: string,
  remainingMs: number,
  ladder: readonly number[] = DELAY_LEVELS,
): string {
  if (remainingMs < HOLD_BELOW_MS) return queue;
  let level = HOLD_BELOW_MS;
  for (const candidate of ladder) if (candidate <= remainingMs) level = candidate;
  return delayQueueOf(queue, level);
}

const AT_LEAST_ONCE = { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' };

/**
 * The delivery limit written on queues no consumer takes from (the delay rungs, which only
 * expire, and the inbox, which only the failed log's readers empty with get and ack): RabbitMQ
 * 4.x would give them a limit of 20 by default, and 3.10 reads -1 as "drop at the first
 * return", so "no limit" is written as a count that cannot be reached.
 */
export const UNREACHED_DELIVERY_LIMIT = 1_000_000;

/** One queue of a topology: its name and its arguments. */
export interface QueueDeclaration {
  readonly name: string;
  readonly arguments: Record<string, unknown>;
  /**
   * Declared by multitask before its delivery limit was written explicitly: when RabbitMQ finds
   * the queue there without it (PRECONDITION_FAILED), the queue is used as it is.
   */
  readonly olderForm: boolean;
}

/** How a queue's topology is declared, beyond its name. */
export interface TopologyOptions {
  /** The job queue's delivery limit. */
  readonly deliveryLimit: number;
  /** On every quorum queue: where RabbitMQ puts its replicas and its leader (see amqp-options.ts). */
  readonly placement?: Readonly<Record<string, string | number>> | undefined;
  /** The delay rungs' TTLs (ms). Default {@link DELAY_LEVELS}. */
  readonly ladder?: readonly number[] | undefined;
  /** Hears of each queue of the older form kept as it is. */
  readonly onOlderForm?: ((name: string) => void) | undefined;
}

/** What multitask declares for `queue`, in order (see docs/producers.md). */
export function topology(queue: string, options: TopologyOptions): QueueDeclaration[] {
  const { deliveryLimit, placement = {}, ladder = DELAY_LEVELS } = options;
  const failed = failedQueueOf(queue);
  const QUORUM = { 'x-queue-type': 'quorum', ...placement };
  return [
    {
      name: failed,
      arguments: { ...QUORUM, 'x-delivery-limit': UNREACHED_DELIVERY_LIMIT },
      olderForm: true,
    },
    { name: failedLogOf(queue), arguments: { 'x-queue-type': 'stream' }, olderForm: false },
    {
      name: queue,
      arguments: {
        ...QUORUM,
        ...AT_LEAST_ONCE,
        // A message whose consumers all die never gets acked: past this many deliveries the broker
        // moves it to the failed store instead of looping it forever.
        'x-delivery-limit': deliveryLimit,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': failed,
      },
      olderForm: false,
    },
    ...ladder.map((level) => ({
      name: delayQueueOf(queue, level),
      arguments: {
        ...QUORUM,
        ...AT_LEAST_ONCE,
        'x-delivery-limit': UNREACHED_DELIVERY_LIMIT,
        'x-message-ttl': level,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': queue,
      },
      olderForm: true,
    })),
  ];
}

/**
 * RabbitMQ's refusal of a declaration whose placement differs from the queue's, with the
 * queue's own value (checked on 3.10): `received 'balanced' but current is 'client-local'`,
 * `received none but current is the value '1' of type 'byte'`, `… but current is none`.
 */
const PLACEMENT_MISMATCH =
  /PRECONDITION_FAILED.*inequivalent arg '(x-queue-leader-locator|x-quorum-initial-group-size)'.*?current is (none|(?:the value )?'([^']*)')/s;

/** RabbitMQ's refusal of an explicit delivery limit on a queue made without one. */
const OLDER_FORM = /PRECONDITION_FAILED.*x-delivery-limit.*current is none/s;

/**
 * Declares the queue, its failed store and its delay ladder (idempotent) on channels from
 * `open`, closing them. Two kinds of existing queue are kept as they are, since redeclaring
 * them is not possible without deleting them:
 * - one whose placement (leader locator, group size) differs: it was made by an earlier
 *   multitask, by a producer, or with other options; placement only matters when a queue is
 *   made, so the declaration is made again with the queue's own placement (RabbitMQ's refusal
 *   names it), the other arguments still checked, and nothing is said;
 * - one of the older form (declared by multitask before its delivery limit was explicit),
 *   reported to `onOlderForm`: it behaves as before on the broker that made it.
 */
export async function declareTopology(
  open: () => Promise<Channel>,
  queue: string,
  options: TopologyOptions,
): Promise<void> {
  const { onOlderForm = () => {} } = options;
  let channel = await open();
  try {
    for (const declaration of topology(queue, options)) {
      let args = declaration.arguments;
      for (;;) {
        try {
          await channel.assertQueue(declaration.name, { durable: true, arguments: args });
          break;
        } catch (error) {
          const refusal = String(error);
          const unplaced = placedAsTheQueue(args, refusal);
          const older = unplaced === undefined && declaration.olderForm && OLDER_FORM.test(refusal);
          if (unplaced === undefined && !older) throw error;
          // The broker closed the channel: go on on a new one.
          channel = await open();
          if (unplaced !== undefined) {
            args = unplaced;
            continue;
          }
          await channel.checkQueue(declaration.name);
          onOlderForm(declaration.name);
          break;
        }
      }
    }
  } finally {
    await channel.close().catch(() => {});
  }
}

/**
 * `args` with the placement argument RabbitMQ's `refusal` names set to the queue's own value (or
 * removed, when the queue has none), or undefined when the refusal is not about placement or
 * `args` already says what the queue has (so that a declaration is never retried in a loop).
 */
function placedAsTheQueue(
  args: Record<string, unknown>,
  refusal: string,
): Record<string, unknown> | undefined {
  const match = PLACEMENT_MISMATCH.exec(refusal);
  if (match === null) return undefined;
  const name = match[1]!;
  const placed = { ...args };
  if (match[2] === 'none') delete placed[name];
  else placed[name] = name === 'x-quorum-initial-group-size' ? Number(match[3]) : match[3];
  return placed[name] === args[name] && name in placed === name in args ? undefined : placed;
}

/** Every queue name {@link declareTopology} creates for `queue` (with `ladder`'s rungs). */
export function topologyQueues(queue: string, ladder: readonly number[] = DELAY_LEVELS): string[] {
  return topology(queue, { deliveryLimit: 1, ladder }).map((declaration) => declaration.name);
}
