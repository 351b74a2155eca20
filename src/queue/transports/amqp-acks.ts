/**
 * Coalesces the acks of one channel: what settles in one tick is acknowledged with a single
 * `basic.ack multiple` up to the first delivery still running, and one by one past it. A
 * quorum queue turns each ack frame into a log entry, so on a busy queue this is most of the
 * broker's work per job. Every delivery of the channel must be tracked here, since `multiple`
 * acknowledges every earlier tag of the channel.
 */

import type { Channel, Message } from 'amqplib';
import { type Deferred, deferred } from '../../internal/deferred.js';

/** The ack coalescer of one channel; see the module comment. */
export class AckBatcher {
  /** Delivered and not acknowledged, in delivery-tag order (a Map keeps insertion order). */
  readonly #outstanding = new Map<number, Message>();
  /** The tags acknowledged since the last flush. */
  #done = new Set<number>();
  /**
   * The next flush, which every ack since the last one waits for: one promise for the batch
   * rather than one (with its two functions and a record) per ack. With a plain ack settled
   * without an async frame and a delivery that is one object (amqp-delivery.ts), a consumer's
   * main thread went from 7.7 to 5.7 KB allocated a job (`bench/consume-alloc.mjs`).
   */
  #next: Deferred<void> | undefined;

  /** `channel`: anything that acks as an amqplib channel does (a unit test passes a recorder). */
  constructor(readonly channel: Pick<Channel, 'ack'>) {}

  track(message: Message): void {
    this.#outstanding.set(message.fields.deliveryTag, message);
  }

  /** Stops tracking a delivery settled some other way (nacked). */
  forget(message: Message): void {
    this.#outstanding.delete(message.fields.deliveryTag);
    this.#done.delete(message.fields.deliveryTag);
  }

  /**
   * Acknowledges in the next flush; resolves once the ack frame is written, rejects when the
   * channel is closed (the broker will deliver the message again: it must not count as done).
   * The acks of one flush share its promise: a closed channel fails them all, as it fails the
   * first frame of the flush.
   */
  ack(message: Message): Promise<void> {
    this.#done.add(message.fields.deliveryTag);
    if (this.#next === undefined) {
      this.#next = deferred<void>();
      setImmediate(() => this.#flush());
    }
    return this.#next.promise;
  }

  #flush(): void {
    const done = this.#done;
    const next = this.#next!;
    this.#done = new Set();
    this.#next = undefined;
    try {
      let prefixEnd: Message | undefined;
      for (const [tag, message] of this.#outstanding) {
        if (!done.has(tag)) break;
        prefixEnd = message;
      }
      if (prefixEnd !== undefined) {
        this.channel.ack(prefixEnd, true);
        for (const tag of this.#outstanding.keys()) {
          this.#outstanding.delete(tag);
          done.delete(tag);
          if (tag === prefixEnd.fields.deliveryTag) break;
        }
      }
      for (const tag of done) {
        const message = this.#outstanding.get(tag);
        if (message !== undefined) this.channel.ack(message);
        this.#outstanding.delete(tag);
      }
      next.resolve();
    } catch (error) {
      // The channel closed: what was not acknowledged comes back from the broker.
      next.reject(error as Error);
    }
  }
}
