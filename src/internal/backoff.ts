/** Exponential backoff with jitter, shared by restarts, retries and reconnections. */

/**
 * The delay before try number `failures` + 1: exponential from `initialDelayMs`, capped at
 * `maxDelayMs`, with "equal jitter" (at least half the exponential delay), so that retries
 * spread out but still back off.
 */
export function backoffDelay(failures: number, initialDelayMs: number, maxDelayMs: number): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** (failures - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
