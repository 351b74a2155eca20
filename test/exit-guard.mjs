// Loaded by `npm test` in front of every test file (`--import`). A file whose tests are over but
// whose process stays alive (a server, a socket or a child left open by a failed test) would
// keep `node --test` waiting for ever, and a whole CI run with it (seen: a relay left listening
// after a failed cluster test held the run past its 90 minutes). Here such a file ends after a
// grace, failing, with the kinds of handle that held it.
import { isMainThread } from 'node:worker_threads';

/** How long a file may take to exit after its last test (closing brokers' links, children). */
const EXIT_GRACE_MS = 20_000;

// Only in the process of a test file: not in the runner, a worker thread or a spawned child
// (node:test is imported only there: imported in a pool's worker thread, which inherits this
// flag, it keeps the thread from ending).
const isTestFile = isMainThread && /\.test\.ts$/.test(process.argv[1] ?? '');
if (isTestFile && process.env.NODE_TEST_CONTEXT?.startsWith('child')) {
  const { after } = await import('node:test');
  after(() => {
    setTimeout(() => {
      const held = process.getActiveResourcesInfo().filter((kind) => kind !== 'Timeout');
      process.stderr.write(
        `${process.argv[1]}: still running ${EXIT_GRACE_MS / 1_000} s after its last test, held by: ${held.join(', ')}\n`,
      );
      process.exit(1);
    }, EXIT_GRACE_MS).unref();
  });
}
