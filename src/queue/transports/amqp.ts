/**
 * The RabbitMQ transport (amqplib): durable quorum queues, publisher confirms, one consumer
 * per lane (per worker) with prefetch equal to its slots on a channel the process's lanes of a
 * queue share (see amqp-lane.ts), manual acks. A message that
 * moves on (retry, give back, failed store, a hop up the delay ladder) is republished and
 * confirmed before the delivery is acked, so a crash in between duplicates it but never loses it.
 */

import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, GetMessage, Message, Options } from 'amqplib';
import { ErrorCode, hasCode, MultitaskError } from '../../errors.js';
import type { ConnectRetry, ResolvedQueueOptions } from '../options.js';
import type {
  ConnectionEvent,
  Delivery,
  FailedJob,
  Lane,
  OutgoingMessage,
  QueueStats,
  Transport,
} from '../transport.js';
import { AckBatcher } from './amqp-acks.js';
import { AmqpConnection } from './amqp-connection.js';
import { AmqpLane, type LaneHost } from './amqp-lane.js';
import {
  carriedHeaders,
  type Headers,
  republishProperties,
  sendConfirmed,
  toFailedJob,
} from './amqp-message.js';
import {
  DELAY_LEVELS,
  declareTopology,
  delayQueueOf,
  delayTarget,
  failedQueueOf,
  HEADER,
} from './amqp-topology.js';

/** How long a listing of the failed store waits for the broker to take its messages back (ms). */
const RETURN_WAIT_MS = 2_000;

/** Moves retried at once in one confirmed batch by `retryFailed`. */
const RETRY_BATCH = 500;

/** The RabbitMQ {@link Transport}. */
export class AmqpTransport implements Transport, LaneHost {
  readonly safeUrl: string;
  readonly connection: AmqpConnection;
  readonly options: ResolvedQueueOptions;
  readonly #declared = new Map<string, Promise<void>>();
  readonly #lanes = new Set<AmqpLane>();
  readonly #inFlight = new Map<string, number>();
  #publisher: Promise<ConfirmChannel> | undefined;
  /** The publisher channel once open, and the queues whose declaration completed: the fast path of publish. */
  #openPublisher: ConfirmChannel | undefined;
  readonly #declaredQueues = new Set<string>();
  /** Ids of messages the broker returned as unroutable, until their publish sees it. */
  readonly #returned = new Set<string>();
  readonly #consumeChannels = new Map<string, Promise<ConfirmChannel>>();
  readonly #serialized = new WeakMap<ConfirmChannel, Promise<unknown>>();
  readonly #acks = new WeakMap<ConfirmChannel, AckBatcher>();

  private constructor(connection: AmqpConnection, options: ResolvedQueueOptions) {
    this.connection = connection;
    this.safeUrl = connection.safeUrl;
    this.options = options;
    connection.on('disconnected', () => {
      this.#publisher = undefined;
      this.#openPublisher = undefined;
      this.#declared.clear();
      this.#declaredQueues.clear();
      this.#consumeChannels.clear();
    });
  }

  get connected(): boolean {
    return this.connection.current !== undefined;
  }

  watch(listener: (event: ConnectionEvent) => void): void {
    this.connection.on('connected', () => listener({ type: 'connected' }));
    this.connection.on('disconnected', () => listener({ type: 'disconnected' }));
    this.connection.on('retrying', (retry: ConnectRetry) => listener({ type: 'reconnecting', ...retry }));
  }

  /** Connects (retrying for `connectTimeoutMs`) and returns the transport. */
  static async connect(url: string, safeUrl: string, options: ResolvedQueueOptions): Promise<AmqpTransport> {
    return new AmqpTransport(
      await AmqpConnection.open(
        url,
        safeUrl,
        options.connectionName,
        options.connectTimeoutMs,
        options.onConnectRetry,
      ),
      options,
    );
  }

  /** A new confirm channel on the live connection (waiting for a reconnection up to the timeout). */
  async openChannel(): Promise<ConfirmChannel> {
    const model = await this.connection.get(this.options.connectTimeoutMs);
    const channel = await model.createConfirmChannel();
    channel.on('error', () => {
      // A channel error (a missing queue, a precondition) closes the channel; its callers see it.
    });
    return channel;
  }

  /** Declares a queue's topology once per connection. */
  ensureTopology(channel: ConfirmChannel, queue: string): Promise<void> {
    let declared = this.#declared.get(queue);
    if (declared === undefined) {
      declared = declareTopology(channel, queue, this.options.deliveryLimit);
      this.#declared.set(queue, declared);
      declared.then(
        () => this.#declaredQueues.add(queue),
        () => this.#declared.delete(queue),
      );
    }
    return declared;
  }

  #publisherChannel(): Promise<ConfirmChannel> {
    this.#publisher ??= this.#sharedChannel(
      () => {
        this.#publisher = undefined;
        this.#openPublisher = undefined;
      },
      async (channel) => {
        channel.on('return', (returned: Message) => {
          const id = returned.properties.messageId;
          if (typeof id === 'string') this.#returned.add(id);
        });
      },
    );
    return this.#publisher;
  }

  /** A channel opened once and forgotten (by `forget`) when it closes or fails to open. */
  #sharedChannel(
    forget: () => void,
    prepare?: (channel: ConfirmChannel) => Promise<void>,
  ): Promise<ConfirmChannel> {
    const opening = this.openChannel().then(async (channel) => {
      channel.once('close', forget);
      await prepare?.(channel);
      return channel;
    });
    opening.catch(forget);
    return opening;
  }

  consumeChannel(queue: string): Promise<ConfirmChannel> {
    let channel = this.#consumeChannels.get(queue);
    if (channel === undefined) {
      const opening = this.#sharedChannel(
        () => {
          if (this.#consumeChannels.get(queue) === opening) this.#consumeChannels.delete(queue);
        },
        (opened) => this.ensureTopology(opened, queue),
      );
      channel = opening;
      this.#consumeChannels.set(queue, opening);
    }
    return channel;
  }

  acks(channel: ConfirmChannel): AckBatcher {
    let batcher = this.#acks.get(channel);
    if (batcher === undefined) {
      batcher = new AckBatcher(channel);
      this.#acks.set(channel, batcher);
    }
    return batcher;
  }

  serialize<T>(channel: ConfirmChannel, step: () => Promise<T>): Promise<T> {
    const previous = this.#serialized.get(channel) ?? Promise.resolve();
    const next = previous.then(step, step);
    this.#serialized.set(
      channel,
      next.catch(() => {}),
    );
    return next;
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
    const open = this.#openPublisher;
    if (open === undefined || !this.#declaredQueues.has(queue)) {
      return this.#publishSlowly(queue, message.notBefore, content, properties, deadline);
    }
    return sendConfirmed(open, delayTarget(queue, message.notBefore - Date.now()), content, properties).then(
      () => {
        if (this.#wasReturned(queue, messageId)) {
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
        const channel = await this.#publisherChannel();
        await this.ensureTopology(channel, queue);
        await sendConfirmed(channel, delayTarget(queue, notBefore - Date.now()), content, properties);
        if (this.#wasReturned(queue, properties.messageId)) {
          if (Date.now() >= deadline)
            throw new Error(`queue ${queue} keeps refusing the message (unroutable)`);
          continue;
        }
        this.#openPublisher = channel;
        return;
      } catch (error) {
        // A connection that dropped before the confirm: publish again once it is back (at least once).
        if (!this.#isConnectionLoss(error) || Date.now() >= deadline) throw this.#wrap(error);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /**
   * True when the broker returned the message as unroutable (its queue is gone): the queue is
   * declared again and the message published again. RabbitMQ sends the return before the confirm.
   */
  #wasReturned(queue: string, messageId: string): boolean {
    if (!this.#returned.delete(messageId)) return false;
    this.#declared.delete(queue);
    this.#declaredQueues.delete(queue);
    return true;
  }

  #isConnectionLoss(error: unknown): boolean {
    if (this.connection.closing || hasCode(error, ErrorCode.BROKER_UNAVAILABLE)) return false;
    return (
      this.connection.current === undefined ||
      /closed|ECONNRESET|EPIPE/i.test(String((error as Error)?.message))
    );
  }

  #wrap(error: unknown): Error {
    if (error instanceof MultitaskError) return error;
    return new MultitaskError(
      ErrorCode.BROKER_UNAVAILABLE,
      `RabbitMQ at ${this.safeUrl}: ${(error as Error)?.message ?? String(error)}`,
      { cause: error },
    );
  }

  async subscribe(queue: string, prefetch: number, onDelivery: (delivery: Delivery) => void): Promise<Lane> {
    const lane = new AmqpLane(this, queue, prefetch, onDelivery);
    this.#lanes.add(lane);
    await lane.start();
    return lane;
  }

  /** Counts this process's deliveries in flight: AMQP reports only ready counts. */
  countInFlight(queue: string, change: number): void {
    this.#inFlight.set(queue, (this.#inFlight.get(queue) ?? 0) + change);
  }

  forget(lane: AmqpLane): void {
    this.#lanes.delete(lane);
  }

  async exists(queue: string): Promise<boolean> {
    const channel = await this.openChannel();
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
    const channel = await this.openChannel();
    try {
      await this.ensureTopology(channel, queue);
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
        inFlight: this.#inFlight.get(queue) ?? 0,
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
    const channels = [this.#publisher, ...this.#consumeChannels.values()];
    this.#publisher = undefined;
    this.#consumeChannels.clear();
    for (const channel of channels) await channel?.then((opened) => opened.close()).catch(() => {});
    await this.connection.close();
  }
}
