import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../src/index.js';
import { Inc, Sleep, Spin } from './fixtures/tasks.js';
import { failure, record, withPool } from './helpers.js';

describe('timeouts', () => {
  it('terminate a synchronous infinite loop for real, reject with ERR_TASK_TIMEOUT, and replace the worker', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const exits = record(pool, 'workerExit');
      const online = record(pool, 'workerOnline');
      const spinning = failure(pool.run(new Spin(), { timeoutMs: 200 }));
      const queued = Array.from({ length: 20 }, (_, i) => pool.run(new Inc(i)));
      const error = await spinning;
      assert.equal(error.code, ErrorCode.TASK_TIMEOUT);
      assert.equal(error.taskName, 'Spin');
      assert.match(error.message, /timeout of 200 ms/);
      assert.deepEqual(
        await Promise.all(queued),
        Array.from({ length: 20 }, (_, i) => i + 1),
        'queued calls carry on',
      );
      assert.equal(exits.length, 1);
      assert.equal(exits[0]?.reason, 'timeout');
      assert.equal(online.length, 2, 'a replacement worker came online');
      assert.equal(pool.stats().workers.length, 1);
    });
  });

  it('do not touch a call that finishes in time', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const exits = record(pool, 'workerExit');
      assert.equal(await pool.run(new Sleep(10), { timeoutMs: 5_000 }), 'slept');
      assert.equal(await pool.run(new Inc(1), { timeoutMs: 5_000 }), 2);
      assert.equal(exits.length, 0);
    });
  });

  it('withdraw a call that timed out while waiting behind a long task, without killing that task', async () => {
    await withPool({ size: 1 }, async (pool) => {
      await Promise.all(Array.from({ length: 50 }, (_, i) => pool.run(new Inc(i))));
      const exits = record(pool, 'workerExit');
      const long = pool.run(new Sleep(800));
      const waiting = failure(pool.run(new Inc(1), { timeoutMs: 100 }));
      assert.equal((await waiting).code, ErrorCode.TASK_TIMEOUT);
      assert.equal(await long, 'slept', 'the task ahead was left alone');
      assert.equal(exits.length, 0, 'no thread was terminated');
      assert.equal(await pool.run(new Inc(2)), 3);
      assert.equal(pool.stats().tasks.done, 52, 'the withdrawn call never ran');
    });
  });

  it('fail the other tasks running in the same thread with ERR_WORKER_CRASHED, naming the culprit', async () => {
    await withPool({ size: 1, concurrency: 2 }, async (pool) => {
      const sleeper = failure(pool.run(new Sleep(60_000)));
      const hung = failure(pool.run(new Sleep(60_000), { timeoutMs: 300 }));
      assert.equal((await hung).code, ErrorCode.TASK_TIMEOUT);
      const other = await sleeper;
      assert.equal(other.code, ErrorCode.WORKER_CRASHED);
      assert.match(other.message, /Sleep sharing it timed out/);
    });
  });
});
