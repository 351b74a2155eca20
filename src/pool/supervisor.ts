/**
 * Supervision of long-running tasks: each replica runs inside try/catch; a clean return ends
 * it, a failure restarts it after a backoff, and too many failures in the window end it with
 * `ERR_CRASH_LOOP` (an OTP supervisor's intensity and period) instead of spinning.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ErrorCode,
  hasCode,
  type MultitaskError,
  poolClosedBeforeRestart,
  poolClosedWhileSupervised,
  serviceCrashLoop,
} from '../errors.js';
import type { TaskFields } from '../task/fields.js';
import type { Call, SubmitSpec } from './call.js';
import type { EmitPoolEvent } from './events.js';
import { type ResolvedRestartOptions, RestartTracker } from './restart-policy.js';

/** A supervised task: its replicas, how often they restarted, and when they are all done. */
export interface Service {
  /** Resolves when every replica returned; rejects (`ERR_CRASH_LOOP`) when one gave up. */
  readonly done: Promise<void>;
  /** Restarts so far, all replicas together. */
  readonly restarts: number;
  /** Replicas still running or waiting to restart. */
  readonly running: number;
}

/** What the supervisor needs from the pool. */
export interface SupervisorHost {
  submit(spec: SubmitSpec): Call;
  emit: EmitPoolEvent;
  /** True once the pool will not run anything again (closed, or its app cannot boot). */
  finished(): boolean;
  /** Aborted once the pool was asked to close (not: gave up because its app cannot boot). */
  closing: AbortSignal;
}

export class Supervision implements Service {
  #restarts = 0;
  #running: number;
  readonly done: Promise<void>;

  constructor(
    private readonly host: SupervisorHost,
    private readonly name: string,
    private readonly fields: TaskFields,
    replicas: number,
    private readonly policy: ResolvedRestartOptions,
  ) {
    this.#running = replicas;
    const runs = Array.from({ length: replicas }, (_, index) => this.#replica(index + 1));
    this.done = Promise.all(runs).then(() => undefined);
    // The caller may look at `restarts` and never await `done`: an unobserved rejection must not crash it.
    this.done.catch(() => {});
  }

  get restarts(): number {
    return this.#restarts;
  }

  get running(): number {
    return this.#running;
  }

  async #replica(replica: number): Promise<void> {
    const tracker = new RestartTracker(this.policy);
    try {
      for (let attempt = 1; ; attempt++) {
        const call = this.host.submit({ name: this.name, fields: this.fields, attempt, exclusive: true });
        let failure: unknown;
        try {
          await call.promise;
          if (!call.preempted) return;
        } catch (error) {
          failure = error;
        }
        // Its worker was retired under it (resize, recycling): run it again, not as a failure.
        if (call.preempted) continue;
        const error = failure as Error;
        if (hasCode(error, ErrorCode.POOL_CLOSED)) throw error;
        // The pool is closing (its signal aborted the task): an ending, not a crash loop.
        if (this.host.closing.aborted) throw poolClosedWhileSupervised(this.name, replica, error);
        const delayMs = this.host.finished() ? undefined : tracker.next();
        if (delayMs === undefined) throw this.#giveUp(replica, error);
        this.#restarts++;
        this.host.emit('restart', { taskName: this.name, replica, attempt: attempt + 1, delayMs, error });
        await this.#backOff(delayMs, replica, error);
      }
    } finally {
      this.#running--;
    }
  }

  /** Waits before a restart; a pool that closes meanwhile ends the wait, and the replica, at once. */
  async #backOff(delayMs: number, replica: number, lastError: Error): Promise<void> {
    try {
      await sleep(delayMs, undefined, { signal: this.host.closing });
    } catch {
      throw poolClosedBeforeRestart(this.name, replica, lastError);
    }
  }

  #giveUp(replica: number, cause: Error): MultitaskError {
    const { maxRestarts, windowMs } = this.policy;
    const error = serviceCrashLoop(this.name, replica, maxRestarts, windowMs, cause);
    this.host.emit('crashLoop', { taskName: this.name, replica, error });
    return error;
  }
}
