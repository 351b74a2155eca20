/**
 * One Queue object's place in the fleet. While a pool consumes through it, it is an
 * *instance*: it announces itself every {@link HEARTBEAT_MS} with what its pools report
 * (workers, jobs in flight, totals), answers "who is there" at once (RabbitMQ), and says goodbye
 * when its last consumer stops. Whether it consumes or only dispatches, it learns of the feed's
 * listeners from their announcements and turns on the {@link QueueFeed} of each queue someone
 * listens to. What it carries is the pool's business; how, the transport's ({@link FleetLink}).
 */

import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { invalidOption } from '../errors.js';
import { FeedListener } from './feed-listener.js';
import {
  type EventsOptions,
  type FeedEvent,
  type FleetHooks,
  type FleetLink,
  type FleetSource,
  HEARTBEAT_MS,
  type InstanceBeat,
  type InstanceInfo,
  type InstanceQueueCounts,
  type ListenerNotice,
} from './fleet-types.js';
import { QueueFeed } from './job-feed.js';
import { queueName } from './options.js';

/** The multitask version this process runs (package.json, two levels up from src/queue and dist/queue). */
const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** See the module comment. */
export class Fleet {
  /** This instance's id: random, fixed for the life of the Queue object. */
  readonly id = randomBytes(6).toString('hex');
  readonly #startedAt = Date.now();
  readonly #makeLink: () => FleetLink;
  #linked: FleetLink | undefined;
  readonly #sources = new Set<FleetSource>();
  readonly #feeds = new Map<string, QueueFeed>();
  readonly #listeners = new Map<string, { queue: string | undefined; expiresAt: number }>();
  readonly #readers = new Set<FeedListener>();
  #engaged: Promise<void> | undefined;
  #engaging = false;
  #beatTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #goodbye: Promise<void> | undefined;
  #rate = { at: performance.now(), ended: 0, perSec: 0 };
  #closed = false;

  constructor(link: () => FleetLink) {
    this.#makeLink = link;
  }

  /** The transport's link, made on first use (a Queue that never consumes, dispatches or asks makes none). */
  #link(): FleetLink {
    this.#linked ??= this.#makeLink();
    return this.#linked;
  }

  /** A pool's consumers join: the first one makes this an instance. Returns how to leave. */
  join(source: FleetSource): () => void {
    this.#sources.add(source);
    if (this.#sources.size === 1 && !this.#closed) this.#announce();
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#sources.delete(source);
      if (this.#sources.size === 0) this.#sayGoodbye();
    };
  }

  /** The feed of one queue (made, and the fleet engaged, on first use). */
  feed(queue: string): QueueFeed {
    let feed = this.#feeds.get(queue);
    if (feed === undefined) {
      feed = new QueueFeed(queue, (name, event) => this.#link().push(name, event));
      this.#feeds.set(queue, feed);
      if (this.#engaging) feed.hold();
      else if (this.#engaged !== undefined) feed.settle(this.#wants(queue));
      this.#engage();
    }
    return feed;
  }

  /** The live instances, this one included when it consumes. */
  async instances(): Promise<InstanceInfo[]> {
    const beats = await this.#link().instances();
    return beats
      .map(({ sentAt: _, seenAt, ...beat }) => ({
        ...beat,
        startedAt: new Date(beat.startedAt),
        seenAt: new Date(seenAt),
      }))
      .sort((a, b) => a.host.localeCompare(b.host) || a.pid - b.pid || a.id.localeCompare(b.id));
  }

  /** The job events of every instance, as they happen; see {@link Queue.events}. */
  events(options: EventsOptions = {}): AsyncIterableIterator<FeedEvent> {
    if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object');
    const queue = options.queue === undefined ? undefined : queueName(options.queue);
    const notice: ListenerNotice = { id: randomBytes(8).toString('hex'), queue };
    return new FeedListener(this.#link(), notice, {
      opened: (reader) => {
        this.#readers.add(reader);
        // This process's own feeds need not wait for the announcement to come back.
        this.#hooks.listenerSeen(notice, Number.POSITIVE_INFINITY);
      },
      closed: (reader) => {
        this.#readers.delete(reader);
        this.#hooks.listenerGone(notice.id);
      },
      isClosed: () => this.#closed,
    });
  }

  /** Ends the readers, says goodbye if still announced, lets held events go, stops the timers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#readers].map((reader) => reader.return()));
    if (this.#sources.size > 0) {
      this.#sources.clear();
      this.#sayGoodbye();
    }
    // A one-shot producer closes right after dispatching: let its events out if anyone listens.
    if (this.#engaging) await Promise.race([this.#engaged, sleep(1_000, undefined, { ref: false })]);
    clearTimeout(this.#expiryTimer);
    await this.#goodbye;
    await this.#linked?.close();
  }

  readonly #hooks: FleetHooks = {
    answer: () => this.#beat(),
    listenerSeen: (notice, expiresAt) => {
      const known = this.#listeners.get(notice.id);
      this.#listeners.set(notice.id, { queue: notice.queue, expiresAt });
      if (known === undefined || known.queue !== notice.queue) this.#refresh();
      else this.#scheduleExpiry();
    },
    listenerGone: (id) => {
      if (this.#listeners.delete(id)) this.#refresh();
    },
  };

  #engage(): void {
    if (this.#engaged !== undefined || this.#closed) return;
    this.#engaging = true;
    for (const feed of this.#feeds.values()) feed.hold();
    this.#engaged = this.#link()
      .engage(this.id, this.#hooks)
      .catch(() => {})
      .finally(() => {
        this.#engaging = false;
        this.#refresh();
      });
  }

  /** Whether a live listener wants `queue`. */
  #wants(queue: string): boolean {
    const now = Date.now();
    for (const listener of this.#listeners.values()) {
      if (listener.expiresAt > now && (listener.queue === undefined || listener.queue === queue)) return true;
    }
    return false;
  }

  /** Forgets listeners that stopped announcing, and turns each feed on or off. */
  #refresh(): void {
    const now = Date.now();
    for (const [id, listener] of this.#listeners) if (listener.expiresAt <= now) this.#listeners.delete(id);
    if (!this.#engaging) for (const feed of this.#feeds.values()) feed.settle(this.#wants(feed.queue));
    this.#scheduleExpiry();
  }

  /** One timer, at the first listener's expiry: a listener that died must not keep the feed on. */
  #scheduleExpiry(): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    let first = Number.POSITIVE_INFINITY;
    for (const listener of this.#listeners.values()) first = Math.min(first, listener.expiresAt);
    if (!Number.isFinite(first) || this.#closed) return;
    this.#expiryTimer = setTimeout(() => this.#refresh(), Math.max(10, first - Date.now() + 10));
    this.#expiryTimer.unref();
  }

  #announce(): void {
    this.#engage();
    this.#rate = { at: performance.now(), ended: this.#ended(), perSec: 0 };
    this.#link().beat(this.#beat());
    clearInterval(this.#beatTimer);
    this.#beatTimer = setInterval(() => {
      const ended = this.#ended();
      const at = performance.now();
      const perSec = ((ended - this.#rate.ended) * 1000) / Math.max(1, at - this.#rate.at);
      this.#rate = { at, ended, perSec: Math.round(perSec * 10) / 10 };
      this.#link().beat(this.#beat());
    }, HEARTBEAT_MS);
    // The consumers keep the process alive; announcing must not.
    this.#beatTimer.unref();
  }

  #sayGoodbye(): void {
    clearInterval(this.#beatTimer);
    this.#beatTimer = undefined;
    const previous = this.#goodbye ?? Promise.resolve();
    this.#goodbye = previous.then(() =>
      this.#link()
        .goodbye(this.id)
        .catch(() => {}),
    );
  }

  /** Jobs ended for good (completed or failed), every source and queue. */
  #ended(): number {
    let ended = 0;
    for (const source of this.#sources)
      for (const queue of source.report().queues) ended += queue.completed + queue.failed;
    return ended;
  }

  /** This instance's announcement now. */
  #beat(): InstanceBeat {
    const byQueue: Record<string, InstanceQueueCounts> = {};
    const workers = { alive: 0, target: 0 };
    for (const source of this.#sources) {
      const report = source.report();
      workers.alive += report.workers.alive;
      workers.target += report.workers.target;
      for (const { queue, ...counts } of report.queues) {
        const sum = byQueue[queue] ?? { inFlight: 0, completed: 0, failed: 0, retried: 0 };
        byQueue[queue] = sum;
        sum.inFlight += counts.inFlight;
        sum.completed += counts.completed;
        sum.failed += counts.failed;
        sum.retried += counts.retried;
      }
    }
    const all = Object.values(byQueue);
    const total = (key: keyof InstanceQueueCounts) => all.reduce((sum, counts) => sum + counts[key], 0);
    const now = Date.now();
    // Those it sends events to: a listener of another queue only costs it its announcements.
    let listeners = 0;
    for (const listener of this.#listeners.values()) {
      if (listener.expiresAt <= now) continue;
      if (listener.queue === undefined || this.#feeds.has(listener.queue)) listeners++;
    }
    return {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      version: VERSION,
      startedAt: this.#startedAt,
      queues: Object.keys(byQueue).sort(),
      byQueue,
      workers,
      inFlight: total('inFlight'),
      totals: { completed: total('completed'), failed: total('failed'), retried: total('retried') },
      jobsPerSec: this.#rate.perSec,
      rss: process.memoryUsage.rss(),
      feedListeners: listeners,
      sentAt: now,
    };
  }
}
