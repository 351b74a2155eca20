/**
 * The dashboard's wire contract: the paths its page calls and the JSON it receives. The server
 * (dashboard/handler.ts and friends) answers them; the page (dashboard/assets/app.js) reads
 * them. Times are epoch milliseconds, byte counts are bytes. Every path is relative to where
 * the dashboard is mounted (`/` for `multitask dashboard`, `/dashboard/` beside `/metrics`).
 */

/** The paths under the mount point. `:name` is a queue name, `:id` a job id (URI-encoded). */
export const DASHBOARD_PATHS = {
  /** The page (index.html); `assets/…` serves its scripts, styles and uPlot. */
  page: '',
  assets: 'assets/',
  /** GET: one {@link Snapshot} (what the stream's `snapshot` events carry). */
  snapshot: 'api/snapshot',
  /**
   * GET: server-sent events. `event: snapshot` ({@link Snapshot}) at once and every second;
   * with `?queue=name`, also `event: jobs` ({@link JobEventRow}[]) at most every 500 ms.
   * A comment line every 15 s keeps proxies from closing it; `retry:` asks for a reconnect
   * after 1 s.
   */
  stream: 'api/stream',
  /** GET: {@link QueueDetail} of one queue. */
  queue: 'api/queues/:name',
  /** GET `?limit=50&after=<id>&search=<text>`: {@link FailedPage}. */
  failed: 'api/queues/:name/failed',
  /** POST {@link FailedAction} body: {@link FailedActionResult}. */
  retry: 'api/queues/:name/failed/retry',
  /** POST {@link FailedAction} body: {@link FailedActionResult}. */
  purge: 'api/queues/:name/failed/purge',
  /** GET `?queue=name` (optional): {@link JobDetail}; 404 `{ error }` when nothing knows the id. */
  job: 'api/jobs/:id',
} as const;

/**
 * Every POST must carry this header with the page's CSRF token (the `content` of the page's
 * `<meta name="multitask-csrf">`), and a JSON body; anything else is refused with 403.
 */
export const CSRF_HEADER = 'x-multitask-csrf';

/** How often the stream sends a snapshot (ms), and how old one may be before the page says it is stale. */
export const SNAPSHOT_EVERY_MS = 1_000;
export const STALE_AFTER_MS = 5_000;
/** The throughput series: one point per this many ms, over the last 15 minutes. */
export const SERIES_STEP_MS = 5_000;
export const SERIES_SPAN_MS = 15 * 60_000;

/** What the page shows at the top of every view, and the overview entirely. */
export interface Snapshot {
  /** When the server made it (its clock). */
  at: number;
  transport: 'amqp' | 'sqlite';
  /** The broker link: up or not, and the node in use with its password masked (RabbitMQ). */
  broker: { connected: boolean; node: string | undefined };
  queues: QueueRow[];
  instances: InstanceRow[];
  alerts: Alert[];
  /** Events the dashboard's feed listener was told it missed since it started (gaps). */
  feedMissed: number;
}

/** One queue on the overview. */
export interface QueueRow {
  name: string;
  ready: number;
  /** Cluster-wide: the sum of the instances' own counts (RabbitMQ), the transport's (SQLite). */
  inFlight: number;
  delayed: number;
  failed: number;
  /**
   * Jobs per second now: the sum, over the instances consuming the queue, of the jobs each one
   * ended between its last two announcements (2 s apart), divided by that interval.
   */
  completedPerSec: number;
  failedPerSec: number;
  /**
   * The last 15 minutes, one point per finished {@link SERIES_STEP_MS} step (the step under way
   * is left out), oldest first, from when the dashboard started.
   */
  series: Series;
}

/** Aligned arrays, as uPlot takes them. */
export interface Series {
  /** Point times (epoch seconds, as uPlot wants). */
  t: number[];
  /** Jobs per second completed (failed) during each step. */
  completed: number[];
  failed: number[];
  /** Ready jobs at each point (the backlog). */
  ready: number[];
}

/** One live instance (a process consuming queues). */
export interface InstanceRow {
  id: string;
  host: string;
  pid: number;
  version: string;
  queues: string[];
  workers: { alive: number; target: number };
  inFlight: number;
  totals: { completed: number; failed: number; retried: number };
  jobsPerSec: number;
  rss: number;
  startedAt: number;
  uptimeMs: number;
  seenAt: number;
  /** Its workers keep dying and booting (alive stayed under target across recent beats). */
  crashLoop: boolean;
}

/** Something an operator should look at. */
export interface Alert {
  kind: 'backlog-growing' | 'failures-rising' | 'crash-loop' | 'broker-down' | 'feed-gaps';
  /** The queue or instance it is about. */
  queue?: string;
  instance?: string;
  /** One readable sentence. */
  message: string;
  /** Since when it holds. */
  since: number;
}

/** A queue's page. */
export interface QueueDetail {
  row: QueueRow;
  /** Run times per task from the completed jobs the dashboard saw (its feed listener). */
  tasks: TaskTimes[];
  /** The latest events the dashboard saw for this queue, newest first (at most 200). */
  recent: JobEventRow[];
}

export interface TaskTimes {
  task: string;
  completed: number;
  failed: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

/** A job event as the page gets it ({@link JobEvent} with its time in epoch ms). */
export interface JobEventRow {
  type: 'dispatched' | 'started' | 'completed' | 'retried' | 'failed' | 'released';
  id: string | null;
  task: string | null;
  queue: string;
  attempt: number;
  instance: string;
  /** The instance's host and pid, when the dashboard knows the instance. */
  host?: string;
  pid?: number;
  worker: number | null;
  durationMs: number | null;
  time: number;
  error: { code: string | null; message: string } | null;
}

/** A failed job as the tables and the job page show it. */
export interface FailedRow {
  id: string;
  queue: string;
  task: string | null;
  /** Decoded task fields (null for a message that was not a readable job). */
  fields: Record<string, unknown> | null;
  attempts: number;
  error: { code: string | null; message: string; stack: string | null };
  failedAt: number;
  /** The body as received (for a message that was not a readable job). */
  body: string;
}

export interface FailedPage {
  jobs: FailedRow[];
  /** Pass as `after` for the next page; null on the last page. */
  next: string | null;
  /** Failed jobs matching `search` (all of the queue's when there is none). */
  total: number;
}

/** Body of a retry or purge: some jobs by id, or all of the queue's failed jobs. */
export type FailedAction = { ids: string[] } | { all: true };

export interface FailedActionResult {
  /** How many jobs were retried or purged. */
  count: number;
}

/** A job's page: everything the dashboard knows about one id. */
export interface JobDetail {
  id: string;
  queue: string | null;
  /** Present while the job is in a failed store. */
  failed: FailedRow | null;
  /** Its events seen by the dashboard, oldest first: where (instance, host, worker) and when it ran. */
  events: JobEventRow[];
  /** Its result, where one was kept and is readable here (SQLite's results table). */
  result: { value: unknown } | null;
}
