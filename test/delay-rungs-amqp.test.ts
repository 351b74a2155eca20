// A shorter delay ladder (delayRungs) on the test broker: a job queue of 3 + 4 queues, delays
// that hop many times on the way still never run early, and a retry's backoff takes the same
// ladder.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import amqp from 'amqplib';
import { openQueue, Pool } from '../src/index.js';
import { delayLadder, topologyQueues } from '../src/queue/transports/amqp-topology.js';
import { FailTimes, Record } from './fixtures/queue-tasks.js';
import { eventually } from './helpers.js';
import { AMQP_TEST_URL, amqpSkipReason, QUEUE_APP, runLines, tempDir, uniqueQueue } from './queue-helpers.js';

const dir = tempDir();
const LADDER = delayLadder(4);
const name = uniqueQueue('rungs');

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  if ((await amqpSkipReason()) !== undefined) return;
  const connection = await amqp.connect(AMQP_TEST_URL);
  const channel = await connection.createChannel();
  for (const queue of topologyQueues(name, LADDER)) await channel.deleteQueue(queue);
  await connection.close();
});

describe('a shorter delay ladder (delayRungs: 4)', { skip: await amqpSkipReason(), timeout: 60_000 }, () => {
  test('declares 7 queues; delayed jobs and a retry wait their time on it, never less', async () => {
    const log = join(dir, 'rungs.log');
    const queue = await openQueue(AMQP_TEST_URL, {
      app: QUEUE_APP,
      delayRungs: 4,
      retry: { initialDelayMs: 1_000, maxDelayMs: 1_000 },
    });
    const pool = new Pool({ app: QUEUE_APP, size: 1, concurrency: 4 });
    try {
      const dispatchedAt = Date.now();
      // 1.5 s: 30 hops of the 50 ms rung; 4 s: the 3.2 s rung, then 16 of the 50 ms rung.
      await queue.dispatch(new Record(log, 'in-1500'), { queue: name, delayMs: 1_500 });
      await queue.dispatch(new Record(log, 'in-4000'), { queue: name, delayMs: 4_000 });
      await queue.dispatch(new FailTimes(1, log, 'retried'), { queue: name });
      // The 4 s job waits on the 3.2 s rung. (The 1.5 s one hops on the 50 ms rung, through the
      // queue itself and the broker's dead-lettering: it is counted as ready, or in neither.)
      assert.ok((await queue.stats(name)).delayed >= 1, 'counted as delayed');
      const consumer = pool.consume(queue, { queue: name });
      const ranAt = new Map<string, number>();
      const seen = () => {
        for (const line of runLines(log))
          if (!ranAt.has(`${line.tag}#${line.attempt}`)) ranAt.set(`${line.tag}#${line.attempt}`, Date.now());
        return ranAt.size;
      };
      await eventually(() => seen() === 4, 20_000);
      assert.ok(ranAt.get('in-1500#1')! - dispatchedAt >= 1_500, 'not before 1.5 s');
      assert.ok(ranAt.get('in-4000#1')! - dispatchedAt >= 4_000, 'not before 4 s');
      // The backoff has jitter: at least half of 1 s.
      assert.ok(ranAt.get('retried#2')! - ranAt.get('retried#1')! >= 450, 'the retry waited its backoff');
      await consumer.stop({ graceMs: 1_000 });
      // The rungs are those of the short ladder: 3.2 s is one, 200 ms (of the full ladder) is not.
      const connection = await amqp.connect(AMQP_TEST_URL);
      try {
        const channel = await connection.createChannel();
        await channel.checkQueue(`${name}.delay.3200`);
        channel.on('error', () => {});
        await assert.rejects(channel.checkQueue(`${name}.delay.200`), /NOT_FOUND|404/);
      } finally {
        await connection.close().catch(() => {});
      }
    } finally {
      await pool.close({ graceMs: 0 });
      await queue.close();
    }
  });
});
