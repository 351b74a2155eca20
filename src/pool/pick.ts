/**
 * Where the next calls go, as pure arithmetic over a few numbers per worker, so that the rule can
 * be tested without threads. Tasks are tiny or huge, so a worker is sent more than it can run
 * at once only while its tasks are short (an adaptive prefetch): the batching that makes tiny
 * tasks fast never leaves a long task queued behind another in a busy thread.
 */

/** Prefetch at most this many tasks beyond `concurrency` into one worker. */
export const MAX_PREFETCH = 256;
/** Prefetch only as much work as a worker gets through in about this long (ms). */
const PREFETCH_BUDGET_MS = 4;
/** At most this many tasks in one message, so a worker always has the next batch waiting. */
export const MAX_BATCH = 64;

/** What the choice needs to know of one worker. */
export interface WorkerLoad {
  /** Takes new calls (booted, not stopping). */
  readonly accepting: boolean;
  /** Calls it holds: running, or waiting in its prefetch. */
  readonly load: number;
  /** Long-running (supervised) calls among them: no prefetch next to those. */
  readonly exclusive: number;
  /** Average run time of its recent tasks (ms); undefined before its first result. */
  readonly avgRunMs: number | undefined;
}

/** How many more calls `worker` may hold: its free slots plus what its recent speed earns in prefetch. */
export function capacity(worker: WorkerLoad, concurrency: number): number {
  let prefetch = 0;
  if (worker.exclusive === 0 && worker.avgRunMs !== undefined) {
    prefetch = Math.min(MAX_PREFETCH, Math.floor(PREFETCH_BUDGET_MS / Math.max(worker.avgRunMs, 0.001)));
  }
  return concurrency + prefetch - worker.load;
}

/**
 * The worker the next call goes to: the one with the most free slots; when none has a free
 * slot, the one with the most prefetch room. A long-running (`exclusive`) call only takes a
 * free slot. Undefined when no worker has room.
 */
export function pickWorker<W extends WorkerLoad>(
  workers: Iterable<W>,
  concurrency: number,
  exclusive: boolean,
): W | undefined {
  let best: W | undefined;
  let bestFree = 0;
  let bestRoom = 0;
  for (const worker of workers) {
    if (!worker.accepting) continue;
    const free = concurrency - worker.load;
    if (free > bestFree) {
      best = worker;
      bestFree = free;
    } else if (bestFree === 0 && !exclusive) {
      const room = capacity(worker, concurrency);
      if (room > bestRoom) {
        best = worker;
        bestRoom = room;
      }
    }
  }
  return best;
}

/**
 * How many calls one message to the picked worker may carry: its free slots first, so that work
 * spreads over the workers before anything is prefetched; then up to {@link MAX_BATCH} of its room.
 */
export function batchSize(worker: WorkerLoad, concurrency: number): number {
  const free = concurrency - worker.load;
  return free > 0 ? free : Math.min(MAX_BATCH, capacity(worker, concurrency));
}
