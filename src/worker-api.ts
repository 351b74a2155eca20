/**
 * What `import 'multitask'` resolves to inside a multitask worker thread (the
 * `multitask-worker` export condition): everything an app and its tasks use, without the
 * pool's main-thread engine, so that a worker stays close to a bare thread in memory and
 * start-up time. Types come from the full entry, so code type-checks the same everywhere.
 */
import { poolInWorker } from './errors.js';

export { defineApp } from './app/define-app.js';
export { ErrorCode, hasCode, MultitaskError } from './errors.js';
export { Task } from './task/task.js';

/**
 * Pools are made in the main thread. Inside a worker this stand-in says so clearly instead of
 * a module-linking error.
 */
export class Pool {
  constructor() {
    throw poolInWorker();
  }
}
