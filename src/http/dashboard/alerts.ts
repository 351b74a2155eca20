/**
 * The alert rules (docs/dashboard.md, "Alerts"), as functions of what the collector knows, and
 * the book that remembers since when each alert holds. Each rule is plain: an operator reading
 * the docs can tell why one shows.
 */

import type { Alert, InstanceRow } from './api.js';
import type { QueueSeries } from './series.js';

/** Backlog growing: ready rose over this window… */
export const BACKLOG_WINDOW_MS = 2 * 60_000;
/** …by at least this many jobs… */
export const BACKLOG_MIN_RISE = 100;
/** …and by at least this share of where it started… */
export const BACKLOG_MIN_SHARE = 0.2;
/** …in at least this share of the window's steps (a steady climb, not one burst). */
export const BACKLOG_RISING_STEPS = 0.6;
/** Failures rising: at least this many jobs failed for good in the last minute… */
export const FAILURES_MIN = 5;
/** …at this many times the rate of the 14 minutes before (or any, when those had none). */
export const FAILURES_FACTOR = 3;
/** Feed gaps: events dropped (not sampled out) within this window. */
export const GAPS_WINDOW_MS = 60_000;

/** What the rules look at. */
export interface AlertInput {
  now: number;
  connected: boolean;
  queues: Array<{ name: string; series: QueueSeries; consumed: boolean }>;
  instances: InstanceRow[];
  /** Events the feed dropped in the last minute: gaps too long to be its sampling. */
  droppedLastMinute: number;
}

/** An alert before the book gives it its `since`. */
type Finding = Omit<Alert, 'since'>;

/** Every rule, applied now. */
export function findAlerts(input: AlertInput): Finding[] {
  const found: Finding[] = [];
  if (!input.connected)
    found.push({
      kind: 'broker-down',
      message: 'The broker is unreachable: counts are from before it went; reconnecting.',
    });
  for (const queue of input.queues) {
    const backlog = backlogGrowing(queue.series, input.now);
    if (backlog !== undefined && queue.consumed)
      found.push({
        kind: 'backlog-growing',
        queue: queue.name,
        message: `The backlog of ${queue.name} grew from ${backlog.from} to ${backlog.to} ready jobs in the last ${BACKLOG_WINDOW_MS / 60_000} minutes while its consumers work: they do not keep up.`,
      });
    const failures = failuresRising(queue.series, input.now);
    if (failures !== undefined)
      found.push({
        kind: 'failures-rising',
        queue: queue.name,
        message: `${failures.lastMinute} jobs of ${queue.name} failed for good in the last minute (${failures.before} a minute before that, on average).`,
      });
  }
  for (const instance of input.instances)
    if (instance.crashLoop)
      found.push({
        kind: 'crash-loop',
        instance: instance.id,
        message: `${instance.host} pid ${instance.pid} has ${instance.workers.alive} of ${instance.workers.target} workers alive, announcement after announcement: its workers keep dying.`,
      });
  if (input.droppedLastMinute > 0)
    found.push({
      kind: 'feed-gaps',
      message: `The event feed dropped ${input.droppedLastMinute} events in the last minute (a listener or the broker fell behind): event lists and job pages miss those jobs; counts and rates do not.`,
    });
  return found;
}

/** The ready counts of the window, when they rose as the rule says. */
export function backlogGrowing(series: QueueSeries, now: number): { from: number; to: number } | undefined {
  const ready = series.readyOver(BACKLOG_WINDOW_MS, now);
  // A full window is needed: a dashboard that just started knows no trend.
  if (ready.length < Math.floor(BACKLOG_WINDOW_MS / 5_000) - 1) return undefined;
  const from = ready[0]!;
  const to = ready.at(-1)!;
  if (to - from < Math.max(BACKLOG_MIN_RISE, from * BACKLOG_MIN_SHARE)) return undefined;
  let rising = 0;
  for (let i = 1; i < ready.length; i++) if (ready[i]! > ready[i - 1]!) rising++;
  return rising >= (ready.length - 1) * BACKLOG_RISING_STEPS ? { from, to } : undefined;
}

/** Failures of the last minute against the minutes before, when they rose as the rule says. */
export function failuresRising(
  series: QueueSeries,
  now: number,
): { lastMinute: number; before: number } | undefined {
  const last = series.failedOver(60_000, now);
  if (last.count < FAILURES_MIN) return undefined;
  const all = series.failedOver(15 * 60_000, now);
  const beforeMs = all.ms - last.ms;
  const beforeCount = all.count - last.count;
  const perMinuteBefore = beforeMs <= 0 ? 0 : (beforeCount / beforeMs) * 60_000;
  if (last.count < FAILURES_FACTOR * perMinuteBefore) return undefined;
  return { lastMinute: last.count, before: Math.round(perMinuteBefore * 10) / 10 };
}

/** Since when each alert holds: an alert keeps its `since` while it holds, and is dropped when it stops. */
export class AlertBook {
  readonly #since = new Map<string, number>();

  update(found: Finding[], now: number): Alert[] {
    const holding = new Set<string>();
    const alerts = found.map((finding) => {
      const key = `${finding.kind}\n${finding.queue ?? ''}\n${finding.instance ?? ''}`;
      holding.add(key);
      let since = this.#since.get(key);
      if (since === undefined) {
        since = now;
        this.#since.set(key, since);
      }
      return { ...finding, since };
    });
    for (const key of this.#since.keys()) if (!holding.has(key)) this.#since.delete(key);
    return alerts;
  }
}
