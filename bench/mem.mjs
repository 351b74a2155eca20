import { openQueue } from 'multitask';
import { Inc } from '/work/wt-results/bench/calls-app.mjs';
import { setTimeout as sleep } from 'node:timers/promises';
const url = process.argv[2];
const N = Number(process.argv[3] ?? 10000);
const name = 'bench.memdiag.' + process.pid;
const queue = await openQueue(url, { app: new URL('file:///work/wt-results/bench/calls-app.mjs') });
await queue.stats(name);
const snap = async (label) => { for (let i = 0; i < 3; i++) { gc(); await sleep(100); } const m = process.memoryUsage(); console.log(label, 'rss', (m.rss/2**20).toFixed(1), 'heapUsed', (m.heapUsed/2**20).toFixed(1), 'heapTotal', (m.heapTotal/2**20).toFixed(1), 'external', (m.external/2**20).toFixed(1), 'ab', (m.arrayBuffers/2**20).toFixed(1)); return m; };
const idle = await snap('idle');
const waits = Array.from({ length: N }, (_, x) => queue.call(new Inc(x), { queue: name }).catch(() => {}));
while ((await queue.stats(name)).ready < N) await sleep(100);
const loaded = await snap('loaded');
console.log('above idle MiB', ((loaded.rss - idle.rss) / 2**20).toFixed(1), 'heap', ((loaded.heapUsed - idle.heapUsed)/2**20).toFixed(1));
await sleep(3000);
await snap('3s later');
await queue.close();
if (url.startsWith('amqp')) { const { default: amqplib } = await import('amqplib'); const c = await amqplib.connect(url); const ch = await c.createChannel(); for (const q of [name, name+'.failed', name+'.failed-log', ...Array.from({length:10},(_, k)=>`${name}.delay.${50*4**k}`)]) await ch.deleteQueue(q); await c.close(); }
process.exit(0);
