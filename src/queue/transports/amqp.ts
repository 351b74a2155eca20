/**
 * The RabbitMQ transport (amqplib): durable quorum queues, publisher confirms, one consumer
 * per lane (per worker) with prefetch equal to its slots on a channel the process's lanes of a
 * queue share (see amqp-lane.ts and amqp-channels.ts), manual acks. A message that
 * moves on (retry, give back, failed store, a hop up the delay ladder) is republished and
 * confirmed before the delivery is acked, so a crash in between duplicates it but never loses it.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { ConfirmChannel } from 'amqplib';
import { brokerUnavailable, ErrorCode, hasCode, MultitaskError, messageUnroutable } from '../../errors.js';
import { backoffDelay } from '../../internal/backoff.js';
import type { FleetLink } from '../fleet-types.js';
import type { ResolvedQueueOptions } from '../options.js';
import type {
  ConnectionEvent,
  Delivery,
  FailedJob,
  FailedPage,
  JobOutcome,
  Lane,
  OutgoingMessage,
  QueuedMessage,
  QueueStats,
  ResultSink,
  Transport,
} from '../transport.js';
import type { AmqpNode } from '../url.js';
import { AmqpChannels } from './amqp-channels.js';
import { AmqpConnection } from './amqp-connection.js';
import { AmqpFailedStore } from './amqp-failed-store.js';
import { AmqpFleetLink } from './amqp-fleet.js';
import { AmqpLane } from './amqp-lane.js';
import { sendConfirmed } from './amqp-message.js';
import {
  type JobProperties,
  jobProperties,
  publishBatch,
  REPUBLISH_INITIAL_MS,
  REPUBLISH_MAX_MS,
} from './amqp-publish.js';
import { AmqpReplies } from './amqp-replies.js';
import { delayQueueOf, delayTarget, failedQueueOf } from './amqp-topology.js';

/** The RabbitMQ {@link Transport}. */
export class AmqpTransport implements Transport {
  readonly safeUrl: string;
  readonly connection: AmqpConnection;
  readonly channels: AmqpChannels;
  readonly options: ResolvedQueueOptions;
  /** Every open lane: their unsettled deliveries are this process's jobs in flight. */
  readonly #lanes = new Set<AmqpLane>();
  readonly #failedStore: AmqpFailedStore;
  /** Outcomes travel to the dispatching process only, as replies (amqp-replies.ts). */
  readonly keepsResults = false;
  readonly #replies = new AmqpReplies();
  #fleet: AmqpFleetLink | undefined;

  private constructor(connection: AmqpConnection, options: ResolvedQueueOptions) {
    this.connection = connection;
    this.safeUrl = connection.safeUrl;
    this.options = options;
    this.channels = new AmqpChannels(connection, options);
    this.#failedStore = new AmqpFailedStore(
      this.channels,
      (queue, work) => this.#withChannel(queue, work),
      options.deliveryLimit,
    );
  }

  get connected(): boolean {
    return this.connection.current !== undefined;
  }

  /** The node the connection is to (password masked), or undefined while there is none. */
  get node(): string | undefined {
    return this.connection.node?.safeUrl;
  }

  watch(listener: (event: ConnectionEvent) => void): void {
    this.connection.on('connected', (_, node) => listener({ type: 'connected', node: node.safeUrl }));
    this.connection.on('disconnected', (node, reason) =>
      listener({ type: 'disconnected', node: node.safeUrl, reason }),
    );
    this.connection.on('reconnecting', (retry) => listener({ type: 'reconnecting', ...retry }));
  }

  /**
   * Connects (retrying for `connectTimeoutMs`, or until `signal` aborts) and returns the
   * transport; `options.onConnectRetry` hears of every failed attempt.
   */
  static async connect(
    nodes: readonly AmqpNode[],
    safeUrl: string,
    options: ResolvedQueueOptions,
    signal?: AbortSignal,
  ): Promise<AmqpTransport> {
    const connection = await AmqpConnection.open(nodes, safeUrl, {
      name: options.connectionName,
      timeoutMs: options.connectTimeoutMs,
      heartbeatSeconds: options.amqp.heartbeatSeconds,
      nodeOrder: options.amqp.nodeOrder,
      tls: options.amqp.tls,
      onRetry: options.onConnectRetry,
      signal,
    });
    return new AmqpTransport(connection, options);
  }

  publish(queue: string, message: OutgoingMessage): Promise<void> {
    // Read once (a new job's body is written out at each read) and sent as it is: the frames are
    // written straight from the text, with no Buffer in between.
    const content = message.body;
    const properties = jobProperties(message);
    const { messageId } = properties;
    const deadline = Date.now() + this.options.connectTimeoutMs;
    // Fast path, the common case: channel open and queue declared, no promise to wait for first.
    const open = this.channels.readyPublisher(queue);
    if (open === undefined || (message.wantsResult && !this.#replies.ready(open))) {
      return this.#publishSlowly(queue, message.notBefore, content, properties, deadline);
    }
    const ladder = this.options.amqp.delayLadder;
    return sendConfirmed(
      open,
      delayTarget(queue, message.notBefore - Date.now(), ladder),
      content,
      properties,
    ).then(
      () => {
        if (this.channels.wasReturned(queue, messageId)) {
          return this.#publishSlowly(queue, message.notBefore, content, properties, deadline);
        }
        if (message.wantsResult) this.#replies.confirmed(open, messageId);
      },
      (error: unknown) => {
        if (!this.#mayPublishAgain(error)) throw this.#wrap(error);
        this.channels.dropPublisher(open);
        return this.#publishSlowly(queue, message.notBefore, content, properties, deadline, 1);
      },
    );
  }

  publishMany(batch: readonly QueuedMessage[]): Promise<(Error | undefined)[]> {
    return publishBatch(
      {
        channels: this.channels,
        replies: this.#replies,
        ladder: this.options.amqp.delayLadder,
        timeoutMs: this.options.connectTimeoutMs,
        mayPublishAgain: (error) => this.#mayPublishAgain(error),
        wrap: (error) => this.#wrap(error),
      },
      batch,
    );
  }

  /**
   * Publishes once the channel is open and the queue declared; again, on a fresh channel after
   * a short backoff, when the broker did not confirm (a nack, a channel or connection that
   * closed first), or returned the message; until `deadline`. At least once: a message the
   * broker took but could not confirm is published twice.
   */
  async #publishSlowly(
    queue: string,
    notBefore: number,
    content: string | Buffer,
    properties: JobProperties,
    deadline: number,
    failures = 0,
  ): Promise<void> {
    for (;;) {
      let channel: ConfirmChannel | undefined;
      try {
        channel = await this.channels.publisher();
        // The reply address is the publishing channel's: it must consume its replies first.
        if (properties.replyTo !== undefined) await this.#replies.attach(channel);
        await this.channels.declare(queue);
        const target = delayTarget(queue, notBefore - Date.now(), this.options.amqp.delayLadder);
        await sendConfirmed(channel, target, content, properties);
        if (this.channels.wasReturned(queue, properties.messageId)) {
          if (Date.now() >= deadline) throw messageUnroutable(queue);
          continue;
        }
        if (properties.replyTo !== undefined) this.#replies.confirmed(channel, properties.messageId);
        return;
      } catch (error) {
        if (!this.#mayPublishAgain(error) || Date.now() >= deadline) throw this.#wrap(error);
        // RabbitMQ 3.10 keeps nacking a channel whose first publish to a quorum queue came as
        // the queue's leader died: that channel is done with, whatever the error.
        if (channel !== undefined) this.channels.dropPublisher(channel);
        failures++;
        const pause = backoffDelay(failures, REPUBLISH_INITIAL_MS, REPUBLISH_MAX_MS);
        await sleep(Math.min(pause, Math.max(0, deadline - Date.now())));
      }
    }
  }

  /**
   * False for the answers another try would not change (a declaration or a permission the
   * broker refused), for a closed queue, and once the connection's own wait timed out.
   */
  #mayPublishAgain(error: unknown): boolean {
    if (this.connection.closing) return false;
    if (hasCode(error, ErrorCode.BROKER_UNAVAILABLE) || hasCode(error, ErrorCode.QUEUE_CLOSED)) return false;
    return !/PRECONDITION.FAILED|ACCESS.REFUSED|NOT.ALLOWED|RESOURCE.LOCKED/.test(
      String((error as Error)?.message),
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
      await this.channels.declare(queue);
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
        ...this.options.amqp.delayLadder.map((level) => channel.checkQueue(delayQueueOf(queue, level))),
      ]);
      return {
        ready: main.messageCount,
        inFlight: this.#inFlight(queue),
        delayed: delays.reduce((sum, delay) => sum + delay.messageCount, 0),
        failed: await this.#failedStore.count(queue, failed.messageCount),
      };
    });
  }

  ready(queue: string): Promise<number> {
    return this.#withChannel(queue, async (channel) => (await channel.checkQueue(queue)).messageCount);
  }

  failed(queue: string, page: FailedPage): Promise<FailedJob[]> {
    return this.#failedStore.list(queue, page);
  }

  failedJob(queue: string, id: string): Promise<FailedJob | undefined> {
    return this.#failedStore.job(queue, id);
  }

  retryFailed(queue: string, ids?: readonly string[]): Promise<string[]> {
    return this.#failedStore.retry(queue, ids);
  }

  purgeFailed(queue: string, ids?: readonly string[]): Promise<string[]> {
    return this.#failedStore.purge(queue, ids);
  }

  receiveResults(sink: ResultSink): void {
    this.#replies.receive(sink);
  }

  /** RabbitMQ keeps no outcomes: only the process that dispatched a job hears of it. */
  async storedResult(): Promise<JobOutcome | 'pending' | 'unknown'> {
    return 'unknown';
  }

  beginClose(): void {
    this.connection.stopReconnecting();
  }

  async close(): Promise<void> {
    this.connection.stopReconnecting();
    for (const lane of [...this.#lanes]) await lane.close();
    await this.connection.answerWithin(this.#failedStore.close(), "the failed store's close");
    await this.channels.close();
    await this.connection.close();
  }

  fleet(): FleetLink {
    this.#fleet ??= new AmqpFleetLink(this.connection, this.options.connectTimeoutMs);
    return this.#fleet;
  }
}
