/**
 * One AMQP connection that comes back by itself: opened with retries until a deadline, and
 * reopened with backoff whenever the broker drops it. Lanes and publishers ask for the current
 * connection and listen for `connected` to set themselves up again.
 */

import { EventEmitter } from 'node:events';
import amqp, { type ChannelModel } from 'amqplib';
import { ErrorCode, MultitaskError } from '../../errors.js';
import { backoffDelay } from '../../internal/backoff.js';
import type { ConnectRetry } from '../options.js';

const RECONNECT_INITIAL_MS = 100;
const RECONNECT_MAX_MS = 5_000;

export class AmqpConnection extends EventEmitter {
  #model: ChannelModel | undefined;
  #closing = false;
  #reconnecting = false;
  /** Attempts made by the current (re)connection loop. */
  attempts = 0;

  private constructor(
    readonly url: string,
    readonly safeUrl: string,
    readonly name: string,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /**
   * Connects, retrying with backoff for up to `timeoutMs`; `ERR_BROKER_UNAVAILABLE` after that.
   * `onRetry` hears of every failed attempt, now and on later reconnections.
   */
  static async open(
    url: string,
    safeUrl: string,
    name: string,
    timeoutMs: number,
    onRetry?: (retry: ConnectRetry) => void,
  ): Promise<AmqpConnection> {
    const connection = new AmqpConnection(url, safeUrl, name);
    if (onRetry !== undefined) connection.on('retrying', onRetry);
    await connection.#connectUntil(Date.now() + timeoutMs);
    return connection;
  }

  /** The live connection, or undefined while reconnecting. */
  get current(): ChannelModel | undefined {
    return this.#model;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** The live connection, waiting for a reconnection up to `timeoutMs`. */
  async get(timeoutMs: number): Promise<ChannelModel> {
    if (this.#model !== undefined) return this.#model;
    if (this.#closing) throw new MultitaskError(ErrorCode.QUEUE_CLOSED, `Queue ${this.safeUrl} is closed`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('connected', onConnected);
        reject(this.#unavailable(`no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      const onConnected = (model: ChannelModel) => {
        clearTimeout(timer);
        resolve(model);
      };
      this.once('connected', onConnected);
    });
  }

  async #connectUntil(deadline: number): Promise<void> {
    for (this.attempts = 1; ; this.attempts++) {
      try {
        await this.#connectOnce();
        return;
      } catch (error) {
        // Refused at open: retrying the same credentials only hides the mistake. (Reconnections
        // do retry: credentials being rotated come back.)
        const refusal = refusalOf(error);
        if (refusal !== undefined && deadline !== Number.POSITIVE_INFINITY)
          throw new MultitaskError(ErrorCode.BROKER_REFUSED, `RabbitMQ at ${this.safeUrl} ${refusal}`, {
            cause: error,
          });
        const delay = backoffDelay(this.attempts, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS);
        if (this.#closing || Date.now() + delay > deadline)
          throw this.#unavailable((error as Error).message, error);
        const retry: ConnectRetry = {
          attempt: this.attempts,
          delayMs: delay,
          error: this.#unavailable((error as Error).message, error),
        };
        this.emit('retrying', retry);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  async #connectOnce(): Promise<void> {
    const model = await amqp.connect(this.url, { clientProperties: { connection_name: this.name } });
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
      await this.#connectUntil(Number.POSITIVE_INFINITY);
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
    return new MultitaskError(
      ErrorCode.BROKER_UNAVAILABLE,
      `RabbitMQ at ${this.safeUrl} is unreachable: ${safeReason}`,
      { cause },
    );
  }

  async close(): Promise<void> {
    this.#closing = true;
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
