import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Echo, Inc, Leak } from './fixtures/tasks.js';
import { eventually, record, withPool } from './helpers.js';

describe('recycling', () => {
  it('replaces a worker after maxTasks tasks; no call is lost or failed', async () => {
    await withPool({ size: 1, recycle: { maxTasks: 10 } }, async (pool) => {
      const exits = record(pool, 'workerExit');
      const threads = new Set<number>();
      for (let i = 0; i < 35; i++) {
        const result = (await pool.run(new Echo(i))) as { value: number; threadId: number };
        assert.equal(result.value, i);
        threads.add(result.threadId);
      }
      await eventually(() => exits.length === 3);
      assert.ok(threads.size >= 4, `four generations of workers ran the calls, saw ${threads.size}`);
      assert.ok(exits.every((exit) => exit.reason === 'retire'));
      const stats = pool.stats();
      assert.equal(stats.recycled, 3);
      assert.equal(stats.tasks.failed, 0);
      assert.equal(stats.workerRestarts, 0, 'recycling is not a crash');
    });
  });

  it('replaces a worker whose heap passes maxHeapMb between tasks', async () => {
    await withPool({ size: 1, recycle: { maxHeapMb: 40 } }, async (pool) => {
      const exits = record(pool, 'workerExit');
      const first = (await pool.run(new Echo(0))) as { threadId: number };
      for (let i = 0; i < 6; i++) await pool.run(new Leak(10));
      await eventually(() => exits.length >= 1);
      assert.equal(exits[0]?.reason, 'retire');
      const after = (await pool.run(new Echo(1))) as { threadId: number };
      assert.notEqual(after.threadId, first.threadId, 'a fresh worker runs the next call');
      assert.equal(await pool.run(new Inc(1)), 2);
    });
  });
});
