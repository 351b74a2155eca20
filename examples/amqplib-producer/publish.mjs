// Puts a multitask job on a RabbitMQ queue from a plain amqplib script: no multitask code, only
// the documented message format (docs/message-format.md). A producer in any language does the same.
//
//   node examples/amqplib-producer/publish.mjs <amqp-url> <queue> <Task> '<fields as JSON>'
//   node examples/amqplib-producer/publish.mjs amqp://guest:guest@127.0.0.1 emails SendEmail '{"to":"a@b.c"}'
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';

const [url, queue, task, fieldsJson = '{}'] = process.argv.slice(2);
if (!url || !queue || !task) {
  console.error('usage: publish.mjs <amqp-url> <queue> <Task> [fields JSON]');
  process.exit(2);
}

const body = {
  v: 1, // the message format's version
  id: randomUUID(), // optional; the consumer makes one up when it is missing
  task, // a name registered in the app's `tasks`
  fields: JSON.parse(fieldsJson), // the task's own fields, as JSON
  attempts: 3, // optional, default 3
  dispatchedAt: new Date().toISOString(), // optional, informative
};

const connection = await amqp.connect(url);
try {
  const channel = await connection.createConfirmChannel();
  // The consumers declare the queue (a quorum queue with its dead-letter arguments): check that
  // it is there rather than declare it with other arguments, which RabbitMQ would refuse.
  await channel.checkQueue(queue);
  channel.sendToQueue(queue, Buffer.from(JSON.stringify(body)), {
    persistent: true,
    contentType: 'application/json',
    messageId: body.id,
    headers: { 'x-multitask-attempt': 1 },
  });
  await channel.waitForConfirms(); // the broker has it
  console.log(`published job ${body.id} (${task}) to ${queue}`);
} finally {
  await connection.close();
}
