import amqp from '/work/main/node_modules/amqplib/channel_api.js';
const c = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
const ch = await c.createConfirmChannel();
const s = 'exp.xd.inbox.' + Date.now(); const src = 'exp.xd.src.' + Date.now();
await ch.assertQueue(s, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
await ch.assertQueue(src, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 1, 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': s } });
ch.sendToQueue(src, Buffer.from('dl'), { persistent: true }); await ch.waitForConfirms();
for (let i = 0; i < 3; i++) { const m = await ch.get(src); if (m) ch.nack(m, false, true); await new Promise(r => setTimeout(r, 100)); }
await new Promise(r => setTimeout(r, 500));
const m = await ch.get(s); console.log(Date.now()/1000, JSON.stringify(m.properties.headers));
await ch.deleteQueue(s); await ch.deleteQueue(src); await c.close();
