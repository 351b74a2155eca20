import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
const [port, keep, workers, conc] = process.argv.slice(2).map(Number);
const N = 50000, NAME = 'tmp' + Date.now();
const connection = new Redis({ port, maxRetriesPerRequest: null });
const queue = new Queue(NAME, { connection });
for (let i = 0; i < N; i += 1000) await queue.addBulk(Array.from({ length: 1000 }, () => ({ name: 'noop', data: { payload: 'x'.repeat(100) }, opts: keep ? { attempts: 3 } : { removeOnComplete: true, attempts: 3 } })));
let done = 0;
const ws = Array.from({ length: workers }, () => new Worker(NAME, async () => {}, { connection, concurrency: conc, autorun: false }));
for (const w of ws) { await w.waitUntilReady(); w.on('completed', () => done++); }
const t0 = performance.now();
ws.forEach((w) => w.run());
while (done < N) await sleep(2);
console.log({ keep, workers, conc, jobsPerSec: Math.round(N / (performance.now() - t0) * 1000) });
for (const w of ws) await w.close();
await queue.obliterate({ force: true }); await queue.close(); connection.disconnect();
