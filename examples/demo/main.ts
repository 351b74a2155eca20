/**
 * The demo (`npm run demo`): the quickstart's jobs as a steady, swelling stream into the queue
 * "demo", a pool of worker threads consuming it, and the web dashboard to watch it all, served
 * from this process on http://127.0.0.1:9465/ (MULTITASK_HTTP=host:port for another address)
 * until Ctrl-C. It also shows how to mount the dashboard in a server of your own: the handler
 * is a plain Node request handler. Without MULTITASK_URL the queue is the quickstart's SQLite
 * file, ./.multitask/queue.db.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDashboard, openQueue, Pool, type Task } from '../../src/index.js';
import { AlwaysFails, Checksum, Crash, Flaky, Thumbnail } from '../quickstart/tasks.js';

const QUEUE = 'demo';
const app = new URL('../quickstart/app.ts', import.meta.url);
const listen = process.env.MULTITASK_HTTP || '127.0.0.1:9465';
const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
const port = Number(listen.slice(listen.lastIndexOf(':') + 1));

/** Job `n` of the stream: mostly ordinary work, one in 25 flaky, one in 400 failing for good, a rare crash. */
function job(n: number): Task<unknown, never> {
  if (n % 4_000 === 1_999) return new Crash('a segfault in a native addon');
  if (n % 400 === 7) return new AlwaysFails(n);
  if (n % 25 === 3) return new Flaky(n);
  return n % 2 === 0 ? new Thumbnail(n) : new Checksum(`photos/${n}.jpg`, 5 + (n % 60));
}

const queue = await openQueue(process.env.MULTITASK_URL, {
  app,
  retry: { initialDelayMs: 200, maxDelayMs: 2_000 },
});
const pool = new Pool({ app, size: 2, concurrency: 8 });
const consumer = pool.consume(queue, { queue: QUEUE });

// The dashboard is a request handler: here it has a node:http server to itself; in an app of
// your own it can sit under a path (basePath, or Express's app.use('/dashboard', dashboard)).
const dashboard = createDashboard(queue, { queues: [QUEUE] });
const server = createServer(dashboard);
await new Promise<void>((resolve, reject) => {
  server.once('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EADDRINUSE') return reject(error);
    console.log(`${host}:${port} is taken (another demo or dashboard?): listening on a free port instead`);
    server.listen(0, host, resolve);
  });
  server.listen(port, host, () => resolve());
});
const address = server.address() as AddressInfo;
console.log(`dispatching to "${QUEUE}" on ${queue.url}, consuming with ${pool.size} workers`);
console.log(`dashboard: http://${host.includes(':') ? `[${host}]` : host}:${address.port}/ (Ctrl-C stops)`);

// The stream: a batch every 200 ms, swelling and ebbing over two minutes (about 25 to 125 jobs
// a second), and every three minutes a burst of 3,000 that piles up and drains: the charts,
// the backlog and the alerts have something to show.
const stopping = new AbortController();
const started = Date.now();
let dispatched = 0;
const stream = (async () => {
  let lastBurst = started;
  while (!stopping.signal.aborted) {
    const elapsed = (Date.now() - started) / 1_000;
    let count = Math.round(15 + 10 * Math.sin((elapsed / 120) * 2 * Math.PI));
    if (Date.now() - lastBurst >= 180_000) {
      lastBurst = Date.now();
      count += 3_000;
    }
    const batch = Array.from({ length: count }, () => job(dispatched++));
    await Promise.all(batch.map((task) => queue.dispatch(task, { queue: QUEUE, attempts: 3 })));
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
})();

await new Promise<void>((resolve) => {
  process.once('SIGINT', () => resolve());
  process.once('SIGTERM', () => resolve());
});
console.log('stopping: the jobs not done go back to the queue');
stopping.abort();
await stream;
// The page's stream would hold the server open: the dashboard ends it, then the server closes.
await dashboard.close();
await new Promise<void>((resolve) => {
  server.close(() => resolve());
  server.closeAllConnections();
});
await consumer.stop({ graceMs: 2_000 });
await pool.close();
await queue.close();
const { completed, failed } = consumer.counts;
console.log(`done: ${dispatched} dispatched, ${completed} completed, ${failed} failed for good`);
