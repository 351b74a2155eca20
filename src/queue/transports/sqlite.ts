/**
 * The embedded transport: one SQLite file (WAL mode) that several processes on one host share.
 * Writes from every lane and every dispatch of a tick are committed together in one
 * transaction, which is what makes a file-backed queue fast; a dispatch resolves once its
 * transaction has committed.
 */

import { randomUUID } from 'node:crypto';
import { ErrorCode, MultitaskError } from '../../errors.js';
import { parseStoredError, peekJob, type StoredError } from '../message.js';
import type { ResolvedQueueOptions } from '../options.js';
import type { Delivery, FailedJob, Lane, OutgoingMessage, QueueStats, Transport } from '../transport.js';
import { type FailedRow, type LeasedRow, SqliteStore } from './sqlite-store.js';

interface PendingWrite {
  run: () => void;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** The SQLite {@link Transport}. */
export class SqliteTransport implements Transport {
  readonly safeUrl: string;
  readonly store: SqliteStore;
  readonly options: ResolvedQueueOptions;
  readonly #lanes = new Map<string, Set<SqliteLane>>();
  #pending: PendingWrite[] = [];
  #flushQueued = false;

  constructor(path: string, safeUrl: string, options: ResolvedQueueOptions) {
    this.safeUrl = safeUrl;
    this.options = options;
    try {
      this.store = new SqliteStore(path);
    } catch (error) {
      throw new MultitaskError(
        ErrorCode.BROKER_UNAVAILABLE,
        `Cannot open the SQLite queue ${safeUrl}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** Runs `run` in the next shared transaction; resolves once that transaction committed. */
  write(run: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ run, resolve, reject });
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits every pending write in one transaction. */
  flush(): void {
    this.#flushQueued = false;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    try {
      this.store.db.transaction(() => {
        for (const write of batch) write.run();
      })();
    } catch (error) {
      for (const write of batch) write.reject(error as Error);
      return;
    }
    for (const write of batch) write.resolve();
  }

  publish(queue: string, message: OutgoingMessage): Promise<void> {
    const { body, attempt, notBefore, lastError } = message;
    return this.write(() => {
      this.store.insert.run(
        message.id ?? randomUUID(),
        queue,
        body,
        attempt - 1,
        Math.max(notBefore, Date.now()),
        lastError === undefined ? null : JSON.stringify(lastError),
      );
    }).then(() => this.wake(queue));
  }

  /** Tells this process's lanes on `queue` that jobs arrived, so they need not wait for their poll. */
  wake(queue: string): void {
    for (const lane of this.#lanes.get(queue) ?? []) lane.wake();
  }

  async subscribe(queue: string, prefetch: number, onDelivery: (delivery: Delivery) => void): Promise<Lane> {
    const lane = new SqliteLane(this, queue, prefetch, onDelivery, () =>
      this.#lanes.get(queue)?.delete(lane),
    );
    const lanes = this.#lanes.get(queue) ?? new Set<SqliteLane>();
    this.#lanes.set(queue, lanes);
    lanes.add(lane);
    lane.wake();
    return lane;
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

  async failed(queue: string, limit: number): Promise<FailedJob[]> {
    return this.store.failedList.all(queue, limit).map(toFailedJob);
  }

  async retryFailed(queue: string): Promise<number> {
    const moved = this.store.db.transaction(() => {
      const count = this.store.failedToJobs.run(Date.now(), queue).changes;
      this.store.purgeFailed.run(queue);
      return count;
    })();
    this.wake(queue);
    return moved;
  }

  async purgeFailed(queue: string): Promise<number> {
    return this.store.purgeFailed.run(queue).changes;
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

  async close(): Promise<void> {
    for (const lanes of this.#lanes.values()) for (const lane of [...lanes]) await lane.close();
    this.flush();
    this.store.db.close();
  }
}

function toFailedJob(row: FailedRow): FailedJob {
  const body = typeof row.body === 'string' ? row.body : row.body.toString('utf8');
  const { task, fields } = peekJob(body);
  return {
    id: row.id,
    queue: row.queue,
    task,
    fields,
    attempts: row.attempts,
    error: parseStoredError(row.error) ?? { name: 'Error', message: 'unknown' },
    failedAt: new Date(row.failed_at),
    body,
  };
}

/**
 * One consumer lane: leases up to `prefetch` jobs at a time, renews their leases while they
 * run, and polls for more when it has room (at once when this process dispatched, else every
 * `pollMs`, or sooner when a delayed job falls due).
 */
class SqliteLane implements Lane {
  readonly #owner = randomUUID();
  readonly #held = new Set<number>();
  #pollTimer: NodeJS.Timeout | undefined;
  readonly #renewTimer: NodeJS.Timeout;
  #pollQueued = false;
  #stopped = false;

  constructor(
    readonly transport: SqliteTransport,
    readonly queue: string,
    readonly prefetch: number,
    readonly onDelivery: (delivery: Delivery) => void,
    readonly onClose: () => void,
  ) {
    const { leaseMs } = transport.options;
    this.#renewTimer = setInterval(() => this.#renew(), leaseMs / 3);
  }

  wake(): void {
    if (this.#pollQueued || this.#stopped) return;
    this.#pollQueued = true;
    setImmediate(() => {
      this.#pollQueued = false;
      this.#poll();
    });
  }

  #poll(): void {
    clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    if (this.#stopped) return;
    const free = this.prefetch - this.#held.size;
    if (free <= 0) return;
    const { store, options } = this.transport;
    const now = Date.now();
    let rows: LeasedRow[];
    try {
      rows = store.lease.all({
        owner: this.#owner,
        until: now + options.leaseMs,
        queue: this.queue,
        now,
        limit: free,
      });
    } catch {
      // Busy past the timeout, most likely: try again on the next tick of the poll.
      rows = [];
    }
    for (const row of rows) {
      this.#held.add(row.seq);
      this.onDelivery(this.#delivery(row));
    }
    if (rows.length < free && !this.#stopped) {
      const next = store.nextDue.get(this.queue)?.run_at;
      const wait =
        next === null || next === undefined ? options.pollMs : Math.min(options.pollMs, next - now);
      this.#pollTimer = setTimeout(() => this.#poll(), Math.max(1, wait));
    }
  }

  #delivery(row: LeasedRow): Delivery {
    const { seq } = row;
    const owner = this.#owner;
    const { store } = this.transport;
    const settle = (run: () => void) =>
      this.transport.write(run).finally(() => {
        this.#held.delete(seq);
        this.wake();
      });
    return {
      body: typeof row.body === 'string' ? row.body : row.body.toString('utf8'),
      id: row.id,
      attempt: row.attempt,
      lastError: parseStoredError(row.last_error),
      ack: () => settle(() => store.ack.run(seq, owner)),
      retry: (delayMs: number, error: StoredError) =>
        settle(() => store.retry.run(Date.now() + delayMs, JSON.stringify(error), seq, owner)),
      release: (delayMs = 0) => settle(() => store.release.run(Date.now() + delayMs, seq, owner)),
      fail: (error: StoredError) =>
        settle(() => {
          store.copyToFailed.run(JSON.stringify(error), Date.now(), seq, owner);
          store.ack.run(seq, owner);
        }),
    };
  }

  #renew(): void {
    if (this.#held.size === 0) return;
    try {
      this.transport.store.renew.run(Date.now() + this.transport.options.leaseMs, this.#owner);
    } catch {
      // Busy: the next renewal comes well before the lease runs out.
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#pollTimer);
  }

  async close(): Promise<void> {
    await this.stop();
    clearInterval(this.#renewTimer);
    this.onClose();
    if (this.#held.size === 0) return;
    // Whatever is still held goes back at once, its attempt not counted.
    const { store } = this.transport;
    const owner = this.#owner;
    const held = [...this.#held];
    this.#held.clear();
    await this.transport.write(() => {
      for (const seq of held) store.release.run(Date.now(), seq, owner);
    });
  }
}
