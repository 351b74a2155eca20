/**
 * Is the process alive? An interval timer stamps the time each turn of the event loop gets to
 * it; a stamp older than the limit means the loop is stuck (a synchronous loop on the main
 * thread, a deadlock in a native call), which is when an orchestrator should restart us.
 */

import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

const TICK_MS = 500;

/** The `/healthz` answer: alive or not, and how the event loop fares (a type, so it fits any JSON report). */
export type LivenessReport = {
  ok: boolean;
  /** How long past a tick the loop has gone without turning (ms). */
  eventLoopStalledMs: number;
  /** The 99th percentile of the event loop's delay (ms). */
  eventLoopDelayP99Ms: number;
};

/** Watches the main thread's event loop. */
export class LivenessMonitor {
  readonly #limitMs: number;
  readonly #delay: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  #lastTick = performance.now();
  #timer: NodeJS.Timeout | undefined;

  /** @param limitMs how long the loop may go without turning before the process counts as stuck. */
  constructor(limitMs = 10_000) {
    this.#limitMs = limitMs;
  }

  /** Starts watching; the timer does not keep the process alive. */
  start(): void {
    this.#delay.enable();
    this.#timer = setInterval(() => {
      this.#lastTick = performance.now();
    }, TICK_MS);
    this.#timer.unref();
  }

  /** Stops watching. */
  stop(): void {
    clearInterval(this.#timer);
    this.#delay.disable();
  }

  /** The `/healthz` answer. */
  report(): LivenessReport {
    const sinceTickMs = Math.round(performance.now() - this.#lastTick);
    return {
      ok: sinceTickMs < this.#limitMs,
      eventLoopStalledMs: Math.max(0, sinceTickMs - TICK_MS),
      eventLoopDelayP99Ms: Math.round(this.#delay.percentile(99) / 1e5) / 10,
    };
  }
}
