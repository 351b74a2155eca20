import { invalidOption } from '../errors.js';
import { backoffDelay } from '../internal/backoff.js';

/** How a supervisor restarts what failed: exponential backoff with jitter, within a crash-loop limit. */
export interface RestartOptions {
  /** Delay before the first restart (ms). Default 100. */
  initialDelayMs?: number;
  /** Upper bound of the delay (ms). Default 30 000. */
  maxDelayMs?: number;
  /** More restarts than this within `windowMs` is a crash loop: give up. Default 10. */
  maxRestarts?: number;
  /** The window (ms) in which restarts are counted, like an OTP supervisor's period. Default 60 000. */
  windowMs?: number;
}

export type ResolvedRestartOptions = Required<RestartOptions>;

export const DEFAULT_RESTART: ResolvedRestartOptions = Object.freeze({
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  maxRestarts: 10,
  windowMs: 60_000,
});

/** Validates restart options over the defaults; `prefix` names them in errors ("restart"). */
export function resolveRestart(
  options: RestartOptions | undefined,
  base: ResolvedRestartOptions = DEFAULT_RESTART,
  prefix = 'restart',
): ResolvedRestartOptions {
  if (options === undefined) return base;
  if (typeof options !== 'object' || options === null) throw invalidOption(prefix, options, 'an object');
  const resolved = { ...base, ...definedOnly(options) };
  for (const key of ['initialDelayMs', 'maxDelayMs', 'windowMs'] as const) {
    const value = resolved[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw invalidOption(`${prefix}.${key}`, value, 'a finite number >= 0');
    }
  }
  if (!Number.isInteger(resolved.maxRestarts) || resolved.maxRestarts < 0) {
    throw invalidOption(`${prefix}.maxRestarts`, resolved.maxRestarts, 'an integer >= 0');
  }
  if (resolved.maxDelayMs < resolved.initialDelayMs) {
    throw invalidOption(
      `${prefix}.maxDelayMs`,
      resolved.maxDelayMs,
      `a number >= initialDelayMs (${resolved.initialDelayMs})`,
    );
  }
  return resolved;
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * Counts restarts in a sliding window and says how long to wait before the next one, or that
 * the limit is passed. One tracker per supervised thing (a replica, the pool's boot).
 */
export class RestartTracker {
  readonly #times: number[] = [];

  constructor(readonly policy: ResolvedRestartOptions) {}

  /**
   * Records a failure now. Returns the delay before restarting, or `undefined` when this makes
   * more than `maxRestarts` restarts in the window (a crash loop).
   */
  next(now = Date.now()): number | undefined {
    const { windowMs, maxRestarts, initialDelayMs, maxDelayMs } = this.policy;
    while (this.#times.length > 0 && this.#times[0]! <= now - windowMs) this.#times.shift();
    this.#times.push(now);
    const recent = this.#times.length;
    if (recent > maxRestarts) return undefined;
    return backoffDelay(recent, initialDelayMs, maxDelayMs);
  }
}
