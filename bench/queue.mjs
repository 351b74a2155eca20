// Runs the queue benchmark and prints a markdown report (see docs/BENCHMARKS.md, "Queue benchmarks").
//
//   node queue.mjs                       every part (npm run bench:queue)
//   node queue.mjs e2e-amqp dispatch     only these parts: e2e-amqp, e2e-sqlite, dispatch, io, crash
//   BENCH_BEFORE_DIR=/tmp/mt-before node queue.mjs e2e-amqp e2e-sqlite
//                                        e2e also runs the build in that directory (a checkout of an
//                                        earlier commit, built, with bench/node_modules): "before"
//
// e2e runs multitask with and without a listener of the event feed, so that one run prints what
// the feed costs: no listener against before, a listener against none (docs/BENCHMARKS.md).
// As run.mjs does: every measurement runs in its own child process (queue-child.mjs), the runs of
// a part are interleaved across setups (round-robin, rotating who goes first), and each figure
// is the median of BENCH_ROUNDS (3) runs. Unlike run.mjs, runs are not repeated when other
// processes use the CPU: RabbitMQ and Redis are such processes, and their work is part of the
// cost measured. Before each run it still waits for the machine to be quiet (a deleted quorum
// queue keeps RabbitMQ busy for a moment). It starts its own redis-server (temp dir, free port,
// AOF with fsync every second, no RDB snapshots) for BullMQ and stops it at the end; RabbitMQ
// must run already (BENCH_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672). Every queue is
// named bench.<run id>.<part>.<setup>.r<round>; after each run every RabbitMQ queue with the run's
// prefix is deleted (multitask's <name>.failed and <name>.delay.<ms> included).
// Progress goes to stderr; raw results to results/queue-<timestamp>.json.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import {
  AMQP_URL,
  fmt,
  interleave,
  machineCpu,
  median,
  progress,
  QUEUE_QUIET as QUIET,
  quiet,
  range,
  ratio,
  requestedParts,
  runChild,
  sweepAmqpQueues,
} from './harness.mjs';
import { startRedis } from './redis.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CHILD_TIMEOUT_MS = 300_000;
const ALL_PARTS = ['e2e-amqp', 'e2e-sqlite', 'dispatch', 'io', 'crash'];
const E2E_JOBS = Number(process.env.BENCH_E2E_JOBS ?? 50_000);
const DISPATCH_JOBS = Number(process.env.BENCH_DISPATCH_JOBS ?? 30_000);
const DISPATCH_BATCH = Number(process.env.BENCH_DISPATCH_BATCH ?? 1000);
const IO_JOBS = Number(process.env.BENCH_IO_JOBS ?? 20_000);
const IO_BOUND = (2 * 500) / 0.02; // workers × concurrency / 20 ms, in jobs/s

const here = new URL('.', import.meta.url);
const parts = requestedParts(ALL_PARTS);
const runId = randomBytes(3).toString('hex');
const prefix = `bench.${runId}.`;
const tmp = mkdtempSync(join(tmpdir(), 'multitask-queue-bench-'));
const raw = [];

// --- multitask: is the queue API built yet? ------------------------------------------------

let multitaskMissing;
try {
  const mod = await import('multitask');
  if (typeof mod.openQueue !== 'function') multitaskMissing = 'dist/ has no openQueue export';
} catch (error) {
  multitaskMissing = `import failed: ${error.message}`;
}
// "before": the same setups on an earlier build, whose own queue-child.mjs runs them.
const BEFORE_DIR = process.env.BENCH_BEFORE_DIR;
const beforeChild = BEFORE_DIR && join(BEFORE_DIR, 'bench', 'queue-child.mjs');
const available = (kind) =>
  kind.endsWith('-before')
    ? beforeChild !== undefined && existsSync(beforeChild)
    : !kind.startsWith('multitask') || multitaskMissing === undefined;

// --- Redis, our own (redis.mjs) -----------------------------------------------------------

let redis;

async function startOwnRedis() {
  redis = await startRedis(tmp);
}

async function stopRedis() {
  await redis?.stop();
  redis = undefined;
}

// --- RabbitMQ clean-up ----------------------------------------------------------------------

/** Deletes every queue of this run (harness.mjs). */
const sweepQueues = () => sweepAmqpQueues(AMQP_URL, prefix);

// --- runs ---------------------------------------------------------------------------------

/** One run of queue-child.mjs; undefined when it failed (the error is kept in the raw results). */
async function measure(part, kind, round) {
  const queue = `${prefix}${part}.${kind}.r${round}`;
  await quiet(QUIET);
  const before = machineCpu();
  let result;
  try {
    // A "before" setup is the same setup, run by the earlier build's own child script.
    const script = kind.endsWith('-before') ? beforeChild : undefined;
    result = await child([part, kind.replace(/-before$/, '')], script, {
      BENCH_QUEUE: queue,
      BENCH_TMP: tmp,
      // The earlier build's child has defaults of its own: the same counts for every setup.
      BENCH_DISPATCH_JOBS: String(DISPATCH_JOBS),
      BENCH_E2E_JOBS: String(E2E_JOBS),
      BENCH_IO_JOBS: String(IO_JOBS),
      BENCH_AMQP_URL: AMQP_URL,
      BENCH_REDIS_PORT: String(redis?.port ?? ''),
    });
    const after = machineCpu();
    // What other processes used meanwhile (steal time included): mostly the broker's work for this run.
    if (before && after) {
      const machineMs = after.busyMs - before.busyMs + after.stealMs - before.stealMs;
      result.otherCpuMs = Math.round(Math.max(0, machineMs - result.cpuMs));
    }
    result.kind = kind;
    raw.push({ ...result, round });
  } catch (error) {
    progress(`  ${part} ${kind}: failed: ${error.message}`);
    raw.push({ part, kind, round, queue, error: error.message });
    errors.push(`${part} ${kind} (round ${round}): ${error.message}`);
  }
  await sweepQueues();
  return result;
}
const errors = [];

function child(args, script, extraEnv) {
  return runChild(script ?? 'queue-child.mjs', args, {
    cwd: script === undefined ? here : dirname(script),
    env: extraEnv,
    timeoutMs: CHILD_TIMEOUT_MS,
  });
}

/** Runs every available kind of a child part, ROUNDS times, rotating who goes first; samples by kind. */
async function interleaved(part, kinds, pick) {
  const samples = Object.fromEntries(kinds.map((kind) => [kind, []]));
  await interleave(kinds.filter(available), ROUNDS, async (kind, round) => {
    progress(`${part} round ${round}/${ROUNDS}: ${kind}`);
    const result = await measure(part, kind, round);
    if (result) samples[kind].push(...[pick(result)].flat());
  });
  return samples;
}

/**
 * The median over rounds of `pick(run)` of `kind`'s run over `base`'s in the same round of
 * `part`. Setups run one after the other in each round, so this ratio follows the machine's
 * drift (other guests take its CPU for minutes at a time) better than a ratio of two medians.
 */
function roundRatio(part, kind, base, pick) {
  const valueIn = (which, round) => {
    const run = raw.find(
      (r) => r.part === part && r.kind === which && r.round === round && r.error === undefined,
    );
    const value = run === undefined ? undefined : pick(run);
    return Number.isFinite(value) ? value : undefined;
  };
  const ratios = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const value = valueIn(kind, round);
    const reference = valueIn(base, round);
    if (value !== undefined && reference !== undefined && reference > 0) ratios.push(value / reference);
  }
  return ratios.length === 0 ? 'n/a' : `${median(ratios).toFixed(2)}×`;
}

// --- report -------------------------------------------------------------------------------

/** The first column of a setup that cannot run says why; its other columns stay empty. */
const cell = (kind, text, first = false) => (available(kind) ? text : first ? 'not available' : '—');

const LABELS = {
  'multitask-amqp': 'multitask `pool.consume`, RabbitMQ',
  'multitask-sqlite': 'multitask `pool.consume`, SQLite',
  'multitask-amqp-feed': 'multitask, RabbitMQ, a feed listener',
  'multitask-sqlite-feed': 'multitask, SQLite, a feed listener',
  'multitask-amqp-before': 'multitask, RabbitMQ, before (BENCH_BEFORE_DIR)',
  'multitask-sqlite-before': 'multitask, SQLite, before (BENCH_BEFORE_DIR)',
  amqplib: 'bare amqplib consumer',
  bullmq: `BullMQ, 1 Worker, concurrency ${process.env.BENCH_BULLMQ_CONCURRENCY ?? 50}`,
};

/**
 * A table of jobs/s by setup of `part`, each with its ratio to `base`'s (of the medians, and
 * round by round); with `cpu` (kind → CPU µs a job, or undefined), also that CPU and its ratio
 * to `base`'s.
 */
function rateTable(part, samples, kinds, base, labels = LABELS, cpu = undefined) {
  const med = Object.fromEntries(kinds.map((kind) => [kind, median(samples[kind] ?? [])]));
  const cpuHeads = cpu === undefined ? '' : ` CPU µs/job | CPU vs ${labels[base].split(':')[0]} |`;
  const lines = [
    `| setup | jobs/s | vs ${labels[base]} | round by round |${cpuHeads} runs (min–max) |`,
    `| --- | ---: | ---: | ---: |${cpu === undefined ? '' : ' ---: | ---: |'} ---: |`,
  ];
  const byRound = (kind) => roundRatio(part, kind, base, (run) => run.jobsPerSec);
  for (const kind of kinds) {
    const cpuCells =
      cpu === undefined
        ? ''
        : ` ${cell(kind, cpu(kind) === undefined ? 'n/a' : cpu(kind).toFixed(1))} | ${cell(kind, ratio(cpu(kind), cpu(base)))} |`;
    lines.push(
      `| ${labels[kind]} | ${cell(kind, fmt(med[kind]), true)} | ${cell(kind, ratio(med[kind], med[base]))} | ${cell(kind, byRound(kind))} |${cpuCells} ${cell(kind, range(samples[kind] ?? []))} |`,
    );
  }
  return lines;
}

/** Median CPU µs a job of `part`'s runs of `kind`: the run's `field` (ms) over `jobs`. */
function cpuPerJob(part, field, jobs) {
  return (kind) =>
    median(
      raw
        .filter((run) => run.part === part && run.kind === kind && run[field] !== undefined)
        .map((run) => (run[field] * 1000) / jobs),
    );
}

/** e2e-amqp and e2e-sqlite share one interleaved set of runs, so BullMQ is measured once for both. */
async function e2e() {
  const kinds = [];
  if (parts.includes('e2e-amqp'))
    kinds.push('multitask-amqp', 'multitask-amqp-feed', 'multitask-amqp-before', 'amqplib');
  if (parts.includes('e2e-sqlite'))
    kinds.push('multitask-sqlite', 'multitask-sqlite-feed', 'multitask-sqlite-before');
  kinds.push('bullmq');
  const samples = await interleaved('e2e', kinds, (result) => result.jobsPerSec);
  const lines = [];
  lines.push(...feedTable(samples));
  if (parts.includes('e2e-amqp')) {
    lines.push(
      `### e2e-amqp: ${fmt(E2E_JOBS)} no-op jobs end to end, pre-filled, 100-byte persistent payloads (median of ${ROUNDS} runs)`,
      '',
      ...rateTable('e2e', samples, ['multitask-amqp', 'amqplib', 'bullmq'], 'amqplib'),
      '',
    );
  }
  if (parts.includes('e2e-sqlite')) {
    lines.push(
      `### e2e-sqlite: the same ${fmt(E2E_JOBS)} no-op jobs through multitask's SQLite transport (median of ${ROUNDS} runs)`,
      '',
      ...rateTable('e2e', samples, ['multitask-sqlite', 'bullmq'], 'bullmq'),
      '',
    );
  }
  return lines;
}

/**
 * What the fleet costs end to end: multitask with no listener against the build before it (when
 * BENCH_BEFORE_DIR names one), and with a listener of the event feed against no listener; with
 * what the listener read and the gaps it was told of.
 */
function feedTable(samples) {
  const transports = [
    ['RabbitMQ', 'multitask-amqp', 'e2e-amqp'],
    ['SQLite', 'multitask-sqlite', 'e2e-sqlite'],
  ].filter(([, , part]) => parts.includes(part));
  const med = (kind) => median(samples[kind] ?? []);
  const lines = [
    `### Instances and the event feed: the e2e runs with and without a listener (median of ${ROUNDS} runs)`,
    '',
    '| transport | before | no listener | no listener vs before | a listener | a listener vs none | events read (median) | gaps, events missed (all runs) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [label, kind] of transports) {
    const feedRuns = raw.filter((run) => run.part === 'e2e' && run.kind === `${kind}-feed` && !run.error);
    const gaps = feedRuns.reduce((sum, run) => sum + (run.feedGaps ?? 0), 0);
    const missed = feedRuns.reduce((sum, run) => sum + (run.feedMissed ?? 0), 0);
    const before = available(`${kind}-before`) ? fmt(med(`${kind}-before`)) : 'not run';
    lines.push(
      `| ${label} | ${before} | ${fmt(med(kind))} | ${available(`${kind}-before`) ? ratio(med(kind), med(`${kind}-before`)) : '—'} | ${fmt(med(`${kind}-feed`))} | ${ratio(med(`${kind}-feed`), med(kind))} | ${fmt(median(feedRuns.map((run) => run.feedEvents)))} | ${gaps}, ${fmt(missed)} |`,
    );
  }
  return [...lines, ''];
}

async function dispatch() {
  const amqpKinds = [
    'amqplib',
    'amqplib-props',
    'multitask-amqp-many',
    'multitask-amqp-batches',
    'multitask-amqp',
    'multitask-amqp-before',
  ];
  const sqliteKinds = ['multitask-sqlite-many', 'multitask-sqlite', 'multitask-sqlite-before'];
  const ran = (kind) => !kind.endsWith('-before') || available(kind);
  const samples = await interleaved(
    'dispatch',
    [...amqpKinds, ...sqliteKinds].filter(ran),
    (result) => result.jobsPerSec,
  );
  const labels = {
    amqplib: 'reference: bare amqplib ConfirmChannel, the same bodies pre-encoded, confirms per 1000',
    'amqplib-props': "the reference with a job's properties too (its id, content type, mandatory)",
    'multitask-amqp-many': '`queue.dispatchMany`, RabbitMQ, one call of every job',
    'multitask-amqp-batches': `\`queue.dispatchMany\`, RabbitMQ, calls of ${fmt(DISPATCH_BATCH)} one after another`,
    'multitask-amqp': '`queue.dispatch`, RabbitMQ, ≤ 1000 in flight',
    'multitask-amqp-before': '`queue.dispatch`, RabbitMQ, the build before (BENCH_BEFORE_DIR)',
    'multitask-sqlite-many': '`queue.dispatchMany`, SQLite, one call of every job',
    'multitask-sqlite': '`queue.dispatch`, SQLite, ≤ 1000 in flight',
    'multitask-sqlite-before': '`queue.dispatch`, SQLite, the build before (BENCH_BEFORE_DIR)',
  };
  return [
    `### dispatch: ${fmt(DISPATCH_JOBS)} confirmed dispatches of a 100-byte job, one durable quorum queue (median of ${ROUNDS} runs)`,
    '',
    // The producer's CPU (every thread) while it dispatched, per job.
    ...rateTable(
      'dispatch',
      samples,
      amqpKinds.filter(ran),
      'amqplib',
      labels,
      cpuPerJob('dispatch', 'dispatchCpuMs', DISPATCH_JOBS),
    ),
    '',
    ...rateTable('dispatch', samples, sqliteKinds.filter(ran), 'multitask-sqlite', labels),
    '',
  ];
}

async function io() {
  const kinds = ['amqplib', 'multitask-amqp', 'multitask-amqp-1w', 'multitask-sqlite'];
  const samples = await interleaved('io', kinds, (result) => result.jobsPerSec);
  const labels = {
    'multitask-amqp': 'multitask, RabbitMQ, 2 workers × concurrency 500',
    'multitask-amqp-1w': 'multitask, RabbitMQ, 1 worker × concurrency 1000',
    'multitask-sqlite': 'multitask, SQLite, 2 workers × concurrency 500',
    amqplib: 'reference: plain amqplib consumer, 1 channel, prefetch 1000',
  };
  // CPU of the consuming process (all its threads) while it consumed, per job: median of the runs.
  const cpuOf = cpuPerJob('io', 'consumeCpuMs', IO_JOBS);
  // The pace from the first job settled to the last (queue-child.mjs, paceAfterFirst): median of the runs.
  const paceOf = (kind) =>
    median(raw.filter((run) => run.part === 'io' && run.kind === kind).map((run) => run.paceAfterFirst));
  const lines = [
    `### io: ${fmt(IO_JOBS)} jobs that each await a 20 ms timer, 1,000 at a time in all (median of ${ROUNDS} runs); bound = 2 × 500 / 20 ms = ${fmt(IO_BOUND)} jobs/s`,
    '',
    'jobs/s: from the consumer started to the last job acknowledged; after the first: from the first job settled to the last, the start left out on both sides.',
    '',
    'Round by round: the median over rounds of the ratio to the plain consumer in the same round.',
    '',
    '| setup | jobs/s | vs the plain consumer | round by round | after the first | vs the plain consumer | % of bound | CPU µs/job | CPU vs the plain consumer | round by round | runs (min–max) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const base = median(samples.amqplib);
  const basePace = paceOf('amqplib');
  const baseCpu = cpuOf('amqplib');
  for (const kind of kinds) {
    const med = median(samples[kind]);
    const pace = paceOf(kind);
    const cpu = cpuOf(kind);
    const share = med === undefined ? 'n/a' : `${((med / IO_BOUND) * 100).toFixed(1)}%`;
    lines.push(
      `| ${labels[kind]} | ${cell(kind, fmt(med), true)} | ${cell(kind, ratio(med, base))} | ${cell(
        kind,
        roundRatio('io', kind, 'amqplib', (run) => run.jobsPerSec),
      )} | ${cell(kind, fmt(pace))} | ${cell(kind, ratio(pace, basePace))} | ${cell(kind, share)} | ${cell(kind, cpu === undefined ? 'n/a' : cpu.toFixed(1))} | ${cell(kind, ratio(cpu, baseCpu))} | ${cell(
        kind,
        roundRatio('io', kind, 'amqplib', (run) => run.consumeCpuMs),
      )} | ${cell(kind, range(samples[kind]))} |`,
    );
  }
  return [...lines, ''];
}

async function crash() {
  const kinds = ['multitask-amqp', 'multitask-sqlite'];
  const samples = await interleaved('crash', kinds, (result) => result.recoveryMs);
  const lines = [
    `### crash: time from a worker's crash (process.exit(1) in the task's first attempt) to the job's second attempt starting (${process.env.BENCH_CRASHES ?? 5} crashes per run, ${ROUNDS} runs)`,
    '',
    '| transport | median ms | crashes measured | min–max ms |',
    '| --- | ---: | ---: | ---: |',
  ];
  for (const kind of kinds) {
    const values = samples[kind].filter((value) => value !== null);
    const missed = samples[kind].length - values.length;
    lines.push(
      `| ${kind === 'multitask-amqp' ? 'RabbitMQ' : 'SQLite'} | ${cell(kind, fmt(median(values)), true)} | ${cell(kind, `${values.length}${missed ? ` (+${missed} with no 2nd attempt)` : ''}`)} | ${cell(kind, range(values))} |`,
    );
  }
  return [...lines, ''];
}

function versionOf(name) {
  try {
    return JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, here))).version;
  } catch {
    return 'not installed';
  }
}

async function header() {
  let rabbit = 'unknown';
  try {
    const { default: amqplib } = await import('amqplib');
    const connection = await amqplib.connect(AMQP_URL);
    rabbit = String(connection.connection.serverProperties.version);
    await connection.close();
  } catch (error) {
    rabbit = `unreachable (${error.message})`;
  }
  const redisVersion = execFileSync('redis-server', ['--version'])
    .toString()
    .match(/v=(\S+)/)?.[1];
  const built = distBuilt();
  return [
    `Node ${process.version} on ${process.platform}/${process.arch}, ${cpus()[0]?.model ?? 'unknown CPU'}, availableParallelism ${availableParallelism()}, ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM`,
    `RabbitMQ ${rabbit} (quorum queues); Redis ${redisVersion} (own instance: AOF, fsync every second, no RDB)`,
    `peers: amqplib ${versionOf('amqplib')}, bullmq ${versionOf('bullmq')}, ioredis ${versionOf('ioredis')}`,
    multitaskMissing
      ? `multitask: not available (${multitaskMissing})`
      : `multitask ${versionOf('multitask')}: dist/ built ${built?.toISOString() ?? 'unknown'}`,
  ];
}

function distBuilt() {
  try {
    return statSync(new URL('../dist/index.js', here)).mtime;
  } catch {
    return undefined;
  }
}

// --- main ---------------------------------------------------------------------------------

const started = Date.now();
const builtAtStart = distBuilt();
const loadAtStart = loadavg()
  .map((value) => value.toFixed(2))
  .join(' ');
const cleanUp = async () => {
  await stopRedis();
  rmSync(tmp, { recursive: true, force: true });
};
// Ctrl-C also stops the running child (same process group): delete what it left, then stop Redis.
process.once('SIGINT', () =>
  sweepQueues()
    .catch(() => {})
    .then(cleanUp)
    .finally(() => process.exit(130)),
);

const output = [];
try {
  if (parts.some((part) => part.startsWith('e2e'))) await startOwnRedis();
  output.push('## multitask queue benchmark', '', ...(await header()).map((line) => `${line}  `), '');
  if (parts.some((part) => part.startsWith('e2e'))) output.push(...(await e2e()));
  if (parts.includes('dispatch')) output.push(...(await dispatch()));
  if (parts.includes('io')) output.push(...(await io()));
  if (parts.includes('crash')) output.push(...(await crash()));
} finally {
  await cleanUp();
}
if (errors.length)
  output.push(`Failed runs (${errors.length}):`, '', ...errors.map((text) => `- ${text}`), '');
// Runs are not repeated when disturbed (see the top), but the report names the runs during which
// other processes used far more CPU than in the other runs of the same setup.
const disturbed = raw.filter((run) => {
  const peers = raw.filter((other) => other.part === run.part && other.kind === run.kind);
  const usual = median(peers.map((other) => other.otherCpuMs));
  return run.otherCpuMs > 2 * usual && run.otherCpuMs - usual > 1000;
});
if (disturbed.length) {
  const list = disturbed.map((run) => `${run.part} ${run.kind} round ${run.round} (${run.otherCpuMs} ms)`);
  output.push(`Runs during which other processes used over twice the usual CPU: ${list.join(', ')}.`, '');
}
if (distBuilt()?.getTime() !== builtAtStart?.getTime()) {
  output.push('WARNING: dist/ was rebuilt during the run: the multitask results may mix two builds.', '');
}
output.push(
  `Total bench time: ${((Date.now() - started) / 1000).toFixed(0)} s; load average at start ${loadAtStart}, at end ${loadavg()
    .map((value) => value.toFixed(2))
    .join(' ')}.`,
);
console.log(output.join('\n'));

mkdirSync(new URL('./results/', here), { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
writeFileSync(
  new URL(`./results/queue-${stamp}.json`, here),
  `${JSON.stringify({ parts, runId, multitaskMissing, raw, report: output }, null, 2)}\n`,
);
