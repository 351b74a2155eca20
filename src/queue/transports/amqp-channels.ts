/**
 * The channels of one RabbitMQ connection, and what each carries with it: confirm channels
 * opened on the live connection, the topology declared once per connection, the publisher
 * channel (with the messages the broker returned as unroutable), and per queue the one
 * consume channel its lanes share, with its ack batcher and its queue of serialized steps.
 * The transport composes this; lanes receive it. Nothing here calls back up into either.
 */

import type { ConfirmChannel, Message } from 'amqplib';
import { AckBatcher } from './amqp-acks.js';
import type { AmqpConnection } from './amqp-connection.js';
import { declareTopology } from './amqp-topology.js';

/**
 * The process's consume channel for one queue, shared by the queue's lanes (see amqp-lane.ts
 * for why one channel, not one per lane).
 */
export class ConsumeChannel {
  /** The ack coalescer of the channel: every delivery on it goes through it. */
  readonly acks: AckBatcher;
  #serialized: Promise<unknown> = Promise.resolve();

  constructor(readonly channel: ConfirmChannel) {
    this.acks = new AckBatcher(channel);
  }

  /** Runs `step` alone on the channel: a lane's prefetch-then-consume must not interleave with another's. */
  serialize<T>(step: () => Promise<T>): Promise<T> {
    const next = this.#serialized.then(step, step);
    this.#serialized = next.catch(() => {});
    return next;
  }
}

/** What the channels need to know of the queue's options. */
export interface ChannelOptions {
  /** How long opening a channel waits for a connection that is down (ms; `Infinity`: as long as it takes). */
  readonly connectTimeoutMs: number;
  /** Declared on every queue: past this many deliveries the broker dead-letters a message. */
  readonly deliveryLimit: number;
  /** Declared on every new quorum queue: where its replicas and leader go; and the delay rungs. */
  readonly amqp: {
    readonly quorum: Readonly<Record<string, string | number>>;
    readonly delayLadder: readonly number[];
  };
}

const warnedOlderForms = new Set<string>();

/** Says once per process and queue that a queue of an older multitask was kept as it is. */
function warnOlderForm(name: string): void {
  if (warnedOlderForms.has(name)) return;
  warnedOlderForms.add(name);
  process.emitWarning(
    `RabbitMQ queue "${name}" was declared by an older multitask without an explicit x-delivery-limit; ` +
      'it is used as it is (see docs/queues.md, "Queues declared by older versions")',
    { code: 'MULTITASK_OLDER_QUEUE' },
  );
}

/** The channels of one {@link AmqpConnection}; forgotten, all of them, when it drops. */
export class AmqpChannels {
  readonly #declared = new Map<string, Promise<void>>();
  /** Queues whose declaration completed on this connection: the fast path of a publish. */
  readonly #declaredQueues = new Set<string>();
  #publisher: Promise<ConfirmChannel> | undefined;
  #openPublisher: ConfirmChannel | undefined;
  /** Ids of messages the broker returned as unroutable, until their publish sees it. */
  readonly #returned = new Set<string>();
  readonly #consumers = new Map<string, Promise<ConsumeChannel>>();

  constructor(
    readonly connection: AmqpConnection,
    readonly options: ChannelOptions,
  ) {
    connection.on('disconnected', () => {
      this.#publisher = undefined;
      this.#openPublisher = undefined;
      this.#declared.clear();
      this.#declaredQueues.clear();
      this.#consumers.clear();
    });
  }

  /** A new confirm channel on the live connection (waiting for a reconnection up to the timeout). */
  async open(): Promise<ConfirmChannel> {
    const model = await this.connection.get(this.options.connectTimeoutMs);
    const channel = await model.createConfirmChannel();
    channel.on('error', () => {
      // A channel error (a missing queue, a precondition) closes the channel; its callers see it.
    });
    return channel;
  }

  /**
   * Declares a queue's topology once per connection, on channels of its own: a declaration the
   * broker refuses closes its channel, which must not be the publisher's or a consumer's.
   */
  declare(queue: string): Promise<void> {
    let declared = this.#declared.get(queue);
    if (declared === undefined) {
      declared = declareTopology(() => this.open(), queue, {
        deliveryLimit: this.options.deliveryLimit,
        placement: this.options.amqp.quorum,
        ladder: this.options.amqp.delayLadder,
        onOlderForm: warnOlderForm,
      });
      this.#declared.set(queue, declared);
      declared.then(
        () => this.#declaredQueues.add(queue),
        () => this.#declared.delete(queue),
      );
    }
    return declared;
  }

  /** The publisher channel, when it is open and `queue` declared on it: a publish need wait for nothing. */
  readyPublisher(queue: string): ConfirmChannel | undefined {
    return this.#declaredQueues.has(queue) ? this.#openPublisher : undefined;
  }

  /** The channel every publish of this process goes through, opened once per connection. */
  publisher(): Promise<ConfirmChannel> {
    this.#publisher ??= this.#shared(
      () => {
        this.#publisher = undefined;
        this.#openPublisher = undefined;
      },
      async (channel) => {
        channel.on('return', (returned: Message) => {
          const id = returned.properties.messageId;
          if (typeof id === 'string') this.#returned.add(id);
        });
        this.#openPublisher = channel;
      },
    );
    return this.#publisher;
  }

  /**
   * Forgets `channel` as the publisher channel and closes it: a channel the broker nacked or
   * closed is not used again; the next publish opens a fresh one.
   */
  dropPublisher(channel: ConfirmChannel): void {
    if (this.#openPublisher === channel) {
      this.#publisher = undefined;
      this.#openPublisher = undefined;
    }
    void channel.close().catch(() => {});
  }

  /**
   * True when the broker returned the message as unroutable (its queue is gone): the queue is
   * to be declared again and the message published again. RabbitMQ sends the return before the confirm.
   */
  wasReturned(queue: string, messageId: string): boolean {
    if (!this.#returned.delete(messageId)) return false;
    this.#declared.delete(queue);
    this.#declaredQueues.delete(queue);
    return true;
  }

  /** The process's consume channel for `queue`, topology declared; shared by its lanes. */
  consumer(queue: string): Promise<ConsumeChannel> {
    let consumer = this.#consumers.get(queue);
    if (consumer === undefined) {
      const opening = this.#shared(
        () => {
          if (this.#consumers.get(queue) === opening) this.#consumers.delete(queue);
        },
        () => this.declare(queue),
      ).then((channel) => new ConsumeChannel(channel));
      consumer = opening;
      this.#consumers.set(queue, opening);
    }
    return consumer;
  }

  /** A channel opened once and forgotten (by `forget`) when it closes or fails to open. */
  #shared(forget: () => void, prepare: (channel: ConfirmChannel) => Promise<void>): Promise<ConfirmChannel> {
    const opening = this.open().then(async (channel) => {
      channel.once('close', forget);
      await prepare(channel);
      return channel;
    });
    opening.catch(forget);
    return opening;
  }

  /** Closes the publisher and the consume channels (lanes first: they give back what they hold). */
  async close(): Promise<void> {
    const publisher = this.#publisher;
    const consumers = [...this.#consumers.values()];
    this.#publisher = undefined;
    this.#openPublisher = undefined;
    this.#consumers.clear();
    const closing = [
      publisher?.then((opened) => opened.close()),
      ...consumers.map((consumer) => consumer.then(({ channel }) => channel.close())),
    ];
    await this.connection.answerWithin(Promise.allSettled(closing), "the channels' close");
  }
}
