// multitask tasks for the queue benchmark (queue.mjs). Kept apart from queue-app.mjs so that the
// main thread can import them to build jobs without loading anything else.
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Task } from 'multitask';

/** Does nothing: what is measured is the queue's own cost per job. */
export class Noop extends Task {
  constructor(payload) {
    super();
    this.payload = payload;
  }
  run() {}
}

/** Waits `ms` on a timer: an I/O-bound job, whose rate is bounded by the slots, not the CPU. */
export class Sleep extends Task {
  constructor(ms, payload) {
    super();
    this.ms = ms;
    this.payload = payload;
  }
  async run() {
    await sleep(this.ms);
  }
}

/**
 * Appends `n,attempt,Date.now()` to `file`, then on its first attempt ends its worker thread
 * (process.exit in a worker ends that thread only): the stamps give the time from the crash to
 * the second attempt's start. Written synchronously so the line is on disk before the exit.
 */
export class CrashOnce extends Task {
  constructor(file, n) {
    super();
    this.file = file;
    this.n = n;
  }
  run(ctx) {
    appendFileSync(this.file, `${this.n},${ctx.attempt},${Date.now()}\n`);
    if (ctx.attempt === 1) process.exit(1);
  }
}

/** Always throws: fills a failed store (failed-list.mjs). */
export class Fail extends Task {
  constructor(n) {
    super();
    this.n = n;
  }
  run() {
    throw new Error(`failing on purpose (${this.n})`);
  }
}
