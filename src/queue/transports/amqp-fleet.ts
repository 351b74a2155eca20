/**
 * The fleet on RabbitMQ: one durable topic exchange, `multitask.fleet`, and nothing durable
 * bound to it. Every message on it is transient (non-persistent, and announcements expire), so
 * with nobody bound the broker drops them for free.
 *
 * | routing key      | from                     | to                                           |
 * | ---------------- | ------------------------ | -------------------------------------------- |
 * | `instance.beat`  | an instance, every 2 s   | views watching instances (`instances()`)     |
 * | `instance.bye`   | an instance that stops   | views: removed at once                       |
 * | `fleet.who`      | a view that just started | every instance: answers at once to `replyTo` |
 * | `listener.hello` | a feed listener, every 2 s, and when asked | every instance             |
 * | `listener.bye`   | a listener that ends     | every instance                               |
 * | `listener.query` | an instance that starts  | every listener: announces itself at once     |
 * | `event.<queue>`  | an instance, every 100 ms, only while a listener wants `<queue>` (on a connection of their own: amqp-fleet-events.ts) | listeners |
 *
 * Each instance binds one exclusive auto-delete queue (who, hello, bye); a view binds one
 * (beats, byes, answers) the first time it is asked, and keeps it while its Queue is open; a
 * listener binds one on a channel of its own (its events and queries), deleted when it ends.
 * Every such queue holds at most {@link BOUNDED}'s length, dropping its oldest messages: a slow
 * reader loses events (and sees the gap), it never makes the broker hold more.
 */

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import {
  AGE_OUT_MS,
  type EventBatch,
  type FeedSubscription,
  type FleetHooks,
  type FleetLink,
  HEARTBEAT_MS,
  type InstanceBeat,
  type ListenerNotice,
  type SeenBeat,
  WHO_WINDOW_MS,
  type WireEvent,
} from '../fleet-types.js';
import type { AmqpConnection } from './amqp-connection.js';
import { AmqpEventSender } from './amqp-fleet-events.js';

/** The exchange every fleet message goes through. */
export const FLEET_EXCHANGE = 'multitask.fleet';

/** The routing keys; see the module comment. */
export const FLEET_KEY = {
  beat: 'instance.beat',
  bye: 'instance.bye',
  who: 'fleet.who',
  hello: 'listener.hello',
  listenerBye: 'listener.bye',
  query: 'listener.query',
  events: (queue: string | undefined) => (queue === undefined ? 'event.#' : `event.${queue}`),
} as const;

/** Every queue bound to the exchange keeps at most this many messages (and bytes), dropping the oldest. */
const BOUNDED = { 'x-max-length': 1_000, 'x-max-length-bytes': 64 * 2 ** 20, 'x-overflow': 'drop-head' };
const TRANSIENT = { exclusive: true, autoDelete: true, durable: false, arguments: BOUNDED };
/** An announcement older than the age-out means nothing: the broker may drop it. */
const EXPIRATION = String(AGE_OUT_MS);
/** When some listener exists, how long an instance that starts waits for the listeners' announcements (ms). */
const HELLO_WAIT_MS = 200;
/** How long a goodbye waits for the broker's confirmation before the connection closes anyway. */
const GOODBYE_WAIT_MS = 1_000;

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

function parse<T>(message: ConsumeMessage): T | undefined {
  try {
    return JSON.parse(message.content.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

/** What a view heard: the live instances, and when the gone ones said goodbye. */
interface Watcher {
  queue: string;
  /** When it began hearing heartbeats (epoch ms): after one interval it has heard everyone. */
  since: number;
  beats: Map<string, SeenBeat>;
  gone: Map<string, number>;
}

/** The RabbitMQ {@link FleetLink}. */
export class AmqpFleetLink implements FleetLink {
  readonly #connection: AmqpConnection;
  readonly #timeoutMs: number;
  #channel: Promise<ConfirmChannel> | undefined;
  /** The shared channel once open: announcements and events are sent on it, or dropped. */
  #open: ConfirmChannel | undefined;
  readonly #returned = new Set<string>();
  #instance: { id: string; hooks: FleetHooks } | undefined;
  #watching: Promise<Watcher> | undefined;
  readonly #subscriptions = new Set<{ reconnect(): void }>();
  readonly #events: AmqpEventSender;
  #closed = false;
  readonly #onConnected = () => this.#reconnected();

  constructor(connection: AmqpConnection, timeoutMs: number) {
    this.#connection = connection;
    this.#timeoutMs = timeoutMs;
    this.#events = new AmqpEventSender(connection, timeoutMs, () => this.#instance?.id, {
      exchange: FLEET_EXCHANGE,
      key: FLEET_KEY.events,
    });
    connection.on('connected', this.#onConnected);
  }

  /** The channel of this link's instance and view, opened once per connection. */
  #shared(): Promise<ConfirmChannel> {
    if (this.#channel !== undefined) return this.#channel;
    let opening!: Promise<ConfirmChannel>;
    opening = (async () => {
      const model = await this.#connection.get(this.#timeoutMs);
      const channel = await model.createConfirmChannel();
      channel.on('error', () => {
        // A channel error closes it; 'close' below forgets it, and the next use opens another.
      });
      channel.on('close', () => {
        if (this.#channel !== opening) return;
        this.#channel = undefined;
        this.#open = undefined;
        this.#watching = undefined;
        // Closed with the connection up (a channel error): the instance's queue went with it.
        if (!this.#closed && this.#instance !== undefined && this.#connection.current !== undefined)
          setTimeout(() => this.#setUpInstance().catch(() => {}), 1_000).unref();
      });
      channel.on('return', (message: ConsumeMessage) => {
        const id = message.properties.messageId;
        if (typeof id === 'string') this.#returned.add(id);
      });
      await channel.assertExchange(FLEET_EXCHANGE, 'topic', { durable: true });
      if (this.#channel === opening) this.#open = channel;
      return channel;
    })();
    this.#channel = opening;
    opening.catch(() => {
      if (this.#channel === opening) this.#channel = undefined;
    });
    return opening;
  }

  async engage(instanceId: string, hooks: FleetHooks): Promise<void> {
    this.#instance = { id: instanceId, hooks };
    await this.#setUpInstance();
  }

  /** Binds this instance's control queue, then asks who listens; tries again while it fails. */
  async #setUpInstance(): Promise<void> {
    try {
      await this.#bindInstance(this.#instance!.hooks);
    } catch (error) {
      if (!this.#closed) setTimeout(() => this.#setUpInstance().catch(() => {}), HEARTBEAT_MS).unref();
      throw error;
    }
  }

  async #bindInstance(hooks: FleetHooks): Promise<void> {
    const channel = await this.#shared();
    const { queue } = await channel.assertQueue('', TRANSIENT);
    for (const key of [FLEET_KEY.who, FLEET_KEY.hello, FLEET_KEY.listenerBye])
      await channel.bindQueue(queue, FLEET_EXCHANGE, key);
    await channel.consume(queue, (message) => message && this.#control(message, hooks), { noAck: true });
    // Mandatory: with no listener bound, the broker returns it (before confirming it), and the
    // instance knows at once that nobody listens; otherwise the listeners announce themselves
    // at once, and their announcements are in within a round trip.
    const messageId = randomUUID();
    await new Promise<void>((resolve, reject) =>
      channel.publish(FLEET_EXCHANGE, FLEET_KEY.query, json({}), { mandatory: true, messageId }, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
    if (!this.#returned.delete(messageId)) {
      this.#events.prepare();
      await sleep(HELLO_WAIT_MS);
    }
  }

  #control(message: ConsumeMessage, hooks: FleetHooks): void {
    const key = message.fields.routingKey;
    if (key === FLEET_KEY.who) {
      const replyTo = message.properties.replyTo;
      if (typeof replyTo === 'string' && replyTo !== '')
        this.#open?.sendToQueue(replyTo, json(hooks.answer()), { type: 'beat', expiration: EXPIRATION });
      return;
    }
    const notice = parse<ListenerNotice>(message);
    if (typeof notice?.id !== 'string') return;
    if (key === FLEET_KEY.hello) {
      this.#events.prepare();
      hooks.listenerSeen(
        { id: notice.id, queue: typeof notice.queue === 'string' ? notice.queue : undefined },
        Date.now() + AGE_OUT_MS,
      );
    } else if (key === FLEET_KEY.listenerBye) hooks.listenerGone(notice.id);
  }

  beat(beat: InstanceBeat): void {
    const send = (channel: Channel) =>
      channel.publish(FLEET_EXCHANGE, FLEET_KEY.beat, json(beat), { type: 'beat', expiration: EXPIRATION });
    if (this.#open !== undefined) send(this.#open);
    // The first one, or after a reconnection: sent once the channel is open (the next one is 2 s away).
    else if (!this.#closed) this.#shared().then(send, () => {});
  }

  async goodbye(instanceId: string): Promise<void> {
    // Still opening (an instance that stops as it starts): after its first announcement.
    const channel =
      this.#open ??
      (await Promise.race([
        this.#channel?.catch(() => undefined),
        sleep(GOODBYE_WAIT_MS, undefined, { ref: false }),
      ]));
    // No connection: nobody can be told; the views age it out.
    if (channel === undefined) return;
    const sent = new Promise<void>((resolve) =>
      channel.publish(
        FLEET_EXCHANGE,
        FLEET_KEY.bye,
        json({ id: instanceId, sentAt: Date.now() }),
        { type: 'bye' },
        () => resolve(),
      ),
    );
    await Promise.race([sent, sleep(GOODBYE_WAIT_MS, undefined, { ref: false })]);
  }

  push(queue: string, event: WireEvent): void {
    this.#events.push(queue, event);
  }

  /**
   * The live instances. A view that has not heard a full interval of heartbeats yet asks "who
   * is there" and collects the answers for {@link WHO_WINDOW_MS}; after that it knows.
   */
  async instances(): Promise<SeenBeat[]> {
    const watcher = await this.#watch();
    if (Date.now() - watcher.since < HEARTBEAT_MS + WHO_WINDOW_MS) {
      this.#open?.publish(FLEET_EXCHANGE, FLEET_KEY.who, json({}), { replyTo: watcher.queue });
      await sleep(WHO_WINDOW_MS);
    }
    const oldest = Date.now() - AGE_OUT_MS;
    return [...watcher.beats.values()].filter((beat) => beat.seenAt > oldest);
  }

  #watch(): Promise<Watcher> {
    if (this.#watching !== undefined) return this.#watching;
    const watching = (async () => {
      const channel = await this.#shared();
      const { queue } = await channel.assertQueue('', TRANSIENT);
      await channel.bindQueue(queue, FLEET_EXCHANGE, FLEET_KEY.beat);
      await channel.bindQueue(queue, FLEET_EXCHANGE, FLEET_KEY.bye);
      const watcher: Watcher = { queue, since: Date.now(), beats: new Map(), gone: new Map() };
      await channel.consume(queue, (message) => message && this.#heard(watcher, message), { noAck: true });
      return watcher;
    })();
    this.#watching = watching;
    watching.catch(() => {
      if (this.#watching === watching) this.#watching = undefined;
    });
    return watching;
  }

  #heard(watcher: Watcher, message: ConsumeMessage): void {
    const now = Date.now();
    if (message.properties.type === 'bye') {
      const bye = parse<{ id: string; sentAt: number }>(message);
      if (typeof bye?.id !== 'string') return;
      watcher.beats.delete(bye.id);
      watcher.gone.set(bye.id, Number(bye.sentAt) || now);
      for (const [id, at] of watcher.gone) if (at < now - 10 * AGE_OUT_MS) watcher.gone.delete(id);
      return;
    }
    const beat = parse<InstanceBeat>(message);
    if (typeof beat?.id !== 'string') return;
    // An answer sent before a goodbye may arrive after it.
    if ((watcher.gone.get(beat.id) ?? Number.NEGATIVE_INFINITY) >= beat.sentAt) return;
    watcher.beats.set(beat.id, { ...beat, seenAt: now });
  }

  async listen(notice: ListenerNotice, onBatch: (batch: EventBatch) => void): Promise<FeedSubscription> {
    let channel: Channel | undefined;
    let closed = false;
    const hello = () =>
      channel?.publish(FLEET_EXCHANGE, FLEET_KEY.hello, json(notice), {
        type: 'hello',
        expiration: EXPIRATION,
      });
    const setUp = async () => {
      const model = await this.#connection.get(this.#timeoutMs);
      const opened = await model.createChannel();
      opened.on('error', () => {});
      // Gone with its connection: no announcement on it until `reconnect` opens another
      // (amqplib throws on a publish to a closed channel, from the timer that announces).
      opened.on('close', () => {
        if (channel === opened) channel = undefined;
      });
      try {
        await opened.assertExchange(FLEET_EXCHANGE, 'topic', { durable: true });
        const { queue } = await opened.assertQueue('', TRANSIENT);
        await opened.bindQueue(queue, FLEET_EXCHANGE, FLEET_KEY.events(notice.queue));
        await opened.bindQueue(queue, FLEET_EXCHANGE, FLEET_KEY.query);
        await opened.consume(
          queue,
          (message) => {
            if (message === null) return;
            if (message.fields.routingKey === FLEET_KEY.query) hello();
            else {
              const batch = parse<EventBatch>(message);
              if (batch !== undefined && Array.isArray(batch.events)) onBatch(batch);
            }
          },
          { noAck: true },
        );
      } catch (error) {
        await opened.close().catch(() => {});
        throw error;
      }
      if (closed) return void (await opened.close().catch(() => {}));
      channel = opened;
      hello();
    };
    await setUp();
    const timer = setInterval(hello, HEARTBEAT_MS);
    timer.unref();
    const entry = {
      // Its queue went with the connection: a new one, announced again (what passed meanwhile is a gap).
      reconnect: () => {
        channel = undefined;
        if (!closed) setUp().catch(() => {});
      },
    };
    this.#subscriptions.add(entry);
    return {
      close: async () => {
        closed = true;
        clearInterval(timer);
        this.#subscriptions.delete(entry);
        const open = channel;
        channel = undefined;
        if (open === undefined) return;
        try {
          open.publish(FLEET_EXCHANGE, FLEET_KEY.listenerBye, json(notice), { type: 'bye' });
        } catch {
          // Closing as the connection drops: the instances age this listener out.
        }
        // Closing the channel cancels its consumer: the auto-delete queue goes with it.
        await open.close().catch(() => {});
      },
    };
  }

  /** The connection came back: every queue bound to the exchange went with the old one. */
  #reconnected(): void {
    if (this.#closed) return;
    this.#channel = undefined;
    this.#open = undefined;
    this.#watching = undefined;
    if (this.#instance !== undefined) this.#setUpInstance().catch(() => {});
    for (const subscription of this.#subscriptions) subscription.reconnect();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#events.close();
    this.#closed = true;
    this.#connection.off('connected', this.#onConnected);
    const channel = this.#channel;
    this.#channel = undefined;
    this.#open = undefined;
    if (channel !== undefined) {
      await this.#connection.answerWithin(
        channel.then((opened) => opened.close()),
        "the fleet channel's close",
      );
    }
  }
}
