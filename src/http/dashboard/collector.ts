/**
 * The one collector of a dashboard: every second it reads the counts of each known queue
 * (`stats`) and the instances (cheap: announcements are cached), and builds the snapshot every
 * page receives. However many pages watch, the broker is asked once per second. The queues it
 * knows: those it was given; or, when none were, those the live instances consume and those
 * the feed names. The
 * feed listener runs while someone watches (see {@link Collector.watched}): it is what makes
 * every instance publish its events, which costs them a little, so nobody watching costs nothing.
 */

import type { QueueStats } from '../../queue/transport.js';
import { AlertBook, findAlerts, GAPS_WINDOW_MS } from './alerts.js';
import {
  type Alert,
  type QueueDetail,
  type QueueRow,
  SERIES_STEP_MS,
  SNAPSHOT_EVERY_MS,
  type Snapshot,
} from './api.js';
import { FeedView } from './feed-view.js';
import { InstancesView } from './instances-view.js';
import { safeJson } from './respond.js';
import { QueueSeries } from './series.js';
import type { DashboardSource } from './source.js';

/** A poll that takes longer is given up: the snapshot goes on with the counts it has. */
const POLL_TIMEOUT_MS = 5_000;
/** The feed listener stops this long after the last sign of someone watching. */
export const FEED_IDLE_MS = 60_000;
/** A queue given by name that is not there yet is looked for again this often. */
const EXISTS_EVERY_MS = 10_000;

interface Known {
  stats: QueueStats | undefined;
  series: QueueSeries;
  /** Given by name and not there (yet): its stats would create it on RabbitMQ. */
  missing: boolean;
  checkedAt: number;
}

/** See the module comment. */
export class Collector {
  readonly transport: 'amqp' | 'sqlite';
  readonly feed: FeedView;
  readonly #source: DashboardSource;
  readonly #queues = new Map<string, Known>();
  readonly #instances = new InstancesView();
  readonly #alerts = new AlertBook();
  readonly #listeners = new Set<(snapshot: Snapshot, json: string) => void>();
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #lastWatched = 0;
  #polledAt = 0;
  #snapshot: Snapshot;
  #json: string;
  #closed = false;
  /** Queues were given by name: show those only. */
  readonly #onlyGiven: boolean;

  constructor(source: DashboardSource, queues: readonly string[]) {
    this.#source = source;
    this.transport = source.url.startsWith('sqlite:') ? 'sqlite' : 'amqp';
    this.#onlyGiven = queues.length > 0;
    for (const name of queues) this.#know(name, true);
    this.feed = new FeedView(
      source,
      {
        whereIs: (id) => this.#instances.whereIs(id),
        queueSeen: (queue) => this.#know(queue, false),
      },
      queues,
    );
    this.#snapshot = this.#build(Date.now());
    this.#json = safeJson(this.#snapshot);
  }

  /** Starts polling (once): at once, then every second. */
  start(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setInterval(() => this.#tick(), SNAPSHOT_EVERY_MS);
    // The dashboard's timers never keep a process alive: its server does, while it listens.
    this.#timer.unref();
    this.#tick();
  }

  /** Someone looks (a request, an open stream): keeps the feed listener on for a while. */
  watched(): void {
    this.#lastWatched = Date.now();
    if (!this.#closed && !this.feed.listening) this.feed.start();
  }

  /** The latest snapshot, and its JSON (made once for every page). */
  get snapshot(): { snapshot: Snapshot; json: string } {
    return { snapshot: this.#snapshot, json: this.#json };
  }

  /** Hears every new snapshot; returns the function that stops it. */
  onSnapshot(listener: (snapshot: Snapshot, json: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** True when the dashboard knows this queue (given, consumed, or seen in the feed). */
  knows(queue: string): boolean {
    return this.#queues.has(queue);
  }

  /** Every known queue's name. */
  queueNames(): string[] {
    return [...this.#queues.keys()];
  }

  /** A queue's page, or undefined for a queue it does not know. */
  detail(queue: string): QueueDetail | undefined {
    const row = this.#snapshot.queues.find((candidate) => candidate.name === queue);
    if (row === undefined) return undefined;
    return { row, tasks: this.feed.tasks(queue), recent: this.feed.recent(queue) };
  }

  /** Stops the timer and the feed listener; the source stays open. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
    await this.feed.stop();
  }

  #know(name: string, given: boolean): void {
    // Queues given by name are the ones to show: no others are looked at (nor, on RabbitMQ,
    // redeclared by `stats` with this process's own delay ladder).
    if (this.#queues.has(name) || (!given && this.#onlyGiven)) return;
    this.#queues.set(name, { stats: undefined, series: new QueueSeries(), missing: given, checkedAt: 0 });
  }

  #tick(): void {
    const now = Date.now();
    const idle = now - this.#lastWatched > FEED_IDLE_MS;
    if (this.feed.listening && idle) void this.feed.stop();
    // Unwatched, one poll per series step keeps the history at a fifth of the broker queries.
    if (!this.#polling && (!idle || now - this.#polledAt >= SERIES_STEP_MS)) {
      this.#polling = true;
      this.#polledAt = now;
      void this.#poll().finally(() => {
        this.#polling = false;
      });
    }
    this.#publish(now);
  }

  #publish(now: number): void {
    this.#snapshot = this.#build(now);
    this.#json = safeJson(this.#snapshot);
    for (const listener of this.#listeners) listener(this.#snapshot, this.#json);
  }

  /** Reads the instances, then the counts of every known queue; a slow broker is given up on. */
  async #poll(): Promise<void> {
    const source = this.#source;
    if (!source.connected) return;
    const work = (async () => {
      const infos = await source.instances();
      const now = Date.now();
      const ended = this.#instances.update(infos, now);
      for (const queue of this.#instances.queues()) this.#know(queue, false);
      for (const [queue, counts] of ended) {
        this.#know(queue, false);
        this.#queues.get(queue)!.series.ended(counts.completed, counts.failed, now);
      }
      await Promise.all(
        [...this.#queues.entries()].map(async ([name, known]) => {
          if (known.missing) {
            if (now - known.checkedAt < EXISTS_EVERY_MS) return;
            known.checkedAt = now;
            // Consumed queues exist; one only given is not created by looking at it.
            if (!this.#instances.consumed(name) && !(await source.exists(name))) return;
            known.missing = false;
          }
          known.stats = await source.stats(name);
          known.series.ready(known.stats.ready, Date.now());
        }),
      );
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, POLL_TIMEOUT_MS);
      timer.unref();
    });
    // A failure (the broker went away mid-poll) leaves the last counts; the next tick tries again.
    await Promise.race([work.catch(() => {}), timeout]);
    clearTimeout(timer);
  }

  #build(now: number): Snapshot {
    const queues: QueueRow[] = [...this.#queues.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, known]) => {
        const stats = known.stats ?? { ready: 0, inFlight: 0, delayed: 0, failed: 0 };
        const rates = this.#instances.rates(name);
        return {
          name,
          ready: stats.ready,
          // RabbitMQ counts only this process's unsettled deliveries; the instances' sum is the cluster's.
          inFlight: this.transport === 'amqp' ? this.#instances.inFlight(name) : stats.inFlight,
          delayed: stats.delayed,
          failed: stats.failed,
          completedPerSec: round(rates.completed),
          failedPerSec: round(rates.failed),
          series: known.series.series(now),
        };
      });
    const instances = this.#instances.rows(now);
    const connected = this.#source.connected;
    const alerts: Alert[] = this.#alerts.update(
      findAlerts({
        now,
        connected,
        queues: [...this.#queues.entries()].map(([name, known]) => ({
          name,
          series: known.series,
          consumed: this.#instances.consumed(name),
        })),
        instances,
        droppedLastMinute: this.feed.droppedOver(GAPS_WINDOW_MS, now),
      }),
      now,
    );
    return {
      at: now,
      transport: this.transport,
      broker: { connected, node: this.#source.node },
      queues,
      instances,
      alerts,
      feedMissed: this.feed.missed,
    };
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
