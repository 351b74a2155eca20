// SQLite leases: a job that runs longer than its lease keeps it (the consumer renews it), so
// no other consumer takes it meanwhile; a lease that is not renewed makes the job due again.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openQueue, Pool } from '../src/index.js';
import { Nap } from './fixtures/queue-tasks.js';
import { eventually } from './helpers.js';
import { QUEUE_APP, runLines, tempDir, uniqueQueue } from './queue-helpers.js';

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

describe('sqlite leases', () => {
  test('a job running past its lease keeps it: renewed, never taken by another consumer', async () => {
    const url = `sqlite:${join(dir, 'lease.db')}`;
    const name = uniqueQueue('lease');
    const log = join(dir, `${name}.log`);
    // Two queue handles on one file: two consumers, as two processes would be.
    const [first, second] = await Promise.all([
      openQueue(url, { app: QUEUE_APP, leaseMs: 300, pollMs: 20 }),
      openQueue(url, { app: QUEUE_APP, leaseMs: 300, pollMs: 20 }),
    ]);
    const pool = new Pool({ app: QUEUE_APP, size: 2 });
    try {
      await first.dispatch(new Nap(1_500, log, 'long'), { queue: name });
      const a = pool.consume(first, { queue: name, concurrency: 1 });
      await eventually(() => runLines(log).length === 1);
      const b = pool.consume(second, { queue: name, concurrency: 1 });
      await eventually(() => a.counts.completed === 1, 10_000);
      assert.equal(b.counts.completed, 0, 'the other consumer never got it');
      assert.equal(runLines(log).filter((line) => line.kind === 'start').length, 1, 'it ran once');
      assert.deepEqual(await first.stats(name), { ready: 0, inFlight: 0, delayed: 0, failed: 0 });
    } finally {
      await pool.close({ graceMs: 0 });
      await first.close();
      await second.close();
    }
  });
});
