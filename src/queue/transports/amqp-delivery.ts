/**
 * One RabbitMQ delivery as the consumer sees it: its message, and how each outcome settles it.
 * Done acks it (in the channel's ack batch); retried, released and failed put a copy where it
 * goes next (a delay rung, the queue, the failed log), confirmed, and only then ack it. A class
 * rather than an object of closures: a consumer makes one per job, and the methods are shared.
 */

import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, Message } from 'amqplib';
import { deliveryChannelGone, type MultitaskError } from '../../errors.js';
import { parseStoredError, type StoredError } from '../message.js';
import type { Delivery, EncodedResult, JobEnd } from '../transport.js';
import type { AckBatcher } from './amqp-acks.js';
import {
  carriedHeaders,
  type Headers,
  redeliveries,
  republishProperties,
  sendConfirmed,
  stringHeader,
  withoutDelay,
} from './amqp-message.js';
import { sendReply } from './amqp-replies.js';
import { failedLogOf, HEADER } from './amqp-topology.js';

/** What a delivery needs of the lane it came on. */
export interface DeliveryLane {
  readonly queue: string;
  /** Delivered and not settled: a delivery missing from it was given back, and cannot settle. */
  readonly unsettled: Set<Message>;
  /** Where a copy due in `remainingMs` goes: a rung of the delay ladder, or the queue itself. */
  delayTarget(remainingMs: number): string;
}

/** What a message without headers reads as: one shared object, none made per delivery. */
const NO_HEADERS: Headers = Object.freeze({});

/** See the module comment. */
export class AmqpDelivery implements Delivery {
  readonly body: string;
  /**
   * A message from another producer with no message-id gets one now, and every republish
   * (retry, delay, failed store) carries it: the logs and the failed store show one id.
   */
  readonly id: string;
  readonly lastError: StoredError | undefined;
  readonly redeliveries: number;
  /** A caller waits for its outcome (amqp-replies.ts). */
  readonly wantsResult: boolean;
  readonly #lane: DeliveryLane;
  readonly #channel: ConfirmChannel;
  readonly #message: Message;
  readonly #acks: AckBatcher;

  constructor(
    lane: DeliveryLane,
    channel: ConfirmChannel,
    message: Message,
    acks: AckBatcher,
    readonly attempt: number,
    readonly invalid?: MultitaskError,
  ) {
    this.#lane = lane;
    this.#channel = channel;
    this.#message = message;
    this.#acks = acks;
    const { properties } = message;
    const headers: Headers = properties.headers ?? NO_HEADERS;
    this.body = message.content.toString('utf8');
    this.id = properties.messageId ?? randomUUID();
    this.lastError = parseStoredError(stringHeader(headers[HEADER.error]));
    this.redeliveries = redeliveries(headers);
    this.wantsResult = typeof properties.replyTo === 'string' && properties.replyTo !== '';
    lane.unsettled.add(message);
  }

  /** Done, the common case: nothing to republish and wait for, so no async frame of its own. */
  ack(result?: EncodedResult): Promise<void> {
    // Gone from the set: its channel closed (or the lane gave it back), and the broker
    // delivers it again. Settling it now must fail, or it would count as done twice.
    if (!this.#lane.unsettled.delete(this.#message)) return Promise.reject(deliveryChannelGone());
    if (this.wantsResult) sendReply(this.#channel, this.#message, this.id, { json: result?.json });
    return this.#acks.ack(this.#message);
  }

  retry(delayMs: number, error: StoredError): Promise<void> {
    return this.#moveThenAck(
      this.#lane.delayTarget(delayMs),
      carriedHeaders(this.#message, {
        [HEADER.attempt]: this.attempt + 1,
        [HEADER.notBefore]: Date.now() + delayMs,
        [HEADER.error]: JSON.stringify(error),
      }),
    );
  }

  release(delayMs = 0): Promise<void> {
    const { attempt } = this;
    return this.#moveThenAck(
      this.#lane.delayTarget(delayMs),
      delayMs > 0
        ? carriedHeaders(this.#message, {
            [HEADER.attempt]: attempt,
            [HEADER.notBefore]: Date.now() + delayMs,
          })
        : withoutDelay(carriedHeaders(this.#message, { [HEADER.attempt]: attempt })),
    );
  }

  fail(error: StoredError): Promise<void> {
    return this.#moveThenAck(
      failedLogOf(this.#lane.queue),
      withoutDelay(
        carriedHeaders(this.#message, {
          [HEADER.error]: JSON.stringify(error),
          [HEADER.attempts]: this.attempt,
          [HEADER.failedAt]: Date.now(),
        }),
      ),
      { error },
    );
  }

  /** Puts a copy on `target` (confirmed), then acks this delivery: retried, released, failed. */
  async #moveThenAck(target: string, headers: Headers, answer?: JobEnd): Promise<void> {
    const { unsettled } = this.#lane;
    const channel = this.#channel;
    const message = this.#message;
    const acks = this.#acks;
    try {
      if (!unsettled.has(message)) throw deliveryChannelGone();
      await sendConfirmed(
        channel,
        target,
        message.content,
        republishProperties(message, headers, this.id),
      ).catch((error: unknown) => {
        if (unsettled.delete(message)) notTaken(channel, acks, message, error);
        throw error;
      });
      if (!unsettled.delete(message)) throw deliveryChannelGone();
      if (answer !== undefined && this.wantsResult) sendReply(channel, message, this.id, answer);
      await acks.ack(message);
    } finally {
      unsettled.delete(message);
    }
  }
}

/**
 * The broker did not take the copy of `message` that was to replace it (a nack while a quorum
 * queue elects its leader, or a channel that closed): the delivery goes back to the queue, to
 * come again, rather than stay held on the channel unsettled. RabbitMQ 3.10 goes on nacking a
 * channel that got such a nack, so that channel is closed: its lanes subscribe again on a fresh one.
 */
export function notTaken(channel: ConfirmChannel, acks: AckBatcher, message: Message, error: unknown): void {
  acks.forget(message);
  nackQuietly(channel, message);
  if (/nacked/.test(String(error))) void channel.close().catch(() => {});
}

/** Nacks a delivery back to the queue (requeued); a closed channel gives it back by itself. */
export function nackQuietly(channel: ConfirmChannel, message: Message): void {
  try {
    channel.nack(message, false, true);
  } catch {
    // The channel closed meanwhile: the broker gives it back itself.
  }
}
