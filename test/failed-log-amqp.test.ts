/**
 * The RabbitMQ failed store as a log (docs/queues.md, "The failed store"): jobs the broker
 * dead-lettered by itself show their true attempts, reason and time; jobs an older version left
 * in the inbox keep what they were stored with; queues an older version declared without an
 * explicit delivery limit are used as they are; two listings at once see the same jobs; and
 * reading leaves the log's jobs untouched.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { openQueue, type Queue } from '../src/index.js';
import { AMQP_TEST_URL, amqpSkipReason, deleteAmqpQueue, QUEUE_APP, uniqueQueue } from './queue-helpers.js';

const skip = await amqpSkipReason();

/** A job body as another producer would publish it. */
function body(id: string): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, id, task: 'Noop', fields: {} }));
}

describe('the RabbitMQ failed log', { skip }, () => {
  const queues: string[] = [];
  let connection: amqp.ChannelModel;
  let channel: amqp.ConfirmChannel;

  before(async () => {
    connection = await amqp.connect(AMQP_TEST_URL);
    channel = await connection.createConfirmChannel();
  });

  after(async () => {
    await connection.close();
    for (const queue of queues) await deleteAmqpQueue(queue);
  });

  async function fresh(options: { deliveryLimit?: number } = {}): Promise<{ queue: Queue; name: string }> {
    const name = uniqueQueue('amqp-failedlog');
    queues.push(name);
    const queue = await openQueue(AMQP_TEST_URL, { app: QUEUE_APP, ...options });
    await queue.stats(name); // declares the topology
    return { queue, name };
  }

  it('shows a job the broker dead-lettered with its true attempts, the broker reason and the x-death time', async () => {
    const { queue, name } = await fresh({ deliveryLimit: 2 });
    try {
      const started = Date.now();
      channel.sendToQueue(name, body('dead-1'), { persistent: true, messageId: 'dead-1' });
      await channel.waitForConfirms();
      // Three deliveries whose consumer "dies" (a requeue counts like a death on 3.10): past the limit of 2.
      for (let delivery = 0; delivery < 3; delivery++) {
        let message: amqp.GetMessage | false = false;
        for (let tries = 0; tries < 100 && message === false; tries++) {
          message = await channel.get(name);
          if (message === false) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.ok(message, `delivery ${delivery + 1}`);
        channel.nack(message, false, true);
      }
      let stats = await queue.stats(name);
      for (let tries = 0; tries < 100 && stats.failed === 0; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        stats = await queue.stats(name);
      }
      assert.equal(stats.failed, 1, 'counted while still in the inbox');

      const first = await queue.failed(name);
      const second = await queue.failed(name);
      assert.equal(JSON.stringify(second), JSON.stringify(first), 'a second listing is the same');
      assert.equal(first.length, 1);
      const [job] = first;
      assert.equal(job!.id, 'dead-1');
      assert.equal(
        job!.attempts,
        3,
        'the attempt it was sent as (1) plus the 2 deliveries the limit allowed',
      );
      assert.equal(job!.error.code, 'ERR_ATTEMPTS_EXHAUSTED');
      assert.match(job!.error.message, /dead-lettered by RabbitMQ .*delivery_limit.* after 3 deliveries/);
      // x-death has a resolution of seconds.
      assert.ok(job!.failedAt.getTime() >= Math.floor(started / 1000) * 1000, job!.failedAt.toISOString());
      assert.ok(job!.failedAt.getTime() <= Date.now());
      assert.equal((await queue.stats(name)).failed, 1);
    } finally {
      await queue.close();
    }
  });

  it('moves what an older version stored in the inbox with its own error, attempts and time', async () => {
    const { queue, name } = await fresh();
    try {
      const error = { name: 'Error', message: 'stored by 0.1', code: 'ERR_TASK_FAILED' };
      channel.sendToQueue(`${name}.failed`, body('old-1'), {
        persistent: true,
        messageId: 'old-1',
        headers: {
          'x-multitask-error': JSON.stringify(error),
          'x-multitask-attempts': 3,
          'x-multitask-failed-at': 1_700_000_000_000,
        },
      });
      await channel.waitForConfirms();
      const jobs = await queue.failed(name);
      assert.equal(jobs.length, 1);
      assert.deepEqual(jobs[0]!.error, error);
      assert.equal(jobs[0]!.attempts, 3);
      assert.equal(jobs[0]!.failedAt.getTime(), 1_700_000_000_000);
      assert.equal((await channel.checkQueue(`${name}.failed`)).messageCount, 0, 'the inbox is empty');
      assert.deepEqual(await queue.failed(name), jobs);
    } finally {
      await queue.close();
    }
  });

  it('uses queues an older version declared without a delivery limit, and warns once', async () => {
    const name = uniqueQueue('amqp-failedlog');
    queues.push(name);
    await channel.assertQueue(`${name}.failed`, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const warnings: Error[] = [];
    const onWarning = (warning: Error & { code?: string }) => {
      if (warning.code === 'MULTITASK_OLDER_QUEUE') warnings.push(warning);
    };
    process.on('warning', onWarning);
    const queue = await openQueue(AMQP_TEST_URL, { app: QUEUE_APP });
    try {
      await queue.dispatchMessage(name, body('after-old'));
      assert.equal((await queue.stats(name)).ready, 1);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!.message, new RegExp(`${name}\\.failed`));
    } finally {
      process.off('warning', onWarning);
      await queue.close();
    }
  });

  it('gives two listings at once the same jobs, and changes no record by reading', async () => {
    const { queue, name } = await fresh();
    try {
      const error = JSON.stringify({ name: 'Error', message: 'boom' });
      for (let index = 0; index < 50; index++) {
        channel.sendToQueue(`${name}.failed-log`, body(`job-${index}`), {
          persistent: true,
          messageId: `job-${index}`,
          headers: { 'x-multitask-error': error, 'x-multitask-attempts': 1, 'x-multitask-failed-at': 1 },
        });
      }
      await channel.waitForConfirms();
      const [a, b] = await Promise.all([queue.failed(name), queue.failed(name)]);
      assert.equal(a.length, 50);
      assert.equal(JSON.stringify(a), JSON.stringify(b));
      const again = await queue.failed(name);
      assert.equal(JSON.stringify(again), JSON.stringify(a));
      assert.equal((await queue.stats(name)).failed, 50);
    } finally {
      await queue.close();
    }
  });
});
