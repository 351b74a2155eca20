/**
 * The one module a built worker thread loads (scripts/build.mjs bundles it to
 * dist/worker/thread.js). It is both the thread's code and the worker API: inside a pool's
 * thread, `import 'multitask'` resolves here (the `multitask-worker` export condition), so the
 * app finds its `Task`, `defineApp` and `MultitaskError` in a module already loaded, and the
 * errors the thread makes are the very class the app imports. A fresh thread loads ES modules
 * one level at a time: one module starts the app far sooner than the dozen it replaces.
 */
export * from '../worker-api.js';

import './thread-entry.js';
