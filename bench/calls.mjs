// The results benchmark: `queue.call` across processes, against BullMQ's
// `job.waitUntilFinished(queueEvents)`, all in the same run (docs/BENCHMARKS.md, "Results
// across machines").
//
//   node calls.mjs                 both parts
//   node calls.mjs latency         (a) round trips, p50 and p99, at concurrency 1 and 256
//   node calls.mjs memory          (b) RSS with 10,000 calls outstanding, above idle RSS
//
// Every measurement runs in fresh processes (calls-child.mjs): for a round trip, one process
// consumes (multitask: a 2-worker pool, 128 jobs per worker; BullMQ: one Worker, concurrency
// 256) and another calls, so every result crosses between processes as it would between
// machines. Setups are interleaved round by round, rotating who goes first; each figure is the
// median of BENCH_ROUNDS (2) runs. It starts its own redis-server for BullMQ (redis.mjs);
// RabbitMQ must run already (BENCH_AMQP_URL). SQLite is measured with the default pollMs (100:
// a caller in another process reads the results table every 100 ms) and with pollMs 10.
// Progress goes to stderr, the report to stdout, the raw figures to results/calls-<timestamp>.json.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  AMQP_URL,
  fmt,
  interleave,
  median,
  progress,
  QUEUE_QUIET as QUIET,
  quiet,
  range,
  ratio,
  requestedParts,
  sweepAmqpQueues,
} from './harness.mjs';
import { startRedis } from './redis.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CHILD_TIMEOUT_MS = 300_000;
const OUTSTANDING = Number(process.env.BENCH_OUTSTANDING ?? 10_000);
const LATENCY_KINDS = ['multitask-amqp', 'multitask-sqlite', 'multitask-sqlite-10ms', 'bullmq'];
const MEMORY_KINDS = ['multitask-amqp', 'multitask-sqlite', 'bullmq', 'multitask-amqp-dispatch'];
const LABELS = {
  'multitask-amqp': 'multitask `queue.call`, RabbitMQ',
  'multitask-sqlite': 'multitask `queue.call`, SQLite (pollMs 100)',
  'multitask-sqlite-10ms': 'multitask `queue.call`, SQLite (pollMs 10)',
  bullmq: 'BullMQ `waitUntilFinished(queueEvents)`',
  'multitask-amqp-dispatch': 'for reference: multitask `queue.dispatch`, RabbitMQ, no result asked',
};

const here = new URL('.', import.meta.url);
const parts = requestedParts(['latency', 'memory']);
const prefix = `bench.${randomBytes(3).toString('hex')}.calls.`;
const tmp = mkdtempSync(join(tmpdir(), 'multitask-calls-bench-'));
const raw = [];
let redis;

/** Starts `node calls-child.mjs …`; `ready` resolves when it prints READY, `result` with its RESULT. */
function child(args, env, nodeArgs = []) {
  const proc = spawn(process.execPath, [...nodeArgs, 'calls-child.mjs', ...args], {
    cwd: here,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  let err = '';
  let onReady;
  const ready = new Promise((resolve) => (onReady = resolve));
  proc.stdout.on('data', (chunk) => {
    out += chunk;
    if (out.includes('READY\n')) onReady();
  });
  proc.stderr.on('data', (chunk) => (err += chunk));
  const timer = setTimeout(() => proc.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  const result = new Promise((resolve, reject) => {
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((text) => text.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice(7)));
      else if (code === 0) resolve(undefined);
      else
        reject(
          new Error(
            `${args.join(' ')}: exit ${code ?? signal}: ${err.trim().split('\n').slice(-4).join(' | ')}`,
          ),
        );
    });
  });
  // A worker that ends before it is READY fails its measurement; a caller is never asked.
  const ended = result.then(() => Promise.reject(new Error(`${args.join(' ')} ended before READY`)));
  const readyOrEnded = Promise.race([ready, ended]);
  readyOrEnded.catch(() => {});
  return { proc, ready: readyOrEnded, result };
}

/** One measurement: a worker process (for round trips) and a caller process. */
async function measure(role, kind, round) {
  const queue = `${prefix}${role}.${kind}.r${round}`;
  const env = {
    BENCH_QUEUE: queue,
    BENCH_TMP: tmp,
    BENCH_AMQP_URL: AMQP_URL,
    BENCH_REDIS_PORT: String(redis.port),
  };
  await quiet(QUIET);
  let worker;
  try {
    if (role === 'latency') {
      worker = child(['worker', kind], env);
      await worker.ready;
    }
    const result = await child([role, kind], { ...env, BENCH_OUTSTANDING: String(OUTSTANDING) }, [
      '--expose-gc',
    ]).result;
    raw.push({ ...result, round });
    return result;
  } catch (error) {
    progress(`  ${role} ${kind}: failed: ${error.message}`);
    raw.push({ role, kind, round, error: error.message });
    return undefined;
  } finally {
    if (worker !== undefined) {
      worker.proc.kill('SIGTERM');
      await worker.result.catch(() => {});
    }
    await sweepAmqpQueues(AMQP_URL, prefix);
  }
}

async function interleaved(role, kinds) {
  const samples = Object.fromEntries(kinds.map((kind) => [kind, []]));
  await interleave(kinds, ROUNDS, async (kind, round) => {
    progress(`${role} round ${round}/${ROUNDS}: ${kind}`);
    const result = await measure(role, kind, round);
    if (result !== undefined) samples[kind].push(result);
  });
  return samples;
}

const ms = (value) => (value === undefined ? 'n/a' : value < 10 ? value.toFixed(2) : value.toFixed(1));
const mib = (bytes) => (bytes === undefined ? 'n/a' : (bytes / 2 ** 20).toFixed(1));

async function latency() {
  const samples = await interleaved('latency', LATENCY_KINDS);
  const med = (kind, at, field) => median(samples[kind].map((result) => result[at][field]));
  const lines = [
    `### Round trips: a call and its result across processes (median of ${ROUNDS} runs; ${fmt(Number(process.env.BENCH_SEQUENTIAL ?? 200))} calls one at a time, ${fmt(Number(process.env.BENCH_CONCURRENT ?? 5_000))} calls 256 at a time)`,
    '',
    '| setup | c=1 p50 ms | c=1 p99 ms | c=256 p50 ms | c=256 p99 ms | c=256 calls/s | p50 vs BullMQ (c=1, c=256) | p99 vs BullMQ (c=1, c=256) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const kind of LATENCY_KINDS) {
    const vs = (field) =>
      `${ratio(med(kind, 'one', field), med('bullmq', 'one', field))}, ${ratio(med(kind, 'many', field), med('bullmq', 'many', field))}`;
    lines.push(
      `| ${LABELS[kind]} | ${ms(med(kind, 'one', 'p50'))} | ${ms(med(kind, 'one', 'p99'))} | ${ms(med(kind, 'many', 'p50'))} | ${ms(med(kind, 'many', 'p99'))} | ${fmt(med(kind, 'many', 'callsPerSec'))} | ${vs('p50')} | ${vs('p99')} |`,
    );
  }
  lines.push('', "Ratios are times BullMQ's: below 1× is faster.", '');
  return lines;
}

async function memory() {
  const samples = await interleaved('memory', MEMORY_KINDS);
  const lines = [
    `### Memory: RSS of a caller with ${fmt(OUTSTANDING)} calls outstanding (no consumer), above its idle RSS (median of ${ROUNDS} runs)`,
    '',
    '| setup | idle RSS MiB | RSS with the calls MiB | above idle MiB | bytes per call | runs, above idle (MiB) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const kind of MEMORY_KINDS) {
    const above = samples[kind].map((result) => result.loadedRss - result.idleRss);
    const idle = median(samples[kind].map((result) => result.idleRss));
    const loaded = median(samples[kind].map((result) => result.loadedRss));
    lines.push(
      `| ${LABELS[kind]} | ${mib(idle)} | ${mib(loaded)} | ${mib(median(above))} | ${fmt(median(above) / OUTSTANDING)} | ${range(
        above.map((bytes) => bytes / 2 ** 20),
        1,
      )} |`,
    );
  }
  return [...lines, ''];
}

const started = Date.now();
const output = [
  '## multitask results benchmark',
  '',
  `Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, availableParallelism ${availableParallelism()}, ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM  `,
  '',
];
try {
  redis = await startRedis(tmp);
  if (parts.includes('latency')) output.push(...(await latency()));
  if (parts.includes('memory')) output.push(...(await memory()));
} finally {
  await redis?.stop();
  rmSync(tmp, { recursive: true, force: true });
}
output.push(`Total bench time: ${((Date.now() - started) / 1000).toFixed(0)} s.`);
console.log(output.join('\n'));
mkdirSync(new URL('./results/', here), { recursive: true });
writeFileSync(
  new URL(`./results/calls-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, here),
  JSON.stringify(raw, null, 2),
);
