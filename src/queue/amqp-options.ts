/**
 * The options of `openQueue` that concern RabbitMQ alone: the heartbeat, TLS, and where quorum
 * queues put their replicas and leaders. Read and checked here, files included, so that a
 * mistake fails `openQueue` at once rather than every connection attempt after it.
 */

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { invalidOption } from '../errors.js';
import { DELAY_LEVELS, delayLadder, MAX_DELAY_RUNGS, MIN_DELAY_RUNGS } from './transports/amqp-topology.js';

/**
 * TLS for `amqps://` URLs. `ca`, `cert` and `key` are each PEM text (a string that holds
 * `-----BEGIN`), a Buffer of it, or the path of a file that holds it (any other string).
 */
export interface TlsOptions {
  /** The CA certificate(s) the broker's certificate must chain to. Default: Node's trusted CAs. */
  ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /** The client certificate, for a broker that checks one (`ssl_options.verify = verify_peer`). */
  cert?: string | Buffer;
  /** The client certificate's private key (unencrypted, or see `passphrase`). */
  key?: string | Buffer;
  /** The key's passphrase, when it is encrypted. */
  passphrase?: string;
  /**
   * The name the broker's certificate must carry (SNI too). Default: each URL's host. Set it
   * when the URLs name the nodes by address and the certificate by a DNS name.
   */
  servername?: string;
}

/** Where RabbitMQ puts a new quorum queue's replicas and leader. */
export interface QuorumOptions {
  /**
   * Replicas of each new quorum queue (`x-quorum-initial-group-size`). Default: the broker's
   * `quorum_cluster_size` (3 on RabbitMQ 3.10).
   */
  initialGroupSize?: number;
  /**
   * Which node leads each new quorum queue (`x-queue-leader-locator`): `balanced` (the node with
   * the fewest leaders), `client-local` (the node this process is connected to), or `null` to
   * write no argument and leave it to the broker's `queue_leader_locator`. Default `balanced`.
   */
  leaderLocator?: 'balanced' | 'client-local' | null;
}

/** The resolved TLS material, as `tls.connect` takes it. */
export interface ResolvedTls {
  readonly ca?: Array<string | Buffer>;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly passphrase?: string;
  readonly servername?: string;
}

/**
 * In which order the nodes of a URL list are tried: `random` (shuffled once per connection, so
 * that a fleet of processes spreads over the cluster) or `listed` (as written: the first node
 * is preferred, the next ones are the fallbacks).
 */
export type NodeOrder = 'random' | 'listed';

/** The RabbitMQ options, checked. */
export interface ResolvedAmqpOptions {
  /** Seconds; 0 turns heartbeats off. A URL's own `?heartbeat=` wins for its node. */
  readonly heartbeatSeconds: number;
  readonly nodeOrder: NodeOrder;
  readonly tls: ResolvedTls | undefined;
  /** The placement arguments every quorum queue is declared with (possibly none). */
  readonly quorum: Readonly<Record<string, string | number>>;
  /** The TTLs of the delay rungs (ms). */
  readonly delayLadder: readonly number[];
}

/**
 * The heartbeat asked for when neither the option nor the URL gives one (s). RabbitMQ sends a
 * frame every half of it on an idle link, and a link silent for this long is taken as dead.
 */
export const DEFAULT_HEARTBEAT_SECONDS = 15;

/** Past this the heartbeat is no longer a way of noticing a dead link in time (s). */
const MAX_HEARTBEAT_SECONDS = 600;

/** The RabbitMQ options of {@link OpenQueueOptions}, checked, files read. */
export function resolveAmqpOptions(options: {
  heartbeatSeconds?: number | undefined;
  nodeOrder?: NodeOrder | undefined;
  delayRungs?: number | undefined;
  tls?: TlsOptions | undefined;
  quorum?: QuorumOptions | undefined;
}): ResolvedAmqpOptions {
  const heartbeatSeconds = options.heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS;
  if (
    typeof heartbeatSeconds !== 'number' ||
    !Number.isInteger(heartbeatSeconds) ||
    heartbeatSeconds < 0 ||
    heartbeatSeconds > MAX_HEARTBEAT_SECONDS
  )
    throw invalidOption(
      'heartbeatSeconds',
      heartbeatSeconds,
      `an integer from 0 (off) to ${MAX_HEARTBEAT_SECONDS} seconds`,
    );
  const nodeOrder = options.nodeOrder ?? 'random';
  if (nodeOrder !== 'random' && nodeOrder !== 'listed')
    throw invalidOption('nodeOrder', nodeOrder, '"random" or "listed"');
  const rungs = options.delayRungs ?? MAX_DELAY_RUNGS;
  if (
    typeof rungs !== 'number' ||
    !Number.isInteger(rungs) ||
    rungs < MIN_DELAY_RUNGS ||
    rungs > MAX_DELAY_RUNGS
  )
    throw invalidOption('delayRungs', rungs, `an integer from ${MIN_DELAY_RUNGS} to ${MAX_DELAY_RUNGS}`);
  return {
    heartbeatSeconds,
    nodeOrder,
    delayLadder: rungs === MAX_DELAY_RUNGS ? DELAY_LEVELS : delayLadder(rungs),
    tls: resolveTls(options.tls),
    quorum: resolveQuorum(options.quorum),
  };
}

function resolveTls(options: TlsOptions | undefined): ResolvedTls | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw invalidOption('tls', options, 'an object');
  const { ca, cert, key, passphrase, servername } = options;
  const resolved: {
    ca?: Array<string | Buffer>;
    cert?: string | Buffer;
    key?: string | Buffer;
    passphrase?: string;
    servername?: string;
  } = {};
  if (ca !== undefined) {
    const list = Array.isArray(ca) ? ca : [ca];
    resolved.ca = list.map((entry, index) =>
      certificates(
        list.length > 1 ? `tls.ca[${index}]` : 'tls.ca',
        pem(list.length > 1 ? `tls.ca[${index}]` : 'tls.ca', entry),
      ),
    );
  }
  if ((cert === undefined) !== (key === undefined))
    throw invalidOption(
      cert === undefined ? 'tls.cert' : 'tls.key',
      undefined,
      'a client certificate and its key, both or neither',
    );
  if (cert !== undefined) resolved.cert = certificates('tls.cert', pem('tls.cert', cert));
  if (key !== undefined) resolved.key = pem('tls.key', key);
  if (passphrase !== undefined) {
    if (typeof passphrase !== 'string') throw invalidOption('tls.passphrase', '(hidden)', 'a string');
    resolved.passphrase = passphrase;
  }
  if (servername !== undefined) {
    if (typeof servername !== 'string' || servername === '')
      throw invalidOption('tls.servername', servername, 'a host name');
    resolved.servername = servername;
  }
  try {
    // A CA that is not a certificate, or a key that does not match its certificate, fails here.
    createSecureContext(resolved);
  } catch (error) {
    throw invalidOption('tls', '(certificates and key)', `usable TLS material: ${(error as Error).message}`);
  }
  return resolved;
}

/** PEM text or a Buffer of it as given; any other string is a file that holds it. */
function pem(name: string, value: unknown): string | Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value !== 'string' || value === '')
    throw invalidOption(name, value, 'PEM text, a Buffer of it, or the path of a file that holds it');
  if (value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value);
  } catch (error) {
    throw invalidOption(
      name,
      value,
      `a readable file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
  }
}

/**
 * `value` when it holds PEM certificates that parse. Node would take a CA that holds none and
 * say nothing: every connection would then fail its certificate check, far from the mistake.
 */
function certificates(name: string, value: string | Buffer): string | Buffer {
  const blocks = value
    .toString('utf8')
    .match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (blocks === null)
    throw invalidOption(name, '(contents)', 'PEM certificates (-----BEGIN CERTIFICATE-----)');
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw invalidOption(name, '(contents)', `PEM certificates that parse (${(error as Error).message})`);
    }
  }
  return value;
}

function resolveQuorum(options: QuorumOptions | undefined): Record<string, string | number> {
  const quorum = options ?? {};
  if (typeof quorum !== 'object' || quorum === null) throw invalidOption('quorum', quorum, 'an object');
  const args: Record<string, string | number> = {};
  const locator = quorum.leaderLocator === undefined ? 'balanced' : quorum.leaderLocator;
  if (locator !== null) {
    if (locator !== 'balanced' && locator !== 'client-local')
      throw invalidOption('quorum.leaderLocator', locator, '"balanced", "client-local" or null');
    args['x-queue-leader-locator'] = locator;
  }
  const size = quorum.initialGroupSize;
  if (size !== undefined) {
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > 255)
      throw invalidOption('quorum.initialGroupSize', size, 'an integer from 1 to 255');
    args['x-quorum-initial-group-size'] = size;
  }
  return args;
}
