/**
 * One queue's last 15 minutes: per step of {@link SERIES_STEP_MS}, the jobs that completed and
 * failed (from the instances' counts, see instances-view.ts) and the ready count at its end.
 * A fixed ring: 180 steps, whatever the traffic.
 */

import { SERIES_SPAN_MS, SERIES_STEP_MS, type Series } from './api.js';

const STEPS = Math.round(SERIES_SPAN_MS / SERIES_STEP_MS);

interface Step {
  /** Its start (epoch ms, a multiple of the step). */
  at: number;
  completed: number;
  failed: number;
  /** The last ready count read during it. */
  ready: number;
}

/** See the module comment. */
export class QueueSeries {
  readonly #steps: Step[] = [];

  #current(now: number): Step {
    const at = now - (now % SERIES_STEP_MS);
    const last = this.#steps.at(-1);
    if (last !== undefined && last.at === at) return last;
    const step: Step = { at, completed: 0, failed: 0, ready: last?.ready ?? 0 };
    this.#steps.push(step);
    if (this.#steps.length > STEPS + 1) this.#steps.shift();
    return step;
  }

  /** Jobs that ended, seen now. */
  ended(completed: number, failed: number, now: number): void {
    const step = this.#current(now);
    step.completed += completed;
    step.failed += failed;
  }

  /** The ready count read now. */
  ready(count: number, now: number): void {
    this.#current(now).ready = count;
  }

  /**
   * The finished steps of the last 15 minutes, oldest first: jobs per second completed and
   * failed during each, and the ready count at its end. The step under way is left out (its
   * rate would read low until it ends); the live rates are the instances'.
   */
  series(now: number): Series {
    const current = now - (now % SERIES_STEP_MS);
    const done = this.#steps.filter((step) => step.at < current && step.at >= current - SERIES_SPAN_MS);
    const perSecond = 1000 / SERIES_STEP_MS;
    return {
      t: done.map((step) => step.at / 1000),
      completed: done.map((step) => round(step.completed * perSecond)),
      failed: done.map((step) => round(step.failed * perSecond)),
      ready: done.map((step) => step.ready),
    };
  }

  /** Jobs failed in the finished steps of the last `ms` (and how long those steps cover). */
  failedOver(ms: number, now: number): { count: number; ms: number } {
    const current = now - (now % SERIES_STEP_MS);
    const steps = this.#steps.filter((step) => step.at < current && step.at >= current - ms);
    return { count: steps.reduce((sum, step) => sum + step.failed, 0), ms: steps.length * SERIES_STEP_MS };
  }

  /** The ready counts at the end of the finished steps of the last `ms`, oldest first. */
  readyOver(ms: number, now: number): number[] {
    const current = now - (now % SERIES_STEP_MS);
    return this.#steps
      .filter((step) => step.at < current && step.at >= current - ms)
      .map((step) => step.ready);
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
