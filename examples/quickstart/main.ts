/**
 * The quickstart (`npm start`): dispatches a few thousand jobs to a durable queue, consumes
 * them with a pool of worker threads, and sums up what happened. No server needed: without
 * MULTITASK_URL the queue is an SQLite file, ./.multitask/queue.db. Some jobs fail on purpose
 * (see tasks.ts), to show retries, the failed store and a worker replaced after a crash.
 */
import { openQueue, Pool, type SettledJob, type Task } from '../../src/index.js';
import { untilDone } from './progress.js';
import { AlwaysFails, Checksum, Crash, Flaky, Thumbnail } from './tasks.js';

const QUEUE = 'quickstart';
const JOBS = 3_000;
const app = new URL('./app.ts', import.meta.url);

/** Job `i` of the batch: ordinary work, one in 20 flaky, one that always fails, one that crashes. */
function job(i: number): Task<unknown, never> {
  // Early, before any job is on its last attempt: the crash also costs an attempt to the jobs
  // its worker held, and none of them should fail for good because of it.
  if (i === 3) return new Crash('a segfault in a native addon');
  if (i === JOBS / 2) return new AlwaysFails(4711);
  if (i % 20 === 10) return new Flaky(i);
  return i % 2 === 0 ? new Thumbnail(i) : new Checksum(`photos/${i}.jpg`, 2 + (i % 7));
}

// The default retry backoff (1 s doubling) suits real outages; a demo wants its retries quick.
const queue = await openQueue(process.env.MULTITASK_URL, {
  app,
  retry: { initialDelayMs: 50, maxDelayMs: 500 },
});

// Start clean: failures of an earlier run would muddle this one's. Jobs it left are run too.
await queue.purgeFailed(QUEUE);
const left = await queue.stats(QUEUE);
const leftover = left.ready + left.delayed + left.inFlight;
if (leftover > 0) {
  console.log(
    `${leftover} jobs left by an earlier run will run too (those its process held come back when their lease ends)`,
  );
}

let started = performance.now();
// In chunks: each dispatch resolves once the queue has the job durably; 500 at a time keeps
// the number of pending confirmations bounded without waiting for them one by one.
for (let first = 0; first < JOBS; first += 500) {
  const chunk = Array.from({ length: Math.min(500, JOBS - first) }, (_, k) => job(first + k));
  await Promise.all(chunk.map((task) => queue.dispatch(task, { queue: QUEUE, attempts: 3 })));
}
console.log(
  `dispatched ${JOBS} jobs to "${QUEUE}" on ${queue.url} in ${Math.round(performance.now() - started)} ms`,
);

const pool = new Pool({ app, size: '100%', concurrency: 4 });
console.log(`consuming with ${pool.size} workers, 4 jobs at a time each`);
const consumer = pool.consume(queue, { queue: QUEUE });
const failures: SettledJob[] = [];
consumer.on('settled', (settled) => {
  if (settled.outcome === 'failed') failures.push(settled);
});
const crashes: string[] = [];
pool.on('workerExit', ({ workerId, exitCode, reason }) => {
  if (reason === 'crash')
    crashes.push(`worker ${workerId} died (exit code ${exitCode}); the pool replaced it`);
});

// Ctrl-C stops waiting; the shutdown below then gives unfinished jobs back to the queue.
const interrupted = new AbortController();
const interrupt = () => interrupted.abort();
process.once('SIGINT', interrupt);
process.once('SIGTERM', interrupt);

started = performance.now();
await untilDone(consumer, queue, JOBS + leftover, interrupted.signal);
const seconds = (performance.now() - started) / 1000;

// In this order: the consumer gives back what it holds, then the threads end, then the file closes.
await consumer.stop({ graceMs: 2_000 });
const restarts = pool.stats().workerRestarts;
await pool.close();
await queue.close();
process.off('SIGINT', interrupt);
process.off('SIGTERM', interrupt);

for (const line of crashes) console.log(line);
for (const { task, attempt, error } of failures) {
  console.log(`failed for good after ${attempt} attempts: ${task}: ${error?.message}`);
}
const { completed, retried, failed } = consumer.counts;
const rate = Math.round((completed + failed) / seconds);
// One line in a fixed format, for people and for test/quickstart.test.ts alike.
console.log(
  `done ${completed} · retried ${retried} · failed ${failed} · restarts ${restarts} · ${rate} jobs/s · ${seconds.toFixed(1)} s`,
);
// The command reads MULTITASK_URL as this script did: no --url to spell out (nor a password).
console.log(`inspect what failed: npx multitask failed list --queue ${QUEUE}`);
console.log(`or in a browser: npx multitask dashboard --queue ${QUEUE}; jobs running live: npm run demo`);
if (interrupted.signal.aborted) {
  console.log('interrupted: the jobs not done are back in the queue, and run on the next npm start');
  process.exitCode = 130;
}
