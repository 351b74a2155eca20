/**
 * One AMQP connection that comes back by itself: opened with retries until a deadline (or for
 * ever, until the caller's signal aborts), and reopened with backoff whenever the broker drops it. Lanes and publishers ask for the current
 * connection and listen for `connected` to set themselves up again.
 */

import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp, { type ChannelModel } from 'amqplib';
import {
  brokerRefused,
  brokerUnreachable,
  type MultitaskError,
  openAborted,
  queueClosed,
} from '../../errors.js';
import { backoffDelay } from '../../internal/backoff.js';
import type { ConnectRetry } from '../options.js';

const RECONNECT_INITIAL_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/** How {@link AmqpConnection.open} connects. */
export interface AmqpConnectOptions {
  /** The connection's name as the broker shows it. */
  name: string;
  /** Give up opening after this long (ms); `Infinity`: retry until `signal` aborts. */
  timeoutMs: number;
  /** Hears of every failed attempt, when opening and on later reconnections. */
  onRetry?: ((retry: ConnectRetry) => void) | undefined;
  /** Stops the opening attempts: `open` rejects with an AbortError. */
  signal?: AbortSignal | undefined;
}

/**
 * A connection's events. `reconnecting` is the one name for "an attempt failed, the next one
 * comes in `delayMs`", while opening as while reconnecting; the Queue re-emits it as its own
 * `reconnecting` event, and `openQueue`'s `onConnectRetry` hears it too.
 */
export interface AmqpConnectionEvents {
  connected: [model: ChannelModel];
  disconnected: [];
  reconnecting: [retry: ConnectRetry];
}

/** See the module comment; its events are {@link AmqpConnectionEvents}. */
export class AmqpConnection extends EventEmitter<AmqpConnectionEvents> {
  #model: ChannelModel | undefined;
  #closing = false;
  #reconnecting = false;
  /** Aborted by close(): ends a reconnection loop's pause at once, so no timer outlives the connection. */
  readonly #closed = new AbortController();

  private constructor(
    readonly url: string,
    readonly safeUrl: string,
    readonly name: string,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /**
   * Connects, retrying with backoff for up to `timeoutMs`; `ERR_BROKER_UNAVAILABLE` after that,
   * `ERR_BROKER_REFUSED` at once when the broker refuses the login or the virtual host, an
   * AbortError as soon as `signal` aborts.
   */
  static async open(url: string, safeUrl: string, options: AmqpConnectOptions): Promise<AmqpConnection> {
    const connection = new AmqpConnection(url, safeUrl, options.name);
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

  get closing(): boolean {
    return this.#closing;
  }

  /** The live connection, waiting for a reconnection up to `timeoutMs` (`Infinity`: as long as it takes). */
  async get(timeoutMs: number): Promise<ChannelModel> {
    if (this.#model !== undefined) return this.#model;
    if (this.#closing) throw queueClosed(this.safeUrl);
    return new Promise((resolve, reject) => {
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            this.off('connected', onConnected);
            reject(this.#unavailable(`no connection within ${timeoutMs} ms`));
          }, timeoutMs)
        : undefined;
      const onConnected = (model: ChannelModel) => {
        clearTimeout(timer);
        resolve(model);
      };
      this.once('connected', onConnected);
    });
  }

  /**
   * Attempts until connected. `refuseAtOnce`: a refused login fails at once (when opening:
   * retrying the same credentials only hides the mistake); reconnections do retry it, since
   * credentials being rotated come back.
   */
  async #connectUntil(deadline: number, refuseAtOnce: boolean, signal?: AbortSignal): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw openAborted(signal);
      try {
        await this.#connectOnce(signal);
        return;
      } catch (error) {
        if (signal?.aborted) throw openAborted(signal);
        const refusal = refusalOf(error);
        if (refusal !== undefined && refuseAtOnce) throw brokerRefused(this.safeUrl, refusal, error);
        const delay = backoffDelay(attempt, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS);
        const unavailable = this.#unavailable((error as Error).message, error);
        if (this.#closing || Date.now() + delay > deadline) throw unavailable;
        this.emit('reconnecting', { attempt, delayMs: delay, error: unavailable });
        try {
          await sleep(delay, undefined, signal === undefined ? undefined : { signal });
        } catch {
          throw openAborted(signal!);
        }
      }
    }
  }

  async #connectOnce(signal?: AbortSignal): Promise<void> {
    const model = await untilAborted(
      amqp.connect(this.url, { clientProperties: { connection_name: this.name } }),
      signal,
    );
    model.on('error', () => {
      // A 'close' always follows; reconnection happens there.
    });
    model.on('close', () => {
      if (this.#model !== model) return;
      this.#model = undefined;
      this.emit('disconnected');
      if (!this.#closing) void this.#reconnect();
    });
    this.#model = model;
    this.emit('connected', model);
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

  #unavailable(reason: string, cause?: unknown): MultitaskError {
    // amqplib's messages name host and port, not the password; scrub it anyway, should one ever echo the URL.
    const password = safeDecode(new URL(this.url).password);
    const safeReason = password === '' ? reason : reason.split(password).join('***');
    return brokerUnreachable(this.safeUrl, safeReason, cause);
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#closed.abort();
    const model = this.#model;
    this.#model = undefined;
    if (model !== undefined) await model.close().catch(() => {});
  }
}

/** A URL component decoded, or as written when it holds a stray `%`. */
function safeDecode(component: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    return component;
  }
}

/** What a broker's refusal means, or undefined when the error is not one (unreachable, reset…). */
function refusalOf(error: unknown): string | undefined {
  const message = String((error as Error)?.message ?? '');
  if (/ACCESS.REFUSED/.test(message)) return 'refused the login: check the user and password';
  // amqplib's message when the broker closes the handshake over the virtual host (NOT_ALLOWED).
  if (/Expected ConnectionOpenOk; got <ConnectionClose/.test(message))
    return 'refused the virtual host: check that it exists and that the user may use it';
  return undefined;
}

/**
 * `connecting`, or a rejection as soon as `signal` aborts: a connection that opens after that
 * is closed at once, so that nothing is left behind.
 */
function untilAborted(connecting: Promise<ChannelModel>, signal?: AbortSignal): Promise<ChannelModel> {
  if (signal === undefined) return connecting;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(openAborted(signal));
      connecting.then((model) => model.close()).catch(() => {});
    };
    signal.addEventListener('abort', onAbort, { once: true });
    connecting.then(
      (model) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) void model.close().catch(() => {});
        else resolve(model);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
