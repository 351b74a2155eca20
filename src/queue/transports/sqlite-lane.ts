/**
 * One consumer lane on the SQLite file: leases up to `prefetch` jobs at a time, renews their
 * leases while they run, and polls for more when it has room (at once when woken, else every
 * `pollMs`, or sooner when a delayed job falls due). It receives the store and the write
 * batch; it knows nothing of the transport that made it.
 */

import { parseStoredError, type StoredError } from '../message.js';
import type { Delivery, EncodedResult, JobEnd, JobOutcome, Lane } from '../transport.js';
import { newOwner } from './sqlite-holder.js';
import type { LeasedRow, SqliteStore } from './sqlite-store.js';
import type { WriteBatch } from './sqlite-writes.js';

/** What a lane needs to know of the queue's options. */
export interface SqliteLaneOptions {
  /** How long a lease lasts without renewal (ms); renewed every third of it. */
  readonly leaseMs: number;
  /** How often an idle lane looks for jobs dispatched by other processes (ms). */
  readonly pollMs: number;
}

/** See the module comment. */
export class SqliteLane implements Lane {
  /** The lane's id with its process, so a consumer on this host can tell when it died. */
  readonly #owner = newOwner();
  readonly #held = new Set<number>();
  #pollTimer: NodeJS.Timeout | undefined;
  readonly #renewTimer: NodeJS.Timeout;
  #pollQueued = false;
  #stopped = false;

  constructor(
    readonly store: SqliteStore,
    readonly writes: WriteBatch,
    readonly options: SqliteLaneOptions,
    readonly queue: string,
    readonly prefetch: number,
    readonly onDelivery: (delivery: Delivery) => void,
    /** Called once, when the lane closes: its owner forgets it. */
    readonly onClose: () => void = () => {},
    /** Called before each poll: gives back the jobs of dead processes (throttled by the callee). */
    readonly reclaim: () => void = () => {},
  ) {
    this.#renewTimer = setInterval(() => this.#renew(), options.leaseMs / 3);
  }

  /** Deliveries handed to the consumer and not settled yet (leased by this lane). */
  get unsettled(): number {
    return this.#held.size;
  }

  /** Looks for jobs on the next tick: jobs arrived (this process dispatched), or a slot came free. */
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
    this.reclaim();
    const free = this.prefetch - this.#held.size;
    if (free <= 0) return;
    const { store, options } = this;
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
    const { store } = this;
    const settle = (run: () => void) =>
      this.writes.write(run).finally(() => {
        this.#held.delete(seq);
        this.wake();
      });
    const wantsResult = row.want_result === 1;
    // The outcome is written with the ack or the move to the failed store, in one transaction,
    // when that took effect (the lease was still ours); a waiter here hears once it committed.
    const answer = (done: () => boolean, ended: JobEnd) => {
      let outcome: JobOutcome | undefined;
      return settle(() => {
        if (done()) outcome = store.results.record(row.id, this.queue, ended);
      }).then(() => {
        if (outcome !== undefined) store.results.onCommitted(row.id, outcome);
      });
    };
    return {
      body: typeof row.body === 'string' ? row.body : row.body.toString('utf8'),
      id: row.id,
      attempt: row.attempt,
      lastError: parseStoredError(row.last_error),
      wantsResult,
      ack: (result?: EncodedResult) =>
        wantsResult
          ? answer(() => store.ack.run(seq, owner).changes > 0, { json: result?.json })
          : settle(() => store.ack.run(seq, owner)),
      retry: (delayMs: number, error: StoredError) =>
        settle(() => store.retry.run(Date.now() + delayMs, JSON.stringify(error), seq, owner)),
      release: (delayMs = 0) => settle(() => store.release.run(Date.now() + delayMs, seq, owner)),
      fail: (error: StoredError) => {
        const move = () => {
          store.copyToFailed.run(JSON.stringify(error), Date.now(), seq, owner);
          return store.ack.run(seq, owner).changes > 0;
        };
        return wantsResult ? answer(move, { error }) : settle(move);
      },
    };
  }

  #renew(): void {
    if (this.#held.size === 0) return;
    try {
      this.store.renew.run(Date.now() + this.options.leaseMs, this.#owner);
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
    const { store } = this;
    const owner = this.#owner;
    const held = [...this.#held];
    this.#held.clear();
    await this.writes.write(() => {
      for (const seq of held) store.release.run(Date.now(), seq, owner);
    });
  }
}
