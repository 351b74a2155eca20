/**
 * The failed store of the RabbitMQ transport, over the failed log (amqp-failed-log.ts):
 * listing, one job, retry and purge, and the count `stats()` reports. Every operation first
 * moves what the broker dead-lettered into the inbox (`<queue>.failed`) into the log, with the
 * attempts, time and reason it can tell, so that the log alone is the store.
 */

import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, GetMessage, Message, Options } from 'amqplib';
import { brokerDeadLettered, invalidOption } from '../../errors.js';
import { peekJob, storedError } from '../message.js';
import type { FailedJob, FailedPage } from '../transport.js';
import type { AmqpChannels } from './amqp-channels.js';
import {
  appendRecord,
  countingState,
  FailedLogState,
  LogFollower,
  RECORD,
  type Removal,
} from './amqp-failed-log.js';
import {
  BROKER_HEADERS,
  type Headers,
  numberHeader,
  sendConfirmed,
  stringHeader,
  toFailedJob,
  withReplyTo,
} from './amqp-message.js';
import { failedLogOf, failedQueueOf, HEADER } from './amqp-topology.js';

/** Messages moved (or retried) per confirmed batch. */
const BATCH = 500;

/** Runs `work` on a channel of its own with the queue's topology declared, then closes it. */
export type WithChannel = <T>(queue: string, work: (channel: ConfirmChannel) => Promise<T>) => Promise<T>;

/**
 * A live job of a listing: its record as read. Jobs are built from it for each listing, so no
 * caller shares (or can change) what the follower keeps, and a body nested too deep to copy is
 * parsed no deeper than a listing parses it.
 */
type LoggedJob = Message;

/** See the module comment. */
export class AmqpFailedStore {
  /** Per queue, a follower of the log that keeps ids only: what `stats()` counts. */
  readonly #counters = new Map<string, Promise<LogFollower<null>>>();
  /** Per queue, a follower that keeps every live job: what listings read, catching up by a marker. */
  readonly #views = new Map<string, Promise<LogFollower<LoggedJob>>>();

  constructor(
    readonly channels: AmqpChannels,
    readonly withChannel: WithChannel,
    /** The job queue's delivery limit: a job the broker dead-lettered was delivered one time more. */
    readonly deliveryLimit: number,
  ) {
    channels.connection.on('disconnected', () => {
      this.#counters.clear();
      this.#views.clear();
    });
  }

  /**
   * How many jobs the store holds: the log's live jobs, and the inbox's not moved yet. The
   * first count of a queue reads the log; later ones are as fresh as its follower (records
   * reach it as they are written), and cost nothing.
   */
  async count(queue: string, inbox: number): Promise<number> {
    const counter = await this.#follower(this.#counters, queue, countingState);
    return counter.state.size + inbox;
  }

  /** The live follower of `queue` in `followers`, started (and synced once) if there is none. */
  #follower<T>(
    followers: Map<string, Promise<LogFollower<T>>>,
    queue: string,
    makeState: () => FailedLogState<T>,
  ): Promise<LogFollower<T>> {
    const known = followers.get(queue);
    if (known !== undefined) {
      return known.then((follower) => {
        if (follower.live) return follower;
        if (followers.get(queue) === known) followers.delete(queue);
        return this.#follower(followers, queue, makeState);
      });
    }
    const starting = (async () => {
      const channel = await this.channels.open();
      try {
        await this.channels.declare(queue);
        const follower = await LogFollower.start(channel, queue, makeState());
        await follower.sync();
        return follower;
      } catch (error) {
        await channel.close().catch(() => {});
        throw error;
      }
    })();
    followers.set(queue, starting);
    starting.catch(() => {
      if (followers.get(queue) === starting) followers.delete(queue);
    });
    return starting;
  }

  /** Stops following (the connection is closing). */
  async close(): Promise<void> {
    const followers = [...this.#counters.values(), ...this.#views.values()];
    this.#counters.clear();
    this.#views.clear();
    for (const follower of followers) await follower.then((it) => it.close()).catch(() => {});
  }

  /** Jobs of the store, oldest first: a page of `page.limit` after the job `page.after`. */
  list(queue: string, page: FailedPage): Promise<FailedJob[]> {
    return this.withChannel(queue, async (channel) => {
      const { state } = await this.#read(channel, queue);
      let skipping = page.after !== undefined;
      if (page.after !== undefined && state.offsetOf(page.after) === undefined)
        throw invalidOption('after', page.after, 'the id of a job in the failed store');
      const jobs: FailedJob[] = [];
      for (const [, { id, value }] of state.entries()) {
        if (skipping) {
          skipping = id !== page.after;
          continue;
        }
        if (jobs.length >= page.limit) break;
        // A copy: the follower keeps the original for the next listing.
        jobs.push(toFailedJob(queue, value));
      }
      return jobs;
    });
  }

  job(queue: string, id: string): Promise<FailedJob | undefined> {
    return this.withChannel(queue, async (channel) => {
      const { state } = await this.#read(channel, queue);
      const offset = state.offsetOf(id);
      const message = offset === undefined ? undefined : state.get(offset);
      return message === undefined ? undefined : toFailedJob(queue, message);
    });
  }

  /**
   * Publishes the chosen jobs to the queue again (attempt 1, same id, the last error kept for
   * the record), then writes their removal. A crash in between leaves a job both queued and
   * in the store: retried twice at worst, never lost.
   */
  retry(queue: string, ids: readonly string[] | undefined): Promise<string[]> {
    return this.withChannel(queue, async (channel) => {
      const { state } = await this.#read(channel, queue);
      const chosen = choose(state, ids);
      for (let start = 0; start < chosen.length; start += BATCH) {
        await Promise.all(
          chosen
            .slice(start, start + BATCH)
            .map(([, id, message]) =>
              sendConfirmed(channel, queue, message.content, retryProperties(queue, id, message)),
            ),
        );
      }
      await remove(channel, queue, { offsets: chosen.map(([offset]) => offset) });
      return chosen.map(([, id]) => id);
    });
  }

  purge(queue: string, ids: readonly string[] | undefined): Promise<string[]> {
    return this.withChannel(queue, async (channel) => {
      const { state, end } = await this.#read(channel, queue);
      const chosen = choose(state, ids);
      // Purging everything removes up to the marker: a job failing meanwhile stays.
      await remove(
        channel,
        queue,
        ids === undefined ? { upTo: end } : { offsets: chosen.map(([offset]) => offset) },
      );
      return chosen.map(([, id]) => id);
    });
  }

  /** Moves the inbox into the log, then brings the queue's view of the log up to date. */
  async #read(
    channel: ConfirmChannel,
    queue: string,
  ): Promise<{ state: FailedLogState<LoggedJob>; end: number }> {
    await this.#moveInbox(channel, queue);
    const view = await this.#follower(this.#views, queue, () => listingState(queue));
    const end = await view.sync();
    return { state: view.state, end };
  }

  /**
   * Moves each message of the inbox into the log: appended (confirmed) first, then acked, so a
   * crash in between leaves it in both, and the log's record of the same id replaces it.
   */
  async #moveInbox(channel: ConfirmChannel, queue: string): Promise<void> {
    const inbox = failedQueueOf(queue);
    for (;;) {
      const batch: GetMessage[] = [];
      while (batch.length < BATCH) {
        const message = await channel.get(inbox, { noAck: false });
        if (message === false) break;
        batch.push(message);
      }
      if (batch.length === 0) return;
      const now = Date.now();
      await Promise.all(
        batch.map((message) =>
          sendConfirmed(channel, failedLogOf(queue), message.content, this.#inboxRecord(message, queue, now)),
        ),
      );
      for (const message of batch) channel.ack(message);
    }
  }

  /**
   * The log record of an inbox message. One that multitask wrote (before the log existed) keeps
   * its error, attempts and time. One the broker dead-lettered has none: its attempts are the
   * attempt it was sent as plus the deliveries the limit allowed, its reason the broker's, and
   * its time the broker's `x-death` time where there is one (RabbitMQ 3.10's at-least-once
   * dead-lettering writes none), else now: the moment a multitask process first saw it.
   */
  #inboxRecord(message: GetMessage, queue: string, now: number): Options.Publish {
    const headers: Headers = { ...(message.properties.headers ?? {}) };
    delete headers['x-delivery-count'];
    const body = message.content.toString('utf8');
    const peeked = peekJob(body);
    const id = peeked.id ?? stringHeader(message.properties.messageId) ?? randomUUID();
    if (stringHeader(headers[HEADER.error]) === undefined) {
      const deliveries = (numberHeader(headers[HEADER.attempt]) ?? 1) + this.deliveryLimit;
      const reason = stringHeader(headers['x-first-death-reason']) ?? 'dead-lettered';
      const from = stringHeader(headers['x-first-death-queue']) ?? queue;
      const { stack: _, ...error } = storedError(
        brokerDeadLettered({ id, task: peeked.task }, deliveries, reason, from),
      );
      headers[HEADER.error] = JSON.stringify(error);
      headers[HEADER.attempts] = deliveries;
      headers[HEADER.failedAt] = deathTime(headers) ?? now;
    }
    headers[HEADER.attempts] ??= 0;
    headers[HEADER.failedAt] ??= now;
    const properties = {
      persistent: true,
      messageId: id,
      contentType: message.properties.contentType ?? 'application/json',
      headers,
    };
    return withReplyTo(properties, message);
  }
}

/** A listing's state: every live job in full, with its record's headers. */
function listingState(queue: string): FailedLogState<LoggedJob> {
  return new FailedLogState<LoggedJob>((message) => ({ id: toFailedJob(queue, message).id, value: message }));
}

/** The live records to act on, oldest first: every one, or those of `ids` (an id not in the store is skipped). */
function choose(
  state: FailedLogState<LoggedJob>,
  ids: readonly string[] | undefined,
): Array<[offset: number, id: string, message: LoggedJob]> {
  const chosen: Array<[number, string, LoggedJob]> = [];
  if (ids === undefined) {
    for (const [offset, { id, value }] of state.entries()) chosen.push([offset, id, value]);
    return chosen;
  }
  for (const id of new Set(ids)) {
    const offset = state.offsetOf(id);
    const message = offset === undefined ? undefined : state.get(offset);
    if (offset !== undefined && message !== undefined) chosen.push([offset, id, message]);
  }
  return chosen.sort(([a], [b]) => a - b);
}

function remove(channel: ConfirmChannel, queue: string, removal: Removal): Promise<void> {
  if ('offsets' in removal && removal.offsets.length === 0) return Promise.resolve();
  return appendRecord(channel, queue, RECORD.removed, Buffer.from(JSON.stringify(removal)));
}

/** An operator's retry is a new start: attempt 1, the same id, the last error kept for the record. */
function retryProperties(queue: string, id: string, message: LoggedJob): Options.Publish {
  const { error } = toFailedJob(queue, message);
  const headers: Headers = {
    ...message.properties.headers,
    [HEADER.attempt]: 1,
    [HEADER.error]: JSON.stringify(error),
  };
  for (const name of [...BROKER_HEADERS, HEADER.attempts, HEADER.failedAt, HEADER.notBefore, HEADER.record])
    delete headers[name];
  return withReplyTo({ persistent: true, contentType: 'application/json', messageId: id, headers }, message);
}

/** The broker's time of the first dead-lettering (`x-death`, seconds), in epoch ms. */
function deathTime(headers: Headers): number | undefined {
  const deaths = headers['x-death'];
  if (!Array.isArray(deaths) || deaths.length === 0) return undefined;
  const time = (deaths[deaths.length - 1] as { time?: unknown })?.time;
  const seconds = numberHeader(
    typeof time === 'object' && time !== null ? (time as { value?: unknown }).value : time,
  );
  return seconds === undefined ? undefined : seconds * 1000;
}
