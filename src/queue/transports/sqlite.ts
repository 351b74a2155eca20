/**
 * The embedded transport: one SQLite file (WAL mode) that several processes on one host share.
 * Writes from every lane and every dispatch of a tick are committed together in one
 * transaction, which is what makes a file-backed queue fast; a dispatch resolves once its
 * transaction has committed.
 */

import { randomUUID } from 'node:crypto';
import { sqliteUnavailable } from '../../errors.js';
import type { FleetLink } from '../fleet-types.js';
import { peekJob } from '../message.js';
import type { ResolvedQueueOptions } from '../options.js';
import type {
  Delivery,
  FailedJob,
  FailedPage,
  JobOutcome,
  Lane,
  OutgoingMessage,
  QueuedMessage,
  QueueStats,
  ResultSink,
  Transport,
} from '../transport.js';
import { SqliteFleetLink } from './sqlite-fleet.js';
import { SqliteLane } from './sqlite-lane.js';
import { Reclaimer } from './sqlite-reclaim.js';
import { SqliteResultWatch } from './sqlite-results.js';
import { type JobRow, SqliteStore } from './sqlite-store.js';
import { WriteBatch } from './sqlite-writes.js';

/** The SQLite {@link Transport}. */
export class SqliteTransport implements Transport {
  readonly safeUrl: string;
  readonly store: SqliteStore;
  readonly options: ResolvedQueueOptions;
  readonly writes: WriteBatch;
  readonly #reclaimer: Reclaimer;
  readonly #lanes = new Map<string, Set<SqliteLane>>();
  /** Outcomes are rows of the file: any process can read them (sqlite-results.ts). */
  readonly keepsResults = true;
  readonly #results: SqliteResultWatch;
  #fleet: SqliteFleetLink | undefined;

  constructor(path: string, safeUrl: string, options: ResolvedQueueOptions) {
    this.safeUrl = safeUrl;
    this.options = options;
    try {
      this.store = new SqliteStore(path);
    } catch (error) {
      throw sqliteUnavailable(safeUrl, error);
    }
    this.writes = new WriteBatch(this.store.db);
    this.#reclaimer = new Reclaimer(this.store, options.pollMs);
    this.store.results.ttlMs = options.resultTtlMs;
    this.#results = new SqliteResultWatch(this.store.results, options.pollMs);
  }

  publish(queue: string, message: OutgoingMessage): Promise<void> {
    // Watched from before the row is written: its outcome comes after the row the watch starts from.
    if (message.wantsResult) this.#results.watch();
    return this.writes
      .write(() => this.store.insert(jobRow(queue, message, Date.now())))
      .then(() => this.wake(queue));
  }

  /** The whole batch in one transaction: every message committed, or none (each then has the error). */
  async publishMany(batch: readonly QueuedMessage[]): Promise<(Error | undefined)[]> {
    if (batch.length === 0) return [];
    if (batch.some(({ message }) => message.wantsResult)) this.#results.watch();
    const now = Date.now();
    try {
      await this.writes.write(() => {
        this.store.insertAll(batch, ({ queue, message }) => jobRow(queue, message, now));
      });
    } catch (error) {
      return batch.map(() => error as Error);
    }
    for (const queue of new Set(batch.map(({ queue }) => queue))) this.wake(queue);
    return new Array<undefined>(batch.length).fill(undefined);
  }

  /** Gives back dead local processes' jobs (at most once per `pollMs`); wakes every lane if any came back. */
  #reclaim(): void {
    if (this.#reclaimer.reclaim() === 0) return;
    for (const lanes of this.#lanes.values()) for (const lane of lanes) lane.wake();
  }

  /** Tells this process's lanes on `queue` that jobs arrived, so they need not wait for their poll. */
  wake(queue: string): void {
    for (const lane of this.#lanes.get(queue) ?? []) lane.wake();
  }

  async subscribe(queue: string, prefetch: number, onDelivery: (delivery: Delivery) => void): Promise<Lane> {
    const lane = new SqliteLane(
      this.store,
      this.writes,
      this.options,
      queue,
      prefetch,
      onDelivery,
      () => this.#lanes.get(queue)?.delete(lane),
      () => this.#reclaim(),
    );
    const lanes = this.#lanes.get(queue) ?? new Set<SqliteLane>();
    this.#lanes.set(queue, lanes);
    lanes.add(lane);
    lane.wake();
    return lane;
  }

  async ready(queue: string): Promise<number> {
    return this.store.counts.get({ queue, now: Date.now() })?.ready ?? 0;
  }

  async stats(queue: string): Promise<QueueStats> {
    const counts = this.store.counts.get({ queue, now: Date.now() });
    return {
      ready: counts?.ready ?? 0,
      inFlight: counts?.inFlight ?? 0,
      delayed: counts?.delayed ?? 0,
      failed: this.store.failedCount.get(queue)?.n ?? 0,
    };
  }

  async failed(queue: string, page: FailedPage): Promise<FailedJob[]> {
    return this.store.failed.page(queue, page);
  }

  async failedJob(queue: string, id: string): Promise<FailedJob | undefined> {
    return this.store.failed.job(queue, id);
  }

  async retryFailed(queue: string, ids?: readonly string[]): Promise<string[]> {
    const moved = this.store.failed.retry(queue, ids, Date.now());
    if (moved.length > 0) this.wake(queue);
    return moved;
  }

  async purgeFailed(queue: string, ids?: readonly string[]): Promise<string[]> {
    return this.store.failed.purge(queue, ids);
  }

  get connected(): boolean {
    return this.store.db.open;
  }

  /** Every queue of an open file is there: it is a name in its tables. */
  async exists(): Promise<boolean> {
    return true;
  }

  /** An embedded file has no connection to lose. */
  watch(): void {}

  receiveResults(sink: ResultSink): void {
    this.#results.receive(sink);
  }

  async storedResult(id: string): Promise<JobOutcome | 'pending' | 'unknown'> {
    this.#results.watch();
    return this.store.results.lookup(id);
  }

  /** A file has no link to wait for. */
  beginClose(): void {}

  async close(): Promise<void> {
    this.#results.close();
    for (const lanes of this.#lanes.values()) for (const lane of [...lanes]) await lane.close();
    this.writes.flush();
    this.store.db.close();
  }

  fleet(): FleetLink {
    this.#fleet ??= new SqliteFleetLink(this.store.db, this.writes, this.options.pollMs);
    return this.#fleet;
  }
}

/** A message's row: its id (given, else the body's, else a new UUID), its attempts so far, when it is due, whether a caller waits for its outcome. */
function jobRow(queue: string, message: OutgoingMessage, now: number): JobRow {
  const { body, attempt, notBefore, lastError } = message;
  return [
    message.id ?? bodyId(body) ?? randomUUID(),
    queue,
    body,
    attempt - 1,
    Math.max(notBefore, now),
    lastError === undefined ? null : JSON.stringify(lastError),
    message.wantsResult ? 1 : 0,
  ];
}

/**
 * The id a readable job's body carries, which the consumer logs as the job's id
 * (docs/message-format.md, "The job's id"): the row takes it too, so that the job has one id
 * in its events and in the failed store, and a lookup by that id finds its row.
 */
function bodyId(body: string | Buffer): string | undefined {
  const { id } = peekJob(typeof body === 'string' ? body : body.toString('utf8'));
  return id === '' ? undefined : id;
}
