/**
 * What the dashboard needs of a queue, as a structural interface: a {@link Queue} is one, and
 * the dashboard imports nothing of queue/ but its types (docs/ARCHITECTURE.md: http/ sits
 * beside the queue, not above it). Also the options of `createDashboard`.
 */

import type { EventsOptions, FeedEvent, InstanceInfo } from '../../queue/fleet-types.js';
import type { FailedIdsOptions, FailedListOptions } from '../../queue/options.js';
import type { StoredResult } from '../../queue/queue.js';
import type { FailedJob, QueueStats } from '../../queue/transport.js';

/** The parts of an open `Queue` the dashboard reads and acts through. */
export interface DashboardSource {
  /** The URL, passwords masked: `sqlite:…` tells the transport. */
  readonly url: string;
  readonly connected: boolean;
  readonly node: string | undefined;
  stats(queue: string): Promise<QueueStats>;
  instances(): Promise<InstanceInfo[]>;
  events(options?: EventsOptions): AsyncIterableIterator<FeedEvent>;
  failed(queue: string, options?: FailedListOptions): Promise<FailedJob[]>;
  failedJob(queue: string, id: string): Promise<FailedJob | undefined>;
  retryFailed(queue: string, options?: FailedIdsOptions): Promise<number>;
  purgeFailed(queue: string, options?: FailedIdsOptions): Promise<number>;
  /** True when the queue is there, without creating it. */
  exists(queue: string): Promise<boolean>;
  /** A job's kept outcome, without waiting (SQLite keeps them; RabbitMQ answers `unknown`). */
  storedResult(id: string): Promise<StoredResult>;
}

/** Who may see the dashboard: a bearer token, or HTTP basic credentials. */
export type DashboardAuth = { token: string } | { username: string; password: string };

/** Options of `createDashboard`. */
export interface DashboardOptions {
  /**
   * Where the dashboard is mounted in a plain node:http server (`/dashboard/`): the handler
   * answers only below it. Under Express (`app.use('/dashboard', handler)`) leave it out: the
   * mount path comes from `req.baseUrl`. Default `/`.
   */
  basePath?: string;
  /**
   * The queues to show, and only those (a queue with no consumer right now still shows).
   * Default: those the live instances consume and those seen in the event feed.
   */
  queues?: readonly string[];
  /** Require a token or basic credentials on every request. Default: none (bind to loopback). */
  auth?: DashboardAuth;
  /** Refuse retry and purge (403). */
  readOnly?: boolean;
}
