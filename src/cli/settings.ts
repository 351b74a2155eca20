/**
 * Every setting of the `multitask` command, as data: its flag, the environment variable that
 * sets it when the flag is absent, and what it means. Commander builds its options from this
 * table, the deploy test checks the manifests' variable names against it, and `--help` shows it.
 */

import { POOL_DEFAULTS } from '../pool/options.js';
import { DEFAULT_HEARTBEAT_SECONDS } from '../queue/amqp-options.js';
import { DEFAULT_ATTEMPTS } from '../queue/message.js';
import { DEFAULT_QUEUE } from '../queue/options.js';

/** One setting: `--flag <value>` or `ENV`. */
export interface Setting {
  /** Commander's flag spelling, e.g. `--workers <n>`. */
  readonly flags: string;
  /** The environment variable read when the flag is not given. */
  readonly env: string;
  readonly description: string;
  /** The default, as the user would write it (shown in --help). */
  readonly defaultValue?: string;
}

/** The HTTP listener's default address: loopback only, on Prometheus' port for exporters. */
export const DEFAULT_HTTP = '127.0.0.1:9464';
/** `multitask dashboard`'s default address: loopback only, the port after the metrics'. */
export const DEFAULT_DASHBOARD_HTTP = '127.0.0.1:9465';
/** How long jobs in flight have to finish after SIGTERM before they go back to the queue. */
export const DEFAULT_GRACE_MS = 25_000;

export const SETTINGS = {
  app: {
    flags: '--app <path>',
    env: 'MULTITASK_APP',
    description: 'the app module (defineApp) every worker boots from',
  },
  url: {
    flags: '--url <url>',
    env: 'MULTITASK_URL',
    description:
      'the queue: amqp://user:pass@host:5672/vhost (or a comma-separated list, one URL per node of a cluster) or sqlite:path.db (default: the embedded ./.multitask/queue.db)',
  },
  queue: {
    flags: '--queue <name>',
    env: 'MULTITASK_QUEUE',
    description: 'the queue name',
    defaultValue: DEFAULT_QUEUE,
  },
  workers: {
    flags: '--workers <n>',
    env: 'MULTITASK_WORKERS',
    description: 'worker threads: a count, or a share of the CPUs (50%, 0.5)',
    defaultValue: POOL_DEFAULTS.size,
  },
  concurrency: {
    flags: '--concurrency <n>',
    env: 'MULTITASK_CONCURRENCY',
    description: 'jobs one worker runs at once (its prefetch)',
    defaultValue: '1',
  },
  graceMs: {
    flags: '--grace-ms <ms>',
    env: 'MULTITASK_GRACE_MS',
    description: 'on SIGTERM, how long jobs in flight have to finish before they go back to the queue',
    defaultValue: String(DEFAULT_GRACE_MS),
  },
  http: {
    flags: '--http <host:port>',
    env: 'MULTITASK_HTTP',
    description: 'where /healthz, /readyz and /metrics listen ("off" for nowhere)',
    defaultValue: DEFAULT_HTTP,
  },
  minWorkers: {
    flags: '--min-workers <n>',
    env: 'MULTITASK_MIN_WORKERS',
    description: 'with --max-workers: let the autoscaler shrink the pool down to this',
  },
  maxWorkers: {
    flags: '--max-workers <n>',
    env: 'MULTITASK_MAX_WORKERS',
    description: 'with --min-workers: let the autoscaler grow the pool up to this with the backlog',
  },
  scaleIntervalMs: {
    flags: '--scale-interval-ms <ms>',
    env: 'MULTITASK_SCALE_INTERVAL_MS',
    description: 'how often the autoscaler reads the backlog (it shrinks after 3 low readings in a row)',
    defaultValue: '2000',
  },
  workersFile: {
    flags: '--workers-file <path>',
    env: 'MULTITASK_WORKERS_FILE',
    description: 'a file holding the worker count (or MULTITASK_WORKERS=n), read again on SIGHUP',
  },
  logLevel: {
    flags: '--log-level <level>',
    env: 'MULTITASK_LOG_LEVEL',
    description: 'trace, debug, info, warn, error, fatal or silent (job completions log at debug)',
    defaultValue: 'info',
  },
  logFormat: {
    flags: '--log-format <format>',
    env: 'MULTITASK_LOG_FORMAT',
    description: 'json, or pretty (default: pretty on a terminal, json otherwise)',
  },
  connectTimeoutMs: {
    flags: '--connect-timeout-ms <ms>',
    env: 'MULTITASK_CONNECT_TIMEOUT_MS',
    description: 'how long one-shot commands wait for the broker (work and run wait forever)',
    defaultValue: '30000',
  },
  heartbeat: {
    flags: '--heartbeat <seconds>',
    env: 'MULTITASK_HEARTBEAT',
    description:
      "RabbitMQ heartbeat (0: off): a link silent this long is dropped and replaced through another node; a URL's own ?heartbeat= wins",
    defaultValue: String(DEFAULT_HEARTBEAT_SECONDS),
  },
  nodeOrder: {
    flags: '--node-order <order>',
    env: 'MULTITASK_NODE_ORDER',
    description:
      'with a list of URLs: random (shuffled, so that processes spread over the nodes) or listed (the first preferred)',
    defaultValue: 'random',
  },
  tlsCa: {
    flags: '--tls-ca <file>',
    env: 'MULTITASK_TLS_CA',
    description:
      "amqps://: the CA certificate (PEM) the broker's certificate must chain to (default: Node's CAs)",
  },
  tlsCert: {
    flags: '--tls-cert <file>',
    env: 'MULTITASK_TLS_CERT',
    description: 'amqps://: a client certificate (PEM), with --tls-key',
  },
  tlsKey: {
    flags: '--tls-key <file>',
    env: 'MULTITASK_TLS_KEY',
    description: "amqps://: the client certificate's key (PEM)",
  },
  tlsServername: {
    flags: '--tls-servername <name>',
    env: 'MULTITASK_TLS_SERVERNAME',
    description: "amqps://: the name the broker's certificate must carry (default: each URL's host)",
  },
  quorumSize: {
    flags: '--quorum-size <n>',
    env: 'MULTITASK_QUORUM_SIZE',
    description: "replicas of each new quorum queue (x-quorum-initial-group-size; default: the broker's)",
  },
  delayRungs: {
    flags: '--delay-rungs <n>',
    env: 'MULTITASK_DELAY_RUNGS',
    description:
      'RabbitMQ delay queues per job queue, 4 to 10: fewer queues, more hops for a delayed job (use one value for all processes of a queue)',
    defaultValue: '10',
  },
  dashboard: {
    flags: '--dashboard',
    env: 'MULTITASK_DASHBOARD',
    description:
      'work: serve the web dashboard under /dashboard/ on the --http listener (off a loopback address only with --token or --user and --password)',
  },
  token: {
    flags: '--token <token>',
    env: 'MULTITASK_DASHBOARD_TOKEN',
    description:
      'dashboard: require this token (open the address with ?token=…, or send Authorization: Bearer …); prefer the variable: a flag shows in ps',
  },
  user: {
    flags: '--user <name>',
    env: 'MULTITASK_DASHBOARD_USER',
    description: 'dashboard: require HTTP basic credentials, this user name with --password',
  },
  password: {
    flags: '--password <password>',
    env: 'MULTITASK_DASHBOARD_PASSWORD',
    description: 'dashboard: the password of --user; prefer the variable: a flag shows in ps',
  },
  readOnly: {
    flags: '--read-only',
    env: 'MULTITASK_DASHBOARD_READ_ONLY',
    description: 'dashboard: show, but refuse retry and purge',
  },
  task: { flags: '--task <name>', env: 'MULTITASK_TASK', description: 'the registered task name' },
  attempts: {
    flags: '--attempts <n>',
    env: 'MULTITASK_ATTEMPTS',
    description: 'attempts before a job goes to the failed store',
    defaultValue: String(DEFAULT_ATTEMPTS),
  },
  timeoutMs: {
    flags: '--timeout-ms <ms>',
    env: 'MULTITASK_TIMEOUT_MS',
    description: "past this a job's worker is terminated and the attempt counts",
  },
  delayMs: {
    flags: '--delay-ms <ms>',
    env: 'MULTITASK_DELAY_MS',
    description: 'deliver the jobs no sooner than this',
    defaultValue: '0',
  },
  limit: {
    flags: '--limit <n>',
    env: 'MULTITASK_LIMIT',
    description: 'at most this many failed jobs, oldest first',
    defaultValue: '100',
  },
  after: {
    flags: '--after <id>',
    env: 'MULTITASK_AFTER',
    description: 'failed list: start after the job with this id (the last one of the page before)',
  },
  json: { flags: '--json', env: 'MULTITASK_JSON', description: 'print JSON instead of a table' },
  wait: {
    flags: '--wait',
    env: 'MULTITASK_WAIT',
    description:
      "dispatch: wait for each job's result and print it as JSON, one line per job in input order; exit 1 if one failed",
  },
  waitMs: {
    flags: '--wait-ms <ms>',
    env: 'MULTITASK_WAIT_MS',
    description: 'dispatch --wait: give up on a result after this long (the job goes on); default: no limit',
  },
} as const satisfies Record<string, Setting>;

/**
 * Switches with no environment variable, on purpose: they make `failed retry|purge` act on every
 * failed job, or skip the question first. A variable left in a shell or a manifest would do that
 * to every later run, with no one having typed it.
 */
export const FLAG_ONLY = {
  all: { flags: '--all', description: 'failed retry|purge: every failed job of the queue (no variable)' },
  yes: {
    flags: '--yes',
    description: 'failed retry|purge --all: do not ask first (nor is it asked off a terminal; no variable)',
  },
} as const satisfies Record<string, Omit<Setting, 'env'>>;

/**
 * Options of `multitask dashboard` that share a flag (and its variable) with other commands but
 * not its meaning: several queues rather than one, and its own default port.
 */
export const DASHBOARD_OPTIONS = {
  queues: {
    flags: '--queue <names>',
    env: 'MULTITASK_QUEUE',
    description:
      'the queues to show, comma-separated, and only those (default: the queues the live instances consume)',
  },
  http: {
    flags: '--http <host:port>',
    env: 'MULTITASK_HTTP',
    description: 'where the dashboard listens; off loopback only with --token or --user and --password',
    defaultValue: DEFAULT_DASHBOARD_HTTP,
  },
} as const satisfies Record<string, Setting>;

/** The key of a switch in {@link FLAG_ONLY}. */
export type FlagOnlyName = keyof typeof FLAG_ONLY;

/** The key of a setting in {@link SETTINGS}. */
export type SettingName = keyof typeof SETTINGS;

/** Every environment variable the command reads. */
export const ENV_NAMES: readonly string[] = Object.values(SETTINGS).map((setting: Setting) => setting.env);

/** `--workers (MULTITASK_WORKERS)`: how errors name a setting, so the user finds it either way. */
export function settingLabel(name: SettingName): string {
  const setting: Setting = SETTINGS[name];
  return `${setting.flags.split(' ')[0]} (${setting.env})`;
}
