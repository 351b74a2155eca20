// The failed store at 10,000 jobs (docs/BENCHMARKS.md, "The failed store"): fills a fresh store on
// each transport with jobs that fail at their only attempt, then times a full listing twice, a
// page walk of 100 at a time and one `failedJob`, and checks that reading changed nothing (the two
// listings byte for byte, and the queue's stats before and after).
//
//   node failed-list.mjs                   both transports (RabbitMQ must run: BENCH_AMQP_URL)
//   node failed-list.mjs sqlite            only these: amqp, sqlite
//   BENCH_FAILED_JOBS=2000 node failed-list.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openQueue, Pool } from 'multitask';
import { Fail } from './queue-tasks.mjs';

const JOBS = Number(process.env.BENCH_FAILED_JOBS ?? 10_000);
const AMQP_URL = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const APP = new URL('./queue-app.mjs', import.meta.url);
const asked = process.argv.slice(2);
const transports = asked.length > 0 ? asked : ['amqp', 'sqlite'];
const tmp = mkdtempSync(join(tmpdir(), 'multitask-failed-bench-'));

async function timed(what) {
  const started = performance.now();
  const value = await what();
  return { ms: performance.now() - started, value };
}

async function measure(transport) {
  const name = `bench.failed.${process.pid}.${transport}`;
  const url = transport === 'amqp' ? AMQP_URL : `sqlite:${join(tmp, 'queue.db')}`;
  const queue = await openQueue(url, { app: APP });
  const pool = new Pool({ app: APP, size: 2, logLevel: 'silent' });
  try {
    const consumer = pool.consume(queue, { queue: name, concurrency: 64 });
    const filling = performance.now();
    for (let start = 0; start < JOBS; start += 1000) {
      const batch = [];
      for (let index = start; index < Math.min(JOBS, start + 1000); index++)
        batch.push(queue.dispatch(new Fail(index), { queue: name, attempts: 1, id: `failed-${index}` }));
      await Promise.all(batch);
    }
    while (consumer.counts.failed < JOBS) await new Promise((resolve) => setTimeout(resolve, 50));
    await consumer.stop();
    const fillMs = performance.now() - filling;

    const statsBefore = await queue.stats(name);
    const first = await timed(() => queue.failed(name, { limit: JOBS }));
    const second = await timed(() => queue.failed(name, { limit: JOBS }));
    let pages = 0;
    const walk = await timed(async () => {
      let after;
      let seen = 0;
      for (;;) {
        const page = await queue.failed(name, { limit: 100, after });
        if (page.length === 0) return seen;
        pages++;
        seen += page.length;
        after = page.at(-1).id;
      }
    });
    const one = await timed(() => queue.failedJob(name, `failed-${Math.floor(JOBS / 2)}`));
    const statsAfter = await queue.stats(name);
    await queue.purgeFailed(name);
    return {
      transport,
      jobs: JOBS,
      fillS: fillMs / 1000,
      listMs: [first.ms, second.ms],
      listed: first.value.length,
      identical: JSON.stringify(first.value) === JSON.stringify(second.value),
      statsUnchanged: JSON.stringify(statsBefore) === JSON.stringify(statsAfter),
      failedCount: statsAfter.failed,
      pageWalkMs: walk.ms,
      pages,
      walked: walk.value,
      failedJobMs: one.ms,
      found: one.value?.id,
    };
  } finally {
    await pool.close();
    await queue.close();
  }
}

const rows = [];
for (const transport of transports) rows.push(await measure(transport));
rmSync(tmp, { recursive: true, force: true });
console.log(`failed store of ${JOBS} jobs, node ${process.version}`);
console.log(
  '| transport | full listing, 1st / 2nd | identical | stats unchanged | 100-job pages walked | one failedJob |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const row of rows) {
  console.log(
    `| ${row.transport} | ${row.listMs.map((ms) => `${ms.toFixed(0)} ms`).join(' / ')} (${row.listed} jobs) | ${row.identical} | ${row.statsUnchanged} (failed ${row.failedCount}) | ${row.pages} pages, ${row.walked} jobs in ${(row.pageWalkMs / 1000).toFixed(1)} s | ${row.failedJobMs.toFixed(0)} ms |`,
  );
}
if (rows.some((row) => !row.identical || !row.statsUnchanged || row.listed !== JOBS || row.walked !== JOBS))
  process.exitCode = 1;
