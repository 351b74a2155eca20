/**
 * What a job becomes on the wire (its AMQP properties), and publishing a batch of jobs: every
 * message written to the publisher channel in one pass, each with its confirm callback and no
 * promise of its own, then the ones the broker did not confirm (a nack, a channel or a
 * connection that closed first, a queue deleted behind our back) published again on a fresh
 * channel, with backoff, until the deadline: at least once, as a single publish is.
 */

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConfirmChannel, Options } from 'amqplib';
import { messageUnroutable } from '../../errors.js';
import { backoffDelay } from '../../internal/backoff.js';
import type { OutgoingMessage, QueuedMessage } from '../transport.js';
import type { AmqpChannels } from './amqp-channels.js';
import { jobSender } from './amqp-frames.js';
import type { Headers } from './amqp-message.js';
import { type AmqpReplies, DIRECT_REPLY_TO } from './amqp-replies.js';
import { delayTarget, HEADER } from './amqp-topology.js';

/** Backoff between publishes of one message the broker did not confirm (ms): a leader election takes a few seconds. */
export const REPUBLISH_INITIAL_MS = 50;
export const REPUBLISH_MAX_MS = 1_000;

/**
 * Messages of a batch written and not yet confirmed, at most; the next ones go as confirms come
 * back, so that the broker gets a steady stream, and neither amqplib's write buffer nor its list
 * of unconfirmed messages holds a whole large batch.
 */
const CONFIRM_WINDOW = 1_000;

/** A job's publish properties, with the message id it travels under. */
export type JobProperties = Options.Publish & { messageId: string };

/** The properties of a new or moved job: persistent, mandatory, its id, its attempt and delay when not the defaults. */
export function jobProperties(
  message: OutgoingMessage,
  messageId = message.id ?? randomUUID(),
): JobProperties {
  // `mandatory`: a queue deleted behind our back returns the message instead of dropping it.
  const properties: JobProperties = {
    persistent: true,
    mandatory: true,
    contentType: 'application/json',
    messageId,
  };
  if (message.wantsResult) properties.replyTo = DIRECT_REPLY_TO;
  // A new job due now needs no headers (attempt 1 is the default): a header table is encoded per message.
  if (message.attempt !== 1 || message.notBefore > 0 || message.lastError !== undefined) {
    const headers: Headers = { [HEADER.attempt]: message.attempt };
    if (message.notBefore > 0) headers[HEADER.notBefore] = message.notBefore;
    if (message.lastError !== undefined) headers[HEADER.error] = JSON.stringify(message.lastError);
    properties.headers = headers;
  }
  return properties;
}

/** What the batch publisher needs of the transport. */
export interface BatchContext {
  readonly channels: AmqpChannels;
  readonly replies: AmqpReplies;
  readonly ladder: readonly number[];
  /** How long the batch may take to be confirmed, retries included (ms; `Infinity`: no limit). */
  readonly timeoutMs: number;
  /** False for an error another try would not change. */
  mayPublishAgain(error: unknown): boolean;
  /** The error a caller sees for a message that was not accepted. */
  wrap(error: unknown): Error;
}

/** Publishes `batch`; resolves with, per message, undefined once confirmed or the error it was not accepted with. */
export async function publishBatch(
  context: BatchContext,
  batch: readonly QueuedMessage[],
): Promise<(Error | undefined)[]> {
  const deadline = Date.now() + context.timeoutMs;
  const outcome = new Array<Error | undefined>(batch.length).fill(undefined);
  // One id per message for every try; the bytes and properties are made as each is written, so
  // that a large batch does not hold them all at once.
  const ids = batch.map(({ message }) => message.id ?? randomUUID());
  let pending = batch.map((_, index) => index);
  for (let failures = 1; pending.length > 0; failures++) {
    const failed = await sendRound(context, batch, ids, pending);
    pending = [];
    for (const [index, error] of failed) {
      if (context.mayPublishAgain(error) && Date.now() < deadline) pending.push(index);
      else outcome[index] = context.wrap(error);
    }
    if (pending.length === 0) break;
    pending.sort((a, b) => a - b);
    const pause = backoffDelay(failures, REPUBLISH_INITIAL_MS, REPUBLISH_MAX_MS);
    await sleep(Math.min(pause, Math.max(0, deadline - Date.now())));
  }
  return outcome;
}

/**
 * One try at the messages `indexes` of `batch`, on the publisher channel, at most
 * {@link CONFIRM_WINDOW} of them unconfirmed at a time; resolves, once every one is confirmed or
 * known lost, with the errors of those not confirmed.
 */
async function sendRound(
  context: BatchContext,
  batch: readonly QueuedMessage[],
  ids: readonly string[],
  indexes: number[],
): Promise<Map<number, unknown>> {
  const failed = new Map<number, unknown>();
  const { channels, replies } = context;
  let channel: ConfirmChannel;
  try {
    channel = await channels.publisher();
    // The reply address is the publishing channel's: it must consume its replies first.
    if (indexes.some((index) => batch[index]!.message.wantsResult)) await replies.attach(channel);
  } catch (error) {
    for (const index of indexes) failed.set(index, error);
    return failed;
  }
  // A queue the broker will not declare (a precondition, a permission) fails its own jobs only.
  const refused = new Map<string, unknown>();
  for (const queue of new Set(indexes.map((index) => batch[index]!.queue))) {
    await channels.declare(queue).catch((error: unknown) => refused.set(queue, error));
  }
  if (refused.size > 0) {
    indexes = indexes.filter((index) => {
      const error = refused.get(batch[index]!.queue);
      if (error !== undefined) failed.set(index, error);
      return error === undefined;
    });
    if (indexes.length === 0) return failed;
  }
  const open = channel;
  const send = jobSender(open);
  await new Promise<void>((resolve) => {
    let unsettled = indexes.length;
    let next = 0;
    let unconfirmed = 0;
    let waitingForWindow = false;
    const settle = (index: number, error: unknown, written: boolean) => {
      if (error !== undefined) failed.set(index, error);
      if (--unsettled === 0) {
        open.off('close', onClose);
        return resolve();
      }
      if (!written) return;
      unconfirmed--;
      // Half the window confirmed: the next half goes, so that the broker never waits for us.
      if (waitingForWindow && unconfirmed <= CONFIRM_WINDOW / 2) {
        waitingForWindow = false;
        write();
      }
    };
    // Closed while waiting for 'drain' or confirms: what was not written yet is lost with it
    // (amqplib calls back the written ones itself, with "channel closed").
    const onClose = () => {
      open.off('drain', write);
      waitingForWindow = false;
      while (next < indexes.length) settle(indexes[next++]!, new Error('channel closed'), false);
    };
    const write = () => {
      const now = Date.now();
      while (next < indexes.length) {
        if (unconfirmed >= CONFIRM_WINDOW) {
          waitingForWindow = true;
          return;
        }
        const index = indexes[next++]!;
        const { queue, message } = batch[index]!;
        const properties = jobProperties(message, ids[index]);
        let flowing: boolean;
        try {
          flowing = send(
            delayTarget(queue, message.notBefore - now, context.ladder),
            message.body,
            properties,
            (error) => {
              if (error) return settle(index, error, true);
              if (channels.wasReturned(queue, properties.messageId))
                return settle(index, messageUnroutable(queue), true);
              if (properties.replyTo !== undefined) replies.confirmed(open, properties.messageId);
              settle(index, undefined, true);
            },
          );
        } catch (error) {
          // The channel closed under us: this one and the rest were never written.
          settle(index, error, false);
          onClose();
          return;
        }
        unconfirmed++;
        // Past the channel's buffer: wait for it to drain, as a well-behaved stream writer does.
        if (!flowing && next < indexes.length) return void open.once('drain', write);
      }
    };
    open.once('close', onClose);
    write();
  });
  if (failed.size > 0) channels.dropPublisher(open);
  return failed;
}
