// One queue measurement in a fresh process: `node queue-child.mjs <part> <kind>`, where part is
// e2e, dispatch, io or crash and kind is multitask-amqp, multitask-sqlite, amqplib or bullmq
// (for dispatch also amqplib-props: the bare publisher sending a job's properties too);
// for e2e also multitask-amqp-feed and multitask-sqlite-feed: the same run with a listener of the
// event feed (`queue.events({ queue })` in a process of its own, feed-listener.mjs) reading from
// before the pre-fill to the end.
// Prints one line, `RESULT {json}`, for queue.mjs to collect. queue.mjs passes the queue name
// (BENCH_QUEUE), the brokers (BENCH_AMQP_URL, BENCH_REDIS_PORT) and a temp dir (BENCH_TMP); the
// child deletes what it made (queue.mjs also sweeps RabbitMQ for the run's queues afterwards).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AMQP_URL, dispatchWindow, until } from './harness.mjs';

const [part, kind] = process.argv.slice(2);
const env = process.env;
const NAME = env.BENCH_QUEUE ?? `bench.manual.${process.pid}`;
const REDIS_PORT = Number(env.BENCH_REDIS_PORT ?? 6379);
const TMP = env.BENCH_TMP ?? '/tmp';
const E2E_JOBS = Number(env.BENCH_E2E_JOBS ?? 50_000);
const DISPATCH_JOBS = Number(env.BENCH_DISPATCH_JOBS ?? 30_000);
/** Jobs per `dispatchMany` call; the calls follow one another. */
const DISPATCH_BATCH = Number(env.BENCH_DISPATCH_BATCH ?? 1000);
const IO_JOBS = Number(env.BENCH_IO_JOBS ?? 20_000);
const IO_SLEEP_MS = 20;
const IO_CONCURRENCY = 500; // per worker
const CRASHES = Number(env.BENCH_CRASHES ?? 5);
const WORKERS = 2;
/** Per worker for multitask; the bare amqplib consumer's one channel gets WORKERS × this. */
const E2E_CONCURRENCY = 50;
const BULLMQ_CONCURRENCY = Number(env.BENCH_BULLMQ_CONCURRENCY ?? 50);
/** Confirms awaited, or dispatches kept in flight, per window. */
const WINDOW = 1000;
const PAYLOAD = 'x'.repeat(100);
const PAYLOAD_BUFFER = Buffer.from(PAYLOAD);
const QUORUM = { durable: true, arguments: { 'x-queue-type': 'quorum' } };
const APP = new URL('./queue-app.mjs', import.meta.url);

const transportUrl = () =>
  kind.startsWith('multitask-sqlite') ? `sqlite:${join(TMP, `${NAME}.db`)}` : AMQP_URL;

function report(result) {
  // cpuMs: this whole process (all threads); queue.mjs subtracts it from the machine's busy time
  // to tell how much the brokers (and anything else) used meanwhile.
  const { user, system } = process.cpuUsage();
  process.stdout.write(
    `RESULT ${JSON.stringify({ part, kind, queue: NAME, ...result, cpuMs: (user + system) / 1000 })}\n`,
  );
}

// --- bare amqplib -------------------------------------------------------------------------

async function amqp() {
  const { default: amqplib } = await import('amqplib');
  const connection = await amqplib.connect(AMQP_URL);
  const publisher = await connection.createConfirmChannel();
  await publisher.assertQueue(NAME, QUORUM);
  return { connection, publisher };
}

/**
 * The bodies multitask sends for the dispatch benchmark's Noop jobs (a 100-byte payload, its
 * own UUID each), built before the bare publisher's clock starts: the bare side pays for no
 * encoding at all.
 */
function jobBodies(ids) {
  const dispatchedAt = new Date().toISOString();
  return ids.map((id) =>
    Buffer.from(
      JSON.stringify({
        v: 1,
        id,
        task: 'Noop',
        fields: { payload: PAYLOAD },
        attempts: 3,
        dispatchedAt,
      }),
    ),
  );
}

/**
 * Persistent messages (`bodies`, or 100-byte ones), confirms awaited every WINDOW; honours the
 * channel's 'drain'. With `ids`, each also carries the properties multitask gives a job: its id,
 * its content type, and `mandatory`.
 */
async function publishConfirmed(channel, count, bodies, ids) {
  for (let i = 1; i <= count; i++) {
    const body = bodies === undefined ? PAYLOAD_BUFFER : bodies[i - 1];
    const properties =
      ids === undefined
        ? { persistent: true }
        : { persistent: true, mandatory: true, contentType: 'application/json', messageId: ids[i - 1] };
    if (!channel.sendToQueue(NAME, body, properties)) await once(channel, 'drain');
    if (i % WINDOW === 0) await channel.waitForConfirms();
  }
  await channel.waitForConfirms();
}

/** One channel, manual ack of each message; `handle` may return a promise (ack after it). */
async function consumeBare(connection, count, prefetch, handle) {
  const channel = await connection.createChannel();
  await channel.prefetch(prefetch);
  let done = 0;
  let firstMs;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const { consumerTag } = await channel.consume(NAME, (message) => {
    const settle = () => {
      channel.ack(message);
      firstMs ??= performance.now() - t0;
      if (++done === count) finish(performance.now());
    };
    const pending = handle();
    if (pending) pending.then(settle);
    else settle();
  });
  const t1 = await finished;
  const consumeCpuMs = cpuMsSince(cpu0);
  await channel.cancel(consumerTag);
  await channel.close();
  return { ms: t1 - t0, firstMs, consumeCpuMs };
}

/**
 * A consumer's rates: over the whole run, and from the first job settled to the last (its pace
 * once it runs, without its start: the bare consumer opens its channel before its clock starts;
 * multitask opens its lane, declares its queue and warms its worker inside it).
 */
function consumeRates(count, ms, firstMs) {
  return {
    ms,
    jobsPerSec: (count / ms) * 1000,
    firstMs,
    paceAfterFirst:
      firstMs === undefined || ms <= firstMs ? undefined : ((count - 1) / (ms - firstMs)) * 1000,
  };
}

/** CPU time of this whole process (every thread) since `start`, in ms. */
function cpuMsSince(start) {
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1000;
}

async function bareRun(count, prefetch, handle) {
  const { connection, publisher } = await amqp();
  try {
    await publishConfirmed(publisher, count);
    const { messageCount } = await publisher.checkQueue(NAME);
    const { ms, firstMs, consumeCpuMs } = await consumeBare(connection, count, prefetch, handle);
    return { ...consumeRates(count, ms, firstMs), readyBefore: messageCount, consumeCpuMs };
  } finally {
    await publisher.deleteQueue(NAME).catch(() => {});
    await connection.close();
  }
}

// --- BullMQ -------------------------------------------------------------------------------

async function bullmqE2e(count) {
  const { Queue, Worker } = await import('bullmq');
  const { Redis } = await import('ioredis');
  // BullMQ 6 loads ioredis itself only under CommonJS: from ESM it takes a client. Workers need
  // maxRetriesPerRequest: null for their blocking connection.
  const connection = new Redis({ host: '127.0.0.1', port: REDIS_PORT, maxRetriesPerRequest: null });
  const queue = new Queue(NAME, { connection });
  try {
    // removeOnComplete: a finished job is deleted, as an acked message is in RabbitMQ.
    for (let i = 0; i < count; i += WINDOW) {
      const size = Math.min(WINDOW, count - i);
      await queue.addBulk(
        Array.from({ length: size }, () => ({
          name: 'noop',
          data: { payload: PAYLOAD },
          opts: { removeOnComplete: true, attempts: 3 },
        })),
      );
    }
    const readyBefore = await queue.getWaitingCount();
    const worker = new Worker(NAME, async () => {}, {
      connection,
      concurrency: BULLMQ_CONCURRENCY,
      autorun: false,
    });
    await worker.waitUntilReady();
    let done = 0;
    let failed = 0;
    worker.on('completed', () => done++);
    worker.on('failed', () => failed++);
    const t0 = performance.now();
    const running = worker.run();
    await until(() => done + failed >= count, 'BullMQ jobs');
    const ms = performance.now() - t0;
    await worker.close();
    await running;
    return { ms, jobsPerSec: (count / ms) * 1000, readyBefore, failed };
  } finally {
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    connection.disconnect();
  }
}

// --- multitask ----------------------------------------------------------------------------

async function multitask() {
  const mod = await import('multitask');
  const tasks = await import('./queue-tasks.mjs');
  return { ...mod, ...tasks };
}

/** Pre-fills `count` jobs, starts a pool and waits for it, then times consume() until all completed. */
async function multitaskConsume(count, make, concurrency, workers = WORKERS) {
  const { openQueue, Pool } = await multitask();
  const queue = await openQueue(transportUrl(), { app: APP });
  let pool;
  try {
    await dispatchWindow(queue, make, count, { queue: NAME, attempts: 3 }, WINDOW);
    const readyBefore = (await queue.stats(NAME)).ready;
    pool = new Pool({ app: APP, size: workers, concurrency });
    await pool.ready;
    // The clock starts once the workers' apps are up, as the bare consumer's starts once its
    // channel is open: a service boots once and consumes for hours, and a thread's boot (about
    // 45 ms and its CPU here) is not a job's cost.
    await until(() => pool.stats().workers.every((worker) => worker.state === 'idle'), 'the workers to boot');
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const consumer = pool.consume(queue, { queue: NAME, concurrency });
    let firstMs;
    // Told by the consumer's own event rather than polled: a poll's wake-ups would count as its CPU.
    await new Promise((resolve) => {
      const check = () => consumer.counts.completed >= count && resolve();
      consumer.on('settled', () => {
        firstMs ??= performance.now() - t0;
        check();
      });
      check();
    });
    const ms = performance.now() - t0;
    const consumeCpuMs = cpuMsSince(cpu0);
    const counts = { ...consumer.counts };
    await consumer.stop();
    return { ...consumeRates(count, ms, firstMs), readyBefore, counts, consumeCpuMs };
  } finally {
    await pool?.close();
    await queue.close();
  }
}

// --- parts --------------------------------------------------------------------------------

async function e2e() {
  if (kind === 'amqplib') return bareRun(E2E_JOBS, WORKERS * E2E_CONCURRENCY, () => undefined);
  if (kind === 'bullmq') return bullmqE2e(E2E_JOBS);
  const { Noop } = await multitask();
  const run = () => multitaskConsume(E2E_JOBS, () => new Noop(PAYLOAD), E2E_CONCURRENCY);
  return kind.endsWith('-feed') ? withFeedListener(run) : run();
}

/**
 * Runs `run` while a listener reads the queue's event feed, in a process of its own
 * (feed-listener.mjs), as a dashboard or `multitask events` would; adds what it read to the
 * result: events, and the gaps it was told of (events the feed dropped rather than slow the jobs).
 */
async function withFeedListener(run) {
  const listener = spawn(process.execPath, ['feed-listener.mjs', transportUrl(), NAME], {
    cwd: new URL('.', import.meta.url),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  listener.stdout.on('data', (chunk) => {
    out += chunk;
  });
  const exited = once(listener, 'exit');
  try {
    await until(() => out.includes('LISTENING') || listener.exitCode !== null, 'the feed listener', 30_000);
    if (!out.includes('LISTENING')) throw new Error(`the feed listener exited: ${out}`);
    const result = await run();
    // The last batches are on their way: a moment for them, outside the timed part.
    await sleep(500);
    listener.kill('SIGTERM');
    await exited;
    const line = out.split('\n').find((text) => text.startsWith('FEED '));
    return { ...result, ...(line === undefined ? {} : JSON.parse(line.slice(5))) };
  } finally {
    if (listener.exitCode === null) listener.kill('SIGKILL');
  }
}

async function dispatch() {
  if (kind === 'amqplib' || kind === 'amqplib-props') {
    const { connection, publisher } = await amqp();
    try {
      const ids = Array.from({ length: DISPATCH_JOBS }, () => randomUUID());
      const bodies = jobBodies(ids);
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      await publishConfirmed(publisher, DISPATCH_JOBS, bodies, kind === 'amqplib-props' ? ids : undefined);
      const ms = performance.now() - t0;
      return { ms, jobsPerSec: (DISPATCH_JOBS / ms) * 1000, dispatchCpuMs: cpuMsSince(cpu0) };
    } finally {
      await publisher.deleteQueue(NAME).catch(() => {});
      await connection.close();
    }
  }
  const { openQueue, Noop } = await multitask();
  const queue = await openQueue(transportUrl(), { app: APP });
  try {
    // One dispatch first, untimed: it opens the connection and declares the queue, as the
    // bare publisher's assertQueue does before its clock starts.
    await queue.dispatch(new Noop(PAYLOAD), { queue: NAME, attempts: 3 });
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    if (kind.endsWith('-many') || kind.endsWith('-batches')) {
      // -many: one call of every job (at most 1,000 unconfirmed inside it); -batches: calls of
      // DISPATCH_BATCH, one after another, as a producer that waits for each batch does.
      const per = kind.endsWith('-many') ? DISPATCH_JOBS : DISPATCH_BATCH;
      for (let sent = 0; sent < DISPATCH_JOBS; sent += per) {
        const size = Math.min(per, DISPATCH_JOBS - sent);
        const batch = Array.from({ length: size }, () => new Noop(PAYLOAD));
        await queue.dispatchMany(batch, { queue: NAME, attempts: 3 });
      }
    } else {
      await dispatchWindow(
        queue,
        () => new Noop(PAYLOAD),
        DISPATCH_JOBS,
        { queue: NAME, attempts: 3 },
        WINDOW,
      );
    }
    const ms = performance.now() - t0;
    const dispatchCpuMs = cpuMsSince(cpu0);
    const { ready } = await queue.stats(NAME);
    return { ms, jobsPerSec: (DISPATCH_JOBS / ms) * 1000, dispatchCpuMs, readyAfter: ready };
  } finally {
    await queue.close();
  }
}

async function io() {
  if (kind === 'amqplib') {
    // A reference, not a peer of the same kind: one channel with all 2 × 500 slots as prefetch.
    return bareRun(IO_JOBS, WORKERS * IO_CONCURRENCY, () => sleep(IO_SLEEP_MS));
  }
  const { Sleep } = await multitask();
  // `-1w`: the same 1,000 slots on one worker, one thread fewer for the two cores.
  const workers = kind.endsWith('-1w') ? 1 : WORKERS;
  const concurrency = (WORKERS * IO_CONCURRENCY) / workers;
  return multitaskConsume(IO_JOBS, () => new Sleep(IO_SLEEP_MS, PAYLOAD), concurrency, workers);
}

async function crash() {
  const { openQueue, Pool, CrashOnce } = await multitask();
  const file = join(TMP, `${NAME}.stamps`);
  const queue = await openQueue(transportUrl(), { app: APP });
  const pool = new Pool({ app: APP, size: WORKERS, concurrency: 1 });
  try {
    await pool.ready;
    const consumer = pool.consume(queue, { queue: NAME, concurrency: 1 });
    // One crash at a time, so that each recovery is measured alone.
    for (let n = 0; n < CRASHES; n++) {
      await queue.dispatch(new CrashOnce(file, n), { queue: NAME, attempts: 3 });
      await until(() => consumer.counts.completed + consumer.counts.failed > n, `crash job ${n}`, 120_000);
    }
    const counts = { ...consumer.counts };
    await consumer.stop();
    const stamps = new Map();
    for (const line of readFileSync(file, 'utf8').trim().split('\n')) {
      const [n, attempt, at] = line.split(',').map(Number);
      stamps.set(`${n}:${attempt}`, at);
    }
    const recoveryMs = Array.from({ length: CRASHES }, (_, n) => {
      const first = stamps.get(`${n}:1`);
      const second = stamps.get(`${n}:2`);
      return first !== undefined && second !== undefined ? second - first : null;
    });
    return { recoveryMs, counts };
  } finally {
    await pool.close();
    await queue.close();
    rmSync(file, { force: true });
  }
}

const parts = { e2e, dispatch, io, crash };
if (!(part in parts)) {
  console.error(`usage: node queue-child.mjs <${Object.keys(parts).join('|')}> <kind>`);
  process.exit(2);
}
try {
  report(await parts[part]());
} finally {
  // The SQLite transport's file (and its -wal/-shm) lives only for this run.
  if (kind.startsWith('multitask-sqlite')) {
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(TMP, `${NAME}.db${suffix}`), { force: true });
  }
}
// A client that keeps a handle open must not hold the result back.
process.exit(0);
