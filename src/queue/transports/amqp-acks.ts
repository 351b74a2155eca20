/**
 * Coalesces the acks of one channel: what settles in one tick is acknowledged with a single
 * `basic.ack multiple` up to the first delivery still running, and one by one past it. A
 * quorum queue turns each ack frame into a log entry, so on a busy queue this is most of the
 * broker's work per job. Every delivery of the channel must be tracked here, since `multiple`
 * acknowledges every earlier tag of the channel.
 */

import type { Channel, Message } from 'amqplib';

/** The ack coalescer of one channel; see the module comment. */
export class AckBatcher {
  /** Delivered and not acknowledged, in delivery-tag order (a Map keeps insertion order). */
  readonly #outstanding = new Map<number, Message>();
  #done = new Map<number, Settle>();
  #flushQueued = false;

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
   */
  ack(message: Message): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#done.set(message.fields.deliveryTag, { resolve, reject });
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushQueued = false;
    const done = this.#done;
    this.#done = new Map();
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
          done.get(tag)?.resolve();
          done.delete(tag);
          if (tag === prefixEnd.fields.deliveryTag) break;
        }
      }
      for (const [tag, settle] of done) {
        const message = this.#outstanding.get(tag);
        if (message !== undefined) this.channel.ack(message);
        this.#outstanding.delete(tag);
        done.delete(tag);
        settle.resolve();
      }
    } catch (error) {
      // The channel closed: what was not acknowledged comes back from the broker.
      for (const settle of done.values()) settle.reject(error as Error);
    }
  }
}

interface Settle {
  resolve(): void;
  reject(error: Error): void;
}
