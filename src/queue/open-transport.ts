/**
 * Picks and opens the transport a queue URL names: the one place that knows which transport
 * module serves which URL. `openQueue` wraps what it returns in a Queue; the transport
 * contract suite drives it bare.
 */

import { openAborted } from '../errors.js';
import type { ResolvedQueueOptions } from './options.js';
import type { Transport } from './transport.js';
import { parseQueueUrl } from './url.js';

/**
 * Opens the transport for `url` (see {@link parseQueueUrl}) with options already resolved.
 * RabbitMQ is retried for `connectTimeoutMs`, or until `signal` aborts (an AbortError); a
 * SQLite file opens at once or fails with `ERR_BROKER_UNAVAILABLE`. Internal: not exported
 * from the package.
 */
export async function openTransport(
  url: string | undefined,
  options: ResolvedQueueOptions,
  signal?: AbortSignal,
): Promise<Transport> {
  const location = parseQueueUrl(url);
  if (signal?.aborted) throw openAborted(signal);
  if (location.kind === 'sqlite') {
    const { SqliteTransport } = await import('./transports/sqlite.js');
    return new SqliteTransport(location.path, location.safeUrl, options);
  }
  const { AmqpTransport } = await import('./transports/amqp.js');
  return AmqpTransport.connect(location.nodes, location.safeUrl, options, signal);
}
