/**
 * The RabbitMQ transport (amqplib): durable quorum queues, publisher confirms, one consumer
 * per lane (per worker) with prefetch equal to its slots on a channel the process's lanes of a
 * queue share (see amqp-lane.ts and amqp-channels.ts), manual acks. A message that
 * moves on (retry, give back, failed store, a hop up the delay ladder) is republished and
 * confirmed before the delivery is acked, so a crash in between duplicates it but never loses it.
 */

import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, GetMessage, Options } from 'amqplib';
import { brokerUnavailable, ErrorCode, hasCode, MultitaskError, messageUnroutable } from '../../errors.js';
import type { ResolvedQueueOptions } from '../options.js';
import type {
  ConnectionEvent,
  Delivery,
  FailedJob,
  Lane,
  OutgoingMessage,
  QueueStats,
  Transport,
} from '../transport.js';
import { AmqpChannels } from './amqp-channels.js';
import { AmqpConnection } from './amqp-connection.js';
import { AmqpLane } from './amqp-lane.js';
import {
  carriedHeaders,
  type Headers,
  republishProperties,
  sendConfirmed,
  toFailedJob,
} from './amqp-message.js';
import { DELAY_LEVELS, delayQueueOf, delayTarget, failedQueueOf, HEADER } from './amqp-topology.js';

/** How long a listing of the failed store waits for the broker to take its messages back (ms). */
const RETURN_WAIT_MS = 2_000;

/** Moves retried at once in one confirmed batch by `retryFailed`. */
const RETRY_BATCH = 500;

/** The RabbitMQ {@link Transport}. */
export class AmqpTransport implements Transport {
  readonly safeUrl: string;
  readonly connection: AmqpConnection;
  readonly channels: AmqpChannels;
  readonly options: ResolvedQueueOptions;
  /** Every open lane: their unsettled deliveries are this process's jobs in flight. */
  readonly #lanes = new Set<AmqpLane>();

  private constructor(connection: AmqpConnection, options: ResolvedQueueOptions) {
    this.connection = connection;
    this.safeUrl = connection.safeUrl;
    this.options = options;
    this.channels = new AmqpChannels(connection, options);
  }

  get connected(): boolean {
    return this.connection.current !== undefined;
  }

  watch(listener: (event: ConnectionEvent) => void): void {
    this.connection.on('connected', () => listener({ type: 'connected' }));
    this.connection.on('disconnected', () => listener({ type: 'disconnected' }));
    this.connection.on('reconnecting', (retry) => listener({ type: 'reconnecting', ...retry }));
  }

  /**
   * Connects (retrying for `connectTimeoutMs`, or until `signal` aborts) and returns the
   * transport; `options.onConnectRetry` hears of every failed attempt.
   */
  static async connect(
    url: string,
    safeUrl: string,
    options: ResolvedQueueOptions,
    signal?: AbortSignal,
  ): Promise<AmqpTransport> {
    const connection = await AmqpConnection.open(url, safeUrl, {
      name: options.connectionName,
      timeoutMs: options.connectTimeoutMs,
      onRetry: options.onConnectRetry,
      signal,
    });
    return new AmqpTransport(connection, options);
  }

  publish(queue: string, message: OutgoingMessage): Promise<void> {
    const content = typeof message.body === 'string' ? Buffer.from(message.body) : message.body;
    const messageId = message.id ?? randomUUID();
    // `mandatory`: a queue deleted behind our back returns the message instead of dropping it.
    const properties: Options.Publish & { messageId: string } = {
      persistent: true,
      mandatory: true,
      contentType: 'application/json',
      messageId,
    };
    // A new job due now needs no headers (attempt 1 is the default): a header table is encoded per message.
    if (message.attempt !== 1 || message.notBefore > 0 || message.lastError !== undefined) {
      const headers: Headers = { [HEADER.attempt]: message.attempt };
      if (message.notBefore > 0) headers[HEADER.notBefore] = message.notBefore;
      if (message.lastError !== undefined) headers[HEADER.error] = JSON.stringify(message.lastError);
      properties.headers = headers;
    }
    const deadline = Date.now() + this.options.connectTimeoutMs;
    // Fast path, the common case: channel open and queue declared, no promise to wait for first.
    const open = this.channels.readyPublisher(queue);
    if (open === undefined) {
      return this.#publishSlowly(queue, message.notBefore, content, properties, deadline);
    }
    return sendConfirmed(open, delayTarget(queue, message.notBefore - Date.now()), content, properties).then(
      () => {
        if (this.channels.wasReturned(queue, messageId)) {
          return this.#publishSlowly(queue, message.notBefore, content, properties, deadline);
        }
      },
      (error: unknown) => {
        if (!this.#isConnectionLoss(error)) throw this.#wrap(error);
        return this.#publishSlowly(queue, message.notBefore, content, properties, deadline);
      },
    );
  }

  /** Publishes once the channel is open and the queue declared, again after a connection loss or a return. */
  async #publishSlowly(
    queue: string,
    notBefore: number,
    content: Buffer,
    properties: Options.Publish & { messageId: string },
    deadline: number,
  ): Promise<void> {
    for (;;) {
      try {
        const channel = await this.channels.publisher();
        await this.channels.declare(channel, queue);
        await sendConfirmed(channel, delayTarget(queue, notBefore - Date.now()), content, properties);
        if (this.channels.wasReturned(queue, properties.messageId)) {
          if (Date.now() >= deadline) throw messageUnroutable(queue);
          continue;
        }
        return;
      } catch (error) {
        // A connection that dropped before the confirm: publish again once it is back (at least once).
        if (!this.#isConnectionLoss(error) || Date.now() >= deadline) throw this.#wrap(error);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  #isConnectionLoss(error: unknown): boolean {
    if (this.connection.closing || hasCode(error, ErrorCode.BROKER_UNAVAILABLE)) return false;
    return (
      this.connection.current === undefined ||
      /closed|ECONNRESET|EPIPE/i.test(String((error as Error)?.message))
    );
  }

  #wrap(error: unknown): Error {
    return error instanceof MultitaskError ? error : brokerUnavailable(this.safeUrl, error);
  }

  async subscribe(queue: string, prefetch: number, onDelivery: (delivery: Delivery) => void): Promise<Lane> {
    const lane = new AmqpLane(this.channels, queue, prefetch, onDelivery, () => this.#lanes.delete(lane));
    this.#lanes.add(lane);
    await lane.start();
    return lane;
  }

  /** This process's deliveries of `queue` in flight: AMQP reports only ready counts. */
  #inFlight(queue: string): number {
    let count = 0;
    for (const lane of this.#lanes) if (lane.queue === queue) count += lane.unsettled;
    return count;
  }

  async exists(queue: string): Promise<boolean> {
    const channel = await this.channels.open();
    try {
      // Passive: a queue that is not there closes the channel with 404 instead of being made.
      await channel.checkQueue(queue);
      return true;
    } catch (error) {
      if (/\b404\b|NOT_FOUND/.test(String((error as Error)?.message))) return false;
      throw this.#wrap(error);
    } finally {
      await channel.close().catch(() => {});
    }
  }

  /** Runs `work` on a channel of its own, closed afterwards (unacked messages go back). */
  async #withChannel<T>(queue: string, work: (channel: ConfirmChannel) => Promise<T>): Promise<T> {
    const channel = await this.channels.open();
    try {
      await this.channels.declare(channel, queue);
      return await work(channel);
    } catch (error) {
      throw this.#wrap(error);
    } finally {
      await channel.close().catch(() => {});
    }
  }

  stats(queue: string): Promise<QueueStats> {
    return this.#withChannel(queue, async (channel) => {
      const [main, failed, ...delays] = await Promise.all([
        channel.checkQueue(queue),
        channel.checkQueue(failedQueueOf(queue)),
        ...DELAY_LEVELS.map((level) => channel.checkQueue(delayQueueOf(queue, level))),
      ]);
      return {
        ready: main.messageCount,
        inFlight: this.#inFlight(queue),
        delayed: delays.reduce((sum, delay) => sum + delay.messageCount, 0),
        failed: failed.messageCount,
      };
    });
  }

  failed(queue: string, limit: number): Promise<FailedJob[]> {
    // Read without acking, then put them all back.
    return this.#withChannel(queue, async (channel) => {
      const failedQueue = failedQueueOf(queue);
      const jobs: FailedJob[] = [];
      let left = 0;
      while (jobs.length < limit) {
        const message = await channel.get(failedQueue, { noAck: false });
        if (message === false) break;
        jobs.push(toFailedJob(queue, message));
        left = message.fields.messageCount;
      }
      channel.nackAll(true);
      // The broker puts them back asynchronously: wait (briefly) until it has, so that a stats()
      // right after a listing does not see the store emptier than it is.
      const deadline = Date.now() + RETURN_WAIT_MS;
      while (
        (await channel.checkQueue(failedQueue)).messageCount < jobs.length + left &&
        Date.now() < deadline
      ) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return jobs;
    });
  }

  retryFailed(queue: string): Promise<number> {
    return this.#withChannel(queue, async (channel) => {
      let moved = 0;
      for (;;) {
        const batch: GetMessage[] = [];
        while (batch.length < RETRY_BATCH) {
          const message = await channel.get(failedQueueOf(queue), { noAck: false });
          if (message === false) break;
          batch.push(message);
        }
        if (batch.length === 0) return moved;
        // An operator's retry is a new start: attempts count afresh; the last error stays for the record.
        await Promise.all(
          batch.map((message) => {
            const headers = carriedHeaders(message, { [HEADER.attempt]: 1 });
            const error = message.properties.headers?.[HEADER.error];
            if (error !== undefined) headers[HEADER.error] = error;
            delete headers[HEADER.attempts];
            delete headers[HEADER.failedAt];
            return sendConfirmed(channel, queue, message.content, republishProperties(message, headers));
          }),
        );
        for (const message of batch) channel.ack(message);
        moved += batch.length;
      }
    });
  }

  purgeFailed(queue: string): Promise<number> {
    return this.#withChannel(
      queue,
      async (channel) => (await channel.purgeQueue(failedQueueOf(queue))).messageCount,
    );
  }

  async close(): Promise<void> {
    for (const lane of [...this.#lanes]) await lane.close();
    await this.channels.close();
    await this.connection.close();
  }
}
