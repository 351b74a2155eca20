/**
 * The dashboard's listener of the event feed (one for every queue, or one per queue when it was
 * given its queues by name: instances then send it nothing of the others), and what it keeps of it:
 * per queue the latest 200 events, per queue and task the run times of the last 2,000 completed
 * jobs (for percentiles) and counts, per job id its events (the last 10,000 ids), the events
 * missed (gaps: sampled out under a flood, or dropped), and the rows not yet sent to the pages
 * that watch a queue. Everything is
 * bounded: a flood costs the same memory as a trickle. The listener comes back by itself when
 * its subscription ends (a closed channel, a broker restart).
 */

import type { FeedEvent, JobEvent } from '../../queue/fleet-types.js';
import type { JobEventRow, TaskTimes } from './api.js';
import type { DashboardSource } from './source.js';

/** Events kept per queue for its page. */
export const RECENT_EVENTS = 200;
/** Run times kept per queue and task. */
export const TIMES_KEPT = 2_000;
/** Job ids whose events are kept for the job page. */
export const JOBS_KEPT = 10_000;
/** Events kept per job id. */
const EVENTS_PER_JOB = 50;
/**
 * Rows held for the pages between two sends (500 ms); past it the oldest are dropped: a page
 * shows the latest {@link RECENT_EVENTS}, so more would be bytes it throws away.
 */
const PENDING_MAX = RECENT_EVENTS;
/**
 * A gap of at least this many events is a drop, not the feed's sampling. Past 2,000 events a
 * second an instance sends the events of one job in k (docs/queues.md, "Samples, then drops"),
 * so the gaps between the jobs sent are a few events long, each job left out with probability
 * (k − 1)/k: 500 jobs left out in a row (1,000 events) has a chance of 0.9^500 ≈ 1e-23 at 20,000
 * events a second. A broker queue overflowing or a listener falling behind drops hundreds of
 * batches at once.
 */
export const DROP_MIN_EVENTS = 1_000;
/** How long the listener waits before subscribing again after its subscription ended. */
const RELISTEN_MS = 1_000;

/** One task's run times in one queue: a ring of the latest durations, and counts. */
class TaskRecord {
  completed = 0;
  failed = 0;
  readonly #durations = new Float64Array(TIMES_KEPT);
  #count = 0;

  add(durationMs: number): void {
    this.#durations[this.#count % TIMES_KEPT] = durationMs;
    this.#count++;
  }

  times(task: string): TaskTimes {
    const sorted = this.#durations.slice(0, Math.min(this.#count, TIMES_KEPT)).sort();
    const at = (q: number) =>
      sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
    return {
      task,
      completed: this.completed,
      failed: this.failed,
      p50Ms: at(0.5),
      p95Ms: at(0.95),
      p99Ms: at(0.99),
    };
  }
}

/** What the feed view asks of the rest of the dashboard. */
export interface FeedHooks {
  /** Host and pid of an instance, when known. */
  whereIs(instance: string): { host: string; pid: number } | undefined;
  /** An event named a queue (a producer's, maybe one no instance consumes yet). */
  queueSeen(queue: string): void;
}

/** See the module comment. */
export class FeedView {
  /** Events the listener was told it missed since the dashboard started (sampled out or dropped). */
  missed = 0;
  readonly #source: DashboardSource;
  readonly #hooks: FeedHooks;
  readonly #recent = new Map<string, JobEventRow[]>();
  readonly #tasks = new Map<string, Map<string, TaskRecord>>();
  readonly #jobs = new Map<string, JobEventRow[]>();
  /** The ids of {@link #jobs} in the order they came, a ring: the oldest is the next to go. */
  readonly #jobIds: Array<string | undefined> = new Array(JOBS_KEPT);
  #jobHead = 0;
  /** Gaps too long to be the feed's sampling (drops), of the last minutes: when, and how many events. */
  #drops: Array<{ at: number; missed: number }> = [];
  /** Rows for the pages, by queue: only for the queues some page watches. */
  readonly #pending = new Map<string, JobEventRow[]>();
  /**
   * The queues listened to, each by a subscription of its own; `[undefined]`: every queue. A
   * dashboard given its queues asks only for theirs: listening to every queue would have every
   * instance on the broker send it their events, and a busy neighbour's flood would push its own
   * queues' jobs out of what it keeps (or out of its bounded broker queue).
   */
  readonly #targets: readonly (string | undefined)[];
  readonly #feeds = new Set<AsyncIterableIterator<FeedEvent>>();
  #running = false;
  /** Which start a listening loop belongs to: a loop of an earlier start ends, even if running again. */
  #generation = 0;
  readonly #wakes = new Set<() => void>();

  constructor(source: DashboardSource, hooks: FeedHooks, queues: readonly string[] = []) {
    this.#source = source;
    this.#hooks = hooks;
    this.#targets = queues.length > 0 ? [...new Set(queues)] : [undefined];
  }

  get listening(): boolean {
    return this.#running;
  }

  /** Starts listening (once), until {@link stop}. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const generation = ++this.#generation;
    for (const queue of this.#targets) void this.#listen(generation, queue);
  }

  /** Stops listening and frees the subscriptions; what was kept stays. */
  async stop(): Promise<void> {
    this.#running = false;
    for (const wake of this.#wakes) wake();
    await Promise.all([...this.#feeds].map((feed) => feed.return?.()));
  }

  async #listen(generation: number, queue: string | undefined): Promise<void> {
    const current = () => this.#running && this.#generation === generation;
    while (current()) {
      let feed: AsyncIterableIterator<FeedEvent> | undefined;
      try {
        feed = this.#source.events(queue === undefined ? {} : { queue });
        this.#feeds.add(feed);
        for await (const event of feed) this.#take(event);
      } catch {
        // The subscription failed (broker gone, queue closed): free it, listen again in a moment.
        await feed?.return?.().catch(() => {});
      }
      if (feed !== undefined) this.#feeds.delete(feed);
      if (!current()) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#wakes.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, RELISTEN_MS);
        timer.unref();
        this.#wakes.add(wake);
      });
    }
  }

  #take(event: FeedEvent): void {
    if (event.type === 'gap') {
      this.missed += event.missed;
      if (event.missed >= DROP_MIN_EVENTS) {
        this.#drops.push({ at: Date.now(), missed: event.missed });
        if (this.#drops.length > 1_000) this.#drops = this.#drops.slice(-500);
      }
      return;
    }
    const row = this.#row(event);
    const queue = event.queue;
    let recent = this.#recent.get(queue);
    if (recent === undefined) {
      recent = [];
      this.#recent.set(queue, recent);
      this.#hooks.queueSeen(queue);
    }
    recent.push(row);
    if (recent.length > RECENT_EVENTS * 2) recent.splice(0, recent.length - RECENT_EVENTS);
    const pending = this.#pending.get(queue);
    if (pending !== undefined) {
      pending.push(row);
      // Trimmed in chunks: one splice per event past the cap would move the whole array each time.
      if (pending.length >= PENDING_MAX * 2) pending.splice(0, pending.length - PENDING_MAX);
    }
    if (event.id !== undefined) this.#keepForJob(event.id, row);
    if (event.task !== undefined && (event.type === 'completed' || event.type === 'failed')) {
      let tasks = this.#tasks.get(queue);
      if (tasks === undefined) {
        tasks = new Map();
        this.#tasks.set(queue, tasks);
      }
      let record = tasks.get(event.task);
      if (record === undefined) {
        record = new TaskRecord();
        tasks.set(event.task, record);
      }
      if (event.type === 'failed') record.failed++;
      else {
        record.completed++;
        if (event.durationMs !== undefined) record.add(event.durationMs);
      }
    }
  }

  #row(event: JobEvent): JobEventRow {
    const row: JobEventRow = {
      type: event.type,
      id: event.id ?? null,
      task: event.task ?? null,
      queue: event.queue,
      attempt: event.attempt,
      instance: event.instance,
      worker: event.worker ?? null,
      durationMs: event.durationMs ?? null,
      time: event.time.getTime(),
      error:
        event.error === undefined ? null : { code: event.error.code ?? null, message: event.error.message },
    };
    const where = this.#hooks.whereIs(event.instance);
    if (where !== undefined) {
      row.host = where.host;
      row.pid = where.pid;
    }
    return row;
  }

  #keepForJob(id: string, row: JobEventRow): void {
    let events = this.#jobs.get(id);
    if (events === undefined) {
      // The ring says which id is oldest: asking the Map for its first key walks the holes its
      // deletions left, and that walk grew with every job.
      const oldest = this.#jobIds[this.#jobHead];
      if (oldest !== undefined) this.#jobs.delete(oldest);
      this.#jobIds[this.#jobHead] = id;
      this.#jobHead = (this.#jobHead + 1) % JOBS_KEPT;
      events = [];
      this.#jobs.set(id, events);
    }
    events.push(row);
    if (events.length > EVENTS_PER_JOB) events.shift();
  }

  /** The latest events of a queue, newest first. */
  recent(queue: string): JobEventRow[] {
    return (this.#recent.get(queue) ?? []).slice(-RECENT_EVENTS).reverse();
  }

  /** Run times and counts per task of a queue, by task name. */
  tasks(queue: string): TaskTimes[] {
    const tasks = this.#tasks.get(queue);
    if (tasks === undefined) return [];
    return [...tasks.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([task, record]) => record.times(task));
  }

  /** The events seen of a job, oldest first (in the order they were recorded). */
  job(id: string): JobEventRow[] {
    return [...(this.#jobs.get(id) ?? [])].sort((a, b) => a.time - b.time);
  }

  /** Events dropped (gaps of at least {@link DROP_MIN_EVENTS}) in the last `ms`. */
  droppedOver(ms: number, now: number): number {
    this.#drops = this.#drops.filter((gap) => gap.at >= now - 15 * 60_000);
    return this.#drops.filter((gap) => gap.at >= now - ms).reduce((sum, gap) => sum + gap.missed, 0);
  }

  /** Holds rows for the pages watching exactly these queues from now on. */
  watch(queues: Set<string>): void {
    for (const queue of this.#pending.keys()) if (!queues.has(queue)) this.#pending.delete(queue);
    for (const queue of queues) if (!this.#pending.has(queue)) this.#pending.set(queue, []);
  }

  /** The rows held for the pages since the last call, by queue (queues with none left out). */
  takePending(): Map<string, JobEventRow[]> {
    const taken = new Map<string, JobEventRow[]>();
    for (const [queue, rows] of this.#pending) {
      if (rows.length === 0) continue;
      taken.set(queue, rows.length > PENDING_MAX ? rows.slice(-PENDING_MAX) : rows);
      this.#pending.set(queue, []);
    }
    return taken;
  }
}
