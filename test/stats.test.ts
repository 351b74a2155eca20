import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../src/index.js';
import { Exit, Fail, Inc, Sleep } from './fixtures/tasks.js';
import { allOnline, eventually, failure, record, runScript, withPool } from './helpers.js';

describe('stats and events', () => {
  it('stats() reports workers, states, counts, queue length and timings', async () => {
    await withPool({ size: 2 }, async (pool) => {
      const initial = pool.stats();
      assert.equal(initial.size, 2);
      assert.equal(initial.state, 'running');
      assert.ok(initial.workers.every((worker) => worker.state === 'starting'));
      await allOnline(pool);
      await Promise.all(Array.from({ length: 100 }, (_, i) => pool.run(new Inc(i))));
      await failure(pool.run(new Fail('x')));
      const blocking = [pool.run(new Sleep(500)), pool.run(new Sleep(500))];
      await eventually(() => pool.stats().workers.every((worker) => worker.state === 'busy'));
      assert.equal(pool.stats().tasks.running, 2);
      const queued = pool.run(new Inc(0));
      await Promise.all([...blocking, queued]);
      const stats = pool.stats();
      assert.equal(stats.tasks.done, 103);
      assert.equal(stats.tasks.failed, 1);
      assert.equal(stats.queueLength, 0);
      assert.equal(
        stats.workers.reduce((sum, worker) => sum + worker.tasksDone, 0),
        103,
      );
      assert.equal(
        stats.workers.reduce((sum, worker) => sum + worker.tasksFailed, 0),
        1,
      );
      assert.ok(stats.workers.every((worker) => worker.state === 'idle'));
      assert.equal(stats.runTime.samples, 104);
      assert.ok(stats.runTime.max >= 490, `the 500 ms sleeps show in the run times: ${stats.runTime.max}`);
      assert.ok(stats.runTime.p50 <= stats.runTime.p90 && stats.runTime.p90 <= stats.runTime.p99);
      assert.ok(stats.waitTime.samples > 0);
      assert.ok(stats.waitTime.max >= 200, `the queued call waited behind the sleeps: ${stats.waitTime.max}`);
    });
  });

  it('queueLength counts calls waiting for a worker', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const blocking = pool.run(new Sleep(300));
      const queued = [pool.run(new Inc(1)), pool.run(new Inc(2))];
      await eventually(() => pool.stats().workers[0]?.state === 'busy');
      // A fresh worker has no run times yet, so nothing is prefetched: both calls wait in the pool.
      assert.equal(pool.stats().queueLength, 2);
      await Promise.all([blocking, ...queued]);
      assert.equal(pool.stats().queueLength, 0);
    });
  });

  it('emits workerOnline, workerExit and taskFailed with their details', async () => {
    await withPool({ size: 1 }, async (pool) => {
      const online = record(pool, 'workerOnline');
      const exits = record(pool, 'workerExit');
      const failures = record(pool, 'taskFailed');
      await failure(pool.run(new Fail('bad input')));
      await failure(pool.run(new Exit(5)));
      await pool.run(new Inc(1));
      assert.deepEqual(
        online.map((event) => event.workerId),
        [1, 2],
      );
      assert.equal(exits.length, 1);
      assert.equal(exits[0]?.workerId, 1);
      assert.equal(exits[0]?.exitCode, 5);
      assert.equal(exits[0]?.reason, 'crash');
      assert.deepEqual(
        failures.map((event) => [event.taskName, (event.error as { code?: string }).code]),
        [
          ['Fail', ErrorCode.TASK_FAILED],
          ['Exit', ErrorCode.WORKER_CRASHED],
        ],
      );
      assert.equal(pool.stats().restarts, 1);
    });
  });

  it('onIdle() resolves once nothing is queued or running', async () => {
    await withPool({ size: 1 }, async (pool) => {
      let finished = 0;
      for (let i = 0; i < 5; i++) void pool.run(new Sleep(20)).then(() => finished++);
      await pool.onIdle();
      assert.equal(finished, 5);
    });
  });

  it('ctx.log writes pino-style JSON lines naming the worker, the task and the attempt', () => {
    const child = runScript(new URL('./fixtures/log-once.ts', import.meta.url));
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, /logged/);
    const line = child.stderr.split('\n').find((text) => text.includes('hello from a task'));
    assert.ok(line, `a log line on stderr: ${child.stderr}`);
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.equal(entry.level, 30, 'pino level numbers: info is 30');
    assert.equal(entry.msg, 'hello from a task');
    assert.equal(entry.task, 'Chatty');
    assert.equal(entry.workerId, 1);
    assert.equal(entry.attempt, 1);
    assert.equal(entry.answer, 42);
    assert.equal(typeof entry.time, 'number');
  });
});
