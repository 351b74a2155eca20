import amqp from '/work/main/node_modules/amqplib/channel_api.js';
const c = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
const ch = await c.createConfirmChannel();
const q = 'exp.dlneg.' + Date.now();
await ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': -1 } });
ch.sendToQueue(q, Buffer.from('x')); await ch.waitForConfirms();
for (let i = 0; i < 5; i++) { const m = await ch.get(q); console.log(i, m && m.properties.headers); if (m) ch.nack(m, false, true); await new Promise(r=>setTimeout(r,50)); }
console.log(await ch.checkQueue(q)); await ch.deleteQueue(q); await c.close();
