// Diagnostic only (the "multitask, light app" rows): the same Inc task and app as tasks.mjs +
// app.mjs, but importing Task and defineApp from their own modules in dist/ instead of the
// package entry, so that a worker does not load the pool's main-thread code. Not public API.
import { defineApp } from '../dist/app/define-app.js';
import { Task } from '../dist/task/task.js';

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
