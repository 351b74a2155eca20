/**
 * Results on SQLite. A job dispatched with a result wanted carries `want_result = 1` (in
 * `jobs`, and in `failed`, so that an operator's retry still answers); when it is acked or
 * fails for good, its outcome is written to the `results` table in the same transaction as the
 * ack or the move to the failed store. A waiting caller in the same process hears of it as soon
 * as that transaction commits; callers in other processes read the rows written since their last
 * look, every `pollMs`, and only while they wait for something. Rows are kept `resultTtlMs`
 * after the job finished, and pruned by the writers, at most once a minute.
 */

import type Database from 'better-sqlite3';
import { parseStoredError } from '../message.js';
import type { JobEnd, JobOutcome, ResultSink } from '../transport.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS results (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  id          TEXT NOT NULL,
  queue       TEXT NOT NULL,
  ok          INTEGER NOT NULL,  -- 1: the task returned; 0: the job failed for good
  value       TEXT,              -- ok: JSON of the return value, tags included (NULL for undefined)
  error       TEXT,              -- not ok: JSON of the error, as the failed store keeps it
  finished_at INTEGER NOT NULL   -- epoch ms
);
CREATE INDEX IF NOT EXISTS results_id ON results (id, seq);
CREATE INDEX IF NOT EXISTS results_finished ON results (finished_at);
`;

/**
 * Pruning runs at most this often (ms), or every `resultTtlMs` when that is shorter: a DELETE
 * per acked job would cost more than the rows.
 */
const PRUNE_EVERY_MS = 60_000;

/** Rows read by one look of a caller in another process; the next look goes on from there. */
const POLL_BATCH = 1_000;

interface ResultRow {
  seq: number;
  id: string;
  ok: number;
  value: string | null;
  error: string | null;
}

/**
 * Adds `want_result` to `jobs` and `failed` in files made before results existed; in one
 * immediate transaction, so that two processes opening the file at once add it once.
 */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    for (const table of ['jobs', 'failed']) {
      const columns = db
        .prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table}')`)
        .all();
      if (!columns.some((column) => column.name === 'want_result'))
        db.exec(`ALTER TABLE ${table} ADD COLUMN want_result INTEGER NOT NULL DEFAULT 0`);
    }
    // Only the jobs that want a result: `queue.result(id)` asks whether one of them is pending.
    db.exec('CREATE INDEX IF NOT EXISTS jobs_result ON jobs (id) WHERE want_result = 1');
    db.exec(SCHEMA);
  }).immediate();
}

/** The `results` table's statements, and the hand-over of outcomes this process wrote. */
export class SqliteResultRows {
  readonly #insert: Database.Statement<[string, string, number, string | null, string | null, number]>;
  readonly #latest: Database.Statement<[string, number], ResultRow>;
  readonly #pending: Database.Statement<[string], { one: number }>;
  readonly #last: Database.Statement<[], { seq: number }>;
  readonly #since: Database.Statement<[number, number], ResultRow>;
  readonly #prune: Database.Statement<[number]>;
  #prunedAt = 0;
  /** How long rows are kept (ms); set from the queue's `resultTtlMs`. */
  ttlMs = 3_600_000;
  /** Hears the outcomes this process committed (the transport's watch). */
  onCommitted: (id: string, outcome: JobOutcome) => void = () => {};

  constructor(readonly db: Database.Database) {
    migrate(db);
    this.#insert = db.prepare(
      'INSERT INTO results (id, queue, ok, value, error, finished_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#latest = db.prepare(
      'SELECT seq, id, ok, value, error FROM results WHERE id = ? AND finished_at >= ? ORDER BY seq DESC LIMIT 1',
    );
    this.#pending = db.prepare('SELECT 1 AS one FROM jobs WHERE id = ? AND want_result = 1 LIMIT 1');
    this.#last = db.prepare('SELECT seq FROM results ORDER BY seq DESC LIMIT 1');
    this.#since = db.prepare(
      'SELECT seq, id, ok, value, error FROM results WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    this.#prune = db.prepare('DELETE FROM results WHERE finished_at < ?');
  }

  /**
   * Writes a job's outcome; call it inside the write that acks or fails the job. Returns the
   * outcome to hand over once that write committed.
   */
  record(id: string, queue: string, ended: JobEnd): JobOutcome {
    const now = Date.now();
    let outcome: JobOutcome;
    if ('error' in ended) {
      this.#insert.run(id, queue, 0, null, JSON.stringify(ended.error), now);
      outcome = { ok: false, error: ended.error };
    } else {
      this.#insert.run(id, queue, 1, ended.json ?? null, null, now);
      outcome = ended.json === undefined ? { ok: true } : { ok: true, value: JSON.parse(ended.json) };
    }
    if (now - this.#prunedAt >= Math.min(PRUNE_EVERY_MS, this.ttlMs)) {
      this.#prunedAt = now;
      this.#prune.run(now - this.ttlMs);
    }
    return outcome;
  }

  /**
   * Job `id`'s outcome, read in one snapshot: `pending` while a job of that id that wants a
   * result is in the queue (a retry from the failed store included), else its latest outcome
   * younger than `ttlMs`, else `unknown`.
   */
  lookup(id: string): JobOutcome | 'pending' | 'unknown' {
    return this.db.transaction(() => {
      if (this.#pending.get(id) !== undefined) return 'pending' as const;
      // A row past its time is gone for a reader, whether or not a writer pruned it yet.
      const row = this.#latest.get(id, Date.now() - this.ttlMs);
      return row === undefined ? ('unknown' as const) : outcomeOf(row);
    })();
  }

  /** The last row's seq (0 for none): outcomes written from now on have a greater one. */
  last(): number {
    return this.#last.get()?.seq ?? 0;
  }

  /** Rows after `seq`, in the order they were written, at most {@link POLL_BATCH}. */
  since(seq: number): ResultRow[] {
    return this.#since.all(seq, POLL_BATCH);
  }
}

/** A row as its caller sees it. */
export function outcomeOf(row: ResultRow): JobOutcome {
  if (row.ok !== 1) {
    return { ok: false, error: parseStoredError(row.error) ?? { name: 'Error', message: 'failed' } };
  }
  return row.value === null ? { ok: true } : { ok: true, value: JSON.parse(row.value) };
}

/**
 * Hands outcomes to this process's waits: at once for those this process wrote, and, while
 * anything is awaited, those other processes wrote, read every `pollMs` (a timer, not a loop).
 */
export class SqliteResultWatch {
  #sink: ResultSink | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The last row looked at. */
  #after = 0;

  constructor(
    readonly rows: SqliteResultRows,
    readonly pollMs: number,
  ) {}

  receive(sink: ResultSink): void {
    this.#sink = sink;
    this.rows.onCommitted = (id, outcome) => sink.settled(id, outcome);
  }

  /**
   * Starts looking, unless it looks already. Called before a job that wants a result is
   * written, or looked up: its outcome is then written after the row this starts from.
   */
  watch(): void {
    if (this.#timer !== undefined) return;
    this.#after = this.rows.last();
    this.#timer = setTimeout(() => this.#poll(), this.pollMs);
  }

  #poll(): void {
    this.#timer = undefined;
    const sink = this.#sink;
    if (sink === undefined || !this.rows.db.open) return;
    if (sink.outstanding() === 0) return;
    let rows: ResultRow[];
    try {
      rows = this.rows.since(this.#after);
    } catch {
      // Busy past the timeout: look again at the next tick of the poll.
      rows = [];
    }
    for (const row of rows) {
      this.#after = row.seq;
      if (sink.expecting(row.id)) sink.settled(row.id, outcomeOf(row));
    }
    if (sink.outstanding() === 0) return;
    // A full batch: more rows wait, read them now rather than a poll later.
    this.#timer = setTimeout(() => this.#poll(), rows.length === POLL_BATCH ? 0 : this.pollMs);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
