/**
 * How multitask reads and writes AMQP messages: its headers, republishing with a confirm, and
 * the failed store's view of a message.
 */

import type { ConfirmChannel, Message, Options } from 'amqplib';
import { badHeader, type MultitaskError } from '../../errors.js';
import { MAX_DELAY_MS, parseStoredError, peekJob } from '../message.js';
import type { FailedJob } from '../transport.js';
import { jobSender } from './amqp-frames.js';
import { HEADER } from './amqp-topology.js';

export type Headers = Record<string, unknown>;

/** Headers the broker adds on its own; not carried over when a message is republished. */
export const BROKER_HEADERS: readonly string[] = [
  'x-delivery-count',
  'x-death',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-stream-offset',
];

/** This delivery's attempt: the attempt the message was sent as, plus deliveries whose consumer died. */
export function deliveryAttempt(headers: Headers): number {
  return (numberHeader(headers[HEADER.attempt]) ?? 1) + redeliveries(headers);
}

/** Deliveries of this message whose consumer died, as the broker counts them. */
export function redeliveries(headers: Headers): number {
  return numberHeader(headers['x-delivery-count']) ?? 0;
}

/** How far the clocks of a producer and a consumer may disagree before a not-before counts as too far ahead (ms). */
const CLOCK_ALLOWANCE_MS = 60_000;

/**
 * Why multitask's headers on a message cannot be used, or undefined. An attempt that is not an
 * integer >= 1 would count up from below 1 (a job run thousands of times, never failed), and
 * a not-before more than {@link MAX_DELAY_MS} ahead would park the job on the ladder for ever.
 */
export function invalidHeaders(headers: Headers, now: number): MultitaskError | undefined {
  const attempt = headers[HEADER.attempt];
  if (attempt !== undefined && attempt !== null) {
    const value = numberHeader(attempt);
    if (value === undefined || !Number.isInteger(value) || value < 1)
      return badHeader(HEADER.attempt, attempt, 'an integer >= 1');
  }
  const notBefore = headers[HEADER.notBefore];
  if (notBefore !== undefined && notBefore !== null) {
    const value = numberHeader(notBefore);
    if (value === undefined || !Number.isFinite(value))
      return badHeader(HEADER.notBefore, notBefore, 'a time in epoch milliseconds');
    if (value - now > MAX_DELAY_MS + CLOCK_ALLOWANCE_MS)
      return badHeader(
        HEADER.notBefore,
        notBefore,
        `at most ${MAX_DELAY_MS} ms (30 days, the longest delay) ahead of now (${now})`,
      );
  }
  return undefined;
}

export function sendConfirmed(
  channel: ConfirmChannel,
  queue: string,
  content: string | Buffer,
  options: Options.Publish,
): Promise<void> {
  const send = jobSender(channel);
  return new Promise((resolve, reject) => {
    try {
      send(queue, content, options, (error) => (error ? reject(error) : resolve()));
    } catch (error) {
      reject(error);
    }
  });
}

/** The message's own headers without the broker's, with `changes` applied. */
export function carriedHeaders(message: Message, changes: Headers): Headers {
  const headers: Headers = { ...(message.properties.headers ?? {}) };
  for (const name of BROKER_HEADERS) delete headers[name];
  return Object.assign(headers, changes);
}

export function withoutDelay(headers: Headers): Headers {
  delete headers[HEADER.notBefore];
  return headers;
}

export function republishProperties(message: Message, headers: Headers, id?: string): Options.Publish {
  const { contentType } = message.properties;
  const messageId = message.properties.messageId ?? id;
  const properties: Options.Publish = { persistent: true, headers };
  if (messageId !== undefined && messageId !== null) properties.messageId = messageId;
  if (contentType !== undefined && contentType !== null) properties.contentType = contentType;
  return withReplyTo(properties, message);
}

export function numberHeader(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  return undefined;
}

export function stringHeader(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

/** A failed job's record of the failed log (amqp-failed-log.ts), as {@link Queue.failed} lists it. */
export function toFailedJob(queue: string, message: Message): FailedJob {
  const headers = message.properties.headers ?? {};
  const body = message.content.toString('utf8');
  const peeked = peekJob(body);
  // The body's id first, as the consumer logs it; a message with none was given a message-id at
  // its first delivery (amqp-lane.ts), which every republish keeps.
  const id = peeked.id ?? stringHeader(message.properties.messageId) ?? 'unknown';
  const failedAt = numberHeader(headers[HEADER.failedAt]);
  return {
    id,
    queue,
    task: peeked.task,
    fields: peeked.fields,
    attempts: numberHeader(headers[HEADER.attempts]) ?? deliveryAttempt(headers),
    error: parseStoredError(stringHeader(headers[HEADER.error])) ?? {
      name: 'Error',
      message: 'failed with no error recorded',
    },
    failedAt: new Date(failedAt ?? 0),
    body,
  };
}

/**
 * `properties` with the caller's reply address (`reply-to`, `correlation-id`) of `message`, if
 * it has one: every republish of a job (retry, delay, release, failed store, an operator's
 * retry) carries them on, so the job answers whichever attempt ends it (amqp-replies.ts).
 */
export function withReplyTo(properties: Options.Publish, message: Message): Options.Publish {
  const { replyTo, correlationId } = message.properties;
  if (typeof replyTo === 'string' && replyTo !== '') properties.replyTo = replyTo;
  if (typeof correlationId === 'string' && correlationId !== '') properties.correlationId = correlationId;
  return properties;
}
