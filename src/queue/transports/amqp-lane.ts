/**
 * One worker's lane on RabbitMQ: a consumer with prefetch equal to the worker's slots. The lanes
 * of one queue in one process share one channel (each consumer keeps its own prefetch, as
 * `basic.qos` without `global` is per consumer): when a process dies, its channel goes down once
 * and each message it held is returned once. With a channel per lane, a quorum queue could hand
 * a returned message to the dying process's next channel and count a second delivery, burning
 * an attempt the job never ran (seen here with two lanes on RabbitMQ 3.10).
 */

import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, Message } from 'amqplib';
import { deliveryChannelGone, type MultitaskError } from '../../errors.js';
import type { StoredError } from '../message.js';
import { parseStoredError } from '../message.js';
import type { Delivery, EncodedResult, JobEnd, Lane } from '../transport.js';
import type { AckBatcher } from './amqp-acks.js';
import type { AmqpChannels, ConsumeChannel } from './amqp-channels.js';
import {
  carriedHeaders,
  deliveryAttempt,
  type Headers,
  invalidHeaders,
  numberHeader,
  redeliveries,
  republishProperties,
  sendConfirmed,
  stringHeader,
  withoutDelay,
} from './amqp-message.js';
import { sendReply } from './amqp-replies.js';
import { delayTarget, failedLogOf, HEADER, HOLD_BELOW_MS } from './amqp-topology.js';

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
  ) {}

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
    const remaining = (numberHeader(headers[HEADER.notBefore]) ?? 0) - now;
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
      setTimeout(() => {
        if (!this.#stopped) return this.#deliver(channel, message, attempt, acks);
        giveBack(on, message);
      }, remaining);
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
    const headers = message.properties.headers ?? {};
    const { queue } = this;
    // A message from another producer with no message-id gets one now, and every republish
    // (retry, delay, failed store) carries it: the logs and the failed store show one id.
    const id: string = message.properties.messageId ?? randomUUID();
    this.#unsettled.add(message);
    // A caller waits for its outcome (amqp-replies.ts).
    const wantsResult = typeof message.properties.replyTo === 'string' && message.properties.replyTo !== '';
    const settle = async (target: string | undefined, headers: Headers, answer?: JobEnd) => {
      try {
        if (!this.#unsettled.has(message)) throw deliveryChannelGone();
        if (target !== undefined) {
          await sendConfirmed(
            channel,
            target,
            message.content,
            republishProperties(message, headers, id),
          ).catch((error: unknown) => {
            if (this.#unsettled.delete(message)) notTaken(channel, acks, message, error);
            throw error;
          });
        }
        // Gone from the set: its channel closed (or the lane gave it back), and the broker
        // delivers it again. Settling it now must fail, or it would count as done twice.
        if (!this.#unsettled.delete(message)) throw deliveryChannelGone();
        if (answer !== undefined && wantsResult) sendReply(channel, message, id, answer);
        await acks.ack(message);
      } finally {
        this.#unsettled.delete(message);
      }
    };
    this.onDelivery({
      body: message.content.toString('utf8'),
      id,
      attempt,
      lastError: parseStoredError(stringHeader(headers[HEADER.error])),
      redeliveries: redeliveries(headers),
      invalid,
      wantsResult,
      ack: (result?: EncodedResult) => settle(undefined, {}, { json: result?.json }),
      retry: (delayMs: number, error: StoredError) =>
        settle(
          this.#delayTarget(delayMs),
          carriedHeaders(message, {
            [HEADER.attempt]: attempt + 1,
            [HEADER.notBefore]: Date.now() + delayMs,
            [HEADER.error]: JSON.stringify(error),
          }),
        ),
      release: (delayMs = 0) =>
        settle(
          this.#delayTarget(delayMs),
          delayMs > 0
            ? carriedHeaders(message, { [HEADER.attempt]: attempt, [HEADER.notBefore]: Date.now() + delayMs })
            : withoutDelay(carriedHeaders(message, { [HEADER.attempt]: attempt })),
        ),
      fail: (error: StoredError) =>
        settle(
          failedLogOf(queue),
          withoutDelay(
            carriedHeaders(message, {
              [HEADER.error]: JSON.stringify(error),
              [HEADER.attempts]: attempt,
              [HEADER.failedAt]: Date.now(),
            }),
          ),
          { error },
        ),
    });
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

/** Nacks a delivery back to the queue (requeued), out of the channel's ack batch. */
function giveBack(on: ConsumeChannel, message: Message): void {
  on.acks.forget(message);
  nackQuietly(on.channel, message);
}

/**
 * The broker did not take the copy of `message` that was to replace it (a nack while a quorum
 * queue elects its leader, or a channel that closed): the delivery goes back to the queue, to
 * come again, rather than stay held on the channel unsettled. RabbitMQ 3.10 goes on nacking a
 * channel that got such a nack, so that channel is closed: its lanes subscribe again on a fresh one.
 */
function notTaken(channel: ConfirmChannel, acks: AckBatcher, message: Message, error: unknown): void {
  acks.forget(message);
  nackQuietly(channel, message);
  if (/nacked/.test(String(error))) void channel.close().catch(() => {});
}

function nackQuietly(channel: ConfirmChannel, message: Message): void {
  try {
    channel.nack(message, false, true);
  } catch {
    // The channel closed meanwhile: the broker gives it back itself.
  }
}
