import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Born, Inc, Sleep, Spin } from './fixtures/tasks.js';
import { failure, nextEvent, record, withPool } from './helpers.js';

describe('abort signals', () => {
  it('an already aborted signal rejects at once with AbortError', async () => {
    await withPool({}, async (pool) => {
      const error = await failure(pool.run(new Inc(1), { signal: AbortSignal.abort() }));
      assert.equal(error.name, 'AbortError');
      assert.equal(error.code, 'ABORT_ERR');
    });
  });

  it('aborting a queued call removes it: it never runs, and the others do', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const blocker = pool.run(new Sleep(300));
      const controller = new AbortController();
      const queued = failure(pool.run(new Born(), { signal: controller.signal }));
      const after = pool.run(new Inc(1));
      controller.abort();
      assert.equal((await queued).name, 'AbortError');
      assert.equal(await blocker, 'slept');
      assert.equal(await after, 2);
      const stats = pool.stats();
      assert.equal(stats.tasks.done, 2, 'the aborted call never ran');
      assert.equal(stats.queueLength, 0);
    });
  });

  it("aborting a running call aborts the task's signal; a cooperative task keeps its worker", async () => {
    await withPool({ size: 1 }, async (pool) => {
      const exits = record(pool, 'workerExit');
      const controller = new AbortController();
      const running = failure(pool.run(new Sleep(60_000), { signal: controller.signal }));
      await nextEvent(pool, 'workerOnline');
      await new Promise((resolve) => setTimeout(resolve, 50));
      controller.abort(new Error('user cancelled'));
      const error = await running;
      assert.equal(error.name, 'AbortError');
      assert.equal((error.cause as Error).message, 'user cancelled');
      assert.equal(await pool.run(new Inc(1)), 2);
      assert.equal(exits.length, 0, 'the worker stayed');
    });
  });

  it('aborting a task that ignores its signal (a synchronous loop) terminates its thread', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const controller = new AbortController();
      const running = failure(pool.run(new Spin(), { signal: controller.signal }));
      await nextEvent(pool, 'workerOnline');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const exited = nextEvent(pool, 'workerExit');
      controller.abort();
      assert.equal((await running).name, 'AbortError');
      assert.equal((await exited).reason, 'abort');
      assert.equal(await pool.run(new Inc(1)), 2, 'a replacement runs the next call');
    });
  });
});
