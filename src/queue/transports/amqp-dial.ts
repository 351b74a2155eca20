/**
 * One attempt at one RabbitMQ node: the URL with the heartbeat asked for, TLS material for
 * `amqps://`, a bound on how long the attempt may hang (a node whose address swallows packets
 * would otherwise hold it for minutes), and what a failure means: refused (the login, the
 * virtual host), TLS (a certificate that does not verify), or unreachable.
 */

import amqp, { type ChannelModel } from 'amqplib';
import {
  brokerRefused,
  brokerTls,
  brokerUnreachable,
  type MultitaskError,
  openAborted,
} from '../../errors.js';
import type { ResolvedTls } from '../amqp-options.js';
import type { AmqpNode } from '../url.js';

/** How {@link dial} connects. */
export interface DialOptions {
  /** The connection's name as the broker shows it. */
  readonly name: string;
  /** Asked of the broker unless the node's URL says `?heartbeat=` itself. */
  readonly heartbeatSeconds: number;
  readonly tls: ResolvedTls | undefined;
  /** The attempt fails after this long without a step of the handshake (ms). */
  readonly timeoutMs: number;
}

/**
 * Opens a connection to `node`, or rejects: as soon as `signal` aborts (a connection that opens
 * after that is closed at once, so nothing is left behind), or after `timeoutMs` of silence.
 */
export function dial(node: AmqpNode, options: DialOptions, signal?: AbortSignal): Promise<ChannelModel> {
  // The socket's own signal (net and tls sockets take one): an abort during the attempt destroys
  // the socket at once, so that a closed queue leaves no half-open attempt behind. It is this
  // attempt's alone: aborting `signal` later must not cut a connection that opened.
  const attempt = new AbortController();
  const abortAttempt = () => attempt.abort();
  if (signal?.aborted) attempt.abort();
  else signal?.addEventListener('abort', abortAttempt, { once: true });
  const socketOptions: Record<string, unknown> = {
    clientProperties: { connection_name: options.name },
    // amqplib's socket timeout: a step of the handshake that takes longer fails the attempt.
    timeout: options.timeoutMs,
    signal: attempt.signal,
  };
  if (node.tls && options.tls !== undefined) Object.assign(socketOptions, options.tls);
  const connecting = amqp.connect(withHeartbeat(node.url, options.heartbeatSeconds), socketOptions);
  const settled = () => signal?.removeEventListener('abort', abortAttempt);
  connecting.then(settled, settled);
  return untilAborted(connecting, signal);
}

/** The URL asking for the heartbeat, unless it names one itself (the URL wins: it is per node). */
export function withHeartbeat(url: string, seconds: number): string {
  if (/[?&]heartbeat=/i.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}heartbeat=${seconds}`;
}

/** The heartbeat a URL asks for itself, if any (s). */
export function urlHeartbeat(url: string): number | undefined {
  const match = /[?&]heartbeat=(\d+)/i.exec(url);
  return match === null ? undefined : Number(match[1]);
}

/** What a failed attempt means, as an error that names the node (password masked). */
export interface DialFailure {
  /** `refused` and `tls` are answers that trying again will not change; `unreachable` may. */
  readonly kind: 'refused' | 'tls' | 'unreachable';
  readonly error: MultitaskError;
}

/** Node's and OpenSSL's codes for a TLS handshake or certificate check that failed. */
const TLS_CODE =
  /^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE)/;

/** Sorts a failed attempt at `node` (see {@link DialFailure}). */
export function dialFailure(node: AmqpNode, error: unknown): DialFailure {
  const message = String((error as Error)?.message ?? error);
  const code = String((error as NodeJS.ErrnoException)?.code ?? '');
  if (/ACCESS.REFUSED/.test(message))
    return {
      kind: 'refused',
      error: brokerRefused(node.safeUrl, 'refused the login: check the user and password', error),
    };
  // amqplib's message when the broker closes the handshake over the virtual host (NOT_ALLOWED).
  if (/Expected ConnectionOpenOk; got <ConnectionClose/.test(message))
    return {
      kind: 'refused',
      error: brokerRefused(
        node.safeUrl,
        'refused the virtual host: check that it exists and that the user may use it',
        error,
      ),
    };
  if (TLS_CODE.test(code) || (code === 'EPROTO' && /SSL|TLS/i.test(message)))
    return { kind: 'tls', error: brokerTls(node.safeUrl, `${scrub(node, message)} (${code})`, error) };
  return { kind: 'unreachable', error: unreachable(node, message, error) };
}

/** `ERR_BROKER_UNAVAILABLE` naming `node`, with nothing of its password in `reason`. */
export function unreachable(node: AmqpNode, reason: string, cause?: unknown): MultitaskError {
  return brokerUnreachable(node.safeUrl, scrub(node, reason), cause);
}

/** amqplib's messages name host and port, not the password; scrub it anyway, should one ever echo the URL. */
function scrub(node: AmqpNode, reason: string): string {
  let password = '';
  try {
    password = safeDecode(new URL(node.url).password);
  } catch {
    return reason;
  }
  return password === '' ? reason : reason.split(password).join('***');
}

/** A URL component decoded, or as written when it holds a stray `%`. */
function safeDecode(component: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    return component;
  }
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
    if (signal.aborted) return onAbort();
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
