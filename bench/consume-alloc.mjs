// What a RabbitMQ consumer's main thread allocates per job: `node consume-alloc.mjs [jobs] [workers]`
// pre-fills a quorum queue with I/O-bound jobs (a 20 ms timer each), then consumes them with one
// worker (or `workers`) and 1,000 slots in all under V8's sampling heap profiler, counting the
// objects garbage collection took too, and prints bytes a job: in all, and by allocating function.
// Also prints the consuming rate and CPU a job (slowed by the profiler: compare runs of this tool
// only). BENCH_AMQP_URL as for queue.mjs; the queue and its companions are deleted afterwards.
import { randomUUID } from 'node:crypto';
import { Session } from 'node:inspector/promises';
import { openQueue, Pool } from 'multitask';
import { AMQP_URL, completed, dispatchWindow, sweepAmqpQueues } from './harness.mjs';
import { Sleep } from './queue-tasks.mjs';

const JOBS = Number(process.argv[2] ?? 20_000);
const WORKERS = Number(process.argv[3] ?? 1);
const SLOTS = 1_000;
const TOP = 20;
const APP = new URL('./queue-app.mjs', import.meta.url);
const name = `bench.alloc.${randomUUID().slice(0, 8)}`;

const queue = await openQueue(AMQP_URL, { app: APP });
try {
  await dispatchWindow(queue, () => new Sleep(20, 'x'.repeat(100)), JOBS, { queue: name }, 1_000);
  const pool = new Pool({ app: APP, size: WORKERS, concurrency: SLOTS / WORKERS });
  await pool.ready;
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 4_096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const consumer = pool.consume(queue, { queue: name, concurrency: SLOTS / WORKERS });
  await completed(consumer, JOBS);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  await consumer.stop();
  await pool.close();
  report(profile, ms, cpu);
} finally {
  await queue.close();
  await sweepAmqpQueues(AMQP_URL, name);
}

function report(profile, ms, cpu) {
  const bySite = new Map();
  let total = 0;
  const where = (frame) =>
    `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`;
  const walk = (node, parent) => {
    if (node.selfSize > 0) {
      const site = `${where(node.callFrame)} <- ${parent}`;
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const child of node.children) walk(child, where(node.callFrame));
  };
  walk(profile.head, '');
  console.log(
    `${JOBS} jobs on ${WORKERS} worker(s): ${Math.round((JOBS / ms) * 1000)} jobs/s, ${((cpu.user + cpu.system) / JOBS).toFixed(1)} µs CPU a job (under the profiler)`,
  );
  console.log(`main thread: ${Math.round(total / JOBS)} bytes allocated a job`);
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`${String(Math.round(bytes / JOBS)).padStart(7)} B  ${site}`);
  }
}
