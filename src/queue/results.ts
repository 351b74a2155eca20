/**
 * The results this process waits for: one entry per job id that `queue.call` dispatched, or
 * that `dispatch(…, { result: true })` asked to keep, and the waits on it. Transports hand
 * outcomes in through the {@link ResultSink} side; `queue.call` and `queue.result` wait on the
 * other. A wait never stops the job: it ends with the outcome, its `waitMs`, its signal, or a
 * reply path that died (RabbitMQ), whichever comes first.
 *
 * Thousands of calls may wait at once (docs/BENCHMARKS.md measures 10,000), so a wait is one
 * small object, not a set of closures: an entry holds its one wait directly, and a timer or an
 * abort listener exists only when `waitMs` or `signal` asked for one.
 */

import { abortError, jobFailed, resultAlreadyAwaited, resultLost, resultTimeout } from '../errors.js';
import { decodeResult } from '../task/field-tags.js';
import type { JobOutcome, ResultSink } from './transport.js';

/** The longest delay a Node.js timer takes (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How a wait ends: with the job's outcome, or because the outcome can no longer arrive. */
type Settlement = JobOutcome | { readonly ok: 'lost'; readonly error: Error };

interface Entry {
  readonly id: string;
  settlement: Settlement | undefined;
  /** The waits on it: one, usually (a `call`), or more (`result` asked again meanwhile). */
  waits: Waiting | Waiting[] | undefined;
  /**
   * Kept once settled, for `queue.result(id)`, until the TTL runs out: a job dispatched with
   * `result: true` on a transport that keeps no results itself (RabbitMQ).
   */
  readonly kept: boolean;
  /** The task's registered name, when this process dispatched it: named in a failure. */
  readonly taskName: string | undefined;
}

/** How long, and on what, a wait waits. */
export interface Wait {
  /** ms; `Infinity` for as long as it takes. */
  readonly waitMs: number;
  readonly signal: AbortSignal | undefined;
}

/** One `call` or `result` waiting on an entry. */
class Waiting {
  #timer: NodeJS.Timeout | undefined;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;

  constructor(
    readonly owner: ResultWaits,
    readonly entry: Entry,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: unknown) => void,
    { waitMs, signal }: Wait,
  ) {
    if (Number.isFinite(waitMs)) {
      this.#timer = setTimeout(() => this.end(undefined, resultTimeout(entry.id, waitMs)), waitMs);
    }
    if (signal !== undefined) {
      this.#signal = signal;
      this.#onAbort = () => this.end(undefined, abortError(signal.reason));
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** Ends the wait with the settlement, or with `error`; the first ending wins. */
  end(settlement: Settlement | undefined, error?: Error, shared = false): void {
    if (!this.owner.release(this)) return;
    clearTimeout(this.#timer);
    if (this.#onAbort !== undefined) this.#signal!.removeEventListener('abort', this.#onAbort);
    if (settlement === undefined) this.reject(error);
    else this.resolve(outcomeOf(settlement, shared, this.entry.taskName));
  }
}

/** See the module comment. */
export class ResultWaits implements ResultSink {
  readonly #entries = new Map<string, Entry>();
  #outstanding = 0;
  /** Kept entries in the order they settled, each with the time it expires. */
  readonly #expiring: Array<{ entry: Entry; until: number }> = [];
  #expiringHead = 0;
  #sweep: NodeJS.Timeout | undefined;

  /** @param ttlMs how long a kept outcome stays readable after it arrived (ms) */
  constructor(readonly ttlMs: number) {}

  /** True when this process waits for job `id`, or keeps its outcome. */
  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /**
   * Starts waiting for job `id`, before its dispatch (an outcome may beat the publisher
   * confirm). `ERR_INVALID_OPTION` while another job of the same id is still awaited here:
   * one reply would settle both.
   */
  expect(id: string, kept: boolean, taskName?: string): void {
    const known = this.#entries.get(id);
    if (known !== undefined && known.settlement === undefined) throw resultAlreadyAwaited(id);
    this.#entries.set(id, { id, settlement: undefined, waits: undefined, kept, taskName });
    this.#outstanding++;
  }

  /**
   * Waits for the outcome of an expected job: resolves with its decoded return value, rejects
   * with its failure, `ERR_RESULT_TIMEOUT` after `waitMs`, an AbortError when `signal` aborts,
   * or `ERR_RESULT_LOST`. Only the wait ends; the job goes on.
   */
  wait(id: string, wait: Wait): Promise<unknown> {
    const entry = this.#entries.get(id);
    if (entry === undefined) return Promise.reject(new Error(`no result expected for job ${id}`));
    if (entry.settlement !== undefined) return outcomeOf(entry.settlement, entry.kept, entry.taskName);
    return new Promise((resolve, reject) => {
      const waiting = new Waiting(this, entry, resolve, reject, wait);
      if (entry.waits === undefined) entry.waits = waiting;
      else if (Array.isArray(entry.waits)) entry.waits.push(waiting);
      else entry.waits = [entry.waits, waiting];
    });
  }

  /**
   * Takes a wait off its entry; false when it ended already. The last wait of an entry that is
   * neither settled nor kept forgets the job (it goes on regardless).
   */
  release(waiting: Waiting): boolean {
    const { entry } = waiting;
    const { waits } = entry;
    if (waits === waiting) entry.waits = undefined;
    else if (Array.isArray(waits) && waits.includes(waiting)) {
      waits.splice(waits.indexOf(waiting), 1);
      if (waits.length === 0) entry.waits = undefined;
    } else return false;
    if (entry.waits === undefined && !entry.kept && entry.settlement === undefined) this.#drop(entry);
    return true;
  }

  /** The dispatch of an expected job failed: its waits reject with `error`, and it is forgotten. */
  abandon(id: string, error: Error): void {
    const entry = this.#entries.get(id);
    if (entry === undefined || entry.settlement !== undefined) return;
    this.#drop(entry);
    this.#settle(entry, { ok: 'lost', error });
  }

  expecting(id: string): boolean {
    const entry = this.#entries.get(id);
    return entry !== undefined && entry.settlement === undefined;
  }

  outstanding(): number {
    return this.#outstanding;
  }

  settled(id: string, outcome: JobOutcome): void {
    const entry = this.#entries.get(id);
    // Already settled (a duplicate delivery answered twice, or SQLite's poll after the in-process wake-up).
    if (entry === undefined || entry.settlement !== undefined) return;
    this.#complete(entry, outcome);
  }

  lost(ids: readonly string[], why: string): void {
    for (const id of ids) {
      const entry = this.#entries.get(id);
      if (entry !== undefined && entry.settlement === undefined)
        this.#complete(entry, { ok: 'lost', error: resultLost(id, why) });
    }
  }

  /** The queue closed: every wait rejects with `ERR_RESULT_LOST`, and nothing is kept. */
  close(): void {
    clearTimeout(this.#sweep);
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    this.#outstanding = 0;
    for (const entry of entries)
      if (entry.settlement === undefined)
        this.#settle(entry, { ok: 'lost', error: resultLost(entry.id, 'the queue was closed') });
  }

  #complete(entry: Entry, settlement: Settlement): void {
    entry.settlement = settlement;
    this.#outstanding--;
    this.#settle(entry, settlement);
    if (entry.kept) this.#keep(entry);
    else if (this.#entries.get(entry.id) === entry) this.#entries.delete(entry.id);
  }

  #settle(entry: Entry, settlement: Settlement): void {
    const { waits } = entry;
    if (waits === undefined) return;
    if (!Array.isArray(waits)) {
      waits.end(settlement, undefined, entry.kept);
      return;
    }
    // A value read by more than one wait is decoded from a copy each time.
    for (const waiting of [...waits]) waiting.end(settlement, undefined, true);
  }

  #drop(entry: Entry): void {
    if (this.#entries.get(entry.id) !== entry) return;
    this.#entries.delete(entry.id);
    if (entry.settlement === undefined) this.#outstanding--;
  }

  /** Keeps a settled entry for `ttlMs`; one timer, for the oldest, sweeps them in arrival order. */
  #keep(entry: Entry): void {
    this.#expiring.push({ entry, until: Date.now() + this.ttlMs });
    if (this.#sweep === undefined) this.#schedule();
  }

  #schedule(): void {
    const next = this.#expiring[this.#expiringHead];
    const delay = next === undefined ? 0 : Math.min(MAX_TIMER_MS, Math.max(0, next.until - Date.now()));
    this.#sweep = next === undefined ? undefined : setTimeout(() => this.#expire(), delay).unref();
  }

  #expire(): void {
    const now = Date.now();
    for (;;) {
      const next = this.#expiring[this.#expiringHead];
      if (next === undefined || next.until > now) break;
      this.#expiringHead++;
      if (this.#entries.get(next.entry.id) === next.entry) this.#entries.delete(next.entry.id);
    }
    if (this.#expiringHead > 1024 && this.#expiringHead * 2 > this.#expiring.length) {
      this.#expiring.splice(0, this.#expiringHead);
      this.#expiringHead = 0;
    }
    this.#schedule();
  }
}

/** The value a settlement resolves with, or the error it rejects with. */
function outcomeOf(settlement: Settlement, shared: boolean, taskName: string | undefined): Promise<unknown> {
  if (settlement.ok === 'lost') return Promise.reject(settlement.error);
  if (!settlement.ok) return Promise.reject(jobFailed(settlement.error, taskName));
  try {
    return Promise.resolve(decodeResult(shared ? structuredClone(settlement.value) : settlement.value));
  } catch (error) {
    return Promise.reject(error);
  }
}
