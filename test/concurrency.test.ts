import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Gauge } from './fixtures/tasks.js';
import { allOnline, withPool } from './helpers.js';

function gauge(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(8));
}

describe('concurrency', () => {
  it('one worker runs up to `concurrency` async tasks at once, never more', async () => {
    await withPool({ size: 1, concurrency: 4 }, async (pool) => {
      const counters = gauge();
      await Promise.all(Array.from({ length: 12 }, () => pool.run(new Gauge(counters, 50))));
      assert.equal(Atomics.load(counters, 1), 4);
      assert.equal(Atomics.load(counters, 0), 0);
    });
  });

  it('the default is one task at a time per worker', async () => {
    await withPool({ size: 2 }, async (pool) => {
      const counters = gauge();
      await Promise.all(Array.from({ length: 6 }, () => pool.run(new Gauge(counters, 30))));
      assert.ok(Atomics.load(counters, 1) <= 2, `at most one per worker, saw ${Atomics.load(counters, 1)}`);
    });
  });

  it('workers × concurrency tasks run together', async () => {
    await withPool({ size: 2, concurrency: 3 }, async (pool) => {
      const counters = gauge();
      await allOnline(pool);
      await Promise.all(Array.from({ length: 12 }, () => pool.run(new Gauge(counters, 100))));
      assert.equal(Atomics.load(counters, 1), 6);
    });
  });
});
