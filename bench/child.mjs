// One measurement in a fresh process: `node child.mjs <part> <library> [arg]`. Prints one line,
// `RESULT {json}`, for run.mjs to collect. Every pool has 2 workers unless the part says otherwise.

import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { load } from './adapters.mjs';

const TASKS = Number(process.env.BENCH_TASKS ?? 100_000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5_000);
const WINDOW = 256;
const FIB_N = Number(process.env.BENCH_FIB_N ?? 32);
const FIB_TASKS = Number(process.env.BENCH_FIB_TASKS ?? 200);
const RSS_WORKERS = 8;
/** How long to wait for a pool to close once measured (see close()). */
const CLOSE_TIMEOUT_MS = 10_000;

const [part, library, arg] = process.argv.slice(2);

/** Set when a pool did not close in time: the process then ends without waiting for it. */
let closeHung = false;

function report(result) {
  // cpuMs: CPU time of this whole process (all threads), so that run.mjs can tell whether other
  // processes used the machine meanwhile.
  const { user, system } = process.cpuUsage();
  const cpuMs = (user + system) / 1000;
  const extra = closeHung ? { closeHung } : {};
  process.stdout.write(`RESULT ${JSON.stringify({ part, library, arg, ...result, ...extra, cpuMs })}\n`);
}

/**
 * Closes a pool after its measurement, waiting at most CLOSE_TIMEOUT_MS. poolifier 5.3.2's
 * destroy() now and then never settles, after every task has (2 of 40 window runs here): the
 * measurement stands, and run.mjs counts such runs.
 */
async function close(pool) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, CLOSE_TIMEOUT_MS, true);
  });
  closeHung = await Promise.race([pool.close().then(() => false), timeout]);
  clearTimeout(timer);
}

/** Submits every task at once, then awaits them all; returns the sum of results (a checksum). */
async function allAtOnce(pool, from, count) {
  const promises = new Array(count);
  for (let i = 0; i < count; i++) promises[i] = pool.run(from + i);
  const results = await Promise.all(promises);
  let sum = 0;
  for (const value of results) sum += value;
  return sum;
}

/** Keeps at most WINDOW tasks in flight: each result submits the next task. */
function slidingWindow(pool, from, count) {
  return new Promise((resolve, reject) => {
    let next = 0;
    let done = 0;
    let sum = 0;
    const launch = () => {
      const i = next++;
      pool.run(from + i).then((value) => {
        sum += value;
        done++;
        if (next < count) launch();
        else if (done === count) resolve(sum);
      }, reject);
    };
    for (let k = 0; k < Math.min(WINDOW, count); k++) launch();
  });
}

/** Sum of (x + 1) for x in [from, from + count). */
function expectedSum(from, count) {
  return count * from + (count * (count - 1)) / 2 + count;
}

async function throughput() {
  const create = await load(library);
  const pool = create(2, 'inc');
  await pool.ready();
  const drive = arg === 'window' ? slidingWindow : allAtOnce;
  const warm = await drive(pool, 0, WARMUP);
  if (warm !== expectedSum(0, WARMUP))
    throw new Error(`warm-up checksum ${warm} != ${expectedSum(0, WARMUP)}`);
  await sleep(100);
  const t0 = performance.now();
  const sum = await drive(pool, 1_000_000, TASKS);
  const ms = performance.now() - t0;
  if (sum !== expectedSum(1_000_000, TASKS))
    throw new Error(`checksum ${sum} != ${expectedSum(1_000_000, TASKS)}`);
  const extra = pool.stats ? { tasksPerWorker: pool.stats().workers.map((worker) => worker.tasksDone) } : {};
  await close(pool);
  report({ ms, tasksPerSec: (TASKS / ms) * 1000, ...extra });
}

async function startup() {
  const create = await load(library);
  const t0 = performance.now();
  const pool = create(2, 'inc');
  const value = await pool.run(41);
  const ms = performance.now() - t0;
  if (value !== 42) throw new Error(`first result ${value} != 42`);
  await close(pool);
  report({ ms });
}

async function settledRss() {
  for (let i = 0; i < 3; i++) {
    collectGarbage();
    await sleep(100);
  }
  await sleep(500);
  collectGarbage();
  return process.memoryUsage.rss();
}

async function rss() {
  let sample;
  if (library === 'multitask') {
    const create = await load(library);
    // The pool's main thread imports the app (to read its registry): do it before the baseline,
    // so that only the workers are counted.
    await import('./app.mjs');
    const before = await settledRss();
    const pool = create(RSS_WORKERS, 'inc');
    await pool.ready();
    const after = await settledRss();
    sample = { before, after };
    await close(pool);
  } else {
    const file = new URL('./workers/bare-idle.mjs', import.meta.url);
    const before = await settledRss();
    const workers = [];
    const ready = [];
    for (let i = 0; i < RSS_WORKERS; i++) {
      const worker = new Worker(file);
      ready.push(new Promise((resolve) => worker.once('message', resolve)));
      workers.push(worker);
    }
    await Promise.all(ready);
    const after = await settledRss();
    sample = { before, after };
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  const perWorkerMiB = (sample.after - sample.before) / RSS_WORKERS / 1024 / 1024;
  report({ beforeMiB: sample.before / 1048576, afterMiB: sample.after / 1048576, perWorkerMiB });
}

/** Tiny tasks per worker in rss-work: 8 workers, 160 tasks in rounds of one task per worker. */
const RSS_WORK_ROUNDS = 20;

/**
 * Starts RSS_WORKERS workers of one kind, runs RSS_WORK_ROUNDS rounds of one tiny task per
 * worker through them (all 8 at once, then the next round), and returns the process RSS growth
 * per worker once settled. Kinds: multitask (a Pool of an app with a `setup`), piscina, and a
 * bare Worker answering messages (workers/bare-answer.mjs).
 */
async function rssWork() {
  const kinds = {
    async multitask() {
      const { Pool } = await import('multitask');
      const { Inc } = await import('./tasks.mjs');
      const app = new URL('./setup-app.mjs', import.meta.url);
      // The pool's main thread imports the app (to read its registry): before the baseline.
      await import(app.href);
      return {
        start: async () => {
          const pool = new Pool({ app, size: RSS_WORKERS });
          await pool.ready;
          while (!pool.stats().workers.every((worker) => worker.state === 'idle')) await sleep(2);
          return {
            round: (x) =>
              Promise.all(Array.from({ length: RSS_WORKERS }, (_, i) => pool.run(new Inc(x + i)))),
            perWorker: () => pool.stats().workers.map((worker) => worker.tasksDone),
            close: () => pool.close(),
          };
        },
      };
    },
    async piscina() {
      const { Piscina } = await import('piscina');
      return {
        start: async () => {
          const filename = new URL('./workers/piscina-inc.mjs', import.meta.url).href;
          const pool = new Piscina({ filename, minThreads: RSS_WORKERS, maxThreads: RSS_WORKERS });
          while (pool.threads.length < RSS_WORKERS) await sleep(2);
          return {
            round: (x) => Promise.all(Array.from({ length: RSS_WORKERS }, (_, i) => pool.run(x + i))),
            perWorker: () => undefined,
            close: () => pool.destroy(),
          };
        },
      };
    },
    async bare() {
      return {
        start: async () => {
          const file = new URL('./workers/bare-answer.mjs', import.meta.url);
          const workers = Array.from({ length: RSS_WORKERS }, () => new Worker(file));
          await Promise.all(
            workers.map((worker) => new Promise((resolve) => worker.once('message', resolve))),
          );
          const done = workers.map(() => 0);
          const ask = (worker, i, x) =>
            new Promise((resolve) => {
              worker.once('message', (value) => {
                done[i]++;
                resolve(value);
              });
              worker.postMessage(x);
            });
          return {
            round: (x) => Promise.all(workers.map((worker, i) => ask(worker, i, x + i))),
            perWorker: () => done,
            close: () => Promise.all(workers.map((worker) => worker.terminate())),
          };
        },
      };
    },
  };
  if (!(library in kinds)) throw new Error(`rss-work: unknown kind ${library} (${Object.keys(kinds)})`);
  const kind = await kinds[library]();
  const before = await settledRss();
  const pool = await kind.start();
  let sum = 0;
  for (let round = 0; round < RSS_WORK_ROUNDS; round++) {
    for (const value of await pool.round(round * RSS_WORKERS)) sum += value;
  }
  const tasks = RSS_WORK_ROUNDS * RSS_WORKERS;
  if (sum !== expectedSum(0, tasks)) throw new Error(`checksum ${sum} != ${expectedSum(0, tasks)}`);
  const after = await settledRss();
  const tasksPerWorker = pool.perWorker();
  await pool.close();
  const perWorkerMiB = (after - before) / RSS_WORKERS / 1048576;
  report({ beforeMiB: before / 1048576, afterMiB: after / 1048576, perWorkerMiB, tasksPerWorker });
}

async function speedup() {
  const size = Number(arg);
  const create = await load(library);
  const pool = create(size, 'fib');
  await pool.ready();
  // Warm-up: one task per worker, so that fib is compiled in each thread before timing.
  await Promise.all(Array.from({ length: size * 2 }, () => pool.run(FIB_N - 4)));
  await sleep(50);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: FIB_TASKS }, () => pool.run(FIB_N)));
  const ms = performance.now() - t0;
  await close(pool);
  report({ ms, perTaskMs: (ms * size) / FIB_TASKS });
}

const parts = { throughput, startup, rss, 'rss-work': rssWork, speedup };
if (!(part in parts)) {
  console.error(`usage: node child.mjs <${Object.keys(parts).join('|')}> <library> [arg]`);
  process.exit(2);
}
// Keeps the event loop alive whatever a library does with its handles: when poolifier's destroy()
// does not settle (see close()) its event loop runs dry, and without a timer the process would
// exit with code 13 ("unsettled top-level await") before reporting. Costs the others nothing.
const keepAlive = setInterval(() => {}, 1000);
await parts[part]();
clearInterval(keepAlive);
// A pool that did not close may hold threads that keep the process alive.
if (closeHung) process.exit(0);

/**
 * A full GC without the --expose-gc flag: that flag is per-process, and a pool that sees it
 * cannot hand its workers extra flags (Node refuses per-process flags in a Worker's execArgv),
 * so measuring with it would measure a different worker set-up than users run.
 */
function collectGarbage() {
  v8.setFlagsFromString('--expose-gc');
  vm.runInNewContext('gc')();
}
