/**
 * How `status` shows the instances of a queue and `events` shows the feed on a terminal: one
 * readable line per instance or event. Off a terminal both print JSON instead.
 */

import type { FeedEvent, InstanceInfo } from '../../queue/fleet-types.js';

/** The instances consuming `queue`, and the sum of the jobs they hold of it. */
export function instancesOf(
  all: InstanceInfo[],
  queue: string,
): { instances: InstanceInfo[]; inFlight: number } {
  const instances = all.filter((instance) => instance.queues.includes(queue));
  const inFlight = instances.reduce((sum, instance) => sum + (instance.byQueue[queue]?.inFlight ?? 0), 0);
  return { instances, inFlight };
}

/** A table of the instances of `queue`: a header, then one row each; their counts are of that queue. */
export function instanceTable(instances: InstanceInfo[], queue: string, now = Date.now()): string[] {
  const rows = instances.map((instance) => {
    const counts = instance.byQueue[queue] ?? { inFlight: 0, completed: 0, failed: 0, retried: 0 };
    return [
      instance.id,
      instance.host,
      String(instance.pid),
      `${instance.workers.alive}/${instance.workers.target}`,
      String(counts.inFlight),
      String(counts.completed),
      String(counts.failed),
      String(counts.retried),
      String(instance.jobsPerSec),
      `${Math.round(instance.rss / 2 ** 20)} MiB`,
      duration(now - instance.startedAt.getTime()),
      instance.version,
    ];
  });
  const header = [
    'ID',
    'HOST',
    'PID',
    'WORKERS',
    'IN FLIGHT',
    'DONE',
    'FAILED',
    'RETRIED',
    'JOBS/S',
    'RSS',
    'UP',
    'VERSION',
  ];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  return [header, ...rows].map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd(),
  );
}

/** `1h 2m`, `3m 4s`, `5s`. */
function duration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

/** One event as a readable line: time (UTC), type, queue, task, id, attempt, where, how long, why. */
export function eventLine(event: FeedEvent): string {
  const time = event.time.toISOString().slice(11, 23);
  if (event.type === 'gap')
    return [
      time,
      'gap'.padEnd(10),
      event.queue,
      `${event.missed} events of instance ${event.instance} missed`,
    ].join('  ');
  const parts = [time, event.type.padEnd(10), event.queue, event.task ?? '(not a job)', event.id ?? '-'];
  parts.push(`attempt ${event.attempt}`, `instance ${event.instance}`);
  if (event.worker !== undefined) parts.push(`worker ${event.worker}`);
  if (event.durationMs !== undefined) parts.push(`${event.durationMs} ms`);
  if (event.error !== undefined)
    parts.push(
      event.error.code === undefined ? event.error.message : `${event.error.code}: ${event.error.message}`,
    );
  return parts.join('  ');
}
