/**
 * The SQLite schema and every statement the SQLite transport runs. A job row is either ready
 * (`owner` null, `run_at` past), delayed (`owner` null, `run_at` ahead) or leased (`owner` set,
 * `run_at` = the lease's expiry). Leasing moves `run_at` to the expiry, so a lease that is not
 * renewed makes the job due again with no sweeper: a dead process's jobs come back by themselves.
 * On the same host they come back sooner: `owner` names the holding process (see
 * sqlite-holder.ts), and a consumer that finds it dead reclaims its jobs with `run_at` = 0, which
 * puts them before every other due job, in their `seq` (dispatch) order.
 */

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteFailedStore } from './sqlite-failed.js';
import { SqliteResultRows } from './sqlite-results.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  id         TEXT NOT NULL,
  queue      TEXT NOT NULL,
  body       BLOB NOT NULL,
  attempt    INTEGER NOT NULL,  -- deliveries counted so far
  run_at     INTEGER NOT NULL,  -- epoch ms: due time, or lease expiry while leased
  owner      TEXT,              -- the lane holding the lease, with its process (JSON)
  last_error TEXT               -- JSON of the previous attempt's error
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (queue, run_at, seq);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner) WHERE owner IS NOT NULL;
CREATE TABLE IF NOT EXISTS failed (
  seq       INTEGER PRIMARY KEY AUTOINCREMENT,
  id        TEXT NOT NULL,
  queue     TEXT NOT NULL,
  body      BLOB NOT NULL,
  attempts  INTEGER NOT NULL,
  error     TEXT NOT NULL,
  failed_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS failed_queue ON failed (queue, seq);
CREATE INDEX IF NOT EXISTS failed_id ON failed (queue, id);
`;

/** WAL pages past which a commit checkpoints (see {@link openDatabase}). */
const WAL_CHECKPOINT_PAGES = 4_000;

/**
 * A job row to insert: id, queue, body, attempt (deliveries so far), run_at, last_error, and
 * want_result (1 when a caller waits for its outcome; the column is sqlite-results.ts's).
 */
export type JobRow = [
  id: string,
  queue: string,
  body: string | Buffer,
  attempt: number,
  runAt: number,
  lastError: string | null,
  wantResult: 0 | 1,
];

/** The columns of a {@link JobRow}, in its order. */
const JOB_COLUMNS = '(id, queue, body, attempt, run_at, last_error, want_result)';
/** Values in a {@link JobRow}. */
const JOB_ROW_LENGTH = 7;
const JOB_VALUES = `(${Array(JOB_ROW_LENGTH).fill('?').join(', ')})`;

/**
 * Rows per multi-row INSERT of a bulk dispatch. Each `run` crosses into SQLite and steps on its
 * own: 30,000 rows in transactions of 1,000 took 8.6 µs a row one to a statement, 6.2 ten to a
 * statement, 5.8 fifty, 6.1 a hundred (median of 5, this machine).
 */
const ROWS_PER_INSERT = 50;

/** A leased row. */
export interface LeasedRow {
  seq: number;
  id: string;
  body: string | Buffer;
  attempt: number;
  last_error: string | null;
  /** 1 when a caller waits for the job's outcome (sqlite-results.ts). */
  want_result: number;
}

/** Opens (creating if needed) the queue database in WAL mode, safe to share between processes. */
export function openDatabase(path: string): Database.Database {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { timeout: 10_000 });
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit survives the process dying (the failure this queue is for);
  // only an OS crash or power loss may lose the last commits.
  db.pragma('synchronous = NORMAL');
  // A checkpoint (WAL pages copied into the file) syncs the WAL, then the file: two fsyncs, and
  // pages that several commits rewrote are copied once. At 4,000 pages (16 MiB of WAL) rather
  // than SQLite's 1,000, bulk dispatch on this machine's disk went from 57,500 to 80,000 jobs/s
  // (calls of 1,000; median of 5). After a checkpoint the WAL file is cut back to that size.
  db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
  db.pragma(`journal_size_limit = ${WAL_CHECKPOINT_PAGES * 4096}`);
  db.exec(SCHEMA);
  return db;
}

/** Prepared statements over one database. */
export class SqliteStore {
  readonly db: Database.Database;
  readonly #insertOne: Database.Statement<JobRow>;
  readonly #insertMany: Database.Statement<unknown[]>;
  /** The parameters of one {@link ROWS_PER_INSERT}-row insert, reused from one to the next. */
  readonly #manyParams: unknown[] = new Array(ROWS_PER_INSERT * JOB_ROW_LENGTH);
  readonly lease: Database.Statement<
    { owner: string; until: number; queue: string; now: number; limit: number },
    LeasedRow
  >;
  readonly nextDue: Database.Statement<[string], { run_at: number | null }>;
  readonly renew: Database.Statement<[number, string]>;
  readonly leaseOwners: Database.Statement<[], { owner: string }>;
  readonly reclaim: Database.Statement<[string]>;
  readonly ack: Database.Statement<[number, string]>;
  readonly retry: Database.Statement<[number, string, number, string]>;
  readonly release: Database.Statement<[number, number, string]>;
  readonly copyToFailed: Database.Statement<[string, number, number, string]>;
  readonly counts: Database.Statement<
    { queue: string; now: number },
    { ready: number | null; inFlight: number | null; delayed: number | null }
  >;
  readonly failedCount: Database.Statement<[string], { n: number }>;
  /** Reading and moving the failed store's jobs (sqlite-failed.ts). */
  readonly failed: SqliteFailedStore;
  /** The `results` table (sqlite-results.ts); it adds the `want_result` columns the statements below read. */
  readonly results: SqliteResultRows;

  constructor(path: string) {
    this.db = openDatabase(path);
    const db = this.db;
    this.results = new SqliteResultRows(db);
    // After the results rows: they add the want_result column to files made before it.
    this.#insertOne = db.prepare<JobRow>(`INSERT INTO jobs ${JOB_COLUMNS} VALUES ${JOB_VALUES}`);
    this.#insertMany = db.prepare<unknown[]>(
      `INSERT INTO jobs ${JOB_COLUMNS} VALUES ${Array(ROWS_PER_INSERT).fill(JOB_VALUES).join(', ')}`,
    );
    this.lease = db.prepare<
      { owner: string; until: number; queue: string; now: number; limit: number },
      LeasedRow
    >(
      `UPDATE jobs SET attempt = attempt + 1, owner = @owner, run_at = @until
       WHERE seq IN (SELECT seq FROM jobs WHERE queue = @queue AND run_at <= @now ORDER BY run_at, seq LIMIT @limit)
       RETURNING seq, id, body, attempt, last_error, want_result`,
    );
    this.nextDue = db.prepare<[string], { run_at: number | null }>(
      'SELECT min(run_at) AS run_at FROM jobs WHERE queue = ?',
    );
    this.renew = db.prepare<[number, string]>('UPDATE jobs SET run_at = ? WHERE owner = ?');
    this.leaseOwners = db.prepare<[], { owner: string }>(
      'SELECT DISTINCT owner FROM jobs WHERE owner IS NOT NULL',
    );
    // run_at = 0: due before any job of the backlog; the lease's ORDER BY run_at, seq then
    // takes reclaimed jobs in their dispatch order. The attempt the dead lease counted stays.
    this.reclaim = db.prepare<[string]>('UPDATE jobs SET owner = NULL, run_at = 0 WHERE owner = ?');
    this.ack = db.prepare<[number, string]>('DELETE FROM jobs WHERE seq = ? AND owner = ?');
    this.retry = db.prepare<[number, string, number, string]>(
      'UPDATE jobs SET owner = NULL, run_at = ?, last_error = ? WHERE seq = ? AND owner = ?',
    );
    this.release = db.prepare<[number, number, string]>(
      'UPDATE jobs SET owner = NULL, run_at = ?, attempt = attempt - 1 WHERE seq = ? AND owner = ?',
    );
    this.copyToFailed = db.prepare<[string, number, number, string]>(
      `INSERT INTO failed (id, queue, body, attempts, error, failed_at, want_result)
       SELECT id, queue, body, attempt, ?, ?, want_result FROM jobs WHERE seq = ? AND owner = ?`,
    );
    this.counts = db.prepare<
      { queue: string; now: number },
      { ready: number | null; inFlight: number | null; delayed: number | null }
    >(
      `SELECT sum(run_at <= @now) AS ready,
              sum(run_at > @now AND owner IS NOT NULL) AS inFlight,
              sum(run_at > @now AND owner IS NULL) AS delayed
       FROM jobs WHERE queue = @queue`,
    );
    this.failedCount = db.prepare<[string], { n: number }>(
      'SELECT count(*) AS n FROM failed WHERE queue = ?',
    );
    this.failed = new SqliteFailedStore(db);
  }

  /**
   * Inserts the rows of `items` in their order (call it inside a transaction),
   * {@link ROWS_PER_INSERT} to a statement where it can. Each row is made as its statement is
   * bound, into one reused parameter array: the rows of a batch of 30,000 held all at once (their
   * bodies' text with them) outlived the young generation, and garbage collection took 3.5 µs of
   * the job's ~8 (CPU profile of `bench/queue-child.mjs dispatch multitask-sqlite-many`).
   */
  insertAll<T>(items: readonly T[], toRow: (item: T) => JobRow): void {
    const params = this.#manyParams;
    let i = 0;
    for (; i + ROWS_PER_INSERT <= items.length; i += ROWS_PER_INSERT) {
      for (let row = 0; row < ROWS_PER_INSERT; row++) {
        const values = toRow(items[i + row]!);
        const at = row * JOB_ROW_LENGTH;
        for (let column = 0; column < JOB_ROW_LENGTH; column++) params[at + column] = values[column];
      }
      this.#insertMany.run(params);
    }
    for (; i < items.length; i++) this.insert(toRow(items[i]!));
  }

  /** Inserts one job row (call it inside a transaction); its `seq`. */
  insert(row: JobRow): number | bigint {
    return this.#insertOne.run(...row).lastInsertRowid;
  }
}
