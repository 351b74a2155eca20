/**
 * The settings every long-running command (`work`, `run`) reads the same way: the pool's size
 * and concurrency, the grace on SIGTERM, and where the probes listen.
 */

import type { ListenAddress } from '../../http/server.js';
import { POOL_DEFAULTS } from '../../pool/options.js';
import { resolveSize } from '../../pool/sizing.js';
import { httpAddress, integer, type RawSettings, workerCount } from '../config.js';
import type { SettingName } from '../settings.js';

/** The settings {@link readServiceSettings} reads: every long-running command takes these flags. */
export const SERVICE_SETTINGS = [
  'workers',
  'concurrency',
  'graceMs',
  'http',
] as const satisfies readonly SettingName[];

/** A service's pool and probes, checked. */
export interface ServiceSettings {
  /** Worker threads (the library's default share of the CPUs when not given). */
  workers: number;
  /** Tasks one worker runs at once. */
  concurrency: number;
  /** How long work in progress has to finish after the first SIGTERM (ms). */
  graceMs: number;
  /** Where /healthz, /readyz and /metrics listen; undefined for `--http off`. */
  http: ListenAddress | undefined;
}

/**
 * Reads and checks the service settings. `--workers` left out is `defaultWorkers`: the pool's
 * own default, unless the command starts elsewhere (the autoscaler at its minimum).
 */
export function readServiceSettings(
  raw: RawSettings,
  defaultWorkers: number = resolveSize(POOL_DEFAULTS.size),
): ServiceSettings {
  return {
    workers: workerCount(raw, 'workers') ?? defaultWorkers,
    concurrency: integer(raw, 'concurrency', 1, 10_000),
    graceMs: integer(raw, 'graceMs', 0),
    http: httpAddress(raw),
  };
}
