// The app of the calls benchmark (calls.mjs): one task that returns its input plus one, so that
// every round trip carries a result back. No side effects: the caller imports it for its registry.
import { defineApp, Task } from 'multitask';

/** Returns x + 1. */
export class Inc extends Task {
  constructor(x) {
    super();
    this.x = x;
  }
  run() {
    return this.x + 1;
  }
}

export default defineApp({ tasks: { Inc } });
