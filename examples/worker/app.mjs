/**
 * The app the example worker image runs (`MULTITASK_APP=examples/worker/app.mjs`). It imports
 * the package by name: inside this repository and in the image that resolves to the package
 * itself (a self-reference through package.json's exports), as `node_modules/multitask` would
 * in a user's project.
 */
import { hostname } from 'node:os';
import { defineApp } from 'multitask';
import { Checksum, Resize } from './tasks.mjs';

/** Every worker boots from this: the task registry, and what each worker sets up once. */
export default defineApp({
  tasks: { Resize, Checksum },
  // Runs in each worker, never on import: the main thread imports this module only to read the registry.
  setup: () => ({ host: hostname() }),
});
