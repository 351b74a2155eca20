/**
 * Shrinking a consuming pool: a job whose worker is retired under it, past the grace, is given
 * back to the queue as unfinished, not counted as a failed attempt.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openQueue, Pool } from '../src/index.js';
import { Nap } from './fixtures/queue-tasks.js';
import { eventually } from './helpers.js';
import { QUEUE_APP, runLines, tempDir } from './queue-helpers.js';

describe('shrinking a consuming pool', () => {
  it('gives back the jobs of retired workers uncounted, and they run again to the end', async () => {
    const dir = tempDir();
    const file = join(dir, 'runs');
    const queue = await openQueue(`sqlite:${join(dir, 'q.db')}`, { app: QUEUE_APP });
    // One attempt each: a shrink that counted as a failure would send them to the failed store.
    for (let i = 0; i < 2; i++)
      await queue.dispatch(new Nap(1_500, file, `n${i}`), { queue: 's', attempts: 1 });
    const pool = new Pool({ app: QUEUE_APP, size: 2, graceMs: 100 });
    const consumer = pool.consume(queue, { queue: 's' });
    const outcomes: string[] = [];
    consumer.on('settled', (job) => outcomes.push(job.outcome));
    try {
      await eventually(() => runLines(file).filter((line) => line.kind === 'start').length === 2);
      await pool.resize(1);
      await eventually(() => runLines(file).filter((line) => line.kind === 'end').length === 2, 20_000);
      // `settled` comes once the queue has the outcome, a moment after the task's end.
      await eventually(() => outcomes.filter((outcome) => outcome === 'completed').length >= 2, 5_000);
      assert.ok(outcomes.includes('released'), `the cut job was given back: ${outcomes}`);
      assert.deepEqual(
        outcomes.filter((outcome) => outcome !== 'released'),
        ['completed', 'completed'],
      );
      const reruns = runLines(file).filter((line) => line.kind === 'start' && line.attempt !== 1);
      assert.deepEqual(reruns, [], 'given back uncounted: every run is attempt 1');
      assert.equal((await queue.stats('s')).failed, 0);
    } finally {
      await consumer.stop();
      await pool.close();
      await queue.close();
    }
  });
});
