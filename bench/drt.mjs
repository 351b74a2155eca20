import amqp from '/work/wt-results/node_modules/amqplib/channel_api.js';
const c = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
c.on('error', e => console.log('conn error', e.message));
const ch = await c.createConfirmChannel();
ch.on('error', e => console.log('req ch error', e.message));
ch.on('close', () => console.log('req ch closed'));
const q = 'exp.drt.' + process.pid;
await ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
// 1. publish with reply-to before consuming: what happens?
const replies = [];
await ch.consume('amq.rabbitmq.reply-to', (m) => { replies.push(m); console.log('reply', m.content.toString(), m.properties.correlationId); }, { noAck: true });
let t = performance.now();
await new Promise((res, rej) => ch.sendToQueue(q, Buffer.from('job1'), { replyTo: 'amq.rabbitmq.reply-to', messageId: 'j1', persistent: true, mandatory: true }, (e) => e ? rej(e) : res()));
console.log('confirmed request on confirm channel', (performance.now()-t).toFixed(1));
// server side: separate connection
const c2 = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
const sch = await c2.createConfirmChannel();
sch.on('error', e => console.log('server ch error', e.message));
sch.on('close', () => console.log('server ch closed'));
const m = await sch.get(q, { noAck: false });
console.log('server got replyTo', m.properties.replyTo);
// republish the job with the resolved reply-to (as a retry would), from the server channel
await new Promise((res, rej) => sch.sendToQueue(q, m.content, { replyTo: m.properties.replyTo, messageId: 'j1', persistent: true }, (e) => e ? rej(e) : res()));
sch.ack(m);
const m2 = await sch.get(q, { noAck: false });
console.log('republished replyTo kept:', m2.properties.replyTo === m.properties.replyTo);
// reply on a confirm channel
t = performance.now();
await new Promise((res, rej) => sch.sendToQueue(m2.properties.replyTo, Buffer.from('answer'), { correlationId: 'j1' }, (e) => e ? rej(e) : res()));
console.log('reply confirmed', (performance.now()-t).toFixed(1));
sch.ack(m2);
await new Promise(r => setTimeout(r, 200));
// caller channel goes away; then reply to the dead address
await ch.close();
await new Promise(r => setTimeout(r, 200));
try {
  await new Promise((res, rej) => sch.sendToQueue(m2.properties.replyTo, Buffer.from('late'), { correlationId: 'j1' }, (e) => e ? rej(e) : res()));
  console.log('reply to dead address confirmed (dropped)');
} catch (e) { console.log('reply to dead address failed', e.message); }
await new Promise(r => setTimeout(r, 300));
// is the server channel still alive?
try { await sch.checkQueue(q); console.log('server channel alive after dead reply'); } catch (e) { console.log('server channel dead', e.message); }
// with mandatory?
try {
  let returned = false; sch.on('return', () => { returned = true; });
  await new Promise((res, rej) => sch.sendToQueue(m2.properties.replyTo, Buffer.from('late2'), { correlationId: 'j1', mandatory: true }, (e) => e ? rej(e) : res()));
  await new Promise(r => setTimeout(r, 100));
  console.log('mandatory to dead address: returned?', returned);
} catch (e) { console.log('mandatory dead failed', e.message); }
// publishing with replyTo amq.rabbitmq.reply-to on a channel not consuming
const ch3 = await c.createConfirmChannel();
ch3.on('error', e => console.log('ch3 error', e.message));
try {
  await new Promise((res, rej) => ch3.sendToQueue(q, Buffer.from('job3'), { replyTo: 'amq.rabbitmq.reply-to', persistent: true }, (e) => e ? rej(e) : res()));
  console.log('ch3 published without consuming');
} catch (e) { console.log('ch3 failed', e.message); }
await new Promise(r => setTimeout(r, 200));
const ch4 = await c2.createChannel();
await ch4.deleteQueue(q);
await c.close().catch(()=>{}); await c2.close();
