// How the replies of queue.call travel on RabbitMQ, measured with bare amqplib (docs/queues.md,
// "Results"): direct reply-to (`amq.rabbitmq.reply-to`, consumed no-ack on the publishing
// channel: no queue at all) against one exclusive, auto-delete reply queue per connection. A
// responder on its own connection answers every request on a quorum queue; the requester
// publishes persistent requests with confirms, as multitask does, and times request to reply.
//
//   node reply-to.mjs      3 rounds of each, alternating; 1,000 requests one at a time, 5,000 256 at a time
import amqplib from 'amqplib';

const URL_ = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const queue = `bench.reply-to.${process.pid}`;

const responder = await amqplib.connect(URL_);
const serving = await responder.createConfirmChannel();
await serving.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
await serving.prefetch(300);
await serving.consume(queue, (message) => {
  if (message === null) return; // cancelled: the queue is deleted at the end
  serving.sendToQueue(
    message.properties.replyTo,
    Buffer.from('{"ok":true,"value":1}'),
    { correlationId: message.properties.messageId },
    () => {},
  );
  serving.ack(message);
});

/** p50 and p99 (ms) of `count` request-replies made `concurrency` at a time. */
async function run(mode, count, concurrency) {
  const connection = await amqplib.connect(URL_);
  const channel = await connection.createConfirmChannel();
  const waiting = new Map();
  const onReply = (message) => waiting.get(message.properties.correlationId)?.();
  let replyTo;
  if (mode === 'direct reply-to') {
    await channel.consume('amq.rabbitmq.reply-to', onReply, { noAck: true });
    replyTo = 'amq.rabbitmq.reply-to';
  } else {
    const { queue: own } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    await channel.consume(own, onReply, { noAck: true });
    replyTo = own;
  }
  const latencies = [];
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const id = String(next++);
      const from = performance.now();
      const replied = new Promise((resolve) => waiting.set(id, resolve));
      await new Promise((resolve, reject) =>
        channel.sendToQueue(
          queue,
          Buffer.from('{}'),
          { replyTo, messageId: id, persistent: true },
          (error) => (error ? reject(error) : resolve()),
        ),
      );
      await replied;
      waiting.delete(id);
      latencies.push(performance.now() - from);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  latencies.sort((a, b) => a - b);
  await connection.close();
  const at = (p) => latencies[Math.floor((latencies.length * p) / 100)].toFixed(2);
  return `p50 ${at(50)} ms, p99 ${at(99)} ms`;
}

for (let round = 1; round <= ROUNDS; round++) {
  for (const mode of round % 2 ? ['direct reply-to', 'reply queue'] : ['reply queue', 'direct reply-to']) {
    console.log(
      `round ${round} ${mode}: c=1 ${await run(mode, 1_000, 1)}; c=256 ${await run(mode, 5_000, 256)}`,
    );
  }
}
await serving.deleteQueue(queue);
await responder.close();
