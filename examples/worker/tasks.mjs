/**
 * The example worker's tasks, in plain JavaScript so that the production image runs them with
 * bare `node` (no tsx, no build step for the app). A task's own public fields are its input:
 * they cross to the worker as data, and the instance is rebuilt there without its constructor.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep, setImmediate as turn } from 'node:timers/promises';
import { Task } from 'multitask';

// Defaults apply in run(), not in the constructors: a job dispatched as JSON
// (`multitask dispatch --task Resize '{"image":"a.png","width":320}'`) is rebuilt from its
// fields without calling the constructor, so a constructor default would never be set.
const RESIZE_MS = 200;
const CHECKSUM_MEGABYTES = 16;

/** An I/O-shaped step: stands in for fetching, resizing and storing an image by waiting `ms`. */
export class Resize extends Task {
  /**
   * @param {string} image the image's key
   * @param {number} width the target width in pixels
   * @param {number} [ms] how long the pretend work takes (default 200)
   */
  constructor(image, width, ms) {
    super();
    this.image = image;
    this.width = width;
    this.ms = ms;
  }

  /**
   * Passing the signal to the wait lets a timeout or a shutdown past the grace period end the
   * job at once instead of leaving it to run on unobserved.
   * @param {import('multitask').TaskContext<{ host: string }>} ctx
   * @returns {Promise<{ image: string, width: number, host: string }>}
   */
  async run({ app, signal, log }) {
    await sleep(this.ms ?? RESIZE_MS, undefined, { signal });
    log.debug('resized', { image: this.image, width: this.width });
    return { image: this.image, width: this.width, host: app.host };
  }
}

/** A CPU-bound step: the sha256 of `megabytes` MiB of bytes generated from `seed`. */
export class Checksum extends Task {
  /**
   * @param {string} seed what the bytes are generated from (the same seed, the same digest)
   * @param {number} [megabytes] how much to hash (default 16)
   */
  constructor(seed, megabytes) {
    super();
    this.seed = seed;
    this.megabytes = megabytes;
  }

  /**
   * Hashes one MiB at a time and lets the worker's event loop turn between chunks: a cancel
   * (shutdown past the grace) arrives as a message, which a loop that never yields would not
   * see, and the worker's other jobs (MULTITASK_CONCURRENCY > 1) get their turn too.
   * @param {import('multitask').TaskContext} ctx
   * @returns {Promise<string>} the hex digest
   */
  async run({ signal }) {
    const block = createHash('sha256').update(this.seed).digest();
    const chunk = Buffer.alloc(1024 * 1024, block);
    const hash = createHash('sha256');
    for (let i = 0; i < (this.megabytes ?? CHECKSUM_MEGABYTES); i++) {
      await turn();
      signal.throwIfAborted();
      hash.update(chunk);
    }
    return hash.digest('hex');
  }
}
