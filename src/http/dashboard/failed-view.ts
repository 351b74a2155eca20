/**
 * The failed jobs tables: pages of a queue's failed store, searchable by id, task and error
 * code. A search must look at every failed job, and 10,000 of them take a moment to read, so
 * each queue's store is read whole once and kept: read again when its failed count (asked at
 * each request: one cheap `stats`) is not the copy's any more, after an action from the
 * dashboard, or after {@link FAILED_TTL_MS}. Paging through the copy is then a slice.
 */

import type { FailedJob } from '../../queue/transport.js';
import type { FailedPage, FailedRow } from './api.js';
import { HttpRefusal } from './respond.js';
import type { DashboardSource } from './source.js';

/** The longest a copy of a failed store is used without reading it again. */
export const FAILED_TTL_MS = 10_000;
/** A changed failed count is read again at most this often (failures may arrive every ms). */
const REFRESH_MIN_MS = 1_000;
/** Jobs read per call when reading a store whole. */
const READ_PAGE = 2_000;
/** The largest page a table may ask for. */
export const MAX_PAGE = 500;

interface Copy {
  rows: FailedRow[];
  /** The failed count read just before this copy was made. */
  count: number;
  at: number;
}

/** A failed job as the page shows it. */
export function failedRow(job: FailedJob): FailedRow {
  return {
    id: job.id,
    queue: job.queue,
    task: job.task ?? null,
    fields: job.fields ?? null,
    attempts: job.attempts,
    error: { code: job.error.code ?? null, message: job.error.message, stack: job.error.stack ?? null },
    failedAt: job.failedAt.getTime(),
    body: job.body,
  };
}

/** See the module comment. */
export class FailedView {
  readonly #source: DashboardSource;
  readonly #copies = new Map<string, Copy>();
  /** Reads under way, shared by the requests that come meanwhile. */
  readonly #reading = new Map<string, Promise<Copy>>();

  constructor(source: DashboardSource) {
    this.#source = source;
  }

  /** A page of `queue`'s failed jobs matching `search`, after the job `after`. */
  async page(
    queue: string,
    options: { limit: number; after?: string; search?: string },
  ): Promise<FailedPage> {
    const copy = await this.#copy(queue);
    const needle = options.search?.trim().toLowerCase() ?? '';
    const matching = needle === '' ? copy.rows : copy.rows.filter((row) => matches(row, needle));
    let start = 0;
    if (options.after !== undefined) {
      const index = matching.findIndex((row) => row.id === options.after);
      if (index < 0)
        throw new HttpRefusal(
          400,
          'ERR_INVALID_OPTION',
          `no failed job ${JSON.stringify(options.after)} in this list`,
        );
      start = index + 1;
    }
    const jobs = matching.slice(start, start + options.limit);
    const more = start + options.limit < matching.length;
    return { jobs, next: more ? jobs.at(-1)!.id : null, total: matching.length };
  }

  /** Forgets the copy of `queue` (an action changed its store). */
  invalidate(queue: string): void {
    this.#copies.delete(queue);
  }

  async #copy(queue: string): Promise<Copy> {
    const known = this.#copies.get(queue);
    const count = (await this.#source.stats(queue)).failed;
    const now = Date.now();
    if (
      known !== undefined &&
      now - known.at < FAILED_TTL_MS &&
      (known.count === count || now - known.at < REFRESH_MIN_MS)
    )
      return known;
    let reading = this.#reading.get(queue);
    if (reading === undefined) {
      reading = this.#read(queue, count).finally(() => this.#reading.delete(queue));
      this.#reading.set(queue, reading);
    }
    return reading;
  }

  async #read(queue: string, count: number): Promise<Copy> {
    const rows: FailedRow[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.#source.failed(
        queue,
        after === undefined ? { limit: READ_PAGE } : { limit: READ_PAGE, after },
      );
      for (const job of page) rows.push(failedRow(job));
      if (page.length < READ_PAGE) break;
      after = page.at(-1)!.id;
    }
    const copy = { rows, count, at: Date.now() };
    this.#copies.set(queue, copy);
    return copy;
  }
}

/** The search: a case-insensitive part of the id, the task's name or the error's code. */
function matches(row: FailedRow, needle: string): boolean {
  return (
    row.id.toLowerCase().includes(needle) ||
    (row.task?.toLowerCase().includes(needle) ?? false) ||
    (row.error.code?.toLowerCase().includes(needle) ?? false)
  );
}
