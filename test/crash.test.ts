import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../src/index.js';
import { Exit, Hog, Inc, Sleep, ThrowUncaught } from './fixtures/tasks.js';
import { failure, nextEvent, record, withPool } from './helpers.js';

describe('worker crashes', () => {
  it('process.exit in a task rejects with ERR_WORKER_CRASHED and the exit code; a new worker replaces it', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const exits = record(pool, 'workerExit');
      const error = await pool
        .run(new Exit(7))
        .catch((e: unknown) => e as Error & { code: string; exitCode: number });
      assert.equal(error.code, ErrorCode.WORKER_CRASHED);
      assert.equal(error.exitCode, 7);
      assert.match(error.message, /exit code 7/);
      assert.equal(await pool.run(new Inc(1)), 2, 'the replacement runs the next call');
      assert.equal(exits.length, 1);
      assert.equal(exits[0]?.reason, 'crash');
      assert.equal(pool.stats().workerRestarts, 1);
    });
  });

  it('an uncaught error in a task kills its worker: ERR_WORKER_CRASHED with the error as cause', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const error = await failure(pool.run(new ThrowUncaught()));
      assert.equal(error.code, ErrorCode.WORKER_CRASHED);
      assert.equal((error.cause as Error).name, 'RangeError');
      assert.match(error.message, /uncaught RangeError: uncaught in a timer/);
      assert.equal(await pool.run(new Inc(1)), 2);
    });
  });

  it('running out of memory under resourceLimits rejects with ERR_WORKER_OOM', async () => {
    await withPool({ size: 1, resourceLimits: { maxOldGenerationSizeMb: 32 } }, async (pool) => {
      const error = await failure(pool.run(new Hog()));
      assert.equal(error.code, ErrorCode.WORKER_OOM);
      assert.equal(await pool.run(new Inc(1)), 2);
    });
  });

  it('calls queued behind a crash carry on in the replacement; only the culprit fails', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const before = [pool.run(new Inc(1)), pool.run(new Inc(2))];
      const crash = failure(pool.run(new Exit(3)));
      const after = Array.from({ length: 50 }, (_, i) => pool.run(new Inc(i)));
      assert.deepEqual(
        await Promise.all(before),
        [2, 3],
        'finished calls batched with the culprit are not failed',
      );
      assert.equal((await crash).code, ErrorCode.WORKER_CRASHED);
      assert.deepEqual(
        await Promise.all(after),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
    });
  });

  it('a crash in one async task fails only the tasks that were running in that worker', async () => {
    await withPool({ size: 1, concurrency: 4 }, async (pool) => {
      const sleeper = failure(pool.run(new Sleep(10_000)));
      await nextEvent(pool, 'workerOnline');
      await assert.rejects(pool.run(new Exit(9)), { code: ErrorCode.WORKER_CRASHED, exitCode: 9 });
      assert.equal((await sleeper).code, ErrorCode.WORKER_CRASHED);
      assert.equal(await pool.run(new Inc(5)), 6);
    });
  });
});
