import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../src/index.js';
import { Inc, Listen, Sleep } from './fixtures/tasks.js';
import { eventually, failure, record, withPool } from './helpers.js';

describe('resize', () => {
  it('grows at once: resolves when the new workers are up', async () => {
    await withPool({ size: 1 }, async (pool) => {
      await pool.run(new Inc(1));
      await pool.resize(3);
      assert.equal(pool.size, 3);
      const stats = pool.stats();
      assert.equal(stats.workers.length, 3);
      assert.ok(stats.workers.every((worker) => worker.state === 'idle'));
    });
  });

  it('accepts shares of the CPUs like the size option', async () => {
    await withPool({ size: 1 }, async (pool) => {
      await pool.resize('100%');
      assert.ok(pool.size >= 1);
      assert.equal(pool.stats().workers.length, pool.size);
    });
  });

  it('shrinks by retiring idle workers first, leaving the busy one alone', async () => {
    await withPool({ size: 3 }, async (pool) => {
      const online = record(pool, 'workerOnline');
      await eventually(() => online.length === 3);
      const busy = pool.run(new Sleep(400));
      await eventually(() => pool.stats().workers.some((worker) => worker.state === 'busy'));
      const busyId = pool.stats().workers.find((worker) => worker.state === 'busy')!.id;
      const exits = record(pool, 'workerExit');
      await pool.resize(1);
      assert.equal(pool.size, 1);
      assert.deepEqual(
        pool.stats().workers.map((worker) => worker.id),
        [busyId],
      );
      assert.equal(exits.length, 2);
      assert.ok(exits.every((exit) => exit.reason === 'retire'));
      assert.equal(await busy, 'slept');
    });
  });

  it('never kills a running task when shrinking: it finishes, and queued work moves on', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const running = pool.run(new Sleep(1_500));
      await eventually(() => pool.stats().workers[0]?.state === 'busy');
      const queued = Array.from({ length: 10 }, (_, i) => pool.run(new Inc(i)));
      await pool.resize(2);
      const firstId = Math.min(...pool.stats().workers.map((worker) => worker.id));
      assert.deepEqual(
        await Promise.all(queued),
        Array.from({ length: 10 }, (_, i) => i + 1),
        'the newcomer took the queue',
      );
      // The idle newcomer is retired, the busy first worker stays and finishes its task.
      await pool.resize(1);
      assert.equal(await running, 'slept');
      assert.deepEqual(
        pool.stats().workers.map((worker) => worker.id),
        [firstId],
      );
    });
  });

  it('a busy worker retired by a shrink finishes its task before it goes', async () => {
    await withPool({ size: 2, graceMs: 10_000 }, async (pool) => {
      const online = record(pool, 'workerOnline');
      await eventually(() => online.length === 2);
      const tasks = [pool.run(new Sleep(300)), pool.run(new Sleep(300))];
      await eventually(() => pool.stats().workers.every((worker) => worker.state === 'busy'));
      await pool.resize(1);
      assert.deepEqual(await Promise.all(tasks), ['slept', 'slept'], 'both tasks completed, none was killed');
      assert.equal(pool.stats().workers.length, 1);
    });
  });

  it('a supervised replica on a retired worker gets its grace, then runs again elsewhere, not as a restart', async () => {
    await withPool({ size: 2, graceMs: 200 }, async (pool) => {
      const service = pool.supervise(new Listen(), { replicas: 2 });
      await eventually(() => pool.stats().workers.filter((worker) => worker.inflight === 1).length === 2);
      await pool.resize(1);
      // One replica was told to stop after the grace and returned; it waits for room, not done.
      assert.equal(pool.stats().workers.length, 1);
      assert.equal(service.running, 2);
      assert.equal(service.restarts, 0);
      await eventually(() => pool.stats().queueLength === 1);
      await pool.resize(2);
      await eventually(() => pool.stats().workers.filter((worker) => worker.inflight === 1).length === 2);
      assert.equal(service.running, 2);
      assert.equal(service.restarts, 0);
    });
  });

  it('is refused once the pool is closed', async () => {
    await withPool({ size: 1 }, async (pool) => {
      await pool.close();
      assert.equal((await failure(pool.resize(2))).code, ErrorCode.POOL_CLOSED);
    });
  });
});
