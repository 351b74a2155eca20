import type { ResourceLimits } from 'node:worker_threads';
import { type AppLocation, appUrl } from '../app/load-app.js';
import { invalidOption } from '../errors.js';
import { nonNegative, positiveInteger } from '../internal/validate.js';
import { LOG_LEVELS, type LogLevelOption } from '../worker/task-logger.js';
import { type ResolvedRestartOptions, type RestartOptions, resolveRestart } from './restart-policy.js';
import { type PoolSize, resolveSize } from './sizing.js';

/** Replace workers before they leak: after a number of tasks, or past a heap size between tasks. */
export interface RecycleOptions {
  /** Replace a worker after it has run this many tasks. */
  maxTasks?: number;
  /** Replace a worker whose V8 heap in use passes this many MiB (checked between tasks). */
  maxHeapMb?: number;
}

/** Options of a {@link Pool}. Only `app` is required. */
export interface PoolOptions {
  /** The app module every worker boots from: a path (relative to the working directory) or a URL. */
  app: AppLocation;
  /**
   * Number of workers: an integer >= 1, or a share > 0 of `os.availableParallelism()` (0.5, '50%',
   * '150%'), rounded up. Default: one worker per CPU.
   */
  size?: PoolSize;
  /** Tasks one worker runs at once (async tasks). Default 1. */
  concurrency?: number;
  /** Per-worker V8 limits, as in `worker_threads`; passing them ends in `ERR_WORKER_OOM`. */
  resourceLimits?: ResourceLimits;
  /** How failing workers (app setup) and supervised tasks are restarted. */
  restart?: RestartOptions;
  /** Recycling against leaks. Off by default. */
  recycle?: RecycleOptions;
  /** How long `close()` and a shrinking `resize()` let running tasks finish (ms). Default 10 000. */
  graceMs?: number;
  /**
   * Node flags for worker threads, passed on as given. Default: the parent's `process.execArgv`,
   * less what threads refuse or do not need: V8 and per-process flags (process-wide, so threads
   * have them anyway), and tsx when the app is JavaScript (a TypeScript app's threads register it).
   */
  execArgv?: string[];
  /** The lowest level of `ctx.log` lines workers send to the pool; `'silent'` for none. Default `'info'`. */
  logLevel?: LogLevelOption;
}

/** Options after validation, with every default filled in. */
export interface ResolvedPoolOptions {
  appUrl: string;
  size: number;
  concurrency: number;
  resourceLimits: ResourceLimits | undefined;
  restart: ResolvedRestartOptions;
  recycle: { maxTasks: number; maxHeapBytes: number };
  graceMs: number;
  execArgv: string[] | undefined;
  logLevel: LogLevelOption;
}

export const POOL_DEFAULTS = Object.freeze({
  size: '100%',
  concurrency: 1,
  graceMs: 10_000,
  logLevel: 'info' as LogLevelOption,
});

/** Validates every option and fills in defaults; each mistake is an `ERR_INVALID_OPTION` quoting the value. */
export function resolvePoolOptions(options: PoolOptions): ResolvedPoolOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object');
  return {
    appUrl: appUrl(options.app),
    size: resolveSize(options.size === undefined ? POOL_DEFAULTS.size : options.size, 'size'),
    concurrency: positiveInteger('concurrency', options.concurrency ?? POOL_DEFAULTS.concurrency),
    resourceLimits: resolveResourceLimits(options.resourceLimits),
    restart: resolveRestart(options.restart),
    recycle: resolveRecycle(options.recycle),
    graceMs: nonNegative('graceMs', options.graceMs ?? POOL_DEFAULTS.graceMs),
    execArgv: resolveExecArgv(options.execArgv),
    logLevel: resolveLogLevel(options.logLevel),
  };
}

function resolveResourceLimits(limits: ResourceLimits | undefined): ResourceLimits | undefined {
  if (limits === undefined) return undefined;
  if (typeof limits !== 'object' || limits === null)
    throw invalidOption('resourceLimits', limits, 'an object');
  for (const [key, value] of Object.entries(limits)) {
    if (
      !['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'].includes(key)
    ) {
      throw invalidOption(
        `resourceLimits.${key}`,
        value,
        'one of maxOldGenerationSizeMb, maxYoungGenerationSizeMb, codeRangeSizeMb, stackSizeMb',
      );
    }
    if (typeof value !== 'number' || !(value > 0))
      throw invalidOption(`resourceLimits.${key}`, value, 'a number > 0');
  }
  return limits;
}

function resolveRecycle(recycle: RecycleOptions | undefined): ResolvedPoolOptions['recycle'] {
  if (recycle === undefined)
    return { maxTasks: Number.POSITIVE_INFINITY, maxHeapBytes: Number.POSITIVE_INFINITY };
  if (typeof recycle !== 'object' || recycle === null) throw invalidOption('recycle', recycle, 'an object');
  const maxTasks =
    recycle.maxTasks === undefined
      ? Number.POSITIVE_INFINITY
      : positiveInteger('recycle.maxTasks', recycle.maxTasks);
  const maxHeapMb = recycle.maxHeapMb;
  if (maxHeapMb !== undefined && (typeof maxHeapMb !== 'number' || !(maxHeapMb > 0))) {
    throw invalidOption('recycle.maxHeapMb', maxHeapMb, 'a number > 0');
  }
  return {
    maxTasks,
    maxHeapBytes: maxHeapMb === undefined ? Number.POSITIVE_INFINITY : maxHeapMb * 1024 * 1024,
  };
}

function resolveLogLevel(level: LogLevelOption | undefined): LogLevelOption {
  if (level === undefined) return POOL_DEFAULTS.logLevel;
  if (level !== 'silent' && !(typeof level === 'string' && Object.hasOwn(LOG_LEVELS, level)))
    throw invalidOption('logLevel', level, `one of ${Object.keys(LOG_LEVELS).join(', ')}, silent`);
  return level;
}

function resolveExecArgv(execArgv: string[] | undefined): string[] | undefined {
  if (execArgv === undefined) return undefined;
  if (!Array.isArray(execArgv) || execArgv.some((flag) => typeof flag !== 'string')) {
    throw invalidOption('execArgv', execArgv, 'an array of strings');
  }
  return execArgv;
}
