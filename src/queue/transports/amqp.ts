/**
 * The RabbitMQ transport (amqplib): durable quorum queues, publisher confirms, one confirm
 * channel per lane (per worker) with prefetch equal to its slots, manual acks. A message that
 * moves on (retry, give back, failed store, a hop up the delay ladder) is republished and
 * confirmed before the delivery is acked, so a crash in between duplicates it but never loses it.
 */

import type { ConfirmChannel, GetMessage, Message, Options } from 'amqplib';
import { ErrorCode, hasCode, MultitaskError } from '../../errors.js';
import { ATTEMPTS_EXHAUSTED_REASON, parseStoredError, peekJob, type StoredError } from '../message.js';
import type { ResolvedQueueOptions } from '../options.js';
import type { Delivery, FailedJob, Lane, OutgoingMessage, QueueStats, Transport } from '../transport.js';
import { AmqpConnection } from './amqp-connection.js';
import {
  DELAY_LEVELS,
  DUE_TOLERANCE_MS,
  declareTopology,
  delayQueueOf,
  delayTarget,
  failedQueueOf,
  HEADER,
} from './amqp-topology.js';

type Headers = Record<string, unknown>;

/** Headers the broker adds on its own; not carried over when a message is republished. */
const BROKER_HEADERS = [
  'x-delivery-count',
  'x-death',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
];

/** How long a listing of the failed store waits for the broker to take its messages back (ms). */
const RETURN_WAIT_MS = 2_000;

/** Moves retried at once in one confirmed batch by `retryFailed`. */
const RETRY_BATCH = 500;

/** The RabbitMQ {@link Transport}. */
export class AmqpTransport implements Transport {
  readonly safeUrl: string;
  readonly connection: AmqpConnection;
  readonly options: ResolvedQueueOptions;
  readonly #declared = new Map<string, Promise<void>>();
  readonly #lanes = new Set<AmqpLane>();
  readonly #inFlight = new Map<string, number>();
  #publisher: Promise<ConfirmChannel> | undefined;

  private constructor(connection: AmqpConnection, options: ResolvedQueueOptions) {
    this.connection = connection;
    this.safeUrl = connection.safeUrl;
    this.options = options;
    connection.on('disconnected', () => {
      this.#publisher = undefined;
      this.#declared.clear();
    });
  }

  /** Connects (retrying for `connectTimeoutMs`) and returns the transport. */
  static async connect(url: string, safeUrl: string, options: ResolvedQueueOptions): Promise<AmqpTransport> {
    return new AmqpTransport(
      await AmqpConnection.open(url, safeUrl, options.connectionName, options.connectTimeoutMs),
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
      declared.catch(() => this.#declared.delete(queue));
    }
    return declared;
  }

  #publisherChannel(): Promise<ConfirmChannel> {
    if (this.#publisher === undefined) {
      const opening = this.openChannel();
      this.#publisher = opening;
      opening.then(
        (channel) =>
          channel.on('close', () => {
            if (this.#publisher === opening) this.#publisher = undefined;
          }),
        () => {
          if (this.#publisher === opening) this.#publisher = undefined;
        },
      );
    }
    return this.#publisher;
  }

  async publish(queue: string, message: OutgoingMessage): Promise<void> {
    const deadline = Date.now() + this.options.connectTimeoutMs;
    const headers: Headers = { [HEADER.attempt]: message.attempt };
    if (message.notBefore > 0) headers[HEADER.notBefore] = message.notBefore;
    if (message.lastError !== undefined) headers[HEADER.error] = JSON.stringify(message.lastError);
    const content = typeof message.body === 'string' ? Buffer.from(message.body) : message.body;
    const properties: Options.Publish = { persistent: true, contentType: 'application/json', headers };
    if (message.id !== undefined) properties.messageId = message.id;
    for (;;) {
      try {
        const channel = await this.#publisherChannel();
        await this.ensureTopology(channel, queue);
        await sendConfirmed(channel, delayTarget(queue, message.notBefore - Date.now()), content, properties);
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
    const publisher = this.#publisher;
    this.#publisher = undefined;
    if (publisher !== undefined) await publisher.then((channel) => channel.close()).catch(() => {});
    await this.connection.close();
  }
}

/**
 * One worker's lane: a confirm channel with prefetch = its slots, consuming the queue. It comes
 * back by itself after a reconnection; what it held when the connection dropped is delivered
 * again by the broker.
 */
class AmqpLane implements Lane {
  #channel: ConfirmChannel | undefined;
  #consumerTag: string | undefined;
  #stopped = false;
  readonly #onConnected = () => {
    if (!this.#stopped) void this.#subscribe().catch(() => {});
  };

  constructor(
    readonly transport: AmqpTransport,
    readonly queue: string,
    readonly prefetch: number,
    readonly onDelivery: (delivery: Delivery) => void,
  ) {}

  async start(): Promise<void> {
    this.transport.connection.on('connected', this.#onConnected);
    await this.#subscribe();
  }

  async #subscribe(): Promise<void> {
    const channel = await this.transport.openChannel();
    channel.on('close', () => {
      if (this.#channel === channel) this.#channel = undefined;
    });
    await this.transport.ensureTopology(channel, this.queue);
    await channel.prefetch(this.prefetch);
    if (this.#stopped) {
      await channel.close().catch(() => {});
      return;
    }
    this.#channel = channel;
    const { consumerTag } = await channel.consume(
      this.queue,
      (message) => {
        if (message !== null) this.#receive(channel, message);
      },
      { noAck: false },
    );
    this.#consumerTag = consumerTag;
  }

  #receive(channel: ConfirmChannel, message: Message): void {
    const headers = message.properties.headers ?? {};
    const attempt =
      (numberHeader(headers[HEADER.attempt]) ?? 1) + (numberHeader(headers['x-delivery-count']) ?? 0);
    const remaining = (numberHeader(headers[HEADER.notBefore]) ?? 0) - Date.now();
    if (remaining > DUE_TOLERANCE_MS) {
      // Early off the delay ladder: up the ladder again. This delivery was no attempt.
      const properties = republishProperties(message, carriedHeaders(message, { [HEADER.attempt]: attempt }));
      sendConfirmed(channel, delayTarget(this.queue, remaining), message.content, properties).then(
        () => channel.ack(message),
        () => {},
      );
      return;
    }
    const { transport, queue } = this;
    transport.countInFlight(queue, 1);
    const settle = async (target: string | undefined, headers: Headers) => {
      try {
        if (target !== undefined) {
          await sendConfirmed(channel, target, message.content, republishProperties(message, headers));
        }
        channel.ack(message);
      } finally {
        transport.countInFlight(queue, -1);
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
      release: () => settle(queue, withoutDelay(carriedHeaders(message, { [HEADER.attempt]: attempt }))),
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
    this.transport.connection.off('connected', this.#onConnected);
    const channel = this.#channel;
    if (channel !== undefined && this.#consumerTag !== undefined)
      await channel.cancel(this.#consumerTag).catch(() => {});
  }

  async close(): Promise<void> {
    await this.stop();
    this.transport.forget(this);
    const channel = this.#channel;
    this.#channel = undefined;
    if (channel !== undefined) await channel.close().catch(() => {});
  }
}

function sendConfirmed(
  channel: ConfirmChannel,
  queue: string,
  content: Buffer,
  options: Options.Publish,
): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      channel.sendToQueue(queue, content, options, (error) => (error ? reject(error) : resolve()));
    } catch (error) {
      reject(error);
    }
  });
}

/** The message's own headers without the broker's, with `changes` applied. */
function carriedHeaders(message: Message, changes: Headers): Headers {
  const headers: Headers = { ...(message.properties.headers ?? {}) };
  for (const name of BROKER_HEADERS) delete headers[name];
  return Object.assign(headers, changes);
}

function withoutDelay(headers: Headers): Headers {
  delete headers[HEADER.notBefore];
  return headers;
}

function republishProperties(message: Message, headers: Headers): Options.Publish {
  const { messageId, contentType } = message.properties;
  const properties: Options.Publish = { persistent: true, headers };
  if (messageId !== undefined && messageId !== null) properties.messageId = messageId;
  if (contentType !== undefined && contentType !== null) properties.contentType = contentType;
  return properties;
}

function numberHeader(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  return undefined;
}

function stringHeader(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

function toFailedJob(queue: string, message: GetMessage): FailedJob {
  const headers = message.properties.headers ?? {};
  const body = message.content.toString('utf8');
  const peeked = peekJob(body);
  const deliveries =
    (numberHeader(headers[HEADER.attempt]) ?? 1) + (numberHeader(headers['x-delivery-count']) ?? 0);
  const byBroker = stringHeader(headers['x-first-death-reason']);
  const error =
    parseStoredError(stringHeader(headers[HEADER.error])) ??
    ({
      name: 'MultitaskError',
      code: ErrorCode.ATTEMPTS_EXHAUSTED,
      message: `${ATTEMPTS_EXHAUSTED_REASON}: dead-lettered by RabbitMQ (${byBroker ?? 'unknown reason'}) after ${deliveries} deliveries`,
    } satisfies StoredError);
  const failedAt = numberHeader(headers[HEADER.failedAt]);
  return {
    id: message.properties.messageId ?? peeked.id ?? `amqp-${message.fields.deliveryTag}`,
    queue,
    task: peeked.task,
    fields: peeked.fields,
    attempts: numberHeader(headers[HEADER.attempts]) ?? deliveries,
    error,
    failedAt: failedAt === undefined ? new Date() : new Date(failedAt),
    body,
  };
}
