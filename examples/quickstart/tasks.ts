import { Task, type TaskContext } from '../../src/index.js';

/** A CPU-bound step: the n-th Fibonacci number, computed the slow way. */
export class Fib extends Task<number> {
  constructor(readonly n: number) {
    super();
  }
  run(): number {
    return fib(this.n);
  }
}

function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/** A long-running job that fails on its first two runs (say, a flaky connection), then succeeds. */
export class Connect extends Task<string, { service: string }> {
  constructor(readonly target: string) {
    super();
  }
  async run({ app, attempt, log }: TaskContext<{ service: string }>): Promise<string> {
    if (attempt <= 2) throw new Error(`${this.target} refused the connection (attempt ${attempt})`);
    log.info('connected', { target: this.target });
    return `${app.service} connected to ${this.target} on attempt ${attempt}`;
  }
}
