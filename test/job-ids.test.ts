// One id per job, end to end: the id a caller gives (or multitask makes) is the id in the
// consumer's `settled` events and in the failed store, on both transports, including messages
// from other producers that carry no id, or two ids that disagree (docs/message-format.md).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import amqp from 'amqplib';
import { ErrorCode, openQueue, Pool } from '../src/index.js';
import { FailTimes, Record } from './fixtures/queue-tasks.js';
import {
  AMQP_TEST_URL,
  amqpSkipReason,
  deleteAmqpQueue,
  nextSettled,
  QUEUE_APP,
  tempDir,
  uniqueQueue,
} from './queue-helpers.js';

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

/** A body for the fixture's FailTimes task that fails for good on its one attempt. */
function failingBody(file: string, id?: string): string {
  const body: { [key: string]: unknown } = {
    v: 1,
    task: 'FailTimes',
    fields: { failures: 9, file, tag: 'f' },
    attempts: 1,
  };
  if (id !== undefined) body.id = id;
  return JSON.stringify(body);
}

const fixtures = [
  {
    name: 'sqlite',
    skip: undefined,
    url: () => `sqlite:${join(dir, 'ids.db')}`,
    cleanup: async (_: string) => {},
  },
  { name: 'amqp', skip: await amqpSkipReason(), url: () => AMQP_TEST_URL, cleanup: deleteAmqpQueue },
];

for (const fixture of fixtures) {
  describe(`job ids: ${fixture.name}`, { skip: fixture.skip, timeout: 60_000 }, () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    async function setup() {
      const name = uniqueQueue(`amqp-ids-${fixture.name}`);
      const queue = await openQueue(fixture.url(), { app: QUEUE_APP });
      const pool = new Pool({ app: QUEUE_APP, size: 1 });
      const log = join(dir, `${name}.log`);
      cleanups.push(async () => {
        await pool.close();
        await queue.close();
        await fixture.cleanup(name);
      });
      return { name, queue, pool, log };
    }

    test('a caller-given id is the id of its settled events and of its failed-store entry', async () => {
      const { name, queue, pool, log } = await setup();
      assert.equal(
        await queue.dispatch(new Record(log, 'ok'), { queue: name, id: 'order-42:email' }),
        'order-42:email',
      );
      assert.equal(
        await queue.dispatch(new FailTimes(9, log, 'bad'), { queue: name, id: 'order-43', attempts: 1 }),
        'order-43',
      );
      const consumer = pool.consume(queue, { queue: name });
      const [completed, failed] = await Promise.all([
        nextSettled(consumer, 'completed'),
        nextSettled(consumer, 'failed'),
      ]);
      assert.equal(completed.id, 'order-42:email');
      assert.equal(failed.id, 'order-43');
      assert.deepEqual(
        (await queue.failed(name)).map((job) => job.id),
        ['order-43'],
      );
    });

    test('a bad id is refused before anything is sent', async () => {
      const { name, queue, log } = await setup();
      for (const id of ['', 'has space', 'x'.repeat(201), 'é', 42]) {
        await assert.rejects(
          queue.dispatch(new Record(log, 'never'), { queue: name, id: id as string }),
          (error: Error & { code?: string }) =>
            error.code === ErrorCode.INVALID_OPTION && /"id"/.test(error.message),
          `id ${JSON.stringify(id)} is refused`,
        );
      }
      assert.equal((await queue.stats(name)).ready, 0, 'nothing was sent');
    });

    test('a message from another producer with no id gets one id, in its events and the failed store', async () => {
      const { name, queue, pool, log } = await setup();
      await queue.dispatchMessage(name, failingBody(log));
      const consumer = pool.consume(queue, { queue: name });
      const failed = await nextSettled(consumer, 'failed');
      assert.ok(failed.id, 'the consumer named the job');
      assert.deepEqual(
        (await queue.failed(name)).map((job) => job.id),
        [failed.id],
      );
    });

    // Two ids on one message exist only on RabbitMQ (the body's and the message-id).
    if (fixture.name === 'amqp')
      test("the body's id wins over a transport id that disagrees", async () => {
        const { name, queue, pool, log } = await setup();
        const consumer = pool.consume(queue, { queue: name });
        await consumer.ready;
        const failedIds: string[] = [];
        const bothFailed = new Promise<string[]>((resolve) =>
          consumer.on('settled', (settled) => {
            if (settled.outcome !== 'failed') return;
            failedIds.push(settled.id ?? '');
            if (failedIds.length === 2) resolve(failedIds);
          }),
        );
        const connection = await amqp.connect(AMQP_TEST_URL);
        try {
          const channel = await connection.createConfirmChannel();
          channel.sendToQueue(name, Buffer.from(failingBody(log, 'body-id')), {
            persistent: true,
            messageId: 'other-id',
          });
          channel.sendToQueue(name, Buffer.from(failingBody(log)), { persistent: true }); // no id at all
          await channel.waitForConfirms();
        } finally {
          await connection.close();
        }
        const ids = await bothFailed;
        assert.ok(ids.includes('body-id'), `the body's id, not the message-id: ${ids}`);
        assert.ok(ids.every((id) => id !== '' && id !== 'other-id'));
        assert.deepEqual((await queue.failed(name)).map((job) => job.id).sort(), [...ids].sort());
      });
  });
}
