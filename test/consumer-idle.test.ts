// Waiting for work to finish: `settled` fires once counts and the failed store show the job,
// `consumer.onIdle()` resolves when the consumer holds nothing and the queue has nothing ready
// (never while a job runs), and `drained` fires then; on both transports.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openQueue, Pool, type SettledJob } from '../src/index.js';
import { FailTimes, Nap, Record } from './fixtures/queue-tasks.js';
import {
  AMQP_TEST_URL,
  amqpSkipReason,
  deleteAmqpQueue,
  QUEUE_APP,
  runLines,
  tempDir,
  uniqueQueue,
} from './queue-helpers.js';

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

const fixtures = [
  { name: 'sqlite', skip: undefined, url: () => `sqlite:${join(dir, 'idle.db')}`, cleanup: async () => {} },
  { name: 'amqp', skip: await amqpSkipReason(), url: () => AMQP_TEST_URL, cleanup: deleteAmqpQueue },
];

for (const fixture of fixtures) {
  describe(`waiting for work: ${fixture.name}`, { skip: fixture.skip, timeout: 60_000 }, () => {
    const opened: Array<() => Promise<void>> = [];
    after(async () => {
      for (const close of opened.reverse()) await close();
    });

    async function setup(size = 2) {
      const name = uniqueQueue(`idle-${fixture.name}`);
      const queue = await openQueue(fixture.url(), {
        app: QUEUE_APP,
        retry: { initialDelayMs: 20, maxDelayMs: 50 },
      });
      const pool = new Pool({ app: QUEUE_APP, size });
      opened.push(async () => {
        await pool.close({ graceMs: 0 });
        await queue.close();
        await fixture.cleanup(name);
      });
      const log = join(dir, `${name}.log`);
      return { name, queue, pool, log };
    }

    test('settled fires after counts and the failed store reflect the outcome', async () => {
      const { name, queue, pool, log } = await setup();
      const total = 8;
      for (let i = 0; i < total - 2; i++) await queue.dispatch(new Record(log, `ok${i}`), { queue: name });
      // Two that fail for good after one attempt, one of them after a retry first.
      await queue.dispatch(new FailTimes(9, log, 'fail1'), { queue: name, attempts: 1 });
      await queue.dispatch(new FailTimes(9, log, 'fail2'), { queue: name, attempts: 2 });
      const consumer = pool.consume(queue, { queue: name });
      const seen: Array<{ settled: SettledJob; completed: number; failed: number; retried: number }> = [];
      const storeChecks: Array<Promise<boolean>> = [];
      const allDone = new Promise<void>((resolve) => {
        consumer.on('settled', (settled) => {
          seen.push({ settled, ...consumer.counts });
          if (settled.outcome === 'failed') {
            // Asked from inside the listener: the failed store must already hold this job. One
            // listing at a time: on RabbitMQ a listing holds the messages it reads until it ends,
            // so two at once would hide each other's jobs.
            const previous = storeChecks.at(-1) ?? Promise.resolve(true);
            storeChecks.push(
              previous
                .then(() => queue.failed(name))
                .then((jobs) => jobs.some((job) => job.id === settled.id)),
            );
          }
          // The user's pattern from the issue: resolve when completed + failed reaches N.
          if (consumer.counts.completed + consumer.counts.failed === total) resolve();
        });
      });
      await allDone;
      const byOutcome = (outcome: SettledJob['outcome']) => seen.filter((s) => s.settled.outcome === outcome);
      assert.equal(byOutcome('completed').length, total - 2);
      assert.equal(byOutcome('failed').length, 2);
      assert.equal(byOutcome('retried').length, 1);
      // Each event saw its own outcome counted: the k-th completed event saw completed >= k.
      for (const outcome of ['completed', 'failed', 'retried'] as const) {
        byOutcome(outcome).forEach((entry, k) => {
          assert.ok(entry[outcome] >= k + 1, `${outcome} event ${k + 1} saw ${outcome} = ${entry[outcome]}`);
        });
      }
      assert.deepEqual(await Promise.all(storeChecks), [true, true]);
    });

    test('onIdle resolves once every job is done, not while one runs; drained fires with it', async () => {
      const { name, queue, pool, log } = await setup(1);
      for (let i = 0; i < 3; i++) await queue.dispatch(new Nap(300, log, `nap${i}`), { queue: name });
      const consumer = pool.consume(queue, { queue: name });
      let idle = false;
      const drained = once(consumer, 'drained');
      const idleAt = consumer.onIdle().then(() => {
        idle = true;
        return { ...consumer.counts };
      });
      const idleWhileRunning: boolean[] = [];
      consumer.on('settled', () => idleWhileRunning.push(idle));
      const counts = await idleAt;
      await drained;
      assert.equal(counts.completed, 3, 'every job done when onIdle resolved');
      assert.equal(counts.inFlight, 0);
      assert.deepEqual(idleWhileRunning, [false, false, false], 'not idle while any job was held');
      assert.equal(runLines(log).filter((line) => line.kind === 'end').length, 3);
      assert.equal((await queue.stats(name)).ready, 0);

      // Idle again: resolves at once-ish, and a new job makes it wait for that job.
      await consumer.onIdle();
      await queue.dispatch(new Nap(200, log, 'late'), { queue: name });
      await once(consumer, 'settled');
      await consumer.onIdle();
      assert.equal(consumer.counts.completed, 4);
    });

    test('onIdle on a consumer of an empty queue resolves; on a stopped one, at once', async () => {
      const { name, queue, pool } = await setup(1);
      const consumer = pool.consume(queue, { queue: name });
      const drained = once(consumer, 'drained');
      await consumer.onIdle();
      await drained;
      assert.equal(consumer.counts.inFlight, 0);
      await consumer.stop();
      await consumer.onIdle();
    });
  });
}
