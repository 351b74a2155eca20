/**
 * One worker's lane on RabbitMQ: a consumer with prefetch equal to the worker's slots. The lanes
 * of one queue in one process share one channel (each consumer keeps its own prefetch, as
 * `basic.qos` without `global` is per consumer): when a process dies, its channel goes down once
 * and each message it held is returned once. With a channel per lane, a quorum queue could hand
 * a returned message to the dying process's next channel and count a second delivery, burning
 * an attempt the job never ran (seen here with two lanes on RabbitMQ 3.10).
 */

import type { ConfirmChannel, Message } from 'amqplib';
import type { MultitaskError } from '../../errors.js';
import type { Delivery, Lane } from '../transport.js';
import type { AckBatcher } from './amqp-acks.js';
import type { AmqpChannels, ConsumeChannel } from './amqp-channels.js';
import { AmqpDelivery, type DeliveryLane, nackQuietly, notTaken } from './amqp-delivery.js';
import {
  carriedHeaders,
  deliveryAttempt,
  invalidHeaders,
  numberHeader,
  redeliveries,
  republishProperties,
  sendConfirmed,
} from './amqp-message.js';
import { delayTarget, HEADER, HOLD_BELOW_MS } from './amqp-topology.js';

/** How long a lane whose channel the broker closed waits before it subscribes again (ms). */
const RESUBSCRIBE_DELAY_MS = 1_000;

/** A consumer on the queue's shared consume channel; see the module comment. */
export class AmqpLane implements Lane {
  /** The consume channel this lane is subscribed on, while it is. */
  #on: ConsumeChannel | undefined;
  #consumerTag: string | undefined;
  #subscribing: Promise<void> | undefined;
  #stopped = false;
  /** Delivered and not settled: given back if the lane closes while its channel lives on. */
  readonly #unsettled = new Set<Message>();
  /** What each delivery of this lane settles through. */
  readonly #deliveryLane: DeliveryLane;
  readonly #onConnected = () => {
    if (!this.#stopped) void this.#subscribe().catch(() => this.#resubscribeSoon());
  };

  constructor(
    readonly channels: AmqpChannels,
    readonly queue: string,
    readonly prefetch: number,
    readonly onDelivery: (delivery: Delivery) => void,
    /** Called once, when the lane closes: its owner forgets it. */
    readonly onClose: () => void = () => {},
  ) {
    this.#deliveryLane = {
      queue,
      unsettled: this.#unsettled,
      delayTarget: (remainingMs) => this.#delayTarget(remainingMs),
    };
  }

  /**
   * Deliveries handed to the consumer and not settled yet: the source of the transport's
   * in-flight count (AMQP tells nobody how many messages are unacknowledged).
   */
  get unsettled(): number {
    return this.#unsettled.size;
  }

  async start(): Promise<void> {
    const { connection } = this.channels;
    connection.on('connected', this.#onConnected);
    try {
      await this.#subscribe();
    } catch (error) {
      // The connection dropped while subscribing: the lane subscribes again once it is back.
      if (connection.current !== undefined || connection.closing) throw error;
    }
  }

  /** Subscribes unless subscribed or on the way: reconnection and a broker's channel close can both ask. */
  #subscribe(): Promise<void> {
    if (this.#subscribing !== undefined) return this.#subscribing;
    if (this.#on !== undefined) return Promise.resolve();
    const subscribing = this.#consume().finally(() => {
      this.#subscribing = undefined;
    });
    this.#subscribing = subscribing;
    return subscribing;
  }

  async #consume(): Promise<void> {
    const on = await this.channels.consumer(this.queue);
    if (this.#stopped) return;
    const { channel } = on;
    this.#on = on;
    this.#unsettled.clear();
    channel.once('close', () => {
      if (this.#on !== on) return;
      this.#on = undefined;
      this.#consumerTag = undefined;
      // Closed by the broker while the connection lives (a deleted queue, a channel error): come back.
      if (!this.#stopped && this.channels.connection.current !== undefined) this.#resubscribeSoon();
    });
    const { consumerTag } = await on.serialize(async () => {
      await channel.prefetch(this.prefetch);
      return channel.consume(
        this.queue,
        (message) => {
          if (message !== null) this.#receive(on, message);
          // null: the broker cancelled this consumer (its queue was deleted): subscribe again.
          else if (this.#on === on) {
            this.#on = undefined;
            if (!this.#stopped) this.#resubscribeSoon();
          }
        },
        { noAck: false },
      );
    });
    this.#consumerTag = consumerTag;
  }

  /** The rung of this process's delay ladder for `remainingMs`, or the queue itself. */
  #delayTarget(remainingMs: number): string {
    return delayTarget(this.queue, remainingMs, this.channels.options.amqp.delayLadder);
  }

  #resubscribeSoon(): void {
    setTimeout(() => {
      if (!this.#stopped && this.#on === undefined) {
        void this.#subscribe().catch(() => this.#resubscribeSoon());
      }
    }, RESUBSCRIBE_DELAY_MS).unref();
  }

  #receive(on: ConsumeChannel, message: Message): void {
    const { channel, acks } = on;
    acks.track(message);
    const headers = message.properties.headers ?? {};
    const now = Date.now();
    const invalid = invalidHeaders(headers, now);
    if (invalid !== undefined) {
      // Straight to the consumer, which fails it: never up the ladder, never counted from a bad attempt.
      this.#deliver(channel, message, 1 + redeliveries(headers), acks, invalid);
      return;
    }
    const attempt = deliveryAttempt(headers);
    const notBefore = numberHeader(headers[HEADER.notBefore]) ?? 0;
    const remaining = notBefore - now;
    if (remaining >= HOLD_BELOW_MS) {
      // Early off the delay ladder: up the ladder again. This delivery was no attempt.
      const properties = republishProperties(message, carriedHeaders(message, { [HEADER.attempt]: attempt }));
      // A closed channel fails either step; the broker then gives the message back by itself.
      sendConfirmed(channel, this.#delayTarget(remaining), message.content, properties).then(
        () => acks.ack(message).catch(() => {}),
        (error: unknown) => notTaken(channel, acks, message, error),
      );
    } else if (remaining > 0) {
      // Due within a rung's TTL: wait here, so that a delay is never cut short.
      atOrAfter(notBefore, () => {
        if (!this.#stopped) return this.#deliver(channel, message, attempt, acks);
        giveBack(on, message);
      });
    } else {
      this.#deliver(channel, message, attempt, acks);
    }
  }

  #deliver(
    channel: ConfirmChannel,
    message: Message,
    attempt: number,
    acks: AckBatcher,
    invalid?: MultitaskError,
  ): void {
    this.onDelivery(new AmqpDelivery(this.#deliveryLane, channel, message, acks, attempt, invalid));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.channels.connection.off('connected', this.#onConnected);
    const channel = this.#on?.channel;
    const tag = this.#consumerTag;
    this.#consumerTag = undefined;
    if (channel !== undefined && tag !== undefined) {
      await this.channels.connection.answerWithin(channel.cancel(tag), "a consumer's cancel");
    }
  }

  /** Stops, and gives back (nack, requeue) what is still unsettled: the channel stays for other lanes. */
  async close(): Promise<void> {
    await this.stop();
    this.onClose();
    const on = this.#on;
    this.#on = undefined;
    if (on === undefined) return;
    for (const message of this.#unsettled) giveBack(on, message);
    this.#unsettled.clear();
  }
}

/**
 * Calls `then` once the wall clock (`Date.now()`) has reached `at`. A timer alone is not
 * enough: it runs on the event loop's monotonic clock, cached at the start of the loop's turn,
 * and can fire a millisecond before `Date.now()` reaches its time (seen here: a job delivered
 * 1 ms before its not-before, under load).
 */
function atOrAfter(at: number, then: () => void): void {
  const wait = at - Date.now();
  if (wait > 0) setTimeout(() => atOrAfter(at, then), wait);
  else then();
}

/** Nacks a delivery back to the queue (requeued), out of the channel's ack batch. */
function giveBack(on: ConsumeChannel, message: Message): void {
  on.acks.forget(message);
  nackQuietly(on.channel, message);
}
