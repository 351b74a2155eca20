import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../src/index.js';
import { AlwaysFail, Echo, Exit, Flaky, Listen } from './fixtures/tasks.js';
import { eventually, failure, record, withPool } from './helpers.js';

const fast = { initialDelayMs: 20, maxDelayMs: 200, maxRestarts: 5, windowMs: 60_000 };

describe('supervise', () => {
  it('restarts a replica that throws, with attempt counting from 1, until it returns', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const restarts = record(pool, 'restart');
      const service = pool.supervise(new Flaky(3), { restart: fast });
      await service.done;
      assert.equal(service.restarts, 2);
      assert.deepEqual(
        restarts.map((event) => [event.taskName, event.replica, event.attempt]),
        [
          ['Flaky', 1, 2],
          ['Flaky', 1, 3],
        ],
      );
      assert.match(restarts[0]!.error.message, /attempt 1 fails/);
      assert.equal(pool.stats().serviceRestarts, 2);
    });
  });

  it('backs off exponentially with jitter between initialDelayMs and maxDelayMs', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const restarts = record(pool, 'restart');
      const policy = { initialDelayMs: 10, maxDelayMs: 40, maxRestarts: 6, windowMs: 60_000 };
      await failure(pool.supervise(new AlwaysFail(), { restart: policy }).done);
      const delays = restarts.map((event) => event.delayMs);
      assert.equal(delays.length, 6);
      const ceilings = [10, 20, 40, 40, 40, 40];
      delays.forEach((delay, index) => {
        const ceiling = ceilings[index]!;
        assert.ok(
          delay >= ceiling / 2 && delay <= ceiling,
          `restart ${index + 1}: ${delay} ms within [${ceiling / 2}, ${ceiling}]`,
        );
      });
    });
  });

  it('gives up with ERR_CRASH_LOOP carrying the last cause after more than maxRestarts in the window', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const loops = record(pool, 'crashLoop');
      const service = pool.supervise(new AlwaysFail(), { restart: { ...fast, maxRestarts: 3 } });
      const error = await failure(service.done);
      assert.equal(error.code, ErrorCode.CRASH_LOOP);
      assert.equal((error.cause as { code?: string }).code, ErrorCode.TASK_FAILED);
      assert.match((error.cause as Error).message, /always fails/);
      assert.equal(service.restarts, 3, 'three restarts, then the fourth failure gives up');
      assert.equal(loops.length, 1);
      assert.equal(loops[0]?.taskName, 'AlwaysFail');
      assert.equal(service.running, 0);
    });
  });

  it('restarts a replica whose worker dies, on a fresh worker', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const exits = record(pool, 'workerExit');
      const service = pool.supervise(new Exit(4), { restart: { ...fast, maxRestarts: 2 } });
      const error = await failure(service.done);
      assert.equal(error.code, ErrorCode.CRASH_LOOP);
      assert.equal((error.cause as { code?: string; exitCode?: number }).code, ErrorCode.WORKER_CRASHED);
      assert.equal((error.cause as { exitCode?: number }).exitCode, 4);
      assert.equal(exits.length, 3, 'each run killed its worker and a fresh one took over');
    });
  });

  it('a clean return ends a replica for good; replicas run side by side', async () => {
    await withPool({ size: 2 }, async (pool) => {
      const restarts = record(pool, 'restart');
      const service = pool.supervise(new Echo('once'), { replicas: 3 });
      await service.done;
      assert.equal(service.restarts, 0);
      assert.equal(restarts.length, 0);
      assert.equal(pool.stats().tasks.done, 3);
    });
  });

  it('long-running replicas keep a worker each and stop cleanly when the pool closes', async () => {
    await withPool({ size: 2 }, async (pool) => {
      const service = pool.supervise(new Listen(), { replicas: 2 });
      await eventually(() => pool.stats().tasks.running === 2);
      const stats = pool.stats();
      assert.deepEqual(
        stats.workers.map((worker) => worker.inflight),
        [1, 1],
        'one replica per worker',
      );
      await pool.close({ graceMs: 2_000 });
      await service.done;
      assert.equal(service.restarts, 0);
    });
  });
});
