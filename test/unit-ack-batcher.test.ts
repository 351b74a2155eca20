// The AMQP ack batcher on its own: what settles in one tick goes out as one `basic.ack multiple`
// up to the first delivery still running, one ack each past it, and nothing before the tick ends.
// The channel is a recorder of ack calls: the unit under test is the coalescing, not amqplib.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import type { Message } from 'amqplib';
import { AckBatcher } from '../src/queue/transports/amqp-acks.js';

interface AckCall {
  tag: number;
  multiple: boolean;
}

/** A channel that records its acks, or throws as a closed amqplib channel does. */
function recorder(failWith?: Error) {
  const calls: AckCall[] = [];
  const channel = {
    ack(message: Message, allUpTo?: boolean) {
      if (failWith !== undefined) throw failWith;
      calls.push({ tag: message.fields.deliveryTag, multiple: allUpTo === true });
    },
  };
  return { calls, channel };
}

function delivery(tag: number): Message {
  return { fields: { deliveryTag: tag } } as unknown as Message;
}

/** Tracks deliveries 1..n, as a consumer receiving them in order. */
function tracked(batcher: AckBatcher, n: number): Message[] {
  const messages = Array.from({ length: n }, (_, i) => delivery(i + 1));
  for (const message of messages) batcher.track(message);
  return messages;
}

/** Runs the flush the batcher queued with setImmediate (`runAll` trips on setImmediate in Node 20). */
function endTick(): void {
  mock.timers.tick(1);
}

describe('AMQP ack batcher', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setImmediate'] }));
  afterEach(() => mock.timers.reset());

  test('acks of one tick wait for the tick to end, then go out as one multiple ack', async () => {
    const { calls, channel } = recorder();
    const batcher = new AckBatcher(channel);
    const [m1, m2, m3] = tracked(batcher, 3);
    const acked = [batcher.ack(m1!), batcher.ack(m2!), batcher.ack(m3!)];
    assert.deepEqual(calls, [], 'nothing is written before the tick ends');
    endTick();
    await Promise.all(acked);
    assert.deepEqual(calls, [{ tag: 3, multiple: true }], 'one frame acknowledges all three');
  });

  test('a delivery still running stops the multiple ack: those past it are acked one by one', async () => {
    const { calls, channel } = recorder();
    const batcher = new AckBatcher(channel);
    const [m1, m2, m3, m4, m5] = tracked(batcher, 5);
    const acked = [batcher.ack(m1!), batcher.ack(m2!), batcher.ack(m4!), batcher.ack(m5!)];
    endTick();
    await Promise.all(acked);
    assert.deepEqual(calls, [
      { tag: 2, multiple: true },
      { tag: 4, multiple: false },
      { tag: 5, multiple: false },
    ]);
    // Delivery 3 finishes later: a multiple ack up to it must not acknowledge 4 and 5 twice, and
    // it does not matter to the broker that they are covered again (already acknowledged).
    const last = batcher.ack(m3!);
    endTick();
    await last;
    assert.deepEqual(calls.at(-1), { tag: 3, multiple: true });
    assert.equal(calls.length, 4);
  });

  test('acks of separate ticks are separate frames', async () => {
    const { calls, channel } = recorder();
    const batcher = new AckBatcher(channel);
    const [m1, m2] = tracked(batcher, 2);
    const first = batcher.ack(m1!);
    endTick();
    await first;
    const second = batcher.ack(m2!);
    endTick();
    await second;
    assert.deepEqual(calls, [
      { tag: 1, multiple: true },
      { tag: 2, multiple: true },
    ]);
  });

  test('a forgotten (nacked) delivery no longer holds back the multiple ack', async () => {
    const { calls, channel } = recorder();
    const batcher = new AckBatcher(channel);
    const [m1, m2, m3] = tracked(batcher, 3);
    batcher.forget(m1!);
    const acked = [batcher.ack(m2!), batcher.ack(m3!)];
    endTick();
    await Promise.all(acked);
    assert.deepEqual(calls, [{ tag: 3, multiple: true }]);
  });

  test('a closed channel rejects every ack of the batch, so that none counts as done', async () => {
    const closed = new Error('Channel closed');
    const { channel } = recorder(closed);
    const batcher = new AckBatcher(channel);
    const [m1, , m3] = tracked(batcher, 3);
    const acked = [batcher.ack(m1!), batcher.ack(m3!)];
    endTick();
    for (const ack of acked) await assert.rejects(ack, closed);
  });
});
