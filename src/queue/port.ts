/**
 * The one door from the pool into the queue layer. A consumer (src/pool/consumer.ts) feeds a
 * pool from a queue: it needs the queue's transport, its retry policy and the job format, and
 * nothing else. pool/ imports from queue/ only through this module, and queue/ never imports
 * from pool/ (see docs/ARCHITECTURE.md).
 */
import { invalidOption } from '../errors.js';
import type { Fleet } from './fleet.js';
import type { ResolvedQueueOptions } from './options.js';
import type { Transport } from './transport.js';

export type { FleetSource, SourceQueueReport, SourceReport } from './fleet-types.js';
export type { QueueFeed } from './job-feed.js';
export { decodeJob, type Job, pastAttempts, type StoredError, storedError } from './message.js';
export { DEFAULT_QUEUE, queueName } from './options.js';
export type { Delivery, EncodedResult, Lane, Transport } from './transport.js';

/** What a consumer needs of an open queue. */
export interface QueuePort {
  readonly transport: Transport;
  readonly retry: ResolvedQueueOptions['retry'];
  /** Throws `ERR_QUEUE_CLOSED` once the queue is closed. */
  assertOpen(): void;
  /** Where consumers announce themselves and report their jobs' events (see fleet.ts). */
  readonly fleet: Fleet;
}

/** Queues and their ports; a WeakMap keeps the port out of the public class's surface. */
const ports = new WeakMap<object, QueuePort>();

/** Called by the Queue's constructor: the port becomes reachable to the pool, and to nothing public. */
export function attachPort(queue: object, port: QueuePort): void {
  ports.set(queue, port);
}

/** The port of an open queue; `ERR_INVALID_OPTION` for anything that is not a Queue from openQueue(). */
export function portOf(queue: unknown): QueuePort {
  const port = typeof queue === 'object' && queue !== null ? ports.get(queue) : undefined;
  if (port === undefined) throw invalidOption('queue', queue, 'a Queue from openQueue()');
  port.assertOpen();
  return port;
}
