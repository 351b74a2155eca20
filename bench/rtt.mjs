import amqp from '/work/wt-results/node_modules/amqplib/channel_api.js';
const URL_ = 'amqp://guest:guest@127.0.0.1:5672';
const q = 'exp.rtt.' + process.pid;
const srv = await amqp.connect(URL_);
const sch = await srv.createConfirmChannel();
await sch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
await sch.prefetch(300);
await sch.consume(q, (m) => {
  sch.sendToQueue(m.properties.replyTo, Buffer.from('ok'), { correlationId: m.properties.messageId }, () => {});
  sch.ack(m);
});
async function run(mode, n, conc) {
  const c = await amqp.connect(URL_);
  const ch = await c.createConfirmChannel();
  const waiting = new Map();
  let replyTo;
  if (mode === 'direct') {
    await ch.consume('amq.rabbitmq.reply-to', (m) => { waiting.get(m.properties.correlationId)?.(); }, { noAck: true });
    replyTo = 'amq.rabbitmq.reply-to';
  } else {
    const rq = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    await ch.consume(rq.queue, (m) => { waiting.get(m.properties.correlationId)?.(); }, { noAck: true });
    replyTo = rq.queue;
  }
  const lat = [];
  let i = 0;
  const one = async () => {
    while (i < n) {
      const id = String(i++);
      const t = performance.now();
      const done = new Promise((r) => waiting.set(id, r));
      await new Promise((res, rej) => ch.sendToQueue(q, Buffer.from('x'), { replyTo, messageId: id, persistent: true }, (e) => e ? rej(e) : res()));
      await done; waiting.delete(id);
      lat.push(performance.now() - t);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, one));
  const total = performance.now() - t0;
  lat.sort((a, b) => a - b);
  console.log(mode, 'conc', conc, 'p50', lat[Math.floor(lat.length / 2)].toFixed(2), 'p99', lat[Math.floor(lat.length * 0.99)].toFixed(2), 'rate', Math.round(n / total * 1000));
  await c.close();
}
for (const mode of ['direct', 'queue', 'direct', 'queue']) { await run(mode, 1000, 1); await run(mode, 5000, 256); }
await sch.deleteQueue(q); await srv.close();
