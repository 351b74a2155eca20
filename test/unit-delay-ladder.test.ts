// The RabbitMQ delay ladder on its own: which rung a job waits on for a given remaining delay.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DELAY_LEVELS,
  delayLadder,
  delayQueueOf,
  delayTarget,
  HOLD_BELOW_MS,
  topology,
  topologyQueues,
} from '../src/queue/transports/amqp-topology.js';

describe('AMQP delay ladder', () => {
  test('ten rungs of 50 ms × 4^k, from 50 ms to about 3.6 h', () => {
    assert.deepEqual(
      DELAY_LEVELS,
      [50, 200, 800, 3_200, 12_800, 51_200, 204_800, 819_200, 3_276_800, 13_107_200],
    );
    assert.equal(HOLD_BELOW_MS, 50);
  });

  test('a job due within the first rung goes to the queue itself (a consumer holds it on a timer)', () => {
    for (const remaining of [-1_000, 0, 1, 49])
      assert.equal(delayTarget('q', remaining), 'q', `${remaining} ms`);
  });

  test('a longer delay waits on the largest rung that fits it: never longer than asked', () => {
    const cases: Array<[number, number]> = [
      [50, 50],
      [199, 50],
      [200, 200],
      [799, 200],
      [1_000, 800],
      [60_000, 51_200],
      [3_600_000, 3_276_800],
      [13_107_200, 13_107_200],
    ];
    for (const [remaining, rung] of cases) {
      assert.equal(delayTarget('emails', remaining), `emails.delay.${rung}`, `${remaining} ms`);
      assert.ok(rung <= remaining);
    }
  });

  test('a delay past the top rung takes the top rung (and hops again when it comes back early)', () => {
    assert.equal(delayTarget('q', 24 * 3_600_000), delayQueueOf('q', 13_107_200));
  });

  test('the topology of a queue: its failed store (inbox and log), itself, and one queue per rung', () => {
    const names = topologyQueues('jobs');
    assert.equal(names.length, 3 + DELAY_LEVELS.length);
    assert.deepEqual(names.slice(0, 3), ['jobs.failed', 'jobs.failed-log', 'jobs']);
    assert.ok(names.includes('jobs.delay.50') && names.includes('jobs.delay.13107200'));
  });

  test('every quorum queue states its delivery limit; the log is a stream', () => {
    for (const { name, arguments: args } of topology('jobs', { deliveryLimit: 7 })) {
      if (name === 'jobs.failed-log') assert.equal(args['x-queue-type'], 'stream');
      else assert.equal(typeof args['x-delivery-limit'], 'number', name);
    }
    assert.equal(
      topology('jobs', { deliveryLimit: 7 }).find(({ name }) => name === 'jobs')?.arguments[
        'x-delivery-limit'
      ],
      7,
    );
  });

  test('a shorter ladder spans the same range with fewer rungs, further apart', () => {
    assert.deepEqual(delayLadder(10), DELAY_LEVELS);
    assert.deepEqual(delayLadder(4), [50, 3_200, 204_800, 13_107_200]);
    const five = delayLadder(5);
    assert.equal(five.length, 5);
    assert.equal(five[0], 50);
    assert.equal(five.at(-1), 13_107_200);
    const four = delayLadder(4);
    assert.equal(delayTarget('q', 3_199, four), 'q.delay.50', 'never longer than asked: it hops again');
    assert.equal(delayTarget('q', 3_600_000, four), 'q.delay.204800');
    assert.equal(topologyQueues('q', four).length, 3 + 4);
  });
});
