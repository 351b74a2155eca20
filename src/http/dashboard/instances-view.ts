/**
 * The instances as the dashboard follows them from one `instances()` poll to the next: the jobs
 * each one ended since its previous announcement (what the throughput series adds up: counts
 * survive a feed that drops events), the rate of each queue over that interval, and whether its
 * workers stay below their target beat after beat (a crash loop).
 */

import type { InstanceInfo } from '../../queue/fleet-types.js';
import type { InstanceRow } from './api.js';

/** Announcements in a row with fewer workers alive than asked for, before it counts as a crash loop. */
export const CRASH_LOOP_BEATS = 3;

/** Jobs that ended in one queue, over some interval. */
export interface Ended {
  completed: number;
  failed: number;
}

interface Followed {
  info: InstanceInfo;
  /** Per queue: completed and failed per second over its last announcement interval. */
  rates: Map<string, Ended>;
  /** Announcements in a row with `workers.alive < workers.target`. */
  lowBeats: number;
}

/** What one poll found: the jobs ended since the poll before, by queue. */
export type EndedByQueue = Map<string, Ended>;

/** See the module comment. */
export class InstancesView {
  readonly #followed = new Map<string, Followed>();
  /** When the previous poll was answered (ms); an instance started after it is new, not unseen. */
  #lastPollAt: number | undefined;

  /** Takes a poll's answer; returns the jobs ended since the poll before, by queue. */
  update(infos: InstanceInfo[], now: number): EndedByQueue {
    const ended: EndedByQueue = new Map();
    const add = (queue: string, completed: number, failed: number) => {
      const sum = ended.get(queue) ?? { completed: 0, failed: 0 };
      sum.completed += completed;
      sum.failed += failed;
      ended.set(queue, sum);
    };
    const live = new Set<string>();
    for (const info of infos) {
      live.add(info.id);
      const known = this.#followed.get(info.id);
      if (known === undefined) {
        // One that started since the poll before: all it did is new. One found at the first
        // poll (or seen late): what it did before is history the series never had.
        const fresh = this.#lastPollAt !== undefined && info.startedAt.getTime() >= this.#lastPollAt - 2_000;
        if (fresh)
          for (const [queue, counts] of Object.entries(info.byQueue))
            add(queue, counts.completed, counts.failed);
        this.#followed.set(info.id, { info, rates: new Map(), lowBeats: lowWorkers(info) ? 1 : 0 });
        continue;
      }
      const seenAt = info.seenAt.getTime();
      const before = known.info;
      if (seenAt === before.seenAt.getTime()) continue; // no new announcement since
      const seconds = Math.max(0.001, (seenAt - before.seenAt.getTime()) / 1000);
      const rates = new Map<string, Ended>();
      for (const [queue, counts] of Object.entries(info.byQueue)) {
        const previous = before.byQueue[queue];
        const completed = Math.max(0, counts.completed - (previous?.completed ?? 0));
        const failed = Math.max(0, counts.failed - (previous?.failed ?? 0));
        add(queue, completed, failed);
        rates.set(queue, { completed: completed / seconds, failed: failed / seconds });
      }
      known.info = info;
      known.rates = rates;
      known.lowBeats = lowWorkers(info) ? known.lowBeats + 1 : 0;
    }
    for (const id of this.#followed.keys()) if (!live.has(id)) this.#followed.delete(id);
    this.#lastPollAt = now;
    return ended;
  }

  /** The instances that consume `queue`'s jobs, summed: its rates now. */
  rates(queue: string): Ended {
    const sum = { completed: 0, failed: 0 };
    for (const { rates } of this.#followed.values()) {
      const rate = rates.get(queue);
      if (rate === undefined) continue;
      sum.completed += rate.completed;
      sum.failed += rate.failed;
    }
    return sum;
  }

  /** Jobs held now by the instances, in `queue`: the cluster-wide in-flight count. */
  inFlight(queue: string): number {
    let sum = 0;
    for (const { info } of this.#followed.values()) sum += info.byQueue[queue]?.inFlight ?? 0;
    return sum;
  }

  /** True when some live instance consumes `queue`. */
  consumed(queue: string): boolean {
    for (const { info } of this.#followed.values()) if (info.queues.includes(queue)) return true;
    return false;
  }

  /** Every queue some live instance consumes. */
  queues(): string[] {
    const names = new Set<string>();
    for (const { info } of this.#followed.values()) for (const queue of info.queues) names.add(queue);
    return [...names];
  }

  /** Host and pid of an instance, for the events it sends. */
  whereIs(id: string): { host: string; pid: number } | undefined {
    const info = this.#followed.get(id)?.info;
    return info === undefined ? undefined : { host: info.host, pid: info.pid };
  }

  /** The rows of the overview, oldest instance first. */
  rows(now: number): InstanceRow[] {
    return [...this.#followed.values()]
      .sort((a, b) => a.info.startedAt.getTime() - b.info.startedAt.getTime())
      .map(({ info, lowBeats }) => ({
        id: info.id,
        host: info.host,
        pid: info.pid,
        version: info.version,
        queues: info.queues,
        workers: { ...info.workers },
        inFlight: info.inFlight,
        totals: { ...info.totals },
        jobsPerSec: info.jobsPerSec,
        rss: info.rss,
        startedAt: info.startedAt.getTime(),
        uptimeMs: Math.max(0, now - info.startedAt.getTime()),
        seenAt: info.seenAt.getTime(),
        crashLoop: lowBeats >= CRASH_LOOP_BEATS,
      }));
  }
}

function lowWorkers(info: InstanceInfo): boolean {
  return info.workers.target > 0 && info.workers.alive < info.workers.target;
}
