import amqp from '/work/main/node_modules/amqplib/channel_api.js';
const c = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
let ch = await c.createConfirmChannel();
const s = 'exp.failedlog.' + Date.now();
await ch.assertQueue(s, { durable: true, arguments: { 'x-queue-type': 'stream' } });
for (let i = 0; i < 5; i++) ch.sendToQueue(s, Buffer.from('m' + i), { persistent: true, messageId: 'id' + i });
await ch.waitForConfirms();
const q = await ch.checkQueue(s);
console.log('checkQueue stream', q);
// DLX from quorum to stream, at-least-once
const src = 'exp.src.' + Date.now();
await ch.assertQueue(src, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 1, 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': s } });
ch.sendToQueue(src, Buffer.from('dl'), { persistent: true, messageId: 'dlid' });
await ch.waitForConfirms();
for (let i = 0; i < 3; i++) { const m = await ch.get(src, { noAck: false }); if (m) ch.nack(m, false, true); await new Promise(r => setTimeout(r, 100)); }
await new Promise(r => setTimeout(r, 1000));
console.log('src after', await ch.checkQueue(src), 'stream', await ch.checkQueue(s));
// read stream
const rc = await c.createChannel();
await rc.prefetch(100);
const got = [];
await rc.consume(s, (m) => { got.push([m.properties.headers['x-stream-offset'], m.content.toString(), JSON.stringify(m.properties.headers)]); rc.ack(m); }, { noAck: false, arguments: { 'x-stream-offset': 'first' } });
await new Promise(r => setTimeout(r, 1000));
console.log(got);
// delivery limit equivalence on quorum
const dq = 'exp.dq.' + Date.now();
await ch.assertQueue(dq, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
try { await ch.assertQueue(dq, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 5 } }); console.log('redeclare with limit ok'); } catch (e) { console.log('redeclare err', e.message); ch = await c.createConfirmChannel(); }
const dq2 = 'exp.dq2.' + Date.now();
try { await ch.assertQueue(dq2, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': -1 } }); console.log('-1 ok'); } catch (e) { console.log('-1 err', e.message); ch = await c.createConfirmChannel(); }
for (const n of [s, src, dq, dq2]) await ch.deleteQueue(n).catch(()=>{});
await c.close();
