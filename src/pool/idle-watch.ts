/**
 * When a consumer is idle: it holds no job, and its queue had no job ready at its last look.
 * The look is one `transport.ready(queue)`, taken only when the consumer's last job settled
 * (or when someone starts waiting), and only while someone waits (`onIdle()`) or listens
 * (`drained`): a busy consumer never asks the broker anything. While the queue reports jobs
 * ready but none reaches this consumer (another instance holds them, or on RabbitMQ a delayed
 * job passes through the queue on its way back up the ladder), it looks again every
 * {@link IDLE_RECHECK_MS}: a timer, not a busy loop. Jobs waiting for a delay or a retry's
 * backoff are not ready, so they do not keep a consumer from being idle.
 */

/** How long after its last job settled a consumer looks at the queue: lets the lanes take what is ready (ms). */
const SETTLE_MS = 5;

/** While the queue says jobs are ready and none arrives, the pause between two looks (ms). */
export const IDLE_RECHECK_MS = 250;

/** What the watch needs of its consumer. */
export interface IdleWatchHost {
  /** Jobs the consumer holds now. */
  holding(): number;
  /** How many jobs the queue has ready now. */
  readyInQueue(): Promise<number>;
  /** True while someone listens for `drained`. */
  listening(): boolean;
  /** The consumer went idle: emit `drained`. */
  drained(): void;
}

/** See the module comment. */
export class IdleWatch {
  readonly #host: IdleWatchHost;
  readonly #waiters: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #looking = false;
  /** Idle at the last look, and no job taken since: `drained` is emitted once per idle spell. */
  #idle = false;
  #stopped = false;

  constructor(host: IdleWatchHost) {
    this.#host = host;
  }

  /** A job arrived: the consumer is busy again. */
  busy(): void {
    this.#idle = false;
  }

  /** The consumer's jobs all settled (or it just started): look soon, if anyone cares. */
  settled(): void {
    if (this.#idle) {
      this.#resolveWaiters();
      return;
    }
    this.#schedule(SETTLE_MS);
  }

  /** Resolves once the consumer is idle (at once when it already is, or has stopped). */
  wait(): Promise<void> {
    if (this.#stopped || this.#idle) return Promise.resolve();
    const waiting = new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#schedule(0);
    return waiting;
  }

  /** The consumer stopped: it holds nothing and takes nothing, so every waiter is done. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#resolveWaiters();
  }

  #wanted(): boolean {
    return !this.#stopped && (this.#waiters.length > 0 || this.#host.listening());
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== undefined || this.#looking || !this.#wanted()) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#look();
    }, delayMs);
  }

  async #look(): Promise<void> {
    // Holding a job: its settling calls settled() again, which looks then.
    if (!this.#wanted() || this.#host.holding() > 0) return;
    this.#looking = true;
    let ready: number | undefined;
    try {
      ready = await this.#host.readyInQueue();
    } catch {
      // The broker is away: look again later rather than guess.
    } finally {
      this.#looking = false;
    }
    if (this.#stopped || this.#host.holding() > 0) return;
    if (ready === 0) {
      if (!this.#idle) {
        this.#idle = true;
        this.#host.drained();
      }
      this.#resolveWaiters();
    } else {
      this.#schedule(IDLE_RECHECK_MS);
    }
  }

  #resolveWaiters(): void {
    for (const resolve of this.#waiters.splice(0)) resolve();
  }
}
