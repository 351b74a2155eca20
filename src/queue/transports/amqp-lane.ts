/**
 * One worker's lane on RabbitMQ: a consumer with prefetch equal to the worker's slots. The lanes
 * of one queue in one process share one channel (each consumer keeps its own prefetch, as
 * `basic.qos` without `global` is per consumer): when a process dies, its channel goes down once
 * and each message it held is returned once. With a channel per lane, a quorum queue could hand
 * a returned message to the dying process's next channel and count a second delivery, burning
 * an attempt the job never ran (seen here with two lanes on RabbitMQ 3.10).
 */

import type { ConfirmChannel, Message } from 'amqplib';
import type { StoredError } from '../message.js';
import { parseStoredError } from '../message.js';
import type { Delivery, Lane } from '../transport.js';
import type { AckBatcher } from './amqp-acks.js';
import {
  carriedHeaders,
  deliveryAttempt,
  type Headers,
  numberHeader,
  republishProperties,
  sendConfirmed,
  stringHeader,
  withoutDelay,
} from './amqp-message.js';
import { delayTarget, failedQueueOf, HEADER, HOLD_BELOW_MS } from './amqp-topology.js';

/** How long a lane whose channel the broker closed waits before it subscribes again (ms). */
const RESUBSCRIBE_DELAY_MS = 1_000;

/** What a lane needs of its transport. */
export interface LaneHost {
  readonly connection: {
    readonly current: unknown;
    readonly closing: boolean;
    on(event: 'connected', listener: () => void): unknown;
    off(event: 'connected', listener: () => void): unknown;
  };
  /** The process's consume channel for `queue`, topology declared; shared by its lanes. */
  consumeChannel(queue: string): Promise<ConfirmChannel>;
  /** Runs `step` alone on `channel`: a lane's prefetch-then-consume must not interleave with another's. */
  serialize<T>(channel: ConfirmChannel, step: () => Promise<T>): Promise<T>;
  countInFlight(queue: string, change: number): void;
  /** The ack coalescer of `channel`: every delivery on it goes through it. */
  acks(channel: ConfirmChannel): AckBatcher;
  forget(lane: AmqpLane): void;
}

const CHANNEL_GONE =
  'the channel this job came on closed before its outcome was recorded: the broker delivers it again';

export class AmqpLane implements Lane {
  #channel: ConfirmChannel | undefined;
  #consumerTag: string | undefined;
  #subscribing: Promise<void> | undefined;
  #stopped = false;
  /** Delivered and not settled: given back if the lane closes while its channel lives on. */
  readonly #unsettled = new Set<Message>();
  readonly #onConnected = () => {
    if (!this.#stopped) void this.#subscribe().catch(() => this.#resubscribeSoon());
  };

  constructor(
    readonly host: LaneHost,
    readonly queue: string,
    readonly prefetch: number,
    readonly onDelivery: (delivery: Delivery) => void,
  ) {}

  async start(): Promise<void> {
    this.host.connection.on('connected', this.#onConnected);
    try {
      await this.#subscribe();
    } catch (error) {
      // The connection dropped while subscribing: the lane subscribes again once it is back.
      if (this.host.connection.current !== undefined || this.host.connection.closing) throw error;
    }
  }

  /** Subscribes unless subscribed or on the way: reconnection and a broker's channel close can both ask. */
  #subscribe(): Promise<void> {
    if (this.#subscribing !== undefined) return this.#subscribing;
    if (this.#channel !== undefined) return Promise.resolve();
    const subscribing = this.#consume().finally(() => {
      this.#subscribing = undefined;
    });
    this.#subscribing = subscribing;
    return subscribing;
  }

  async #consume(): Promise<void> {
    const channel = await this.host.consumeChannel(this.queue);
    if (this.#stopped) return;
    this.#channel = channel;
    this.#unsettled.clear();
    channel.once('close', () => {
      if (this.#channel !== channel) return;
      this.#channel = undefined;
      this.#consumerTag = undefined;
      // Closed by the broker while the connection lives (a deleted queue, a channel error): come back.
      if (!this.#stopped && this.host.connection.current !== undefined) this.#resubscribeSoon();
    });
    const { consumerTag } = await this.host.serialize(channel, async () => {
      await channel.prefetch(this.prefetch);
      return channel.consume(
        this.queue,
        (message) => {
          if (message !== null) this.#receive(channel, message);
          // null: the broker cancelled this consumer (its queue was deleted): subscribe again.
          else if (this.#channel === channel) {
            this.#channel = undefined;
            if (!this.#stopped) this.#resubscribeSoon();
          }
        },
        { noAck: false },
      );
    });
    this.#consumerTag = consumerTag;
  }

  #resubscribeSoon(): void {
    setTimeout(() => {
      if (!this.#stopped && this.#channel === undefined) {
        void this.#subscribe().catch(() => this.#resubscribeSoon());
      }
    }, RESUBSCRIBE_DELAY_MS).unref();
  }

  #receive(channel: ConfirmChannel, message: Message): void {
    const acks = this.host.acks(channel);
    acks.track(message);
    const headers = message.properties.headers ?? {};
    const attempt = deliveryAttempt(headers);
    const remaining = (numberHeader(headers[HEADER.notBefore]) ?? 0) - Date.now();
    if (remaining >= HOLD_BELOW_MS) {
      // Early off the delay ladder: up the ladder again. This delivery was no attempt.
      const properties = republishProperties(message, carriedHeaders(message, { [HEADER.attempt]: attempt }));
      // A closed channel fails either step; the broker then gives the message back by itself.
      sendConfirmed(channel, delayTarget(this.queue, remaining), message.content, properties)
        .then(() => acks.ack(message))
        .catch(() => {});
    } else if (remaining > 0) {
      // Due within a rung's TTL: wait here, so that a delay is never cut short.
      setTimeout(() => {
        if (!this.#stopped) return this.#deliver(channel, message, attempt, acks);
        acks.forget(message);
        try {
          channel.nack(message, false, true);
        } catch {
          // The channel closed: the broker gives it back itself.
        }
      }, remaining);
    } else {
      this.#deliver(channel, message, attempt, acks);
    }
  }

  #deliver(channel: ConfirmChannel, message: Message, attempt: number, acks: AckBatcher): void {
    const headers = message.properties.headers ?? {};
    const { host, queue } = this;
    host.countInFlight(queue, 1);
    this.#unsettled.add(message);
    const settle = async (target: string | undefined, headers: Headers) => {
      try {
        if (!this.#unsettled.has(message)) throw new Error(CHANNEL_GONE);
        if (target !== undefined) {
          await sendConfirmed(channel, target, message.content, republishProperties(message, headers));
        }
        // Gone from the set: its channel closed (or the lane gave it back), and the broker
        // delivers it again. Settling it now must fail, or it would count as done twice.
        if (!this.#unsettled.delete(message)) throw new Error(CHANNEL_GONE);
        await acks.ack(message);
      } finally {
        this.#unsettled.delete(message);
        host.countInFlight(queue, -1);
      }
    };
    this.onDelivery({
      body: message.content.toString('utf8'),
      id: message.properties.messageId ?? undefined,
      attempt,
      lastError: parseStoredError(stringHeader(headers[HEADER.error])),
      ack: () => settle(undefined, {}),
      retry: (delayMs: number, error: StoredError) =>
        settle(
          delayTarget(queue, delayMs),
          carriedHeaders(message, {
            [HEADER.attempt]: attempt + 1,
            [HEADER.notBefore]: Date.now() + delayMs,
            [HEADER.error]: JSON.stringify(error),
          }),
        ),
      release: (delayMs = 0) =>
        settle(
          delayTarget(queue, delayMs),
          delayMs > 0
            ? carriedHeaders(message, { [HEADER.attempt]: attempt, [HEADER.notBefore]: Date.now() + delayMs })
            : withoutDelay(carriedHeaders(message, { [HEADER.attempt]: attempt })),
        ),
      fail: (error: StoredError) =>
        settle(
          failedQueueOf(queue),
          withoutDelay(
            carriedHeaders(message, {
              [HEADER.error]: JSON.stringify(error),
              [HEADER.attempts]: attempt,
              [HEADER.failedAt]: Date.now(),
            }),
          ),
        ),
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.host.connection.off('connected', this.#onConnected);
    const channel = this.#channel;
    const tag = this.#consumerTag;
    this.#consumerTag = undefined;
    if (channel !== undefined && tag !== undefined) await channel.cancel(tag).catch(() => {});
  }

  /** Stops, and gives back (nack, requeue) what is still unsettled: the channel stays for other lanes. */
  async close(): Promise<void> {
    await this.stop();
    this.host.forget(this);
    const channel = this.#channel;
    this.#channel = undefined;
    if (channel === undefined) return;
    const acks = this.host.acks(channel);
    for (const message of this.#unsettled) {
      acks.forget(message);
      try {
        channel.nack(message, false, true);
      } catch {
        // The channel closed meanwhile: the broker gives them back itself.
      }
    }
    this.#unsettled.clear();
  }
}
