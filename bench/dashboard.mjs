// The dashboard benchmark (docs/BENCHMARKS.md, "The dashboard"): what a dashboard watching a
// queue costs a drain at full speed, and how quickly it answers meanwhile.
//
//   node dashboard.mjs                 both parts: amqp and sqlite
//   node dashboard.mjs sqlite          one of them
//
// Each run is a child process (dashboard-child.mjs) that pre-fills 50,000 no-op jobs
// (BENCH_DASHBOARD_JOBS) and times their drain by a pool of 2 workers × 50, with no dashboard, or
// with a dashboard server (its own process) and a page on it (its own process: the stream of
// that queue, and a snapshot or the queue's page asked every second). Setups are interleaved
// round by round (who goes first rotates), BENCH_ROUNDS (3) rounds, medians reported; before
// each run it waits for the machine to be quiet. RabbitMQ must run (BENCH_AMQP_URL, default
// amqp://guest:guest@127.0.0.1:5672); the run's queues are deleted afterwards. Then, once per
// transport, the failed-jobs API over 10,000 failed jobs (BENCH_FAILED_JOBS): first page, next
// page, searches.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
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
  runChild,
  sweepAmqpQueues,
} from './harness.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const JOBS = Number(process.env.BENCH_DASHBOARD_JOBS ?? 50_000);
const CHILD_TIMEOUT_MS = 300_000;
const parts = requestedParts(['amqp', 'sqlite']);
const prefix = `bench.${randomBytes(3).toString('hex')}.`;
const tmp = mkdtempSync(join(tmpdir(), 'multitask-dashboard-bench-'));
const results = [];

function child(transport, setup, round) {
  return runChild('dashboard-child.mjs', [transport, setup], {
    cwd: new URL('.', import.meta.url),
    env: {
      BENCH_QUEUE: `${prefix}dashboard.${transport}.${setup}.r${round}`,
      BENCH_TMP: tmp,
      BENCH_AMQP_URL: AMQP_URL,
    },
    timeoutMs: CHILD_TIMEOUT_MS,
  });
}

const kinds = parts.flatMap((transport) => [
  `${transport}:none`,
  `${transport}:feed`,
  `${transport}:dashboard`,
]);
const SETUPS = { none: 'no dashboard', feed: 'a bare feed listener', dashboard: 'a dashboard and a page' };
await interleave(kinds, ROUNDS, async (kind, round) => {
  const [transport, setup] = kind.split(':');
  progress(`round ${round}/${ROUNDS}: ${transport}, ${SETUPS[setup]}`);
  await quiet(QUIET);
  try {
    results.push({ ...(await child(transport, setup, round)), round });
  } catch (error) {
    progress(`  failed: ${error.message}`);
    results.push({ transport, setup, round, error: error.message });
  }
  if (transport === 'amqp') await sweepAmqpQueues(AMQP_URL, prefix);
});
const failedRuns = [];
for (const transport of parts) {
  progress(`${transport}: the failed-jobs API over a full failed store`);
  await quiet(QUIET);
  try {
    failedRuns.push({ transport, ...(await child(transport, 'failed', 1)) });
  } catch (error) {
    progress(`  failed: ${error.message}`);
  }
  if (transport === 'amqp') await sweepAmqpQueues(AMQP_URL, prefix);
}
rmSync(tmp, { recursive: true, force: true });

const percentile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0
    ? undefined
    : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
};
const runsOf = (transport, setup) =>
  results.filter((run) => run.transport === transport && run.setup === setup && !run.error);
const lines = [
  `### The dashboard: ${fmt(JOBS)} no-op jobs drained by 2 workers × 50, with and without a dashboard watching (median of ${ROUNDS} runs)`,
  '',
  `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} CPUs, Node ${process.version}, load average at the end ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}.`,
  '',
  '| transport | no dashboard, jobs/s | a bare feed listener, jobs/s (ratio) | a dashboard and a page, jobs/s | ratio | runs: none / feed / dashboard (min–max) |',
  '| --- | ---: | ---: | ---: | ---: | --- |',
];
for (const transport of parts) {
  const rates = (setup) => runsOf(transport, setup).map((run) => run.jobsPerSec);
  const [none, feed, watched] = [rates('none'), rates('feed'), rates('dashboard')];
  lines.push(
    `| ${transport === 'amqp' ? 'RabbitMQ' : 'SQLite'} | ${fmt(median(none))} | ${fmt(median(feed))} (${ratio(median(feed), median(none))}) | ${fmt(median(watched))} | ${ratio(median(watched), median(none))} | ${range(none)} / ${range(feed)} / ${range(watched)} |`,
  );
}
lines.push(
  '',
  '| transport | answers (snapshot, queue page) p50 / p95 / max, ms | snapshot every (median / max), ms | snapshot age at arrival, max ms | event rows to the page | stream bytes | dashboard CPU, ms | page CPU, ms |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
);
for (const transport of parts) {
  const runs = runsOf(transport, 'dashboard');
  const answers = runs.flatMap((run) => run.answerMs ?? []);
  const gaps = runs.flatMap((run) => run.snapshotGapsMs ?? []);
  const med = (pick) => fmt(median(runs.map(pick)));
  lines.push(
    `| ${transport === 'amqp' ? 'RabbitMQ' : 'SQLite'} | ${fmt(percentile(answers, 0.5), 1)} / ${fmt(percentile(answers, 0.95), 1)} / ${fmt(Math.max(...answers), 1)} | ${fmt(median(gaps))} / ${fmt(Math.max(...gaps))} | ${fmt(Math.max(...runs.map((run) => run.maxSnapshotAgeMs ?? 0)))} | ${med((run) => run.jobRows)} | ${med((run) => run.bytes)} | ${med((run) => run.serverCpuMs)} | ${med((run) => run.clientCpuMs)} |`,
  );
}
lines.push(
  '',
  '| transport | failed jobs | first page (reads the store), ms | next page, ms | search by id, ms (matches) | search matching all, ms (matches) |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
);
for (const run of failedRuns)
  lines.push(
    `| ${run.transport === 'amqp' ? 'RabbitMQ' : 'SQLite'} | ${fmt(run.failed)} | ${fmt(run.firstPageMs)} | ${fmt(run.nextPageMs, 1)} | ${fmt(run.searchByIdMs, 1)} (${run.searchByIdTotal}) | ${fmt(run.searchAllMs, 1)} (${fmt(run.searchAllTotal)}) |`,
  );
const failures = results.filter((run) => run.error);
if (failures.length > 0)
  lines.push(
    '',
    `Failed runs: ${failures.map((run) => `${run.transport} ${run.setup} r${run.round}: ${run.error}`).join('; ')}`,
  );
process.stdout.write(`${lines.join('\n')}\n`);
