// RabbitMQ drops the connection (as when it restarts): the queue reconnects by itself, the
// consumer takes jobs again, and a dispatch made meanwhile is confirmed once the broker is back.
// Only this test's connection is closed (rabbitmqctl close_connection), so other tests run on.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openQueue, Pool, type Queue } from '../src/index.js';
import { Nap } from './fixtures/queue-tasks.js';
import { eventually } from './helpers.js';
import {
  AMQP_TEST_URL,
  amqpSkipReason,
  ctlSkipReason,
  deleteAmqpQueue,
  dropConnections,
  QUEUE_APP,
  runLines,
  tempDir,
  uniqueQueue,
} from './queue-helpers.js';

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

const skip = (await amqpSkipReason()) ?? ctlSkipReason();

/** A queue on its own named connection (so the test can drop it) and a pool of 2 × 2, cleaned up after. */
async function withOwnConnection(
  body: (setup: {
    name: string;
    connectionName: string;
    log: string;
    queue: Queue;
    pool: Pool;
  }) => Promise<void>,
): Promise<void> {
  const name = uniqueQueue('reconnect');
  const connectionName = `multitask-test-${name}`;
  const log = join(dir, `${name}.log`);
  const queue = await openQueue(AMQP_TEST_URL, { app: QUEUE_APP, connectionName });
  const pool = new Pool({ app: QUEUE_APP, size: 2, concurrency: 2 });
  try {
    await body({ name, connectionName, log, queue, pool });
  } finally {
    await pool.close({ graceMs: 0 });
    await queue.close();
    await deleteAmqpQueue(name);
  }
}

describe('RabbitMQ reconnection', { skip }, () => {
  test('the queue reconnects after the broker drops it; no confirmed job is lost', async () => {
    await withOwnConnection(async ({ name, connectionName, log, queue, pool }) => {
      for (let i = 0; i < 20; i++) await queue.dispatch(new Nap(100, log, `a${i}`), { queue: name });
      const consumer = pool.consume(queue, { queue: name });
      await eventually(() => runLines(log).filter((line) => line.kind === 'end').length >= 4);
      assert.ok(dropConnections(connectionName) >= 1, 'the test found its connection');
      // Dispatched while the connection is down or coming back: each resolves once confirmed.
      for (let i = 0; i < 20; i++) await queue.dispatch(new Nap(100, log, `b${i}`), { queue: name });
      await eventually(
        () =>
          new Set(
            runLines(log)
              .filter((l) => l.kind === 'end')
              .map((l) => l.tag),
          ).size === 40,
        60_000,
      );
      await consumer.stop({ graceMs: 5_000 });
      assert.deepEqual(await queue.stats(name), { ready: 0, inFlight: 0, delayed: 0, failed: 0 });
    });
  });
});

describe('RabbitMQ connection lost under running jobs', { skip }, () => {
  test('a job that finishes after its channel closed is not counted: the broker runs it again, counted once', async () => {
    await withOwnConnection(async ({ name, connectionName, log, queue, pool }) => {
      for (let i = 0; i < 4; i++) await queue.dispatch(new Nap(1_500, log, `c${i}`), { queue: name });
      const consumer = pool.consume(queue, { queue: name });
      const unrecorded: Array<string | undefined> = [];
      consumer.on('settleError', ({ id }) => unrecorded.push(id));
      await eventually(() => runLines(log).filter((line) => line.kind === 'start').length === 4);
      assert.ok(dropConnections(connectionName) >= 1, 'the test found its connection');
      // Each job runs twice: once under the lost channel, once redelivered.
      await eventually(() => runLines(log).filter((line) => line.kind === 'end').length === 8, 60_000);
      await eventually(() => consumer.counts.completed === 4 && consumer.counts.inFlight === 0, 30_000);
      assert.equal(unrecorded.length, 4, 'the four outcomes the lost channel could not take were reported');
      await consumer.stop({ graceMs: 5_000 });
      assert.equal(consumer.counts.completed, 4, 'counted once each');
      assert.deepEqual(await queue.stats(name), { ready: 0, inFlight: 0, delayed: 0, failed: 0 });
    });
  });
});

describe('RabbitMQ queue deleted behind the queue object', { skip: await amqpSkipReason() }, () => {
  test('a dispatch to a queue deleted meanwhile declares it again instead of losing the job', async () => {
    const name = uniqueQueue('reconnect');
    const queue = await openQueue(AMQP_TEST_URL, { app: QUEUE_APP });
    try {
      await queue.dispatch(new Nap(1, join(dir, 'x.log'), 'first'), { queue: name });
      await deleteAmqpQueue(name);
      await queue.dispatch(new Nap(1, join(dir, 'x.log'), 'second'), { queue: name });
      assert.equal((await queue.stats(name)).ready, 1, 'the second job is in the queue');
    } finally {
      await queue.close();
      await deleteAmqpQueue(name);
    }
  });
});
