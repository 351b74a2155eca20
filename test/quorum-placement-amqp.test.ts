// Quorum placement on the test broker: RabbitMQ refuses to redeclare a queue with a leader
// locator or a group size it was not made with (PRECONDITION_FAILED, checked on 3.10), so a
// queue made by an earlier multitask, or by a producer, or with other options, is used as it
// is; placement only matters when a queue is made.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import amqp from 'amqplib';
import { openQueue } from '../src/index.js';
import { topology, topologyQueues } from '../src/queue/transports/amqp-topology.js';
import { Noop } from './fixtures/queue-tasks.js';
import { AMQP_TEST_URL, amqpSkipReason, QUEUE_APP, uniqueQueue } from './queue-helpers.js';

const skip = await amqpSkipReason();
const names: string[] = [];

after(async () => {
  if (skip !== undefined) return;
  const connection = await amqp.connect(AMQP_TEST_URL);
  const channel = await connection.createChannel();
  for (const name of names) for (const queue of topologyQueues(name)) await channel.deleteQueue(queue);
  await connection.close();
});

/** The queues of `name` as multitask declares them with `placement`, declared by a bare client. */
async function declareAsMadeBy(name: string, placement: Record<string, string | number>): Promise<void> {
  const connection = await amqp.connect(AMQP_TEST_URL);
  try {
    const channel = await connection.createChannel();
    for (const declaration of topology(name, { deliveryLimit: 20, placement }))
      await channel.assertQueue(declaration.name, { durable: true, arguments: declaration.arguments });
  } finally {
    await connection.close();
  }
}

/** Opens a queue with `options`, dispatches one job to `name`, and resolves with its ready count. */
async function dispatchAndCount(name: string, options: Parameters<typeof openQueue>[1]): Promise<number> {
  const queue = await openQueue(AMQP_TEST_URL, { app: QUEUE_APP, ...options });
  try {
    await queue.dispatch(new Noop('x'), { queue: name });
    return (await queue.stats(name)).ready;
  } finally {
    await queue.close();
  }
}

describe('quorum placement of queues that already exist', { skip }, () => {
  test('queues made without a leader locator (an earlier multitask, a producer) are used as they are', async () => {
    const name = uniqueQueue('placement');
    names.push(name);
    await declareAsMadeBy(name, {});
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      assert.equal(await dispatchAndCount(name, {}), 1, 'declared (without placement) and dispatched');
      assert.equal(await dispatchAndCount(name, { quorum: { initialGroupSize: 1 } }), 2);
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings, [], 'nothing to warn of: placement only matters when a queue is made');
  });

  test('queues made with other placement are used as they are too', async () => {
    const name = uniqueQueue('placement');
    names.push(name);
    await declareAsMadeBy(name, {
      'x-queue-leader-locator': 'client-local',
      'x-quorum-initial-group-size': 1,
    });
    assert.equal(await dispatchAndCount(name, {}), 1);
    assert.equal(await dispatchAndCount(name, { quorum: { leaderLocator: null } }), 2);
  });
});
