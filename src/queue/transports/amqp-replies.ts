/**
 * Results over RabbitMQ, by direct reply-to: no queue per call, per caller or per connection.
 * A job that asks for its result is published with `reply-to: amq.rabbitmq.reply-to` on the
 * process's publisher channel, which consumes that pseudo-queue (no-ack, as RabbitMQ requires);
 * the broker rewrites the property into an address of that channel, which every republish of
 * the job carries on (amqp-message.ts). The consumer that acks the job, or moves it to the
 * failed store, publishes the outcome to that address just before its ack, on the same channel.
 *
 * Nothing is left on the broker: a reply to a caller that went away is dropped (it is published
 * without `mandatory`), and the address dies with the caller's channel. That is also why a
 * lost connection loses the replies in flight: the waits of the jobs confirmed on the dead
 * channel reject with `ERR_RESULT_LOST` (a new channel has a new address; the jobs, on the
 * broker, carry the old one). Measured against one exclusive reply queue per connection: see
 * docs/queues.md, "Results".
 */

import type { ConfirmChannel, Message } from 'amqplib';
import type { StoredError } from '../message.js';
import type { JobEnd, JobOutcome, ResultSink } from '../transport.js';
import { stringHeader } from './amqp-message.js';

/** RabbitMQ's direct reply-to pseudo-queue. */
export const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';

/** Why the waits of a closed channel end. */
const CHANNEL_CLOSED = 'the RabbitMQ channel its reply was addressed to closed (the connection dropped)';

/** The caller's side: the reply consumers of the publisher channels, and which jobs each awaits. */
export class AmqpReplies {
  #sink: ResultSink | undefined;
  readonly #attached = new WeakMap<ConfirmChannel, Promise<void>>();
  /** Channels whose reply consumer is up: a publish there asking for a result need not wait. */
  readonly #ready = new WeakSet<ConfirmChannel>();
  readonly #closed = new WeakSet<ConfirmChannel>();
  /** Per channel, the jobs confirmed on it whose outcome has not arrived. */
  readonly #awaited = new WeakMap<ConfirmChannel, Set<string>>();

  receive(sink: ResultSink): void {
    this.#sink = sink;
  }

  /** True when `channel` consumes its replies already. */
  ready(channel: ConfirmChannel): boolean {
    return this.#ready.has(channel);
  }

  /** Consumes the replies of `channel` (once per channel); a job asking for a result waits for this. */
  attach(channel: ConfirmChannel): Promise<void> {
    let attaching = this.#attached.get(channel);
    if (attaching === undefined) {
      const awaited = new Set<string>();
      this.#awaited.set(channel, awaited);
      channel.once('close', () => {
        this.#closed.add(channel);
        this.#ready.delete(channel);
        const ids = [...awaited];
        awaited.clear();
        if (ids.length > 0) this.#sink?.lost(ids, CHANNEL_CLOSED);
      });
      attaching = channel
        .consume(DIRECT_REPLY_TO, (message) => this.#reply(channel, message), { noAck: true })
        .then(() => {
          this.#ready.add(channel);
        });
      this.#attached.set(channel, attaching);
    }
    return attaching;
  }

  /**
   * The broker confirmed job `id`, published on `channel` asking for a result. A channel that
   * closed meanwhile took the address the job carries with it: the wait can only be lost.
   */
  confirmed(channel: ConfirmChannel, id: string): void {
    if (this.#closed.has(channel)) this.#sink?.lost([id], CHANNEL_CLOSED);
    // Not when its outcome is in already: a quick job can answer before the broker confirms.
    else if (this.#sink?.expecting(id)) this.#awaited.get(channel)?.add(id);
  }

  #reply(channel: ConfirmChannel, message: Message | null): void {
    if (message === null) return;
    const id = stringHeader(message.properties.correlationId);
    if (id === undefined) return;
    this.#awaited.get(channel)?.delete(id);
    let outcome: JobOutcome;
    try {
      outcome = readReply(message.content);
    } catch {
      return; // not a reply of multitask's: nothing waits for it
    }
    this.#sink?.settled(id, outcome);
  }
}

/**
 * The body of a reply: `{"ok":true,"value":…}` (no `value` for undefined) or
 * `{"ok":false,"error":{name,message,stack,code}}` (docs/message-format.md).
 */
export function replyBody(ended: JobEnd): Buffer {
  if ('error' in ended) return Buffer.from(JSON.stringify({ ok: false, error: ended.error }));
  // The value is JSON already, encoded once by the consumer: spliced in, not parsed again.
  return Buffer.from(ended.json === undefined ? '{"ok":true}' : `{"ok":true,"value":${ended.json}}`);
}

/** Reads a reply body; throws when it is not one. */
export function readReply(content: Buffer): JobOutcome {
  const reply = JSON.parse(content.toString('utf8')) as { ok?: unknown; value?: unknown; error?: unknown };
  if (reply.ok === true) return 'value' in reply ? { ok: true, value: reply.value } : { ok: true };
  const error = reply.error as StoredError | null | undefined;
  if (reply.ok === false && typeof error === 'object' && error !== null && typeof error.message === 'string')
    return { ok: false, error };
  throw new Error('not a reply');
}

/**
 * Answers the caller of a delivered job, when it asked (its `reply-to`): not mandatory, not
 * waited for. Published on the delivery's own channel just before its ack, the broker routes it
 * first; a channel that dies in between takes the ack with it, and the job, run again, answers
 * again. The reply's `correlation-id` is the request's, else the job's id.
 */
export function sendReply(channel: ConfirmChannel, message: Message, id: string, ended: JobEnd): void {
  const replyTo = stringHeader(message.properties.replyTo);
  if (replyTo === undefined || replyTo === '') return;
  try {
    channel.sendToQueue(
      replyTo,
      replyBody(ended),
      {
        correlationId: stringHeader(message.properties.correlationId) ?? id,
        contentType: 'application/json',
      },
      () => {},
    );
  } catch {
    // The channel closed: the delivery cannot be acked either, and comes back.
  }
}
