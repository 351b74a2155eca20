/**
 * One AMQP connection to a RabbitMQ cluster that comes back by itself. It holds the nodes of
 * the URL list in a shuffled order (so that a fleet of processes spreads over the nodes),
 * connects to one, and when that link drops (the node died, a heartbeat went missing) moves to
 * the next at once; a full round of nodes that all failed is followed by a backoff (100 ms to
 * 5 s, jitter) before the next round. Opening retries until a deadline (or for ever, until the
 * caller's signal aborts); a closed connection stops its loop and leaves nothing behind.
 * Lanes and publishers ask for the current connection and listen for `connected` to set
 * themselves up again.
 */

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChannelModel } from 'amqplib';
import { brokerUnreachable, type MultitaskError, openAborted, queueClosed } from '../../errors.js';
import { backoffDelay } from '../../internal/backoff.js';
import type { NodeOrder, ResolvedTls } from '../amqp-options.js';
import type { ConnectRetry } from '../options.js';
import type { AmqpNode } from '../url.js';
import { dial, dialFailure } from './amqp-dial.js';
import { watchSilence } from './amqp-watchdog.js';
import { coalesceWrites } from './amqp-writes.js';

const RECONNECT_INITIAL_MS = 100;
const RECONNECT_MAX_MS = 5_000;
/**
 * An attempt at one node gives up after this long without a step of its handshake: a node
 * whose address swallows packets must not hold up the others for the minutes TCP would wait.
 */
const ATTEMPT_TIMEOUT_MS = 5_000;
/**
 * How long a step of stopping (a consumer's cancel, a channel's close) waits for the broker's
 * answer before the link is cut: a dead link, or a broker whose channel process is stuck, never
 * answers, and the heartbeat may be minutes away. Generous, because cutting the link returns
 * what the process held as deliveries that died, which count an attempt. At 2 s, one CI run
 * saw jobs given back on SIGTERM come again as their second attempt (most likely a loaded
 * broker's answer cut short; not proven).
 */
const ANSWER_TIMEOUT_MS = 10_000;
/** close() waits this long for the broker's answer to the connection's close before it cuts the socket. */
const CLOSE_TIMEOUT_MS = 2_000;

/** How {@link AmqpConnection.open} connects. */
export interface AmqpConnectOptions {
  /** The connection's name as the broker shows it. */
  name: string;
  /** Give up opening after this long (ms); `Infinity`: retry until `signal` aborts. */
  timeoutMs: number;
  /** Asked of the broker (s; 0 for none); a node's URL may say otherwise. */
  heartbeatSeconds: number;
  /** TLS material for `amqps://` nodes. */
  tls?: ResolvedTls | undefined;
  /** `random`: the nodes shuffled once, so that processes spread; `listed`: as given. */
  nodeOrder?: NodeOrder | undefined;
  /** Hears of every failed attempt, when opening and on later reconnections. */
  onRetry?: ((retry: ConnectRetry) => void) | undefined;
  /** Stops the opening attempts: `open` rejects with an AbortError. */
  signal?: AbortSignal | undefined;
}

/**
 * A connection's events. `reconnecting` is the one name for "an attempt failed, the next one
 * comes in `delayMs`" (0: the next node at once), while opening as while reconnecting; the
 * Queue re-emits it as its own `reconnecting` event, and `openQueue`'s `onConnectRetry` hears it too.
 */
export interface AmqpConnectionEvents {
  connected: [model: ChannelModel, node: AmqpNode];
  /** The link to `node` dropped; `reason` says why when it is known (a missed heartbeat…). */
  disconnected: [node: AmqpNode, reason: string | undefined];
  reconnecting: [retry: ConnectRetry];
}

/** See the module comment; its events are {@link AmqpConnectionEvents}. */
export class AmqpConnection extends EventEmitter<AmqpConnectionEvents> {
  /** The nodes, in the order this connection tries them. */
  readonly nodes: readonly AmqpNode[];
  #model: ChannelModel | undefined;
  #node: AmqpNode | undefined;
  /** Where in {@link nodes} the next attempt starts: after the node last tried. */
  #next = 0;
  #stopWatching: () => void = () => {};
  /** Cuts the live link, saying why (the `disconnected` reason, as a missed heartbeat does). */
  #drop: (reason: string) => void = () => {};
  #closing = false;
  #reconnecting = false;
  /** Aborted by close(): ends a reconnection loop (its attempt and its pause) at once. */
  readonly #closed = new AbortController();

  private constructor(
    nodes: readonly AmqpNode[],
    readonly safeUrl: string,
    readonly options: AmqpConnectOptions,
  ) {
    super();
    this.setMaxListeners(0);
    this.nodes = options.nodeOrder === 'listed' ? [...nodes] : shuffled(nodes);
  }

  /**
   * Connects, retrying with backoff for up to `timeoutMs`; `ERR_BROKER_UNAVAILABLE` after that,
   * an AbortError as soon as `signal` aborts, and `ERR_BROKER_REFUSED` (login, virtual host) or
   * `ERR_BROKER_TLS` (a certificate that does not verify) once every node has answered and
   * none took the connection: trying again would not change those answers.
   */
  static async open(
    nodes: readonly AmqpNode[],
    safeUrl: string,
    options: AmqpConnectOptions,
  ): Promise<AmqpConnection> {
    const connection = new AmqpConnection(nodes, safeUrl, options);
    if (options.onRetry !== undefined) connection.on('reconnecting', options.onRetry);
    try {
      await connection.#connectUntil(Date.now() + options.timeoutMs, true, options.signal);
    } catch (error) {
      connection.#closing = true;
      connection.#closed.abort();
      throw error;
    }
    return connection;
  }

  /** The live connection, or undefined while reconnecting. */
  get current(): ChannelModel | undefined {
    return this.#model;
  }

  /** The node the live connection is to, or undefined while reconnecting. */
  get node(): AmqpNode | undefined {
    return this.#model === undefined ? undefined : this.#node;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /**
   * The live connection, waiting for a reconnection up to `timeoutMs` (`Infinity`: as long as
   * it takes); `ERR_QUEUE_CLOSED` at once when the connection is closed meanwhile.
   */
  async get(timeoutMs: number): Promise<ChannelModel> {
    if (this.#model !== undefined) return this.#model;
    if (this.#closing) throw queueClosed(this.safeUrl);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.off('connected', onConnected);
        this.#closed.signal.removeEventListener('abort', onClosed);
      };
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            done();
            reject(brokerUnreachable(this.safeUrl, `no connection within ${timeoutMs} ms`));
          }, timeoutMs)
        : undefined;
      const onConnected = (model: ChannelModel) => {
        done();
        resolve(model);
      };
      const onClosed = () => {
        done();
        reject(queueClosed(this.safeUrl));
      };
      this.on('connected', onConnected);
      this.#closed.signal.addEventListener('abort', onClosed, { once: true });
    });
  }

  /**
   * Attempts, node after node, until connected. `opening`: a refusal or a TLS failure ends the
   * attempts once a whole round of nodes has been tried (the mistake would only be hidden by
   * retrying it); reconnections do retry them, since credentials and certificates being rotated
   * come back.
   */
  async #connectUntil(deadline: number, opening: boolean, signal?: AbortSignal): Promise<void> {
    let refusal: MultitaskError | undefined;
    let attempt = 0;
    for (let round = 1; ; round++) {
      for (let tried = 1; tried <= this.nodes.length; tried++) {
        if (signal?.aborted) throw openAborted(signal);
        const node = this.nodes[this.#next]!;
        this.#next = (this.#next + 1) % this.nodes.length;
        attempt++;
        try {
          await this.#connectOnce(node, deadline, signal);
          return;
        } catch (error) {
          if (signal?.aborted) throw openAborted(signal);
          const failure = dialFailure(node, error);
          if (opening && failure.kind !== 'unreachable') refusal ??= failure.error;
          const endOfRound = tried === this.nodes.length;
          if (endOfRound && refusal !== undefined) throw refusal;
          // The next node at once; a pause only once every node has failed.
          const delay = endOfRound ? backoffDelay(round, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS) : 0;
          if (this.#closing || Date.now() + delay > deadline) throw refusal ?? failure.error;
          this.emit('reconnecting', { attempt, delayMs: delay, error: failure.error, node: node.safeUrl });
          if (delay === 0) continue;
          try {
            await sleep(delay, undefined, signal === undefined ? undefined : { signal });
          } catch {
            throw openAborted(signal!);
          }
        }
      }
    }
  }

  async #connectOnce(node: AmqpNode, deadline: number, signal?: AbortSignal): Promise<void> {
    const timeoutMs = Math.max(100, Math.min(ATTEMPT_TIMEOUT_MS, deadline - Date.now()));
    const { name, heartbeatSeconds, tls } = this.options;
    const model = await dial(node, { name, heartbeatSeconds, tls, timeoutMs }, signal);
    coalesceWrites(model);
    model.on('error', () => {
      // A 'close' always follows; reconnection happens there.
    });
    const link = model.connection as unknown as { stream: Socket; heartbeat?: number };
    const heartbeat = link.heartbeat ?? 0;
    let lost: string | undefined;
    const drop = (reason: string) => {
      lost ??= reason;
      // With an error, so that amqplib hears of it and closes the connection (and its channels).
      link.stream.destroy(new Error(reason));
    };
    const stopWatching = watchSilence(link.stream, heartbeat, (silentMs) =>
      drop(
        `nothing from the broker for ${(silentMs / 1000).toFixed(1)} s (heartbeat ${heartbeat} s): the link is dead`,
      ),
    );
    model.on('close', (error?: Error) => {
      stopWatching();
      if (this.#model !== model) return;
      this.#model = undefined;
      this.emit('disconnected', node, lost ?? error?.message);
      if (!this.#closing) void this.#reconnect();
    });
    this.#model = model;
    this.#node = node;
    this.#stopWatching = stopWatching;
    this.#drop = drop;
    this.emit('connected', model, node);
  }

  async #reconnect(): Promise<void> {
    if (this.#reconnecting) return;
    this.#reconnecting = true;
    try {
      await this.#connectUntil(Number.POSITIVE_INFINITY, false, this.#closed.signal);
    } catch {
      // Only closing stops the loop.
    } finally {
      this.#reconnecting = false;
    }
  }

  /**
   * Waits for `request` (a cancel, a channel's close) to settle, never rejecting. A broker that
   * does not answer within {@link ANSWER_TIMEOUT_MS} has its link cut (every request waiting on
   * it then fails at once): the link it was made on cannot be trusted, and a stop must not wait
   * for a heartbeat minutes away. A reconnection follows unless the connection is closing.
   */
  async answerWithin(request: Promise<unknown>, what: string): Promise<void> {
    const model = this.#model;
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      request.then(
        () => true,
        () => true,
      ),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), ANSWER_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!answered && model !== undefined && this.#model === model) {
      this.#drop(`the broker did not answer ${what} within ${ANSWER_TIMEOUT_MS / 1000} s: the link is cut`);
    }
  }

  /**
   * The first step of closing: a reconnection under way stops (its attempt too) and waiters of
   * {@link get} reject with `ERR_QUEUE_CLOSED`, but a live link stays, so that what closes
   * before the connection (a goodbye, the channels) still can. Without it, a queue closed while
   * its broker is unreachable would wait for a channel that waits for the link (seen: a `work`
   * process that never exited after SIGTERM on a black-holed link).
   */
  stopReconnecting(): void {
    this.#closing = true;
    this.#closed.abort();
  }

  /**
   * Ends the connection for good: {@link stopReconnecting}, then the live link is closed, cut
   * after {@link CLOSE_TIMEOUT_MS} if the broker does not answer.
   */
  async close(): Promise<void> {
    this.stopReconnecting();
    const model = this.#model;
    this.#model = undefined;
    if (model === undefined) return;
    this.#stopWatching();
    const stream = (model.connection as unknown as { stream: Socket }).stream;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      model.close().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          // With an error: amqplib then closes its side too, and stops its heartbeat timers.
          stream.destroy(new Error('closed: the broker did not answer in time'));
          resolve();
        }, CLOSE_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
  }
}

/** A shuffled copy (Fisher–Yates): processes given the same list spread over its nodes. */
function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}
