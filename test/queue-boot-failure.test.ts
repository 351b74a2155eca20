/**
 * Workers that die before their app is up are the pool's fault, not the job's: the jobs they
 * were handed go back to the queue uncounted, and a pool that gives up stops consuming.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCode, openQueue, Pool } from '../src/index.js';
import { Record } from './fixtures/queue-tasks.js';
import { eventually } from './helpers.js';
import { QUEUE_APP, runLines, tempDir } from './queue-helpers.js';

const BOOT_CRASH_APP = new URL('./fixtures/boot-crash-app.ts', import.meta.url);

describe('workers that cannot boot', () => {
  it('give their jobs back without spending an attempt, and the pool that gives up stops consuming', async () => {
    const dir = tempDir();
    const url = `sqlite:${join(dir, 'q.db')}`;
    const file = join(dir, 'runs');
    const queue = await openQueue(url, { app: QUEUE_APP, retry: { initialDelayMs: 20, maxDelayMs: 50 } });
    await queue.dispatch(new Record(file, 'job'), { queue: 'boot', attempts: 1 });

    const broken = new Pool({
      app: BOOT_CRASH_APP,
      size: 1,
      restart: { initialDelayMs: 10, maxDelayMs: 20, maxRestarts: 3, windowMs: 60_000 },
    });
    const crashLoops: Array<{ error: { code: string; cause?: unknown } }> = [];
    broken.on('crashLoop', (event) => crashLoops.push(event));
    const consumer = broken.consume(queue, { queue: 'boot' });
    const outcomes: string[] = [];
    consumer.on('settled', (job) => outcomes.push(`${job.outcome} ${job.error?.code}`));
    let stoppedByItself = false;
    consumer.on('stopped', () => {
      stoppedByItself = true;
    });
    await eventually(() => crashLoops.length > 0);
    await eventually(() => stoppedByItself);
    await consumer.stop();
    await broken.close();
    assert.equal(crashLoops[0]!.error.code, ErrorCode.CRASH_LOOP);
    assert.equal((crashLoops[0]!.error.cause as { code?: string }).code, ErrorCode.APP_SETUP_FAILED);
    assert.ok(outcomes.length > 0, 'the job reached the broken pool');
    for (const outcome of outcomes) assert.equal(outcome, `released ${ErrorCode.APP_SETUP_FAILED}`);
    const stats = await queue.stats('boot');
    assert.equal(stats.ready + stats.delayed, 1, 'the job is back in the queue (after a short pause)');
    assert.equal(stats.failed, 0);

    // A healthy instance then runs it as its first attempt, although it allowed only one.
    const healthy = new Pool({ app: QUEUE_APP, size: 1 });
    const running = healthy.consume(queue, { queue: 'boot' });
    await eventually(() => runLines(file).length === 1);
    await running.stop();
    await healthy.close();
    assert.deepEqual(
      runLines(file).map((line) => [line.tag, line.attempt]),
      [['job', 1]],
    );
    assert.equal((await queue.stats('boot')).failed, 0);
    await queue.close();
  });
});
