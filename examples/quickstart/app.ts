import { defineApp } from '../../src/index.js';
import { AlwaysFails, Checksum, Crash, Flaky, Thumbnail } from './tasks.js';

/**
 * The entry point every worker boots from, and the registry that names tasks on the queue:
 * `main.ts` hands it both to the queue (to dispatch) and to the pool (to run).
 */
export default defineApp({
  tasks: { Thumbnail, Checksum, Flaky, AlwaysFails, Crash },
});
