/**
 * Coalesces the acks of one channel: what settles in one tick is acknowledged with a single
 * `basic.ack multiple` up to the first delivery still running, and one by one past it. A
 * quorum queue turns each ack frame into a log entry, so on a busy queue this is most of the
 * broker's work per job. Every delivery of the channel must be tracked here, since `multiple`
 * acknowledges every earlier tag of the channel.
 */

import type { Channel, Message } from 'amqplib';

export class AckBatcher {
  /** Delivered and not acknowledged, in delivery-tag order (a Map keeps insertion order). */
  readonly #outstanding = new Map<number, Message>();
  #done = new Map<number, () => void>();
  #flushQueued = false;

  constructor(readonly channel: Channel) {}

  track(message: Message): void {
    this.#outstanding.set(message.fields.deliveryTag, message);
  }

  /** Stops tracking a delivery settled some other way (nacked). */
  forget(message: Message): void {
    this.#outstanding.delete(message.fields.deliveryTag);
    this.#done.delete(message.fields.deliveryTag);
  }

  /** Acknowledges in the next flush; resolves once the ack frame is written. */
  ack(message: Message): Promise<void> {
    return new Promise((resolve) => {
      this.#done.set(message.fields.deliveryTag, resolve);
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
        for (const tag of this.#outstanding.keys()) {
          this.#outstanding.delete(tag);
          done.get(tag)?.();
          done.delete(tag);
          if (tag === prefixEnd.fields.deliveryTag) break;
        }
        this.channel.ack(prefixEnd, true);
      }
      for (const [tag, resolve] of done) {
        const message = this.#outstanding.get(tag);
        this.#outstanding.delete(tag);
        if (message !== undefined) this.channel.ack(message);
        resolve();
      }
    } catch {
      // The channel closed: the broker delivers what was not acknowledged again.
      for (const resolve of done.values()) resolve();
    }
  }
}
