// multitask tasks for the benchmark, on the compiled package (imported by name, as a user would).
import { Task } from 'multitask';
import { fib } from './workers/fib.mjs';

/** x -> x + 1: the tiniest task, for throughput. */
export class Inc extends Task {
  constructor(x) {
    super();
    this.x = x;
  }
  run() {
    return this.x + 1;
  }
}

/** fib(n), recursively: a CPU-bound task for the speedup measurement. */
export class Fib extends Task {
  constructor(n) {
    super();
    this.n = n;
  }
  run() {
    return fib(this.n);
  }
}
