/**
 * The settings of `multitask work`, read and checked all at once before anything starts, so a
 * mistake costs nothing but its one-line message.
 */

import { POOL_DEFAULTS } from '../../pool/options.js';
import { resolveSize } from '../../pool/sizing.js';
import {
  ConfigError,
  httpAddress,
  integer,
  optional,
  queue as queueSetting,
  queueUrl,
  type RawSettings,
  required,
  workerCount,
} from '../config.js';

/** `work`'s settings, checked. */
export interface WorkSettings {
  app: string;
  url: string | undefined;
  queue: string;
  workers: number;
  concurrency: number;
  graceMs: number;
  http: { host: string; port: number } | undefined;
  autoscale: { min: number; max: number; intervalMs: number } | undefined;
  workersFile: string | undefined;
}

/** Checks every setting before anything starts, so a mistake costs nothing but its message. */
export function readWorkSettings(raw: RawSettings): WorkSettings {
  const min = workerCount(raw, 'minWorkers');
  const max = workerCount(raw, 'maxWorkers');
  if ((min === undefined) !== (max === undefined))
    throw new ConfigError(
      min === undefined ? 'minWorkers' : 'maxWorkers',
      'the autoscaler needs both --min-workers and --max-workers',
    );
  if (min !== undefined && max !== undefined && min > max)
    throw new ConfigError('minWorkers', `${min} is above --max-workers (${max})`);
  const workers = workerCount(raw, 'workers');
  const intervalMs = integer(raw, 'scaleIntervalMs', 100);
  const autoscale = min === undefined || max === undefined ? undefined : { min, max, intervalMs };
  return {
    app: required(raw, 'app'),
    url: queueUrl(raw),
    queue: queueSetting(raw),
    workers:
      autoscale === undefined
        ? (workers ?? resolveSize(POOL_DEFAULTS.size))
        : Math.min(max!, Math.max(min!, workers ?? min!)),
    concurrency: integer(raw, 'concurrency', 1, 10_000),
    graceMs: integer(raw, 'graceMs', 0),
    http: httpAddress(raw),
    autoscale,
    workersFile: optional(raw, 'workersFile'),
  };
}
