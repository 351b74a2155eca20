/**
 * Grace periods, and the rule every stop in multitask follows (a consumer's, a pool's): the
 * first request starts the stop with its grace; a second one returns the same promise, and
 * with `graceMs: 0` it cuts the grace short (a second SIGTERM means "now").
 */
import { performance } from 'node:perf_hooks';

/** setTimeout's ceiling: a longer grace has no timer and ends only when cut. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A grace period: it ends after `ms`, or at once when cut short. */
export class Grace {
  /** Resolves when the grace ends (ran out, or cut). Never rejects. */
  readonly over: Promise<void>;
  #end!: () => void;
  #ended = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #deadline: number;

  constructor(ms: number) {
    this.over = new Promise((resolve) => {
      this.#end = resolve;
    });
    this.#deadline = performance.now() + ms;
    // The timer holds the process open on purpose: a stop in progress must be allowed to finish.
    if (ms <= MAX_TIMER_MS) this.#timer = setTimeout(() => this.cut(), ms);
  }

  /** True once the grace has ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /** What is left of the grace (ms); 0 once it has ended. */
  remainingMs(): number {
    return this.#ended ? 0 : Math.max(0, this.#deadline - performance.now());
  }

  /** Ends the grace now. */
  cut(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#end();
  }

  /** The work finished within the grace: drop the timer, so it keeps nothing alive. `over` stays pending. */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Something that stops once, within a grace that a second request with `graceMs: 0` cuts short. */
export class GracefulStop {
  #grace: Grace | undefined;
  #done: Promise<void> | undefined;

  /** True once a stop was requested. */
  get requested(): boolean {
    return this.#done !== undefined;
  }

  /**
   * Starts `stop` with a grace of `graceMs` on the first call; later calls return the same
   * promise, and one with `graceMs: 0` ends the grace at once.
   */
  request(graceMs: number, stop: (grace: Grace) => Promise<void>): Promise<void> {
    if (this.#done !== undefined) {
      if (graceMs === 0) this.#grace?.cut();
      return this.#done;
    }
    const grace = new Grace(graceMs);
    this.#grace = grace;
    this.#done = stop(grace).finally(() => grace.dispose());
    return this.#done;
  }
}
