// Two builds of multitask side by side in one process, taking turns at the same consumer of
// I/O-bound jobs: `node experiments/ab-builds.mjs <other bench dir> [rounds] [jobs]` (from
// bench/, after `npm run build` at the root of both trees).
//
// Why one process: on this machine single runs of one build spread by ±25 % (other guests take
// the CPU: see /proc/stat's steal), far more than a change worth trying saves. Runs of the two
// builds taking turns in one process share that drift, and the median of their per-round ratio
// is what this prints. Against itself (the same tree twice) it gave 0.987 over 16 rounds, with
// single rounds from 0.76 to 1.33: expect about ±5 % on a median of 16.
//
// The other tree needs its own bench/node_modules, whose `multitask` is that tree, so that its
// app and its worker threads load that build:
//   git worktree add /tmp/before <commit> && cd /tmp/before
//   ln -s /path/to/main/node_modules node_modules && node scripts/build.mjs
//   cp -r /path/to/main/bench/node_modules bench/ && ln -sfn /tmp/before bench/node_modules/multitask
//
// Each round pre-fills a quorum queue per build with `jobs` jobs (a 20 ms timer each) and times
// one `pool.consume` (one worker, concurrency 1,000) until every job is done, in the order
// A, B then B, A. The first round warms up and is not counted. CPU is the whole process's.
import { setTimeout as sleep } from 'node:timers/promises';
import { AMQP_URL, completed, dispatchWindow, median, sweepAmqpQueues } from '../harness.mjs';

const [otherDir, roundsArg, jobsArg] = process.argv.slice(2);
if (otherDir === undefined) {
  console.error('usage: node experiments/ab-builds.mjs <other bench dir> [rounds] [jobs]');
  process.exit(2);
}
const ROUNDS = Number(roundsArg ?? 16);
const JOBS = Number(jobsArg ?? 30_000);
const SLOTS = 1_000;
const PREFIX = `bench.ab-builds.${process.pid}.`;

/** One build: its queue and pool, loaded from `dir` (a bench directory) and its node_modules. */
async function openBuild(dir) {
  const base = new URL(`${dir.replace(/\/?$/, '/')}`, `file://${process.cwd()}/`);
  const { openQueue, Pool } = await import(new URL('node_modules/multitask/dist/index.js', base).href);
  const { Sleep } = await import(new URL('queue-tasks.mjs', base).href);
  const app = new URL('queue-app.mjs', base);
  const queue = await openQueue(AMQP_URL, { app });
  const pool = new Pool({ app, size: 1, concurrency: SLOTS });
  await pool.ready;
  return { queue, pool, Sleep, runs: [] };
}

/** Fills a queue for `build`, then consumes it; CPU µs and jobs/s of the consuming part. */
async function round(build, name) {
  await dispatchWindow(build.queue, () => new build.Sleep(20, 'x'.repeat(100)), JOBS, { queue: name }, 1_000);
  await sleep(300); // the broker's last confirms and writes settle outside the clock
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const consumer = build.pool.consume(build.queue, { queue: name, concurrency: SLOTS });
  await completed(consumer, JOBS);
  const { user, system } = process.cpuUsage(cpu0);
  const ms = performance.now() - t0;
  await consumer.stop();
  return { cpu: (user + system) / JOBS, rate: (JOBS / ms) * 1000 };
}

const builds = { this: await openBuild('.'), other: await openBuild(otherDir) };
try {
  for (let r = 0; r <= ROUNDS; r++) {
    for (const side of r % 2 === 0 ? ['this', 'other'] : ['other', 'this']) {
      const result = await round(builds[side], `${PREFIX}${r}.${side}`);
      if (r > 0) builds[side].runs.push(result);
    }
  }
} finally {
  for (const { queue, pool } of Object.values(builds)) {
    await pool.close();
    await queue.close();
  }
  await sweepAmqpQueues(AMQP_URL, PREFIX);
}
for (const [side, { runs }] of Object.entries(builds)) {
  const cpu = median(runs.map((run) => run.cpu));
  const rate = median(runs.map((run) => run.rate));
  console.log(
    `${side}: ${Math.round(rate)} jobs/s, ${cpu.toFixed(2)} µs CPU a job (medians of ${runs.length})`,
  );
}
const ratios = builds.this.runs.map((run, i) => run.cpu / builds.other.runs[i].cpu);
console.log(
  `CPU a job, this / other, per round: ${ratios.map((r) => r.toFixed(2)).join(' ')}; median ${median(ratios).toFixed(3)}`,
);
