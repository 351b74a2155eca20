import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCode, Pool } from '../src/index.js';
import { Echo, Inc, Listen } from './fixtures/tasks.js';
import { eventually, failure, record } from './helpers.js';

const FIXTURE_APP = new URL('./fixtures/app.ts', import.meta.url);
const FAILING_APP = new URL('./fixtures/failing-app.ts', import.meta.url);

function lifecycleLog(): { file: string; lines: () => string[] } {
  const file = join(mkdtempSync(join(tmpdir(), 'multitask-app-')), 'lifecycle.log');
  process.env.FIXTURE_LOG_FILE = file;
  return {
    file,
    lines: () => {
      try {
        return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
  };
}

describe('the app', () => {
  it('sets up once per worker before its first task, and tears down when the worker stops', async () => {
    const log = lifecycleLog();
    const pool = new Pool({ app: FIXTURE_APP, size: 2 });
    const online = record(pool, 'workerOnline');
    await eventually(() => online.length === 2);
    const results = (await Promise.all(
      Array.from({ length: 200 }, (_, i) => pool.run(new Echo(i))),
    )) as Array<{
      boots: number;
      threadId: number;
    }>;
    assert.ok(
      results.every((result) => result.boots === 1),
      'setup ran exactly once in each worker',
    );
    await pool.close();
    const lines = log.lines();
    const setups = lines.filter((line) => line.startsWith('setup'));
    const teardowns = lines.filter((line) => line.startsWith('teardown hello'));
    assert.equal(setups.length, 2);
    assert.equal(
      teardowns.length,
      2,
      `teardown got what setup returned, in each worker: ${lines.join(' | ')}`,
    );
    const threads = new Set(results.map((result) => result.threadId));
    for (const thread of threads) assert.ok(setups.includes(`setup ${thread}`));
  });

  it('the main thread only imports the app: setup never runs there', async () => {
    const log = lifecycleLog();
    const pool = new Pool({ app: FIXTURE_APP, size: 1 });
    await pool.ready;
    await pool.run(new Inc(1));
    await pool.close();
    assert.ok(!log.lines().includes('setup 0'), 'no setup in thread 0');
  });

  it('a failing setup rejects calls with ERR_APP_SETUP_FAILED carrying the app message and stack', async () => {
    const pool = new Pool({
      app: FAILING_APP,
      size: 1,
      restart: { initialDelayMs: 10, maxDelayMs: 20, maxRestarts: 3 },
    });
    const error = await failure(pool.run(new Inc(1)));
    assert.equal(error.code, ErrorCode.APP_SETUP_FAILED);
    assert.match(error.message, /database unreachable at db:5432/);
    assert.match(error.stack ?? '', /failing-app\.ts/);
    assert.equal((error.cause as Error).message, 'database unreachable at db:5432');
    await pool.close();
  });

  it('a setup that keeps failing counts toward the crash-loop limit: the pool gives up instead of respawning forever', async () => {
    const pool = new Pool({
      app: FAILING_APP,
      size: 2,
      restart: { initialDelayMs: 5, maxDelayMs: 20, maxRestarts: 4, windowMs: 60_000 },
    });
    const exits = record(pool, 'workerExit');
    const crashLoop = new Promise<{ error: Error & { code?: string; cause?: unknown } }>((resolve) =>
      pool.once('crashLoop', resolve),
    );
    const service = pool.supervise(new Listen());
    const { error } = await crashLoop;
    assert.equal(error.code, ErrorCode.CRASH_LOOP);
    assert.equal((error.cause as { code?: string }).code, ErrorCode.APP_SETUP_FAILED);
    const serviceError = await failure(service.done);
    assert.equal(serviceError.code, ErrorCode.CRASH_LOOP);
    assert.equal((serviceError.cause as { code?: string }).code, ErrorCode.APP_SETUP_FAILED);
    assert.equal(pool.stats().state, 'broken');
    const after = await failure(pool.run(new Inc(1)));
    assert.equal(after.code, ErrorCode.APP_SETUP_FAILED, 'new calls are refused with the cause');
    await eventually(() => pool.stats().workers.length === 0);
    const exitsAtGiveUp = exits.length;
    assert.ok(exitsAtGiveUp <= 4 + 2, `at most maxRestarts + size boots, saw ${exitsAtGiveUp}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(exits.length, exitsAtGiveUp, 'no respawn after giving up');
    await pool.close();
  });
});
