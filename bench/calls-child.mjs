// One side of a calls measurement, in its own process (calls.mjs starts them):
//
//   node calls-child.mjs worker  <kind>   consumes BENCH_QUEUE, prints READY, runs until SIGTERM
//   node calls-child.mjs latency <kind>   warms up, then times calls at concurrency 1 and 256
//   node calls-child.mjs memory  <kind>   RSS with BENCH_OUTSTANDING calls outstanding, no consumer
//
// kind: multitask-amqp, multitask-sqlite, multitask-sqlite-10ms (pollMs 10 on both sides),
// bullmq, or, for memory only, multitask-amqp-dispatch (the same jobs by `queue.dispatch`, no
// result asked: what the burst of publishes costs by itself). The caller prints `RESULT {json}`.
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const [role, kind] = process.argv.slice(2);
const env = process.env;
const NAME = env.BENCH_QUEUE ?? `bench.calls.manual.${process.pid}`;
const AMQP_URL = env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const REDIS_PORT = Number(env.BENCH_REDIS_PORT ?? 6379);
const TMP = env.BENCH_TMP ?? '/tmp';
const SEQUENTIAL = Number(env.BENCH_SEQUENTIAL ?? 200);
const CONCURRENT = Number(env.BENCH_CONCURRENT ?? 5_000);
const OUTSTANDING = Number(env.BENCH_OUTSTANDING ?? 10_000);
const WARMUP = 200;
/** Worker slots: 2 workers × 128 for multitask, 256 for BullMQ's one Worker. */
const SLOTS = 256;
const APP = new URL('./calls-app.mjs', import.meta.url);

const isMultitask = kind.startsWith('multitask');
const url = () => (kind.startsWith('multitask-sqlite') ? `sqlite:${join(TMP, `${NAME}.db`)}` : AMQP_URL);
const queueOptions = () => ({ app: APP, ...(kind === 'multitask-sqlite-10ms' ? { pollMs: 10 } : {}) });

function report(result) {
  process.stdout.write(`RESULT ${JSON.stringify({ role, kind, ...result })}\n`);
}

/** The p-th percentile (0–100) of sorted values. */
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];

// --- the two sides, per kind --------------------------------------------------------------

async function redisConnection() {
  const { default: Redis } = await import('ioredis');
  // BullMQ 6 takes a client from ESM; blocking connections need maxRetriesPerRequest: null.
  return new Redis({ host: '127.0.0.1', port: REDIS_PORT, maxRetriesPerRequest: null });
}

async function startWorker() {
  if (isMultitask) {
    const { openQueue, Pool } = await import('multitask');
    const queue = await openQueue(url(), queueOptions());
    const pool = new Pool({ app: APP, size: 2, concurrency: SLOTS / 2 });
    const consumer = pool.consume(queue, { queue: NAME });
    await consumer.ready;
    return async () => {
      await consumer.stop();
      await pool.close();
      await queue.close();
    };
  }
  const { Worker } = await import('bullmq');
  const connection = await redisConnection();
  const worker = new Worker(NAME, async (job) => job.data.x + 1, { connection, concurrency: SLOTS });
  await worker.waitUntilReady();
  return async () => {
    await worker.close();
    connection.disconnect();
  };
}

/** A caller: `call(x)` resolves with the job's result; `close()` ends it. */
async function startCaller() {
  if (isMultitask) {
    const { openQueue } = await import('multitask');
    const { Inc } = await import('./calls-app.mjs');
    const queue = await openQueue(url(), queueOptions());
    const dispatchOnly = kind === 'multitask-amqp-dispatch';
    return {
      call: (x) =>
        dispatchOnly ? queue.dispatch(new Inc(x), { queue: NAME }) : queue.call(new Inc(x), { queue: NAME }),
      ready: (count) => queue.stats(NAME).then((stats) => stats.ready >= count),
      close: () => queue.close(),
    };
  }
  const { Queue, QueueEvents } = await import('bullmq');
  const connection = await redisConnection();
  const eventsConnection = await redisConnection();
  const queue = new Queue(NAME, { connection });
  const events = new QueueEvents(NAME, { connection: eventsConnection });
  await events.waitUntilReady();
  return {
    call: async (x) => (await queue.add('inc', { x })).waitUntilFinished(events),
    ready: async (count) => (await queue.getWaitingCount()) >= count,
    close: async () => {
      await events.close();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      connection.disconnect();
      eventsConnection.disconnect();
    },
  };
}

// --- measurements -------------------------------------------------------------------------

/** Latencies (ms) of `count` calls made `concurrency` at a time, and the rate they went at. */
async function timed(caller, count, concurrency) {
  const latencies = [];
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const x = next++;
      const from = performance.now();
      const value = await caller.call(x);
      latencies.push(performance.now() - from);
      if (value !== x + 1) throw new Error(`call ${x} returned ${value}`);
    }
  };
  const from = performance.now();
  await Promise.all(Array.from({ length: concurrency }, lane));
  const seconds = (performance.now() - from) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    callsPerSec: count / seconds,
    count,
  };
}

async function latency() {
  const caller = await startCaller();
  try {
    await timed(caller, WARMUP, 32);
    const one = await timed(caller, SEQUENTIAL, 1);
    const many = await timed(caller, CONCURRENT, 256);
    report({ one, many });
  } finally {
    await caller.close();
  }
}

/** RSS above idle with OUTSTANDING calls waiting and no consumer. */
async function memory() {
  const caller = await startCaller();
  const rss = async () => {
    for (let i = 0; i < 3; i++) {
      globalThis.gc?.();
      await sleep(100);
    }
    return process.memoryUsage().rss;
  };
  // Idle: connected, and the queue declared (by asking for its stats).
  await caller.ready(0);
  const idle = await rss();
  const waits = Array.from({ length: OUTSTANDING }, (_, x) => caller.call(x).catch(() => {}));
  // Outstanding: every job is on the broker, each call still waiting for its result.
  const deadline = Date.now() + 120_000;
  while (!(await caller.ready(OUTSTANDING))) {
    if (Date.now() > deadline) throw new Error('the jobs never all reached the broker');
    await sleep(100);
  }
  const loaded = await rss();
  report({ idleRss: idle, loadedRss: loaded, outstanding: OUTSTANDING });
  await caller.close();
  await Promise.race([Promise.all(waits), sleep(5_000)]);
}

if (role === 'worker') {
  const stop = await startWorker();
  process.stdout.write('READY\n');
  await once(process, 'SIGTERM');
  await stop();
} else if (role === 'latency') await latency();
else if (role === 'memory') await memory();
else throw new Error(`unknown role ${role}`);
process.exit(0);
