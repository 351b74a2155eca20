/**
 * The one module a built worker thread loads (scripts/build.mjs bundles it to
 * dist/worker/thread.js). It is both the thread's code and the worker API: inside a pool's
 * thread, `import 'multitask'` resolves here (the `multitask-worker` export condition), so the
 * app finds its `Task`, `defineApp` and `MultitaskError` in a module already loaded, and the
 * errors the thread makes are the very class the app imports. A fresh thread loads ES modules
 * one level at a time: one module starts the app far sooner than the dozen it replaces.
 *
 * The API here is everything an app and its tasks use, without the pool's main-thread engine.
 * Types come from the full entry (package.json `types`), so code type-checks the same everywhere.
 */
import { poolInWorker } from '../errors.js';
import './thread-entry.js';

export { defineApp } from '../app/define-app.js';
export { ErrorCode, hasCode, MultitaskError } from '../errors.js';
export { Task } from '../task/task.js';

/**
 * Pools are made in the main thread. Inside a worker this stand-in says so clearly instead of
 * a module-linking error.
 */
export class Pool {
  constructor() {
    throw poolInWorker();
  }
}
