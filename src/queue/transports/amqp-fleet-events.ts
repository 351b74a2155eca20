/**
 * How an instance sends its job events on RabbitMQ: on a connection of their own, opened the
 * first time there is an event to send (so only once someone listens), and in one message per
 * queue every {@link AMQP_FLUSH_MS}.
 *
 * Why a connection of their own: RabbitMQ's flow control works per connection. A connection
 * whose messages go to a queue that cannot keep up (a slow listener's) is made to wait, and
 * with it everything else it carries: on the jobs' connection, that would be their acks and
 * deliveries. Measured here: events on the jobs' connection, one message per tick, left the
 * end-to-end benchmark at 0.25× its speed without a listener. Why a timer, not every tick:
 * the broker's work is per message, and a feed a tenth of a second late loses nothing.
 *
 * Never waits: while the connection opens (or comes back), or while its socket's buffer is full,
 * events wait in their batches, and past their limit they are dropped. Listeners see the gaps.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { ConfirmChannel } from 'amqplib';
import { EventBatches } from '../event-batches.js';
import type { WireEvent } from '../fleet-types.js';
import { AmqpConnection } from './amqp-connection.js';

/** How often an instance sends its events on RabbitMQ (ms): a listener sees them this much later at most. */
export const AMQP_FLUSH_MS = 100;
/** On close, how long events still waiting may wait for their connection to open (ms). */
const CLOSE_WAIT_MS = 1_000;

/** See the module comment. */
export class AmqpEventSender {
  readonly #jobs: AmqpConnection;
  readonly #timeoutMs: number;
  readonly #exchange: string;
  readonly #routingKey: (queue: string) => string;
  readonly #batches = new EventBatches();
  #connection: Promise<AmqpConnection> | undefined;
  /** A confirm channel, only so that a close can wait for the last batches to be routed. */
  #channel: Promise<ConfirmChannel> | undefined;
  #open: ConfirmChannel | undefined;
  /** The socket's buffer is full: batches wait until it drains. */
  #saturated = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #instance: () => string | undefined;
  /** Stops an opening that waits for a broker that is down, when the queue closes. */
  readonly #closing = new AbortController();
  #closed = false;

  constructor(
    jobs: AmqpConnection,
    timeoutMs: number,
    instance: () => string | undefined,
    route: { exchange: string; key: (queue: string) => string },
  ) {
    this.#jobs = jobs;
    this.#timeoutMs = timeoutMs;
    this.#instance = instance;
    this.#exchange = route.exchange;
    this.#routingKey = route.key;
  }

  push(queue: string, event: WireEvent): void {
    if (this.#closed) return;
    if (this.#batches.add(queue, event) && this.#timer === undefined) this.#schedule();
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, AMQP_FLUSH_MS);
  }

  /** One message per queue; held while the channel opens or its socket's buffer is full. */
  #flush(): void {
    const channel = this.#open;
    if (channel === undefined) {
      // Opening (or reopening): the batches wait, up to their limit, for the next try.
      this.#opening();
      if (!this.#closed) this.#schedule();
      return;
    }
    const instance = this.#instance();
    if (instance === undefined) return;
    // A full socket buffer: the batches wait for the next send (up to their limit), never the jobs.
    if (this.#saturated) {
      if (!this.#closed) this.#schedule();
      return;
    }
    const { t0, batches } = this.#batches.take();
    const from = `{"instance":${JSON.stringify(instance)},"t0":${t0},"queue":`;
    for (const [queue, events] of batches) {
      const body = Buffer.from(`${from}${JSON.stringify(queue)},"events":${events}}`);
      // false: the socket's buffer is full. Never wait for it: the jobs must not slow down.
      if (!channel.publish(this.#exchange, this.#routingKey(queue), body, { type: 'events' }))
        this.#saturated = true;
    }
  }

  /** A listener exists: open the connection now, so that the first events need not wait for it. */
  prepare(): void {
    this.#opening();
  }

  /** Opens the events' connection (once) and a channel on it (again after a reconnection). */
  #opening(): void {
    if (this.#closed || this.#channel !== undefined) return;
    this.#connection ??= AmqpConnection.open(this.#jobs.nodes, this.#jobs.safeUrl, {
      ...this.#jobs.options,
      name: `${this.#jobs.options.name} (events)`,
      timeoutMs: this.#timeoutMs,
      onRetry: undefined,
      signal: this.#closing.signal,
    });
    const opening = this.#connection.then(async (connection) => {
      const channel = await (await connection.get(this.#timeoutMs)).createConfirmChannel();
      channel.on('error', () => {});
      channel.on('drain', () => {
        this.#saturated = false;
      });
      channel.once('close', () => {
        if (this.#channel !== opening) return;
        this.#channel = undefined;
        this.#open = undefined;
      });
      if (this.#closed) await channel.close().catch(() => {});
      else if (this.#channel === opening) this.#open = channel;
      return channel;
    });
    this.#channel = opening;
    opening.catch(() => {
      if (this.#channel !== opening) return;
      this.#channel = undefined;
      // Could not connect: a new connection at the next try.
      this.#connection = undefined;
    });
  }

  /** Sends what is waiting (if it can), then closes the events' connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#batches.empty && this.#open === undefined) {
      // A producer that closes right after dispatching: its events still go, if that is quick.
      this.#opening();
      await Promise.race([this.#channel?.catch(() => {}), sleep(CLOSE_WAIT_MS, undefined, { ref: false })]);
    }
    const open = this.#open;
    if (open !== undefined) {
      this.#flush();
      // Closing the connection at once could lose what was just published.
      await Promise.race([
        open.waitForConfirms().catch(() => {}),
        sleep(CLOSE_WAIT_MS, undefined, { ref: false }),
      ]);
    }
    this.#closed = true;
    this.#closing.abort();
    const connection = this.#connection;
    this.#connection = undefined;
    this.#channel = undefined;
    this.#open = undefined;
    await connection?.then((opened) => opened.close()).catch(() => {});
  }
}
