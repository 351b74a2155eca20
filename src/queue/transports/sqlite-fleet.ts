/**
 * The fleet on the SQLite file: three tables beside the jobs.
 *
 * - `fleet_instances`: one row per instance, upserted at every announcement; goodbye deletes it.
 *   A row older than {@link AGE_OUT_MS} is not listed, and neither is one whose process, on this
 *   host, is gone (the lease holder check of sqlite-holder.ts): a SIGKILL shows at once here.
 * - `fleet_listeners`: one row per feed listener, refreshed every {@link HEARTBEAT_MS} with an
 *   expiry; instances read it every {@link SQLITE_LISTENERS_CHECK_MS}.
 * - `fleet_events`: while a listener wants a queue, one row per instance, queue and write batch
 *   holding that tick's events as JSON, inserted in the same transaction as the tick's job
 *   outcomes (the write batch). Listeners read the rows after theirs, by rowid, every `pollMs`.
 *   Announcements delete rows older than {@link SQLITE_EVENTS_KEPT_MS}.
 */

import type Database from 'better-sqlite3';
import { EventBatches } from '../event-batches.js';
import {
  AGE_OUT_MS,
  type EventBatch,
  type FeedSubscription,
  type FleetHooks,
  type FleetLink,
  HEARTBEAT_MS,
  type InstanceBeat,
  type ListenerNotice,
  type SeenBeat,
  SQLITE_EVENTS_KEPT_MS,
  SQLITE_LISTENERS_CHECK_MS,
  type WireEvent,
} from '../fleet-types.js';
import { isHolderGone, parseOwner, SELF } from './sqlite-holder.js';
import type { WriteBatch } from './sqlite-writes.js';

const FLEET_SCHEMA = `
CREATE TABLE IF NOT EXISTS fleet_instances (
  id     TEXT PRIMARY KEY,
  holder TEXT NOT NULL,     -- the process (sqlite-holder.ts), to tell at once that it died
  beat   TEXT NOT NULL,     -- its last announcement (JSON)
  seen   INTEGER NOT NULL   -- epoch ms of that announcement
);
CREATE TABLE IF NOT EXISTS fleet_listeners (
  id      TEXT PRIMARY KEY,
  queue   TEXT,             -- null: every queue
  expires INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fleet_events (
  seq      INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a listener's cursor stays valid
  queue    TEXT NOT NULL,
  instance TEXT NOT NULL,
  at       INTEGER NOT NULL,  -- epoch ms the events' times count from
  events   TEXT NOT NULL    -- JSON array of WireEvent tuples (fleet-types.ts)
);
CREATE INDEX IF NOT EXISTS fleet_events_at ON fleet_events (at);
`;

/** Rows a listener reads at once; it reads again at once while there are more. */
const READ_ROWS = 500;
/** The holder column: this process, as a lease names it. */
const HOLDER = JSON.stringify(SELF);

/** The SQLite {@link FleetLink}. */
export class SqliteFleetLink implements FleetLink {
  readonly #db: Database.Database;
  readonly #writes: WriteBatch;
  readonly #pollMs: number;
  readonly #upsertInstance: Database.Statement<[string, string, string, number]>;
  readonly #deleteInstance: Database.Statement<[string]>;
  readonly #liveInstances: Database.Statement<[number], { holder: string; beat: string; seen: number }>;
  readonly #pruneEvents: Database.Statement<[number]>;
  readonly #insertEvents: Database.Statement<[string, string, number, string]>;
  readonly #listeners: Database.Statement<[number], { id: string; queue: string | null; expires: number }>;
  readonly #upsertListener: Database.Statement<[string, string | null, number]>;
  readonly #deleteListener: Database.Statement<[string]>;
  readonly #lastEvent: Database.Statement<[], { seq: number | null }>;
  readonly #readEvents: Database.Statement<
    { after: number; queue: string | null; limit: number },
    { seq: number; queue: string; instance: string; at: number; events: string }
  >;
  #instance: string | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #known = new Set<string>();
  /** Events of this tick, by queue, inserted when the write batch commits. */
  readonly #batches = new EventBatches();
  /** Goodbyes said: an announcement still in the write batch from before one is not written. */
  #farewells = 0;
  #closed = false;

  constructor(db: Database.Database, writes: WriteBatch, pollMs: number) {
    this.#db = db;
    this.#writes = writes;
    this.#pollMs = pollMs;
    db.exec(FLEET_SCHEMA);
    this.#upsertInstance = db.prepare(
      `INSERT INTO fleet_instances (id, holder, beat, seen) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, beat = excluded.beat, seen = excluded.seen`,
    );
    this.#deleteInstance = db.prepare('DELETE FROM fleet_instances WHERE id = ?');
    this.#liveInstances = db.prepare('SELECT holder, beat, seen FROM fleet_instances WHERE seen > ?');
    this.#pruneEvents = db.prepare('DELETE FROM fleet_events WHERE at < ?');
    this.#insertEvents = db.prepare(
      'INSERT INTO fleet_events (queue, instance, at, events) VALUES (?, ?, ?, ?)',
    );
    this.#listeners = db.prepare('SELECT id, queue, expires FROM fleet_listeners WHERE expires > ?');
    this.#upsertListener = db.prepare(
      `INSERT INTO fleet_listeners (id, queue, expires) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET queue = excluded.queue, expires = excluded.expires`,
    );
    this.#deleteListener = db.prepare('DELETE FROM fleet_listeners WHERE id = ?');
    this.#lastEvent = db.prepare('SELECT max(seq) AS seq FROM fleet_events');
    this.#readEvents = db.prepare(
      `SELECT seq, queue, instance, at, events FROM fleet_events
       WHERE seq > @after AND (@queue IS NULL OR queue = @queue) ORDER BY seq LIMIT @limit`,
    );
  }

  /** Reads the listeners now (a dispatch right after opening sees them) and every check interval. */
  async engage(instanceId: string, hooks: FleetHooks): Promise<void> {
    this.#instance = instanceId;
    const check = () => {
      let rows: Array<{ id: string; queue: string | null; expires: number }>;
      try {
        rows = this.#listeners.all(Date.now());
      } catch {
        return; // Busy: the next check comes soon.
      }
      const known = new Set<string>();
      for (const row of rows) {
        known.add(row.id);
        hooks.listenerSeen({ id: row.id, queue: row.queue ?? undefined }, row.expires);
      }
      for (const id of this.#known) if (!known.has(id)) hooks.listenerGone(id);
      this.#known = known;
    };
    check();
    clearInterval(this.#checkTimer);
    this.#checkTimer = setInterval(check, SQLITE_LISTENERS_CHECK_MS);
    this.#checkTimer.unref();
  }

  beat(beat: InstanceBeat): void {
    if (this.#closed) return;
    const now = Date.now();
    const farewells = this.#farewells;
    this.#writes
      .write(() => {
        // A goodbye said since (directly, not in this batch) must not be undone by this upsert.
        if (this.#farewells !== farewells) return;
        this.#upsertInstance.run(beat.id, HOLDER, JSON.stringify(beat), now);
        this.#pruneEvents.run(now - SQLITE_EVENTS_KEPT_MS);
      })
      .catch(() => {});
  }

  async goodbye(instanceId: string): Promise<void> {
    // At once, not with the next write batch: a view asking right after must not list it.
    this.#farewells++;
    if (!this.#closed) this.#deleteInstance.run(instanceId);
  }

  push(queue: string, event: WireEvent): void {
    // The first of a tick goes into the write batch that is filling now: the same transaction
    // as this tick's outcomes, which reads the batches when it commits.
    if (!this.#closed && this.#batches.add(queue, event))
      this.#writes.write(() => this.#flush()).catch(() => {});
  }

  #flush(): void {
    const { t0, batches } = this.#batches.take();
    for (const [queue, events] of batches) this.#insertEvents.run(queue, this.#instance ?? '', t0, events);
  }

  async instances(): Promise<SeenBeat[]> {
    const live: SeenBeat[] = [];
    for (const row of this.#liveInstances.all(Date.now() - AGE_OUT_MS)) {
      const holder = parseOwner(row.holder);
      // A process of this host that is gone (SIGKILL) is gone now, not after the age-out.
      if (holder !== undefined && holder.host === SELF.host && isHolderGone(holder)) continue;
      live.push({ ...(JSON.parse(row.beat) as InstanceBeat), seenAt: row.seen });
    }
    return live;
  }

  async listen(
    notice: ListenerNotice,
    onBatch: (batch: EventBatch) => void,
    onError: (error: Error) => void,
  ): Promise<FeedSubscription> {
    const announce = () => this.#upsertListener.run(notice.id, notice.queue ?? null, Date.now() + AGE_OUT_MS);
    announce();
    let after = this.#lastEvent.get()?.seq ?? 0;
    let pollTimer: NodeJS.Timeout | undefined;
    let stopped = false;
    const poll = () => {
      if (stopped || this.#closed) return;
      let rows: Array<{ seq: number; queue: string; instance: string; at: number; events: string }> = [];
      try {
        rows = this.#readEvents.all({ after, queue: notice.queue ?? null, limit: READ_ROWS });
      } catch (error) {
        if (!this.#db.open) return onError(error as Error);
      }
      for (const row of rows) {
        after = row.seq;
        const events = JSON.parse(row.events) as WireEvent[];
        onBatch({ instance: row.instance, queue: row.queue, t0: row.at, events });
      }
      // A reader that was behind reads on at once; one that is not waits for the next poll.
      pollTimer = setTimeout(poll, rows.length === READ_ROWS ? 0 : this.#pollMs);
    };
    pollTimer = setTimeout(poll, this.#pollMs);
    const announceTimer = setInterval(() => {
      try {
        announce();
      } catch {
        // Busy: the listener stays known until its expiry, two more announcements away.
      }
    }, HEARTBEAT_MS);
    announceTimer.unref();
    return {
      close: async () => {
        stopped = true;
        clearTimeout(pollTimer);
        clearInterval(announceTimer);
        if (this.#db.open) this.#deleteListener.run(notice.id);
      },
    };
  }

  async close(): Promise<void> {
    clearInterval(this.#checkTimer);
    // What this tick still holds goes with the transport's last flush.
    this.#closed = true;
  }
}
