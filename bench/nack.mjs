// Does a channel on a surviving node get nacked when its first publish comes right after the leader's node dies?
import amqp from '/work/wt-cluster/node_modules/amqplib/channel_api.js';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
const q = 'nackexp.' + Date.now();
const ports = { s1: 5681, s2: 5682, s3: 5683 };
const setup = await amqp.connect('amqp://guest:guest@127.0.0.1:5681');
const ch0 = await setup.createChannel();
await ch0.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-queue-leader-locator': 'balanced' } });
await setup.close();
const rows = JSON.parse(execFileSync('rabbitmqctl', ['-q','-n','s1@localhost','list_queues','name','leader','--formatter','json'], {encoding:'utf8'}));
const leader = rows.find(r => r.name === q).leader.replace(/@.*/, '');
const survivor = Object.keys(ports).find(n => n !== leader);
console.log('leader', leader, 'survivor', survivor);
const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${ports[survivor]}`);
conn.on('error', () => {});
const delays = [0, 20, 50, 100];
const chans = [];
for (const d of delays) { const c = await conn.createConfirmChannel(); c.on('error', (e)=>console.log('ch err', d, e.message)); chans.push(c); }
const pid = Number(readFileSync(`/tmp/multitask-cluster/${leader}/pid`, 'utf8'));
process.kill(pid, 'SIGKILL');
const t0 = Date.now();
const send = (c) => new Promise((res) => c.sendToQueue(q, Buffer.from('x'), { persistent: true }, (err) => res(err ? 'nack' : 'ack')));
const results = await Promise.all(delays.map(async (d, i) => {
  await new Promise(r => setTimeout(r, d));
  const first = await send(chans[i]);
  const t1 = Date.now() - t0;
  const later = [];
  for (let k = 0; k < 5; k++) { await new Promise(r => setTimeout(r, 1000)); later.push(await send(chans[i]).catch(e => 'err')); }
  return { d, first, t1, later };
}));
console.log(JSON.stringify(results));
await conn.close().catch(()=>{});
console.log(leader);
