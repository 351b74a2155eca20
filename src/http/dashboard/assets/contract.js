/**
 * The wire contract the page reads, as plain values: a copy of what src/http/dashboard/api.ts
 * declares (the page has no build step, so it cannot import TypeScript). A test compares the two,
 * so a change on one side that the other misses fails there rather than in a browser.
 */

/** Paths under the mount point; `:name` and `:id` are URI-encoded when filled in. */
export const PATHS = {
  snapshot: 'api/snapshot',
  stream: 'api/stream',
  queue: 'api/queues/:name',
  failed: 'api/queues/:name/failed',
  retry: 'api/queues/:name/failed/retry',
  purge: 'api/queues/:name/failed/purge',
  job: 'api/jobs/:id',
};

/** The header every POST carries, with the token of the page's `<meta name="multitask-csrf">`. */
export const CSRF_HEADER = 'x-multitask-csrf';

/** The stream sends a snapshot this often; one older than STALE_AFTER_MS makes the page stale. */
export const SNAPSHOT_EVERY_MS = 1_000;
export const STALE_AFTER_MS = 5_000;
