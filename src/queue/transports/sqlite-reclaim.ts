/**
 * Taking back the jobs of a dead process on this host. A consumer that SIGKILL or the OOM
 * killer ended cannot give its leases back; rather than wait for them to run out (30 s by
 * default, and then behind the backlog), a live consumer on the same host sees that the holder
 * is gone and makes its jobs ready again at once, ahead of the backlog, in their original
 * order. Holders on other hosts cannot be checked: their leases still expire.
 */

import { type Holder, isHolderGone, isSelf, parseOwner, SELF } from './sqlite-holder.js';
import type { SqliteStore } from './sqlite-store.js';

/** Checks the holders of the file's leases, at most once per interval, for one transport. */
export class Reclaimer {
  #lastCheck = Number.NEGATIVE_INFINITY;

  constructor(
    readonly store: SqliteStore,
    /** The least time between two checks (ms): the queue's `pollMs`. */
    readonly intervalMs: number,
    readonly self: Holder = SELF,
    readonly isGone: (holder: Holder) => boolean = isHolderGone,
  ) {}

  /**
   * Gives back the jobs leased by dead processes on this host, unless a check ran less than
   * the interval ago; returns how many came back. Their attempt stays counted, as when a lease
   * runs out: the next lease counts the next one.
   */
  reclaim(now = Date.now()): number {
    if (now - this.#lastCheck < this.intervalMs) return 0;
    this.#lastCheck = now;
    const { store, self } = this;
    const verdicts = new Map<string, boolean>();
    const dead: string[] = [];
    try {
      for (const { owner } of store.leaseOwners.all()) {
        const holder = parseOwner(owner);
        // Only this host's holders can be checked, and this process is alive by definition.
        if (holder === undefined || holder.host !== self.host || isSelf(holder, self)) continue;
        const key = `${holder.pid} ${holder.start}`;
        let gone = verdicts.get(key);
        if (gone === undefined) {
          gone = this.isGone(holder);
          verdicts.set(key, gone);
        }
        if (gone) dead.push(owner);
      }
      if (dead.length === 0) return 0;
      return store.db.transaction(() => {
        let count = 0;
        for (const owner of dead) count += store.reclaim.run(owner).changes;
        return count;
      })();
    } catch {
      // Busy past the timeout, most likely: the next check comes one interval later.
      return 0;
    }
  }
}
