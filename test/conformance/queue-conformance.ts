/**
 * The queue's semantics, one suite for every transport (as BullMQ's adapter-conformance test):
 * each transport's test file calls {@link queueConformance} with how to open its queue.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ErrorCode, type OpenQueueOptions, Pool, type Queue } from '../../src/index.js';
import { CrashTimes, FailTimes, FailWhile, Hang, Nap, OomTimes, Record } from '../fixtures/queue-tasks.js';
import { eventually } from '../helpers.js';
import { QUEUE_APP, runLines, tempDir, uniqueQueue } from '../queue-helpers.js';

/** How one transport is opened for the suite. */
export interface TransportFixture {
  name: string;
  /** Set when the transport cannot run here (the suite then skips with this message). */
  skip?: string | undefined;
  open(options?: Partial<OpenQueueOptions>): Promise<Queue>;
  /** Removes what a test left on the broker. */
  cleanup(queue: string): Promise<void>;
}

/** Quick retries, so that the suite does not wait for production backoffs. */
const FAST_RETRY = { retry: { initialDelayMs: 20, maxDelayMs: 50 } };

export function queueConformance(fixture: TransportFixture): void {
  describe(`queue conformance: ${fixture.name}`, { skip: fixture.skip }, () => {
    const dir = tempDir();
    const opened: Array<() => Promise<void>> = [];
    after(async () => {
      for (const close of opened.reverse()) await close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** A queue, a pool consuming it, a run log; all closed after the test. */
    async function setup(
      options: {
        size?: number;
        concurrency?: number;
        queue?: Partial<OpenQueueOptions>;
        resourceLimits?: { maxOldGenerationSizeMb: number };
      } = {},
    ) {
      const name = uniqueQueue(fixture.name);
      const queue = await fixture.open({ ...FAST_RETRY, ...options.queue });
      const pool = new Pool({
        app: QUEUE_APP,
        size: options.size ?? 2,
        concurrency: options.concurrency ?? 1,
      });
      const log = join(dir, `${name}.log`);
      opened.push(async () => {
        await pool.close({ graceMs: 0 });
        await queue.close();
        await fixture.cleanup(name);
      });
      const consume = () => pool.consume(queue, { queue: name });
      return { name, queue, pool, log, consume };
    }

    test('runs every dispatched job once, with attempt 1, and acks it', async () => {
      const { name, queue, log, consume } = await setup({ concurrency: 2 });
      const ids = await Promise.all(
        Array.from({ length: 20 }, (_, i) => queue.dispatch(new Record(log, `job${i}`), { queue: name })),
      );
      assert.equal(new Set(ids).size, 20, 'dispatch resolves with a distinct job id each');
      const consumer = consume();
      await eventually(() => consumer.counts.completed === 20);
      const lines = runLines(log);
      assert.equal(lines.length, 20);
      assert.equal(new Set(lines.map((line) => line.tag)).size, 20);
      assert.ok(lines.every((line) => line.attempt === 1));
      await eventually(() => consumer.counts.inFlight === 0);
      assert.deepEqual(await queue.stats(name), { ready: 0, inFlight: 0, delayed: 0, failed: 0 });
    });

    test('retries a job that throws, with the next attempt number, until it succeeds', async () => {
      const { name, queue, log, consume } = await setup();
      await queue.dispatch(new FailTimes(2, log, 'flaky'), { queue: name, attempts: 5 });
      const consumer = consume();
      await eventually(() => consumer.counts.completed === 1);
      assert.deepEqual(
        runLines(log).map((line) => line.attempt),
        [1, 2, 3],
      );
      assert.equal(consumer.counts.retried, 2);
      assert.equal((await queue.stats(name)).failed, 0);
    });

    test('moves a job that keeps throwing to the failed store with its error and attempts', async () => {
      const { name, queue, log, consume } = await setup();
      const id = await queue.dispatch(new FailTimes(99, log, 'doomed'), { queue: name, attempts: 3 });
      const consumer = consume();
      await eventually(() => consumer.counts.failed === 1);
      assert.equal(runLines(log).length, 3, 'three attempts, no more');
      const [failed, ...others] = await queue.failed(name);
      assert.equal(others.length, 0);
      assert.equal(failed?.id, id);
      assert.equal(failed?.task, 'FailTimes');
      assert.deepEqual(failed?.fields, { failures: 99, file: log, tag: 'doomed' });
      assert.equal(failed?.attempts, 3);
      assert.equal(failed?.error.name, 'RangeError');
      assert.equal(failed?.error.message, 'planned failure 3');
      assert.equal(failed?.error.code, 'E_PLANNED');
      assert.match(failed?.error.stack ?? '', /queue-tasks/);
      assert.ok(failed?.failedAt instanceof Date);
      assert.equal((await queue.stats(name)).failed, 1);
    });

    test('a worker that crashes mid-job: the job runs again at once, counting an attempt', async () => {
      // A long lease: on SQLite the job must come back because the pool knew, not because a lease ran out.
      const { name, queue, pool, log, consume } = await setup({ queue: { leaseMs: 600_000 } });
      await queue.dispatch(new CrashTimes(1, log, 'crashy'), { queue: name, attempts: 3 });
      const consumer = consume();
      await eventually(() => consumer.counts.completed === 1);
      assert.deepEqual(
        runLines(log).map((line) => line.attempt),
        [1, 2],
      );
      assert.ok(pool.stats().workerRestarts >= 1, 'the dead worker was replaced');
    });

    test('a job that crashes its worker every time ends in the failed store as ERR_WORKER_CRASHED', async () => {
      const { name, queue, log, consume } = await setup({ queue: { leaseMs: 600_000 } });
      await queue.dispatch(new CrashTimes(99, log, 'killer'), { queue: name, attempts: 2 });
      const consumer = consume();
      await eventually(() => consumer.counts.failed === 1);
      const [failed] = await queue.failed(name);
      assert.equal(failed?.error.code, ErrorCode.WORKER_CRASHED);
      assert.equal(failed?.attempts, 2);
      assert.equal(runLines(log).length, 2);
    });

    test('a job that runs its worker out of memory runs again on a fresh worker, counting an attempt', async () => {
      const { name, queue, log, consume } = await setup({
        queue: { leaseMs: 600_000 },
        resourceLimits: { maxOldGenerationSizeMb: 48 },
      });
      await queue.dispatch(new OomTimes(1, log, 'hungry'), { queue: name, attempts: 2 });
      const consumer = consume();
      await eventually(() => consumer.counts.completed === 1, 30_000);
      assert.deepEqual(
        runLines(log).map((line) => line.attempt),
        [1, 2],
      );
      assert.equal(consumer.counts.retried, 1);
    });

    test('a job that hangs past timeoutMs has its worker terminated; the attempt counts', async () => {
      const { name, queue, log, consume } = await setup({ size: 1 });
      await queue.dispatch(new Hang(log), { queue: name, attempts: 2, timeoutMs: 300 });
      await queue.dispatch(new Record(log, 'after'), { queue: name });
      const consumer = consume();
      await eventually(() => consumer.counts.failed === 1 && consumer.counts.completed === 1);
      const [failed] = await queue.failed(name);
      assert.equal(failed?.error.code, ErrorCode.TASK_TIMEOUT);
      assert.equal(failed?.attempts, 2);
      assert.equal(runLines(log).filter((line) => line.tag === 'hang').length, 2);
    });

    test('messages that are not jobs go straight to the failed store; the consumer keeps going', async () => {
      const { name, queue, log, consume } = await setup();
      const bodies = [
        'not json',
        '{"v":2,"task":"Record","fields":{}}',
        '{"v":1,"task":"Nope","fields":{}}',
        '{"v":1,"task":"Record","fields":[1,2]}',
      ];
      for (const body of bodies) await queue.dispatchMessage(name, body);
      await queue.dispatch(new Record(log, 'good'), { queue: name });
      const consumer = consume();
      await eventually(() => consumer.counts.failed === 4 && consumer.counts.completed === 1);
      assert.equal(consumer.counts.retried, 0, 'no retry loop');
      const failed = await queue.failed(name);
      assert.deepEqual(
        failed.map((job) => job.body),
        bodies,
      );
      assert.deepEqual(
        failed.map((job) => job.error.code),
        [ErrorCode.BAD_MESSAGE, ErrorCode.BAD_MESSAGE, ErrorCode.TASK_NOT_REGISTERED, ErrorCode.BAD_MESSAGE],
      );
      assert.match(failed[0]?.error.message ?? '', /not JSON/);
      assert.match(failed[3]?.error.message ?? '', /"fields" must be a JSON object/);
      assert.equal(failed[2]?.task, 'Nope');
    });

    test('delayMs holds a job back; stats count it as delayed until then', async () => {
      const { name, queue, log, consume } = await setup();
      const dispatchedAt = Date.now();
      await queue.dispatch(new Record(log, 'later'), { queue: name, delayMs: 1_500 });
      assert.deepEqual(await queue.stats(name), { ready: 0, inFlight: 0, delayed: 1, failed: 0 });
      const consumer = consume();
      await eventually(() => consumer.counts.completed === 1);
      assert.ok(Date.now() - dispatchedAt >= 1_500, 'not run before its delay');
      assert.equal(runLines(log).length, 1);
    });

    test('stats count ready, in flight, delayed and failed exactly', async () => {
      const { name, queue, log, consume } = await setup({ size: 1, concurrency: 2 });
      await queue.dispatchMessage(name, 'garbage');
      for (let i = 0; i < 3; i++) await queue.dispatch(new Nap(60_000, log, `nap${i}`), { queue: name });
      for (let i = 0; i < 2; i++) {
        await queue.dispatch(new Record(log, `later${i}`), { queue: name, delayMs: 120_000 });
      }
      assert.deepEqual(await queue.stats(name), { ready: 4, inFlight: 0, delayed: 2, failed: 0 });
      const consumer = consume();
      await eventually(() => runLines(log).length === 2 && consumer.counts.failed === 1);
      assert.deepEqual(await queue.stats(name), { ready: 1, inFlight: 2, delayed: 2, failed: 1 });
      await consumer.stop({ graceMs: 0 });
      assert.deepEqual(await queue.stats(name), { ready: 3, inFlight: 0, delayed: 2, failed: 1 });
    });

    test('retryFailed moves failed jobs back and says how many; purgeFailed empties the store', async () => {
      const { name, queue, log, consume } = await setup();
      const flag = join(dir, `${name}.flag`);
      writeFileSync(flag, 'up');
      for (let i = 0; i < 2; i++)
        await queue.dispatch(new FailWhile(flag, log, `f${i}`), { queue: name, attempts: 1 });
      const consumer = consume();
      await eventually(() => consumer.counts.failed === 2);
      rmSync(flag);
      assert.equal(await queue.retryFailed(name), 2);
      await eventually(() => consumer.counts.completed === 2);
      assert.equal((await queue.stats(name)).failed, 0);
      assert.deepEqual(await queue.failed(name), []);

      writeFileSync(flag, 'up');
      for (let i = 0; i < 3; i++)
        await queue.dispatch(new FailWhile(flag, log, `g${i}`), { queue: name, attempts: 1 });
      await eventually(() => consumer.counts.failed === 5);
      assert.equal(await queue.purgeFailed(name), 3);
      assert.equal((await queue.stats(name)).failed, 0);
      assert.equal(await queue.retryFailed(name), 0);
    });

    test('stop lets the jobs in flight finish within the grace', async () => {
      const { name, queue, log, consume } = await setup();
      for (let i = 0; i < 2; i++) await queue.dispatch(new Nap(300, log, `n${i}`), { queue: name });
      const consumer = consume();
      await eventually(() => runLines(log).filter((line) => line.kind === 'start').length === 2);
      await consumer.stop({ graceMs: 10_000 });
      assert.equal(consumer.counts.completed, 2);
      assert.equal(runLines(log).filter((line) => line.kind === 'end').length, 2);
      assert.deepEqual(await queue.stats(name), { ready: 0, inFlight: 0, delayed: 0, failed: 0 });
    });

    test('stop gives back what does not finish in the grace, without counting the attempt', async () => {
      const { name, queue, pool, log } = await setup();
      for (let i = 0; i < 2; i++) await queue.dispatch(new Nap(60_000, log, `n${i}`), { queue: name });
      const first = pool.consume(queue, { queue: name });
      await eventually(() => runLines(log).length === 2);
      await first.stop({ graceMs: 100 });
      assert.equal(first.counts.completed, 0);
      assert.deepEqual(await queue.stats(name), { ready: 2, inFlight: 0, delayed: 0, failed: 0 });
      const second = pool.consume(queue, { queue: name });
      await eventually(() => runLines(log).length === 4);
      assert.deepEqual(
        runLines(log).map((line) => line.attempt),
        [1, 1, 1, 1],
      );
      await second.stop({ graceMs: 0 });
    });

    test('each worker takes only as many jobs as it has free slots, and the lanes follow a resize', async () => {
      const { name, queue, pool, log, consume } = await setup({ size: 1 });
      for (let i = 0; i < 6; i++) await queue.dispatch(new Nap(60_000, log, `n${i}`), { queue: name });
      const consumer = consume();
      await eventually(() => runLines(log).length === 1);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(await queue.stats(name), { ready: 5, inFlight: 1, delayed: 0, failed: 0 });
      await pool.resize(3);
      await eventually(() => runLines(log).length === 3);
      assert.deepEqual(await queue.stats(name), { ready: 3, inFlight: 3, delayed: 0, failed: 0 });
      await consumer.stop({ graceMs: 0 });
    });
  });
}
