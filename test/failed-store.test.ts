// The failed store job by job, on both transports: listing reads without changing anything,
// pages (limit, after) cover every job once and in order, one job found by its id, and retry
// or purge of some ids leaving the others where they are; retry and purge of all still work.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ErrorCode, type FailedJob, openQueue, Pool } from '../src/index.js';
import { FailWhile } from './fixtures/queue-tasks.js';
import { eventually } from './helpers.js';
import {
  AMQP_TEST_URL,
  amqpSkipReason,
  deleteAmqpQueue,
  nextSettled,
  QUEUE_APP,
  runLines,
  tempDir,
  uniqueQueue,
} from './queue-helpers.js';

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

const fixtures = [
  {
    name: 'sqlite',
    skip: undefined,
    url: () => `sqlite:${join(dir, 'failed-store.db')}`,
    cleanup: async (_: string) => {},
  },
  { name: 'amqp', skip: await amqpSkipReason(), url: () => AMQP_TEST_URL, cleanup: deleteAmqpQueue },
];

const isInvalidOption = (name: string) => (error: Error & { code?: string }) =>
  error.code === ErrorCode.INVALID_OPTION && error.message.includes(`"${name}"`);

for (const fixture of fixtures) {
  describe(`failed store by id: ${fixture.name}`, { skip: fixture.skip, timeout: 120_000 }, () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    /**
     * A queue whose failed store holds `count` jobs (ids `job-00`, `job-01`…) of a task that
     * fails while its flag file exists, with one attempt each; no consumer left running.
     */
    async function filled(count: number) {
      const name = uniqueQueue(`failed-${fixture.name}`);
      const queue = await openQueue(fixture.url(), { app: QUEUE_APP });
      const pool = new Pool({ app: QUEUE_APP, size: 2 });
      const log = join(dir, `${name}.log`);
      const flag = join(dir, `${name}.flag`);
      writeFileSync(flag, 'fail');
      cleanups.push(async () => {
        await pool.close();
        await queue.close();
        await fixture.cleanup(name);
      });
      const ids = Array.from({ length: count }, (_, i) => `job-${String(i).padStart(2, '0')}`);
      for (const id of ids)
        await queue.dispatch(new FailWhile(flag, log, id), { queue: name, id, attempts: 1 });
      const consumer = pool.consume(queue, { queue: name });
      await eventually(() => consumer.counts.failed === count, 30_000);
      await consumer.stop();
      await eventually(async () => (await queue.stats(name)).failed === count);
      const consume = () => pool.consume(queue, { queue: name });
      return { name, queue, ids, log, flag, consume };
    }

    const idsOf = (jobs: FailedJob[]) => jobs.map((job) => job.id);

    test('a listing reads without changing: the same bytes twice, the same stats', async () => {
      const { name, queue, ids } = await filled(30);
      const stats = await queue.stats(name);
      const first = JSON.stringify(await queue.failed(name));
      const second = JSON.stringify(await queue.failed(name));
      assert.equal(second, first);
      assert.deepEqual(await queue.stats(name), stats);
      assert.equal(stats.failed, 30);
      assert.deepEqual(idsOf(await queue.failed(name)).sort(), ids);
    });

    test('pages of `limit` after the last id cover every job once, oldest first', async () => {
      const { name, queue } = await filled(30);
      const all = idsOf(await queue.failed(name));
      const pages: string[][] = [];
      let last: string | undefined;
      for (;;) {
        const page = idsOf(await queue.failed(name, { limit: 7, after: last }));
        if (page.length === 0) break;
        pages.push(page);
        last = page.at(-1);
      }
      assert.deepEqual(
        pages.map((page) => page.length),
        [7, 7, 7, 7, 2],
      );
      assert.deepEqual(pages.flat(), all);
      const failedAt = (await queue.failed(name)).map((job) => job.failedAt.getTime());
      assert.deepEqual(
        failedAt,
        [...failedAt].sort((a, b) => a - b),
        'oldest first',
      );
    });

    test('an `after` that no failed job has, or a bad limit, is ERR_INVALID_OPTION', async () => {
      const { name, queue } = await filled(3);
      await assert.rejects(queue.failed(name, { after: 'no-such-job' }), isInvalidOption('after'));
      await assert.rejects(queue.failed(name, { after: 'has space' }), isInvalidOption('after'));
      await assert.rejects(queue.failed(name, { after: 42 as unknown as string }), isInvalidOption('after'));
      await assert.rejects(queue.failed(name, { limit: 0 }), isInvalidOption('limit'));
      await assert.rejects(queue.failed(name, { limit: 1.5 }), isInvalidOption('limit'));
    });

    test('failedJob finds a job by its id; an id not in the store is undefined', async () => {
      const { name, queue } = await filled(5);
      const listed = await queue.failed(name);
      const third = listed[2]!;
      assert.deepEqual(await queue.failedJob(name, third.id), third);
      assert.equal(third.task, 'FailWhile');
      assert.equal(third.attempts, 1);
      assert.match(third.error.message, /flag .* is up/);
      assert.equal(await queue.failedJob(name, 'no-such-job'), undefined);
      await assert.rejects(queue.failedJob(name, ''), isInvalidOption('id'));
    });

    test('retry of one id among many: only it goes back, same id, attempt 1 again', async () => {
      const { name, queue, ids, log, flag, consume } = await filled(10);
      const chosen = ids[4]!;
      rmSync(flag); // it succeeds this time
      assert.equal(await queue.retryFailed(name, { ids: [chosen] }), 1);
      assert.equal(await queue.failedJob(name, chosen), undefined);
      assert.deepEqual(await queue.stats(name), { ready: 1, inFlight: 0, delayed: 0, failed: 9 });
      assert.deepEqual(
        idsOf(await queue.failed(name)).sort(),
        ids.filter((id) => id !== chosen),
      );
      const consumer = consume();
      const completed = await nextSettled(consumer, 'completed');
      assert.equal(completed.id, chosen);
      assert.equal(completed.attempt, 1, 'attempts counted afresh');
      assert.deepEqual(runLines(log).at(-1), { kind: undefined, tag: chosen, attempt: 1, pid: process.pid });
      await consumer.onIdle();
      assert.equal(consumer.counts.completed, 1, 'no other job ran');
      assert.equal((await queue.stats(name)).failed, 9);
    });

    test('purge of one id among many deletes only it; ids not in the store are passed over', async () => {
      const { name, queue, ids } = await filled(10);
      const before = await queue.failed(name);
      assert.equal(await queue.purgeFailed(name, { ids: [ids[7]!, 'no-such-job'] }), 1);
      assert.equal(await queue.failedJob(name, ids[7]!), undefined);
      assert.deepEqual(
        await queue.failed(name),
        before.filter((job) => job.id !== ids[7]),
      );
      assert.deepEqual(await queue.stats(name), { ready: 0, inFlight: 0, delayed: 0, failed: 9 });
      assert.equal(await queue.purgeFailed(name, { ids: [ids[7]!] }), 0);
      assert.equal(await queue.retryFailed(name, { ids: ['no-such-job'] }), 0);
    });

    test('retry of all and purge of all still work', async () => {
      const { name, queue, consume } = await filled(5);
      assert.equal(await queue.retryFailed(name), 5);
      assert.deepEqual(await queue.stats(name), { ready: 5, inFlight: 0, delayed: 0, failed: 0 });
      const consumer = consume(); // the flag is still up: they fail again
      await eventually(() => consumer.counts.failed === 5);
      await consumer.stop();
      await eventually(async () => (await queue.stats(name)).failed === 5);
      assert.equal(await queue.purgeFailed(name), 5);
      assert.deepEqual(await queue.stats(name), { ready: 0, inFlight: 0, delayed: 0, failed: 0 });
      assert.deepEqual(await queue.failed(name), []);
    });

    test('ids must be an array of job ids; an empty one does nothing', async () => {
      const { name, queue } = await filled(3);
      const listing = JSON.stringify(await queue.failed(name));
      for (const act of [
        (options: object) => queue.retryFailed(name, options),
        (options: object) => queue.purgeFailed(name, options),
      ] as Array<(options: object) => Promise<number>>) {
        await assert.rejects(act({ ids: 'job-00' }), isInvalidOption('ids'));
        await assert.rejects(act({ ids: ['job-00', ''] }), isInvalidOption('ids[1]'));
        await assert.rejects(act({ ids: ['has space'] }), isInvalidOption('ids[0]'));
        await assert.rejects(act({ ids: [42] }), isInvalidOption('ids[0]'));
        assert.equal(await act({ ids: [] }), 0);
      }
      assert.equal(JSON.stringify(await queue.failed(name)), listing, 'nothing moved');
    });

    // The rule for rows that share an id is the SQLite transport's (src/queue/transports/sqlite-failed.ts).
    if (fixture.name === 'sqlite')
      test('two failed jobs with one id: listed once (the latest), retried together', async () => {
        const { name, queue, log, flag, consume } = await filled(1);
        for (const tag of ['first', 'second'])
          await queue.dispatch(new FailWhile(flag, log, tag), { queue: name, id: 'twin', attempts: 1 });
        const consumer = consume();
        await eventually(() => consumer.counts.failed === 2);
        await consumer.stop();
        assert.equal((await queue.stats(name)).failed, 3, 'three rows');
        const twins = (await queue.failed(name)).filter((job) => job.id === 'twin');
        assert.equal(twins.length, 1, 'one entry per id');
        assert.deepEqual(await queue.failedJob(name, 'twin'), twins[0]);
        assert.deepEqual(
          (await queue.failed(name, { after: 'job-00' })).map((job) => job.id),
          ['twin'],
        );
        assert.equal(await queue.retryFailed(name, { ids: ['twin'] }), 1, 'the id once');
        assert.deepEqual(await queue.stats(name), { ready: 2, inFlight: 0, delayed: 0, failed: 1 });
      });

    test('a message whose body carries an id is found by that id, the one its events name', async () => {
      const { name, queue, log, flag, consume } = await filled(1);
      const body = JSON.stringify({
        v: 1,
        id: 'from-a-bridge',
        task: 'FailWhile',
        fields: { flag, file: log, tag: 'bridged' },
        attempts: 1,
      });
      await queue.dispatchMessage(name, body);
      const consumer = consume();
      const settled = await nextSettled(consumer, 'failed');
      await consumer.stop();
      assert.equal(settled.id, 'from-a-bridge');
      assert.equal((await queue.failedJob(name, 'from-a-bridge'))?.body, body);
      assert.ok(idsOf(await queue.failed(name)).includes('from-a-bridge'));
      assert.equal(await queue.retryFailed(name, { ids: ['from-a-bridge'] }), 1);
      assert.equal((await queue.stats(name)).failed, 1, 'only it moved');
    });
  });
}
