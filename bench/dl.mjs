import amqp from '/work/main/node_modules/amqplib/channel_api.js';
const c = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
c.on('error', () => {});
for (const v of [-1, 0, 1000000]) {
  const ch = await c.createChannel(); ch.on('error', () => {});
  const q = 'exp.dl.' + v + '.' + Date.now();
  try { await ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': v } }); console.log(v, 'ok'); await ch.deleteQueue(q); } catch (e) { console.log(v, 'err', e.message); }
}
await c.close();
