import { openQueue, Pool } from 'multitask';
import { Sleep } from './queue-tasks.mjs';
const Q = process.argv[2]; const N = Number(process.argv[3] ?? 20000); const mode = process.argv[4] ?? 'fill';
const app = new URL('./queue-app.mjs', import.meta.url);
const queue = await openQueue('amqp://guest:guest@127.0.0.1:5672', { app });
if (mode === 'fill') {
  for (let s = 0; s < N; s += 5000) await queue.dispatchMany(Array.from({ length: 5000 }, () => new Sleep(20, 'x'.repeat(100))), { queue: Q, attempts: 3 });
} else {
  const pool = new Pool({ app, size: 2, concurrency: 500 }); await pool.ready;
  const t0 = performance.now(); const c0 = process.cpuUsage();
  const consumer = pool.consume(queue, { queue: Q, concurrency: 500 });
  await new Promise((r) => { const check = () => consumer.counts.completed >= N && r(); consumer.on('settled', check); });
  const ms = performance.now() - t0; const c = process.cpuUsage(c0);
  console.log(process.env.TAG ?? '', 'consumed', Math.round(N / ms * 1000), 'jobs/s', ((c.user + c.system) / N).toFixed(1), 'cpu µs/job');
  await consumer.stop(); await pool.close();
  const { default: amqplib } = await import('amqplib'); const conn = await amqplib.connect('amqp://guest:guest@127.0.0.1:5672'); const ch = await conn.createChannel(); for (const q of [Q]) await ch.deleteQueue(q).catch(() => {}); await conn.close();
}
await queue.close();
