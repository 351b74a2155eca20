/**
 * The fleet: every process consuming a queue announces itself (an *instance*), and while someone
 * listens, publishes the events of the jobs it runs (the *feed*). This module holds what the
 * queue side, the transports and the pool share about it: the public shapes, the wire forms,
 * the timings, and the {@link FleetLink} each transport implements. docs/queues.md ("Instances",
 * "The event feed") describes the design.
 */

/** An instance announces itself this often (ms). */
export const HEARTBEAT_MS = 2_000;
/** Missed announcements after which a silent instance (or listener) counts as gone. */
export const AGE_OUT_BEATS = 3;
/** How long an instance or a listener stays known after its last announcement (ms). */
export const AGE_OUT_MS = HEARTBEAT_MS * AGE_OUT_BEATS;
/**
 * RabbitMQ: how long `instances()` collects the answers to its "who is there" (ms), when its
 * process has not heard the heartbeats of a full interval yet.
 */
export const WHO_WINDOW_MS = 300;
/**
 * Events one instance holds for one queue between two sends; past it they are dropped (and
 * counted by `seq`). Room for a second or two of a busy producer while RabbitMQ's events
 * connection opens.
 */
export const FLUSH_MAX_EVENTS = 50_000;
/**
 * Events a listener holds that its reader has not taken; past it they are dropped (and counted
 * by `seq`). Room for bursts: messages that arrive together are all read before the reader runs.
 */
export const LISTENER_MAX_EVENTS = 100_000;
/** SQLite: how often an instance reads the listeners table (ms). */
export const SQLITE_LISTENERS_CHECK_MS = 250;
/** SQLite: events older than this are deleted from the events table (ms). */
export const SQLITE_EVENTS_KEPT_MS = 30_000;

/** The kinds of job event in the feed. */
export type JobEventType = 'dispatched' | 'started' | 'completed' | 'retried' | 'failed' | 'released';

/** One job event, from {@link Queue.events}. */
export interface JobEvent {
  type: JobEventType;
  /** The job's id (undefined only for a message that carried none and was not a job). */
  id: string | undefined;
  /** The task's name (undefined for a message that was not a readable job). */
  task: string | undefined;
  queue: string;
  /** The attempt this event is about, from 1 (1 for `dispatched`). */
  attempt: number;
  /** The id of the instance (process and Queue) that dispatched or ran the job. */
  instance: string;
  /** The pool worker that ran it (undefined for `dispatched`, and when it never reached one). */
  worker: number | undefined;
  /** For endings (`completed`, `retried`, `failed`, `released`): from delivery to outcome (ms). */
  durationMs?: number;
  /** When the instance recorded the event (its clock). */
  time: Date;
  /** For `retried` and `failed`: the attempt's error. */
  error?: { code: string | undefined; message: string };
  /** The instance's count of its events for this queue: consecutive unless some were dropped. */
  seq: number;
}

/**
 * Events of one instance and queue that did not reach this listener (dropped under a flood, or
 * lost with a connection): `missed` of them, between the events before and after it.
 */
export interface FeedGap {
  type: 'gap';
  instance: string;
  queue: string;
  missed: number;
  time: Date;
}

/** What {@link Queue.events} yields. */
export type FeedEvent = JobEvent | FeedGap;

/** Options of {@link Queue.events}. */
export interface EventsOptions {
  /** Only this queue's events; every queue's when absent. */
  queue?: string;
}

/** One queue's counts in an instance. */
export interface InstanceQueueCounts {
  /** Jobs held now. */
  inFlight: number;
  completed: number;
  failed: number;
  retried: number;
}

/** A live consumer process, from {@link Queue.instances}: one per process and Queue object. */
export interface InstanceInfo {
  /** Random, fixed for the life of the process (and Queue object). */
  id: string;
  /** `os.hostname()`. */
  host: string;
  pid: number;
  /** The multitask version it runs. */
  version: string;
  startedAt: Date;
  /** The queues it consumes. */
  queues: string[];
  /** The same queues with their counts. */
  byQueue: Record<string, InstanceQueueCounts>;
  /** Worker threads up and taking work, and the pool size asked for. */
  workers: { alive: number; target: number };
  /** Jobs it holds now, every queue. */
  inFlight: number;
  /** Since it started, every queue. */
  totals: { completed: number; failed: number; retried: number };
  /** Jobs that ended (completed or failed) per second, over its last announcement interval. */
  jobsPerSec: number;
  /** Resident set size of its process (bytes). */
  rss: number;
  /**
   * Feed listeners it knows of that want the events of a queue it consumes or dispatches to (or
   * of every queue): it publishes a queue's events only while one wants them.
   */
  feedListeners: number;
  /** When this view last heard from it. */
  seenAt: Date;
}

/** An instance as it travels: {@link InstanceInfo} with times in epoch ms. */
export interface InstanceBeat extends Omit<InstanceInfo, 'startedAt' | 'seenAt'> {
  startedAt: number;
  /** The sender's clock when it sent this. */
  sentAt: number;
}

/** An announcement as a view keeps it: with when it heard it (epoch ms, its own clock). */
export type SeenBeat = InstanceBeat & { seenAt: number };

/**
 * A job event as it travels: a tuple (cheaper to write and read than an object),
 * `[type, id, task, attempt, worker, durationMs, time, seq, errorCode, errorMessage, startedSeq,
 * startedTime]`, absent values as null, trailing ones left out. `time` is ms after the batch's
 * `t0`. An ending whose job started in the same batch carries that `started` event's `seq` and
 * time instead of it travelling alone (a third fewer bytes for short jobs); the listener yields
 * both. Until its batch is sent, a `started` event holds the pool call in place of the worker
 * (see event-batches.ts).
 */
export type WireEvent = [
  type: JobEventType,
  id: string | null,
  task: string | null,
  attempt: number,
  worker: number | null | { readonly workerId: number | undefined },
  durationMs: number | null,
  time: number,
  seq: number,
  errorCode?: string | null,
  errorMessage?: string | null,
  startedSeq?: number,
  startedTime?: number,
];

/** Several events of one instance and queue: one message (RabbitMQ) or one row (SQLite). */
export interface EventBatch {
  instance: string;
  queue: string;
  /** The epoch ms its events' times count from. */
  t0: number;
  events: WireEvent[];
}

/** A feed listener's announcement: `queue` undefined listens to every queue. */
export interface ListenerNotice {
  id: string;
  queue: string | undefined;
}

/** What an instance's side of a link tells the fleet, and asks of it. */
export interface FleetHooks {
  /** This instance's announcement now (RabbitMQ answers "who is there" with it). */
  answer(): InstanceBeat;
  /** A listener announced itself; it counts until `expiresAt` (epoch ms, this process's clock). */
  listenerSeen(notice: ListenerNotice, expiresAt: number): void;
  /** A listener said goodbye. */
  listenerGone(id: string): void;
}

/** A listener's subscription on a link: events arrive through the callback given to `listen`. */
export interface FeedSubscription {
  /** Stops it and frees what it held (queue, channel, timers); says goodbye. */
  close(): Promise<void>;
}

/**
 * What a transport does for the fleet. One link per transport; the instance side (engage,
 * beat, push, goodbye) is used by the Queue's {@link Fleet}, the rest by anyone asking.
 */
export interface FleetLink {
  /**
   * Starts this instance's side: hearing of listeners and, on RabbitMQ, answering "who is
   * there". Resolves once the listeners of the moment are known (or that there is none): until
   * then the fleet holds its events. A rejection leaves the feed off (the link tries again).
   */
  engage(instanceId: string, hooks: FleetHooks): Promise<void>;
  /** Announces this instance (dropped if it cannot be sent now: the next one comes soon). */
  beat(beat: InstanceBeat): void;
  /** Removes this instance from every view at once. */
  goodbye(instanceId: string): Promise<void>;
  /** Sends one event of this instance (batched; dropped past {@link FLUSH_MAX_EVENTS}). */
  push(queue: string, event: WireEvent): void;
  /** The live instances, each with when this process last heard from it (epoch ms). */
  instances(): Promise<SeenBeat[]>;
  /** Listens to the events of `queue` (every queue when undefined), announcing itself as `id`. */
  listen(
    notice: ListenerNotice,
    onBatch: (batch: EventBatch) => void,
    onError: (error: Error) => void,
  ): Promise<FeedSubscription>;
  /** Stops timers and consumers; the transport closes the connection or file after it. */
  close(): Promise<void>;
}

/** One queue's counts as a pool reports them to the fleet. */
export interface SourceQueueReport extends InstanceQueueCounts {
  queue: string;
}

/** What a pool reports of its consumers on one Queue object. */
export interface SourceReport {
  workers: { alive: number; target: number };
  queues: SourceQueueReport[];
}

/** A pool's consumers on one Queue object, read at every announcement. */
export interface FleetSource {
  report(): SourceReport;
}
