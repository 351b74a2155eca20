/**
 * The write batch of one SQLite file: every write asked for in one tick (the acks, retries and
 * releases of every lane, every dispatch) commits in one transaction, which is what makes a
 * file-backed queue fast. A write resolves once its transaction committed.
 */

import type Database from 'better-sqlite3';

interface PendingWrite {
  run: () => void;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Pending writes of one database, committed together on the next tick. */
export class WriteBatch {
  #pending: PendingWrite[] = [];
  #flushQueued = false;

  constructor(readonly db: Database.Database) {}

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

  /** Commits every pending write in one transaction (a failed one fails them all). */
  flush(): void {
    this.#flushQueued = false;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    try {
      this.db.transaction(() => {
        for (const write of batch) write.run();
      })();
    } catch (error) {
      for (const write of batch) write.reject(error as Error);
      return;
    }
    for (const write of batch) write.resolve();
  }
}
