// One run of the dashboard benchmark in a fresh process: `node dashboard-child.mjs <amqp|sqlite>
// <none|feed|dashboard>`. Pre-fills BENCH_DASHBOARD_JOBS (50,000) no-op jobs, starts a pool of 2
// workers (concurrency 50 each, as queue.mjs's e2e), and times `pool.consume` until every job
// completed. With `dashboard`, before the clock starts: a dashboard server in a process of its
// own (dashboard-server.mjs) and a page on it (dashboard-client.mjs: the stream of that queue,
// and a snapshot or the queue's page asked every second); their figures join the result. With
// `feed`, a bare listener of the queue's event feed instead (feed-listener.mjs, as `multitask
// events`): the share of the cost that is the feed's, whoever listens.
// `node dashboard-child.mjs <amqp|sqlite> failed` instead fills the failed store with
// BENCH_FAILED_JOBS (10,000) failed jobs and times the dashboard's failed-jobs API on it: the
// first page (which reads the whole store), the next page, a search by id and a search that
// matches every job.
// Prints `RESULT {json}` for dashboard.mjs.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AMQP_URL, dispatchWindow, until } from './harness.mjs';

const [transport, setup] = process.argv.slice(2);
const env = process.env;
const NAME = env.BENCH_QUEUE ?? `bench.manual.${process.pid}`;
const TMP = env.BENCH_TMP ?? '/tmp';
const JOBS = Number(env.BENCH_DASHBOARD_JOBS ?? 50_000);
const FAILED_JOBS = Number(env.BENCH_FAILED_JOBS ?? 10_000);
const WORKERS = 2;
const CONCURRENCY = 50;
const PAYLOAD = 'x'.repeat(100);
const APP = new URL('./queue-app.mjs', import.meta.url);
const url = transport === 'sqlite' ? `sqlite:${join(TMP, `${NAME}.db`)}` : AMQP_URL;
const here = new URL('.', import.meta.url);

/** A helper process whose stdout lines are kept; `ready` resolves on the line starting with `word`. */
function helper(script, args) {
  // BENCH_SERVER_NODE_ARGS: Node flags for the dashboard server (--cpu-prof, to see where its time goes).
  const node = script === 'dashboard-server.mjs' ? (env.BENCH_SERVER_NODE_ARGS?.split(' ') ?? []) : [];
  const child = spawn(process.execPath, [...node, script, ...args], {
    cwd: here,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  const exited = once(child, 'exit');
  return {
    child,
    async line(word, timeoutMs = 30_000) {
      await until(
        () => out.split('\n').some((line) => line.startsWith(word)) || child.exitCode !== null,
        word,
        timeoutMs,
      );
      const line = out.split('\n').find((text) => text.startsWith(word));
      if (line === undefined) throw new Error(`${script} exited before ${word}: ${out}`);
      return line.slice(word.length).trim();
    },
    async stop(word) {
      child.kill('SIGTERM');
      await exited;
      const line = out.split('\n').find((text) => text.startsWith(word));
      return line === undefined ? {} : JSON.parse(line.slice(word.length));
    },
    kill: () => child.exitCode === null && child.kill('SIGKILL'),
  };
}

async function run() {
  const { openQueue, Pool } = await import('multitask');
  const { Noop } = await import('./queue-tasks.mjs');
  const queue = await openQueue(url, { app: APP });
  let pool;
  let server;
  let client;
  try {
    await dispatchWindow(queue, () => new Noop(PAYLOAD), JOBS, { queue: NAME, attempts: 3 }, 1000);
    const readyBefore = (await queue.stats(NAME)).ready;
    pool = new Pool({ app: APP, size: WORKERS, concurrency: CONCURRENCY });
    await pool.ready;
    if (setup === 'feed') {
      // The feed alone, as `multitask events` reads it: what the dashboard's listener costs the instances.
      server = helper('feed-listener.mjs', [url, NAME]);
      await server.line('LISTENING');
      await sleep(1_000);
    } else if (setup === 'dashboard') {
      server = helper('dashboard-server.mjs', [url, NAME]);
      const port = await server.line('LISTENING');
      client = helper('dashboard-client.mjs', [`http://127.0.0.1:${port}/`, NAME]);
      await client.line('READY');
      // The page's first request started the feed listener: a moment for it to announce itself.
      await sleep(1_000);
    }
    const t0 = performance.now();
    const consumer = pool.consume(queue, { queue: NAME, concurrency: CONCURRENCY });
    await until(() => consumer.counts.completed >= JOBS, 'the jobs');
    const ms = performance.now() - t0;
    await consumer.stop();
    const result = { ms, jobsPerSec: (JOBS / ms) * 1000, readyBefore };
    if (server !== undefined) {
      // The last batches are on their way: a moment for them, outside the timed part.
      await sleep(500);
      if (client !== undefined) Object.assign(result, await client.stop('CLIENT'));
      Object.assign(result, await server.stop(setup === 'feed' ? 'FEED' : 'SERVER'));
    }
    return result;
  } finally {
    client?.kill();
    server?.kill();
    await pool?.close();
    await queue.close();
  }
}

/** Fills the failed store, then times the failed-jobs API of a dashboard in this process. */
async function failedSearch() {
  const { createDashboard, openQueue, Pool } = await import('multitask');
  const { createServer } = await import('node:http');
  const { Fail } = await import('./queue-tasks.mjs');
  const queue = await openQueue(url, { app: APP });
  const pool = new Pool({ app: APP, size: WORKERS, concurrency: CONCURRENCY });
  const handler = createDashboard(queue, { queues: [NAME] });
  const server = createServer((request, response) => handler(request, response));
  try {
    await dispatchWindow(queue, (i) => new Fail(i), FAILED_JOBS, { queue: NAME, attempts: 1 }, 1000);
    const consumer = pool.consume(queue, { queue: NAME, concurrency: CONCURRENCY });
    await until(() => consumer.counts.failed >= FAILED_JOBS, 'the failures');
    await consumer.stop();
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${server.address().port}/api/queues/${NAME}/failed`;
    const timed = async (query) => {
      const t0 = performance.now();
      const page = await (await fetch(`${base}?${query}`)).json();
      return { ms: performance.now() - t0, page };
    };
    // The collector reads the failed count first (once a second): the copy is made against it.
    await sleep(1_500);
    const first = await timed('limit=50');
    const next = await timed(`limit=50&after=${encodeURIComponent(first.page.next)}`);
    const id = first.page.jobs[10].id;
    const byId = await timed(`limit=50&search=${encodeURIComponent(id.slice(0, 8))}`);
    const all = await timed('limit=50&search=fail');
    return {
      failed: first.page.total,
      firstPageMs: first.ms,
      nextPageMs: next.ms,
      searchByIdMs: byId.ms,
      searchByIdTotal: byId.page.total,
      searchAllMs: all.ms,
      searchAllTotal: all.page.total,
    };
  } finally {
    await handler.close();
    server.close();
    await pool.close();
    await queue.close();
  }
}

try {
  const result = setup === 'failed' ? await failedSearch() : await run();
  const { user, system } = process.cpuUsage();
  process.stdout.write(
    `RESULT ${JSON.stringify({ transport, setup, queue: NAME, ...result, cpuMs: (user + system) / 1000 })}\n`,
  );
} finally {
  if (transport === 'sqlite')
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(TMP, `${NAME}.db${suffix}`), { force: true });
}
process.exit(0);
