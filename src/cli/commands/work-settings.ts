/**
 * The settings of `multitask work`, read and checked all at once before anything starts, so a
 * mistake costs nothing but its one-line message.
 */

import { type BrokerOptions, readBrokerSettings } from '../broker-settings.js';
import {
  ConfigError,
  flag,
  integer,
  optional,
  queue as queueSetting,
  queueUrl,
  type RawSettings,
  required,
  workerCount,
} from '../config.js';
import { readServiceSettings, type ServiceSettings } from '../service/settings.js';
import { type DashboardSettings, readDashboardSettings } from './dashboard-settings.js';

/** The autoscaler's bounds and pace (`--min-workers`, `--max-workers`, `--scale-interval-ms`). */
export interface AutoscaleSettings {
  min: number;
  max: number;
  intervalMs: number;
}

/** `work`'s settings, checked. */
export interface WorkSettings extends ServiceSettings {
  app: string;
  url: string | undefined;
  /** Heartbeat, TLS, quorum size. */
  broker: BrokerOptions;
  queue: string;
  autoscale: AutoscaleSettings | undefined;
  workersFile: string | undefined;
  /** `--dashboard`: served under /dashboard/ on the --http listener. */
  dashboard: DashboardSettings | undefined;
}

/** Checks every setting before anything starts, so a mistake costs nothing but its message. */
export function readWorkSettings(raw: RawSettings): WorkSettings {
  const app = required(raw, 'app');
  const url = queueUrl(raw);
  const broker = readBrokerSettings(raw);
  const queue = queueSetting(raw);
  const autoscale = readAutoscale(raw);
  const service = readServiceSettings(raw, autoscale?.min);
  const workersFile = optional(raw, 'workersFile');
  const dashboard = readWorkDashboard(raw, service);
  if (workersFile !== undefined && autoscale !== undefined)
    throw new ConfigError(
      'workersFile',
      'sizes the pool by hand: not with the autoscaler (--min-workers, --max-workers)',
    );
  // With the autoscaler the pool starts at the minimum, or at --workers kept within the bounds.
  if (autoscale !== undefined)
    service.workers = Math.min(autoscale.max, Math.max(autoscale.min, service.workers));
  return { ...service, app, url, broker, queue, autoscale, workersFile, dashboard };
}

/** `--dashboard` needs the HTTP listener, and credentials when it is not on loopback. */
function readWorkDashboard(raw: RawSettings, service: ServiceSettings): DashboardSettings | undefined {
  if (!flag(raw, 'dashboard')) return undefined;
  if (service.http === undefined)
    throw new ConfigError('dashboard', 'is served on the --http listener: not with --http off');
  return readDashboardSettings(raw, service.http);
}

function readAutoscale(raw: RawSettings): AutoscaleSettings | undefined {
  const min = workerCount(raw, 'minWorkers');
  const max = workerCount(raw, 'maxWorkers');
  if ((min === undefined) !== (max === undefined))
    throw new ConfigError(
      min === undefined ? 'minWorkers' : 'maxWorkers',
      'the autoscaler needs both --min-workers and --max-workers',
    );
  // Checked even without the autoscaler: a wrong value in a manifest should not wait to matter.
  const intervalMs = integer(raw, 'scaleIntervalMs', 100);
  if (min === undefined || max === undefined) return undefined;
  if (min > max) throw new ConfigError('minWorkers', `${min} is above --max-workers (${max})`);
  return { min, max, intervalMs };
}
