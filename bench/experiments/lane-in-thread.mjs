// Where a consumer of I/O-bound jobs spends its CPU, warm: `node experiments/lane-in-thread.mjs
// [rounds]` (from bench/, after `npm run build` at the root) pre-fills a quorum queue with 20,000
// jobs (a 20 ms timer each) for every run and, in turns, in one long-lived process:
//   - bare, main:   the plain amqplib consumer of queue.mjs's io part (prefetch 1,000, an ack
//                   after each timer), on the main thread: the reference;
//   - bare, thread: the same consumer inside a worker thread (what a thread itself costs);
//   - pool:         `pool.consume` as shipped: one worker, the consumer on the main thread;
//   - in-thread:    a sizing experiment, not a feature: multitask's own Consumer (its RabbitMQ
//                   lane, acks, decoding and settling) inside a worker thread that also runs
//                   each task, with no hop between threads.
// Each has 1,000 jobs in flight; the threads live for the whole run, and a first round warms
// everything up uncounted. It imports multitask's internals from dist/ (the Consumer and the
// queue's port), so it may break with them: it sizes a design step (lanes living in the
// workers), nothing more.
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { openQueue, Pool } from 'multitask';
import { Consumer } from '../../dist/pool/consumer.js';
import { portOf } from '../../dist/queue/port.js';
import { TaskRegistry } from '../../dist/task/registry.js';
import {
  AMQP_URL,
  completed,
  dispatchWindow,
  median,
  plainIoConsumer,
  sweepAmqpQueues,
} from '../harness.mjs';
import { Sleep } from '../queue-tasks.mjs';

const JOBS = 20_000;
const SLOTS = 1_000;
const APP = new URL('../queue-app.mjs', import.meta.url);

/** The plain consumer: acks each message after the timer. */
async function bare(name) {
  const consumer = await plainIoConsumer(AMQP_URL, name, SLOTS);
  const t0 = performance.now();
  await consumer.drain(JOBS);
  const ms = performance.now() - t0;
  await consumer.close();
  return ms;
}

/** Times `consumer` from now until it completed every job; stops it. */
async function untilDone(consumer) {
  const t0 = performance.now();
  await completed(consumer, JOBS);
  const ms = performance.now() - t0;
  await consumer.stop();
  return ms;
}

/** multitask's Consumer with a host that runs each task here, in this thread. */
async function inThread(name) {
  const queue = await openQueue(AMQP_URL, { app: APP });
  const registry = new TaskRegistry({ Sleep });
  let id = 0;
  const host = {
    submit(spec) {
      const TaskClass = registry.classOf(spec.name);
      const task = Object.assign(Object.create(TaskClass.prototype), spec.fields);
      const promise = Promise.resolve().then(() => task.run({ attempt: spec.attempt, signal: spec.signal }));
      return { id: ++id, promise, workerId: 1, preempted: false };
    },
    registry: Promise.resolve(registry),
    workers: () => 1,
    broken: () => false,
    concurrency: SLOTS,
    graceMs: 5_000,
  };
  try {
    return await untilDone(new Consumer(host, portOf(queue), { queue: name, concurrency: SLOTS }));
  } finally {
    await queue.close();
  }
}

if (!isMainThread) {
  parentPort.on('message', async ({ kind, name }) =>
    parentPort.postMessage(kind === 'bare' ? await bare(name) : await inThread(name)),
  );
} else {
  const rounds = Number(process.argv[2] ?? 3);
  const queue = await openQueue(AMQP_URL, { app: APP });
  const pool = new Pool({ app: APP, size: 1, concurrency: SLOTS });
  await pool.ready;
  const thread = new Worker(new URL(import.meta.url));
  let answer;
  thread.on('message', (ms) => answer.resolve(ms));
  thread.on('error', (error) => answer?.reject(error));
  const inWorker = (kind, name) =>
    new Promise((resolve, reject) => {
      answer = { resolve, reject };
      thread.postMessage({ kind, name });
    });
  const kinds = {
    'bare, main': bare,
    'bare, thread': (name) => inWorker('bare', name),
    pool: (name) => untilDone(pool.consume(queue, { queue: name, concurrency: SLOTS })),
    'in-thread': (name) => inWorker('in-thread', name),
  };
  const reference = 'bare, main';
  const runs = Object.fromEntries(Object.keys(kinds).map((kind) => [kind, []]));
  try {
    for (let round = 0; round <= rounds; round++) {
      for (const [kind, run] of Object.entries(kinds)) {
        const name = `bench.lane-thread.${process.pid}.${round}.${kind.replace(/\W+/g, '-')}`;
        await dispatchWindow(
          queue,
          () => new Sleep(20, 'x'.repeat(100)),
          JOBS,
          { queue: name, attempts: 3 },
          1_000,
        );
        const cpu0 = process.cpuUsage();
        const ms = await run(name);
        const { user, system } = process.cpuUsage(cpu0);
        if (round === 0) continue;
        const result = { jobsPerSec: (JOBS / ms) * 1000, cpuPerJob: (user + system) / JOBS };
        runs[kind].push(result);
        console.log(
          `round ${round}, ${kind}: ${Math.round(result.jobsPerSec)} jobs/s, ${result.cpuPerJob.toFixed(1)} µs CPU a job`,
        );
      }
    }
  } finally {
    await thread.terminate();
    await pool.close();
    await queue.close();
    await sweepAmqpQueues(AMQP_URL, `bench.lane-thread.${process.pid}.`);
  }
  const cpu = (kind) => median(runs[kind].map((run) => run.cpuPerJob));
  const rate = (kind) => median(runs[kind].map((run) => run.jobsPerSec));
  for (const kind of Object.keys(kinds))
    console.log(
      `median ${kind}: ${Math.round(rate(kind))} jobs/s (${(rate(kind) / rate(reference)).toFixed(2)}× ${reference}), ${cpu(kind).toFixed(1)} µs CPU a job (${(cpu(kind) / cpu(reference)).toFixed(2)}×)`,
    );
}
