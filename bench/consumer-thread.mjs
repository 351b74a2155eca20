// What a worker thread costs a bare consumer: `node consumer-thread.mjs [rounds]` runs the plain
// amqplib consumer of queue.mjs's io part (prefetch 1,000, each message acked after a 20 ms
// timer) on the main thread and, in turns, inside one long-lived worker thread of the same
// process (both warmed up by an uncounted first round), and prints each run's rate, its pace
// after the first job, and the process's CPU a job. It sizes
// what any design that runs jobs in worker threads pays before doing anything of its own.
// BENCH_AMQP_URL as for queue.mjs; each run's queue is deleted afterwards.
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import amqplib from 'amqplib';
import { AMQP_URL, median } from './harness.mjs';

const JOBS = 20_000;
const PREFETCH = 1_000;
const SLEEP_MS = 20;

/** Consumes JOBS messages of `name`, each acked after the timer; times from `consume` on. */
async function consume(name) {
  const connection = await amqplib.connect(AMQP_URL);
  const channel = await connection.createChannel();
  await channel.prefetch(PREFETCH);
  let done = 0;
  let firstMs;
  const t0 = performance.now();
  await new Promise((resolve) => {
    channel.consume(name, (message) => {
      sleep(SLEEP_MS).then(() => {
        channel.ack(message);
        firstMs ??= performance.now() - t0;
        if (++done === JOBS) resolve();
      });
    });
  });
  const ms = performance.now() - t0;
  await connection.close();
  return { ms, firstMs };
}

/** Fills a fresh quorum queue with JOBS persistent messages shaped as jobs; its name. */
async function fill(channel, round, where) {
  const name = `bench.thread.${process.pid}.${round}.${where}`;
  await channel.assertQueue(name, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  const body = Buffer.from(
    JSON.stringify({ v: 1, id: 'x', task: 'Sleep', fields: { ms: SLEEP_MS, payload: 'x'.repeat(100) } }),
  );
  for (let i = 1; i <= JOBS; i++) {
    channel.sendToQueue(name, body, { persistent: true });
    if (i % 1_000 === 0) await channel.waitForConfirms();
  }
  await channel.waitForConfirms();
  return name;
}

/** One worker thread for every run: it consumes the queue each message names, and answers with its timing. */
function startWorker() {
  const worker = new Worker(new URL(import.meta.url));
  return {
    consume: (name) =>
      new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.postMessage(name);
      }),
    stop: () => worker.terminate(),
  };
}

async function measure(channel, worker, round, where) {
  const name = await fill(channel, round, where);
  try {
    const cpu0 = process.cpuUsage();
    const result = where === 'worker thread' ? await worker.consume(name) : await consume(name);
    const { user, system } = process.cpuUsage(cpu0);
    return {
      jobsPerSec: (JOBS / result.ms) * 1000,
      pace: ((JOBS - 1) / (result.ms - result.firstMs)) * 1000,
      cpuPerJob: (user + system) / JOBS,
    };
  } finally {
    await channel.deleteQueue(name).catch(() => {});
  }
}

if (!isMainThread) {
  parentPort.on('message', async (name) => parentPort.postMessage(await consume(name)));
} else {
  const rounds = Number(process.argv[2] ?? 3);
  const connection = await amqplib.connect(AMQP_URL);
  const channel = await connection.createConfirmChannel();
  const worker = startWorker();
  const runs = { 'main thread': [], 'worker thread': [] };
  try {
    // Round 0 warms both up (the compiler, the thread's heap) and is not counted: a pool's
    // workers are long-lived.
    for (let round = 0; round <= rounds; round++) {
      for (const where of Object.keys(runs)) {
        const run = await measure(channel, worker, round, where);
        if (round === 0) continue;
        runs[where].push(run);
        console.log(
          `round ${round}, ${where}: ${Math.round(run.jobsPerSec)} jobs/s, ${Math.round(run.pace)} after the first job, ${run.cpuPerJob.toFixed(1)} µs CPU a job`,
        );
      }
    }
  } finally {
    await worker.stop();
    await connection.close();
  }
  const cpu = (where) => median(runs[where].map((run) => run.cpuPerJob));
  console.log(
    `median CPU a job: main thread ${cpu('main thread').toFixed(1)} µs, worker thread ${cpu('worker thread').toFixed(1)} µs (${(cpu('worker thread') / cpu('main thread')).toFixed(2)}×)`,
  );
}
