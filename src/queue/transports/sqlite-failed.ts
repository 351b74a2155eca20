/**
 * The failed store of a SQLite file (the `failed` table): read a page at a time or one job by
 * id, and moved back to the queue or deleted, by ids or all at once. A row's `id` column is the
 * job's id (publish writes the body's id there), so every lookup goes by that column.
 *
 * At-least-once delivery can fail one job twice (a duplicate, or the same message dispatched
 * again): the rows share an id. A listing shows only the latest row of an id, so an id names one
 * entry; a retry or purge by id acts on every row with it, so no copy stays behind.
 */

import type Database from 'better-sqlite3';
import { invalidOption } from '../../errors.js';
import { parseStoredError, peekJob } from '../message.js';
import type { FailedJob, FailedPage } from '../transport.js';

/** A failed-store row. */
interface FailedRow {
  seq: number;
  id: string;
  queue: string;
  body: string | Buffer;
  attempts: number;
  error: string;
  failed_at: number;
}

const COLUMNS = 'seq, id, queue, body, attempts, error, failed_at';
/** A row no later row of the same id hides (see the module comment). */
const LATEST =
  'NOT EXISTS (SELECT 1 FROM failed AS later WHERE later.queue = failed.queue AND later.id = failed.id AND later.seq > failed.seq)';
/** The rows whose id is in `@ids`, a JSON array (one statement for any number of ids). */
const IN_IDS = 'id IN (SELECT value FROM json_each(@ids))';

interface Which {
  queue: string;
  /** The ids as a JSON array; absent for every job of the queue. */
  ids?: string;
}

/** The statements that act on a set of failed jobs: every one of a queue, or those of some ids. */
interface SetStatements {
  /** Each id once, oldest first (by its latest row, as a listing orders them). */
  ids: Database.Statement<Which, { id: string }>;
  /** Back in the queue with a fresh count of attempts (the next lease makes it attempt 1). */
  toJobs: Database.Statement<Which & { now: number }>;
  remove: Database.Statement<Which>;
}

function setStatements(db: Database.Database, where: string): SetStatements {
  return {
    ids: db.prepare<Which, { id: string }>(
      `SELECT id FROM failed WHERE ${where} GROUP BY id ORDER BY max(seq)`,
    ),
    // An operator's retry is a new start; the error stays as the job's last, for the record.
    toJobs: db.prepare<Which & { now: number }>(
      `INSERT INTO jobs (id, queue, body, attempt, run_at, last_error, want_result)
       SELECT id, queue, body, 0, @now, error, want_result FROM failed WHERE ${where} ORDER BY seq`,
    ),
    remove: db.prepare<Which>(`DELETE FROM failed WHERE ${where}`),
  };
}

/** The failed store's statements over one database. */
export class SqliteFailedStore {
  readonly #db: Database.Database;
  readonly #page: Database.Statement<{ queue: string; after: number; limit: number }, FailedRow>;
  readonly #latestSeq: Database.Statement<{ queue: string; id: string }, { seq: number | null }>;
  readonly #one: Database.Statement<{ queue: string; id: string }, FailedRow>;
  readonly #all: SetStatements;
  readonly #some: SetStatements;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#page = db.prepare(
      `SELECT ${COLUMNS} FROM failed
       WHERE queue = @queue AND seq > @after AND ${LATEST} ORDER BY seq LIMIT @limit`,
    );
    this.#latestSeq = db.prepare('SELECT max(seq) AS seq FROM failed WHERE queue = @queue AND id = @id');
    this.#one = db.prepare(
      `SELECT ${COLUMNS} FROM failed WHERE queue = @queue AND id = @id ORDER BY seq DESC LIMIT 1`,
    );
    this.#all = setStatements(db, 'queue = @queue');
    this.#some = setStatements(db, `queue = @queue AND ${IN_IDS}`);
  }

  /** See {@link Transport.failed}; an `after` that no job has is `ERR_INVALID_OPTION`. */
  page(queue: string, { limit, after }: FailedPage): FailedJob[] {
    // One read transaction: the cursor and the page see the same store.
    return this.#db.transaction(() => {
      let afterSeq = 0;
      if (after !== undefined) {
        const seq = this.#latestSeq.get({ queue, id: after })?.seq;
        if (seq === undefined || seq === null)
          throw invalidOption('after', after, 'the id of a job in the failed store');
        afterSeq = seq;
      }
      return this.#page.all({ queue, after: afterSeq, limit }).map(toFailedJob);
    })();
  }

  /** The latest failed job with this id, or undefined. */
  job(queue: string, id: string): FailedJob | undefined {
    const row = this.#one.get({ queue, id });
    return row === undefined ? undefined : toFailedJob(row);
  }

  /** Moves the jobs back to the queue in one transaction; resolves with their ids, oldest first. */
  retry(queue: string, ids: readonly string[] | undefined, now: number): string[] {
    return this.#act(queue, ids, (statements, which) => statements.toJobs.run({ ...which, now }));
  }

  /** Deletes the jobs; returns their ids, oldest first. */
  purge(queue: string, ids: readonly string[] | undefined): string[] {
    return this.#act(queue, ids, () => {});
  }

  /** Runs `move` on the chosen rows, then deletes them, in one transaction. */
  #act(
    queue: string,
    ids: readonly string[] | undefined,
    move: (statements: SetStatements, which: Which) => void,
  ): string[] {
    const statements = ids === undefined ? this.#all : this.#some;
    const which: Which = ids === undefined ? { queue } : { queue, ids: JSON.stringify(ids) };
    return this.#db.transaction(() => {
      const found = statements.ids.all(which).map((row) => row.id);
      if (found.length === 0) return found;
      move(statements, which);
      statements.remove.run(which);
      return found;
    })();
  }
}

function toFailedJob(row: FailedRow): FailedJob {
  const body = typeof row.body === 'string' ? row.body : row.body.toString('utf8');
  const { task, fields } = peekJob(body);
  return {
    // The row's id is the body's when it has one (see SqliteTransport.publish): the id the consumer logged.
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
