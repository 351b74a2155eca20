/**
 * How a pool reports the ends of its workers and services: clean stops, crash loops, and a
 * close that meets a replica waiting to restart.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ErrorCode, Pool } from '../src/index.js';
import { AlwaysFail, Inc, Spin } from './fixtures/tasks.js';
import { allOnline, eventually, FIXTURE_APP, failure, nextEvent, record, withPool } from './helpers.js';

const FAILING_APP = new URL('./fixtures/failing-app.ts', import.meta.url);

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

describe('worker exits', () => {
  it('a worker the pool stops cleanly reports exit code 0, one it has to terminate does not', async () => {
    const pool = new Pool({ app: FIXTURE_APP, size: 2 });
    await allOnline(pool);
    const exits = record(pool, 'workerExit');
    await pool.resize(1);
    assert.deepEqual(
      exits.map((exit) => [exit.reason, exit.exitCode]),
      [['retire', 0]],
      'a retired worker tore its app down and stopped',
    );
    const spinning = failure(pool.run(new Spin()));
    await eventually(() => pool.stats().workers[0]?.state === 'busy');
    await pool.close({ graceMs: 100 });
    assert.equal((await spinning).code, ErrorCode.POOL_CLOSED);
    assert.deepEqual(exits[1] && [exits[1].reason, exits[1].exitCode], ['close', 1], 'ended past its grace');
  });

  it('a pool closed while idle reports every worker stopped with exit code 0', async () => {
    const pool = new Pool({ app: FIXTURE_APP, size: 2 });
    await pool.run(new Inc(1));
    await allOnline(pool);
    const exits = record(pool, 'workerExit');
    await pool.close();
    assert.deepEqual(
      exits.map((exit) => [exit.reason, exit.exitCode]),
      [
        ['close', 0],
        ['close', 0],
      ],
    );
  });
});

describe('crash loops', () => {
  it("the pool's crash loop says its cause once, also as a logger prints it with its causes", async () => {
    const pool = new Pool({
      app: FAILING_APP,
      size: 1,
      restart: { initialDelayMs: 5, maxDelayMs: 10, maxRestarts: 2, windowMs: 60_000 },
    });
    try {
      const { error } = await nextEvent(pool, 'crashLoop');
      assert.equal(error.code, ErrorCode.CRASH_LOOP);
      assert.equal((error.cause as { code?: string }).code, ErrorCode.APP_SETUP_FAILED);
      assert.match(
        error.message,
        /^Workers failed to start more than 2 times in 60000 ms; the pool gives up/,
      );
      // pino (the CLI's logger) appends each cause's message to the error's own.
      const logged = pino.stdSerializers.err(error).message;
      assert.equal(occurrences(logged, 'App setup failed'), 1, logged);
    } finally {
      await pool.close();
    }
  });
});

describe('closing a pool with supervised services', () => {
  it('ends a replica waiting on its restart backoff at once, with ERR_POOL_CLOSED carrying the last failure', {
    timeout: 20_000,
  }, async () => {
    await withPool({ size: 1 }, async (pool) => {
      const slow = { initialDelayMs: 60_000, maxDelayMs: 60_000, maxRestarts: 5, windowMs: 60_000 };
      const restarting = nextEvent(pool, 'restart');
      const service = pool.supervise(new AlwaysFail(), { restart: slow });
      await restarting;
      assert.equal(service.running, 1, 'the replica waits on its backoff');
      await pool.close();
      // Before the fix `done` waited out the 30-60 s backoff: the test's timeout catches that.
      const error = await failure(service.done);
      assert.equal(error.code, ErrorCode.POOL_CLOSED);
      assert.equal((error.cause as { code?: string }).code, ErrorCode.TASK_FAILED);
      assert.match(error.message, /AlwaysFail \(replica 1\) waited to restart/);
      assert.equal(service.running, 0);
    });
  });
});
