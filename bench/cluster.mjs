// multitask on a RabbitMQ cluster: the local 3-node cluster of .ci/rabbitmq-cluster.sh
// (127.0.0.1:5681-5683). Two parts:
//   drain  N pre-filled no-op jobs drained by 1, 2 and 4 `multitask work` processes spread over
//          the nodes (each 2 workers × 16), timed from the moment the last of them consumes
//          until /metrics counts every job; the jobs done before that moment are left out.
//   kill   3 consumers, one per node, drain a queue and a producer dispatches 150 jobs/s on the
//          node leading the queue; that node is killed with SIGKILL. For each consumer: the
//          pause from the kill until it had completed more jobs than it could hold (2 × 16);
//          for the producer: the first confirm after the kill, and failed dispatches. The node is
//          started again afterwards, and rejoins the cluster.
// Run from bench/ (after npm run build at the root, and npm ci here):
//   node cluster.mjs [drain] [kill]      BENCH_CLUSTER_JOBS (20000), BENCH_ROUNDS (3)
import { execFileSync, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { openQueue } from 'multitask';
import { Noop } from './queue-tasks.mjs';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const APP = fileURLToPath(new URL('./queue-app.mjs', import.meta.url));
const APP_URL = new URL('./queue-app.mjs', import.meta.url);
const SCRIPT = fileURLToPath(new URL('../.ci/rabbitmq-cluster.sh', import.meta.url));
const NODES = ['s1', 's2', 's3'];
const PORT = { s1: 5681, s2: 5682, s3: 5683 };
const JOBS = Number(process.env.BENCH_CLUSTER_JOBS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WORKERS = 2;
const CONCURRENCY = 16;
const DELAY_LEVELS = Array.from({ length: 10 }, (_, k) => 50 * 4 ** k);

const nodeUrl = (node) => `amqp://guest:guest@127.0.0.1:${PORT[node]}`;
/** The cluster's URL list with `first` first (the consumers run with --node-order listed). */
const clusterUrl = (first) => [first, ...NODES.filter((node) => node !== first)].map(nodeUrl).join(',');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line) => process.stderr.write(`${line}\n`);

function portOpen(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: 500 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function prefill(name, jobs) {
  const queue = await openQueue(nodeUrl('s1'), { app: APP_URL });
  for (let sent = 0; sent < jobs; sent += 1_000) {
    const batch = Math.min(1_000, jobs - sent);
    await Promise.all(
      Array.from({ length: batch }, () => queue.dispatch(new Noop('x'.repeat(100)), { queue: name })),
    );
  }
  await queue.close();
}

async function deleteQueue(name) {
  const connection = await amqp.connect(nodeUrl('s1'));
  const channel = await connection.createChannel();
  for (const queue of [
    name,
    `${name}.failed`,
    `${name}.failed-log`,
    ...DELAY_LEVELS.map((ms) => `${name}.delay.${ms}`),
  ])
    await channel.deleteQueue(queue);
  await connection.close();
}

/** `multitask work` preferring node `first`; resolves once it consumes, with its /metrics base. */
function startWork(name, first) {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'work',
      '--app',
      APP,
      '--queue',
      name,
      '--url',
      clusterUrl(first),
      '--node-order',
      'listed',
      '--workers',
      String(WORKERS),
      '--concurrency',
      String(CONCURRENCY),
      '--http',
      '127.0.0.1:0',
      '--log-format',
      'json',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let base;
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += chunk.toString();
      base ??= /"address":"([^"]+)"/.exec(text)?.[1];
      if (base !== undefined && text.includes('"msg":"consuming"')) {
        resolve({ child, base: `http://${base}`, first });
        text = '';
      }
    });
    child.once('exit', (code) => reject(new Error(`work exited with ${code} before consuming`)));
  });
}

async function completed(consumer) {
  const text = await (await fetch(`${consumer.base}/metrics`)).text();
  let sum = 0;
  for (const match of text.matchAll(/^multitask_jobs_completed_total\{[^}]*\} (\d+)/gm))
    sum += Number(match[1]);
  return sum;
}

async function stop(consumers) {
  await Promise.all(
    consumers.map(
      ({ child }) =>
        new Promise((resolve) => {
          child.once('exit', resolve);
          child.kill('SIGTERM');
        }),
    ),
  );
}

async function drain(count, round) {
  const name = `bench.cluster.${Date.now()}.c${count}.r${round}`;
  await prefill(name, JOBS);
  const firsts = Array.from({ length: count }, (_, i) => NODES[i % NODES.length]);
  const consumers = await Promise.all(firsts.map((first) => startWork(name, first)));
  const startedAt = performance.now();
  const before = (await Promise.all(consumers.map(completed))).reduce((a, b) => a + b, 0);
  let done = before;
  while (done < JOBS) {
    await sleep(50);
    done = (await Promise.all(consumers.map(completed))).reduce((a, b) => a + b, 0);
  }
  const seconds = (performance.now() - startedAt) / 1000;
  await stop(consumers);
  await deleteQueue(name);
  return { consumers: count, jobsPerSecond: Math.round((JOBS - before) / seconds), before };
}

function leaderOf(name) {
  const rows = JSON.parse(
    execFileSync(
      'rabbitmqctl',
      ['-q', '-n', 's1@localhost', 'list_queues', 'name', 'leader', '--formatter', 'json'],
      {
        encoding: 'utf8',
      },
    ),
  );
  return rows.find((row) => row.name === name).leader.replace(/@.*$/, '');
}

async function kill(round) {
  const name = `bench.cluster.${Date.now()}.kill.r${round}`;
  await prefill(name, JOBS * 2);
  const leader = leaderOf(name);
  const consumers = await Promise.all(NODES.map((first) => startWork(name, first)));
  const producer = await openQueue(clusterUrl(leader), { app: APP_URL, nodeOrder: 'listed' });
  const dispatches = [];
  const timer = setInterval(() => {
    const record = { startedAt: Date.now(), endedAt: 0, ok: false };
    dispatches.push(record);
    producer.dispatch(new Noop('x'), { queue: name }).then(
      () => Object.assign(record, { endedAt: Date.now(), ok: true }),
      () => Object.assign(record, { endedAt: Date.now() }),
    );
  }, 1_000 / 150);
  while ((await Promise.all(consumers.map(completed))).some((n) => n < 200)) await sleep(50);
  // The node's own word for its pid: a pid file can be left over from an earlier start.
  const pid = Number(
    /\d+/.exec(
      execFileSync('rabbitmqctl', ['-q', '-n', `${leader}@localhost`, 'eval', 'os:getpid().'], {
        encoding: 'utf8',
      }),
    )[0],
  );
  process.kill(pid, 'SIGKILL');
  const killedAt = Date.now();
  // Counted after the kill: a consumer held at most `held` jobs then, so once it has completed
  // more than that since, it has taken jobs delivered after the kill (a pause is never under-read).
  const atKill = await Promise.all(consumers.map(completed));
  const held = WORKERS * CONCURRENCY;
  const resumedAt = consumers.map(() => undefined);
  while (resumedAt.some((at) => at === undefined) && Date.now() - killedAt < 60_000) {
    const now = await Promise.all(consumers.map(completed));
    const at = Date.now();
    now.forEach((n, i) => {
      if (resumedAt[i] === undefined && n > atKill[i] + held) resumedAt[i] = at;
    });
    await sleep(20);
  }
  await sleep(3_000);
  clearInterval(timer);
  await sleep(1_000);
  const after = dispatches.filter((record) => record.ok && record.startedAt >= killedAt);
  const producerBackMs = after.length === 0 ? undefined : Math.min(...after.map((r) => r.endedAt)) - killedAt;
  const failed = dispatches.filter((record) => record.endedAt !== 0 && !record.ok).length;
  await producer.close();
  await stop(consumers);
  log(`restarting ${leader}`);
  execFileSync('bash', [SCRIPT, 'start', leader], { stdio: 'ignore' });
  await deleteQueue(name);
  return {
    leader,
    pausesMs: consumers.map((consumer, i) => ({
      node: consumer.first,
      pauseMs: resumedAt[i] === undefined ? 'none in 60 s' : resumedAt[i] - killedAt,
    })),
    producerBackMs,
    dispatched: dispatches.length,
    failed,
  };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const parts = process.argv.slice(2);
const run = (part) => parts.length === 0 || parts.includes(part);
for (const node of NODES)
  if (!(await portOpen(PORT[node])))
    throw new Error(`no cluster node on ${PORT[node]}: run bash .ci/rabbitmq-cluster.sh`);

if (run('drain')) {
  const rows = [];
  for (const count of [1, 2, 4]) {
    const runs = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const result = await drain(count, round);
      log(`drain, ${count} consumer(s), round ${round}: ${result.jobsPerSecond} jobs/s`);
      runs.push(result.jobsPerSecond);
    }
    rows.push({ count, median: median(runs), runs });
  }
  console.log(
    `\n| ${JOBS.toLocaleString('en')} no-op jobs, 3-node cluster | jobs/s (median of ${ROUNDS}) | runs |`,
  );
  console.log('| --- | --- | --- |');
  for (const { count, median: m, runs } of rows)
    console.log(
      `| ${count} consumer${count > 1 ? 's' : ''} (${WORKERS} × ${CONCURRENCY} each) | ${m.toLocaleString('en')} | ${runs.join(', ')} |`,
    );
}

if (run('kill')) {
  console.log(
    '\n| round | killed | pause per consumer (by its first node) | producer: first confirm after the kill | dispatches failed |',
  );
  console.log('| --- | --- | --- | --- | --- |');
  for (let round = 1; round <= ROUNDS; round++) {
    const result = await kill(round);
    const pauses = result.pausesMs.map(({ node, pauseMs }) => `${node}: ${pauseMs} ms`).join(', ');
    console.log(
      `| ${round} | ${result.leader} | ${pauses} | ${result.producerBackMs} ms | ${result.failed} of ${result.dispatched} |`,
    );
  }
}
