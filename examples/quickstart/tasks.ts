/**
 * The quickstart's jobs: two kinds of ordinary work, and three that show what the queue does
 * when work goes wrong. Every failure is decided by `ctx.attempt`, not by chance, so a run
 * always ends the same way: retried jobs succeed, one job fails for good, one worker dies.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Task, type TaskContext } from '../../src/index.js';

/** CPU work: box-filters a generated greyscale image down by `factor` and returns a digest of it. */
export class Thumbnail extends Task<string> {
  constructor(
    readonly image: number,
    readonly size = 192,
    readonly factor = 4,
  ) {
    super();
  }
  run(): string {
    const { size, factor } = this;
    // A deterministic "photo": the same image number always gives the same pixels.
    const pixels = new Uint8Array(size * size);
    let seed = this.image * 2_654_435_761;
    for (let i = 0; i < pixels.length; i++) {
      seed = (seed * 1_103_515_245 + 12_345) >>> 0;
      pixels[i] = seed >>> 24;
    }
    const side = size / factor;
    const thumb = new Uint8Array(side * side);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        let sum = 0;
        for (let dy = 0; dy < factor; dy++) {
          for (let dx = 0; dx < factor; dx++) sum += pixels[(y * factor + dy) * size + x * factor + dx]!;
        }
        thumb[y * side + x] = sum / (factor * factor);
      }
    }
    return createHash('sha1').update(thumb).digest('hex');
  }
}

/** Short I/O-like work: waits a few ms (as a read would), then hashes the "file". */
export class Checksum extends Task<string> {
  constructor(
    readonly file: string,
    readonly latencyMs: number,
  ) {
    super();
  }
  async run({ signal }: TaskContext): Promise<string> {
    // Passing the signal lets a stopping consumer cut the wait short instead of waiting it out.
    await sleep(this.latencyMs, undefined, { signal });
    return createHash('sha256').update(this.file).digest('hex');
  }
}

/** Fails on its first attempt (a timeout upstream, say) and succeeds when the queue retries it. */
export class Flaky extends Task<string> {
  constructor(readonly order: number) {
    super();
  }
  run({ attempt }: TaskContext): string {
    // Once only: even if this job also shares a worker that crashes, its 3 attempts are enough.
    if (attempt === 1) throw new Error(`order ${this.order}: payment service timed out (attempt ${attempt})`);
    return `order ${this.order} charged on attempt ${attempt}`;
  }
}

/** The message {@link AlwaysFails} throws, exported so the test can look for it in the failed store. */
export const ALWAYS_FAILS_MESSAGE = 'invoice 4711: customer has no billing address';

/** Fails every time: after its last attempt the queue moves it to the failed store, with this error. */
export class AlwaysFails extends Task<never> {
  constructor(readonly invoice: number) {
    super();
  }
  run(): never {
    throw new Error(ALWAYS_FAILS_MESSAGE);
  }
}

/**
 * Kills its worker thread on attempt 1 (as a native crash or a stray process.exit would). The
 * pool replaces the worker, the queue gives the job back at once, and attempt 2 succeeds.
 */
export class Crash extends Task<string> {
  constructor(readonly reason: string) {
    super();
  }
  run({ attempt }: TaskContext): string {
    // In a worker thread, process.exit ends that thread only, not the process.
    if (attempt === 1) process.exit(1);
    return `survived ${this.reason} on attempt ${attempt}`;
  }
}
