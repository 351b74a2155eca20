import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, MultitaskError } from '../src/index.js';
import { BadResult, Echo, Fail, Fib, Inc, Sleep } from './fixtures/tasks.js';
import { eventually, record, withPool } from './helpers.js';

describe('pool.run', () => {
  it('resolves with the task result, many calls at once spread over the workers', async () => {
    await withPool({ size: 2 }, async (pool) => {
      const online = record(pool, 'workerOnline');
      await eventually(() => online.length === 2);
      const results = await Promise.all(Array.from({ length: 5_000 }, (_, i) => pool.run(new Inc(i))));
      assert.deepEqual(
        results,
        Array.from({ length: 5_000 }, (_, i) => i + 1),
      );
      const stats = pool.stats();
      assert.equal(stats.tasks.done, 5_000);
      assert.equal(stats.workers.length, 2);
      assert.ok(
        stats.workers.every((worker) => worker.tasksDone > 0),
        'both workers took work',
      );
    });
  });

  it("rejects with ERR_TASK_FAILED carrying the task's own name, message, stack, code and cause", async () => {
    await withPool({}, async (pool) => {
      const error = await pool.run(new Fail('the disk is full')).catch((e: unknown) => e);
      assert.ok(error instanceof MultitaskError);
      assert.equal(error.code, ErrorCode.TASK_FAILED);
      assert.equal(error.message, 'the disk is full');
      assert.equal(error.taskName, 'Fail');
      assert.match(error.stack ?? '', /TypeError: the disk is full/);
      assert.match(error.stack ?? '', /fixtures[\\/]tasks\.ts/, 'the stack points into the task');
      const original = error.cause as Error & { code?: string; cause?: Error };
      assert.equal(original.name, 'TypeError');
      assert.equal(original.message, 'the disk is full');
      assert.equal(original.code, 'E_FIXTURE');
      assert.equal(original.cause?.message, 'root cause');
      // A failure does not cost the worker: the next call runs on it.
      assert.equal(await pool.run(new Inc(1)), 2);
      assert.equal(pool.stats().workerRestarts, 0);
    });
  });

  it('passes async results and ctx.app from setup', async () => {
    await withPool({}, async (pool) => {
      // The result type follows the task's: this line is checked by `npm run typecheck`.
      const typed: string = await pool.run(new Sleep(1));
      assert.equal(typed, 'slept');
      assert.equal(await pool.run(new Sleep(5)), 'slept');
      const echoed = (await pool.run(new Echo('x'))) as { greeting: string; attempt: number };
      assert.equal(echoed.greeting, 'hello');
      assert.equal(echoed.attempt, 1);
    });
  });

  it('rejects a result that cannot be sent back with ERR_RESULT_NOT_CLONEABLE, and carries on', async () => {
    await withPool({}, async (pool) => {
      const calls = [pool.run(new Inc(1)), pool.run(new BadResult()), pool.run(new Inc(2))];
      const [a, bad, b] = await Promise.allSettled(calls);
      assert.deepEqual(a, { status: 'fulfilled', value: 2 });
      assert.deepEqual(b, { status: 'fulfilled', value: 3 });
      assert.equal(bad?.status, 'rejected');
      assert.equal((bad as PromiseRejectedResult).reason.code, ErrorCode.RESULT_NOT_CLONEABLE);
    });
  });

  it('transfers an ArrayBuffer instead of copying it when asked', async () => {
    await withPool({}, async (pool) => {
      const bytes = new Uint8Array([1, 2, 3]);
      const result = (await pool.run(new Echo(bytes), { transfer: [bytes.buffer] })) as { value: Uint8Array };
      assert.equal(bytes.byteLength, 0, 'the buffer was moved to the worker');
      assert.deepEqual([...result.value], [1, 2, 3]);
    });
  });

  it('a call prefetched behind a long task moves to a worker that falls idle', async () => {
    await withPool({ size: 1 }, async (pool) => {
      await Promise.all(Array.from({ length: 50 }, (_, i) => pool.run(new Inc(i))));
      const order: string[] = [];
      const long = pool.run(new Sleep(1_500)).then(() => order.push('long'));
      const short = pool.run(new Inc(1)).then(() => order.push('short'));
      await eventually(() => pool.stats().workers[0]?.inflight === 2);
      await pool.resize(2);
      await Promise.all([long, short]);
      assert.deepEqual(order, ['short', 'long'], 'the short call did not wait for the long one');
    });
  });

  it('runs CPU work on every worker at once', async () => {
    await withPool({ size: 2 }, async (pool) => {
      const online = record(pool, 'workerOnline');
      await eventually(() => online.length === 2);
      const results = await Promise.all(Array.from({ length: 20 }, () => pool.run(new Fib(25))));
      assert.ok(results.every((value) => value === 75_025));
      assert.ok(pool.stats().workers.every((worker) => worker.tasksDone > 0));
    });
  });
});
