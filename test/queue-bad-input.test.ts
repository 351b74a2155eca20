// Messages that can never run go to the failed store at once, with ERR_BAD_MESSAGE and a reason
// naming what is wrong, never through their attempts, and the consumer takes the next good job.
// The attempt and not-before headers exist on RabbitMQ only: SQLite keeps them in columns that
// only multitask writes, so there a far-future delay can only come through dispatch, which refuses it.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import amqp from 'amqplib';
import { type Consumer, ErrorCode, MAX_DELAY_MS, openQueue, Pool, type Queue } from '../src/index.js';
import { Record } from './fixtures/queue-tasks.js';
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

/** A version-1 body for the fixture's Record task, which writes a line to `file` when it runs. */
function body(fields: object, attempts = 3): string {
  return JSON.stringify({ v: 1, task: 'Record', fields, attempts });
}

/** 100,000 levels of arrays, as a producer's JSON may nest. */
function deepNesting(levels: number): string {
  return `${'['.repeat(levels)}1${']'.repeat(levels)}`;
}

interface Fixture {
  name: string;
  skip?: string | undefined;
  url: () => string;
  cleanup: (queue: string) => Promise<void>;
}

const fixtures: Fixture[] = [
  {
    name: 'sqlite',
    url: () => `sqlite:${join(dir, 'bad-input.db')}`,
    cleanup: async () => {},
  },
  { name: 'amqp', skip: await amqpSkipReason(), url: () => AMQP_TEST_URL, cleanup: deleteAmqpQueue },
];

for (const fixture of fixtures) {
  describe(`bad input: ${fixture.name}`, { skip: fixture.skip, timeout: 60_000 }, () => {
    const opened: Array<() => Promise<void>> = [];
    after(async () => {
      for (const close of opened.reverse()) await close();
    });

    async function setup() {
      const name = uniqueQueue(`bad-${fixture.name}`);
      const queue = await openQueue(fixture.url(), {
        app: QUEUE_APP,
        retry: { initialDelayMs: 20, maxDelayMs: 50 },
      });
      const pool = new Pool({ app: QUEUE_APP, size: 1 });
      const consumer = pool.consume(queue, { queue: name });
      opened.push(async () => {
        await pool.close({ graceMs: 0 });
        await queue.close();
        await fixture.cleanup(name);
      });
      await consumer.ready;
      const log = join(dir, `${name}.log`);
      return { name, queue, consumer, log };
    }

    /**
     * Sends a bad message with `send`, and checks: it reaches the failed store within seconds,
     * with `ERR_BAD_MESSAGE` and every fragment in its reason, after no run and no retry; then
     * a good job still runs.
     */
    async function expectBad(
      ctx: { name: string; queue: Queue; consumer: Consumer; log: string },
      tag: string,
      send: () => Promise<void>,
      ...fragments: string[]
    ) {
      const { name, queue, consumer, log } = ctx;
      const failedBefore = consumer.counts.failed;
      const retriedBefore = consumer.counts.retried;
      const failedSettled = nextSettled(consumer, 'failed');
      const sentAt = Date.now();
      await send();
      const settled = await failedSettled;
      assert.ok(Date.now() - sentAt < 5_000, 'failed within seconds');
      assert.equal(settled.error?.code, ErrorCode.BAD_MESSAGE, settled.error?.message);
      for (const fragment of fragments)
        assert.ok(settled.error?.message.includes(fragment), `"${fragment}" in: ${settled.error?.message}`);
      assert.equal(consumer.counts.failed, failedBefore + 1);
      assert.equal(consumer.counts.retried, retriedBefore, 'no attempt was retried');
      const stored = (await queue.failed(name)).at(-1);
      assert.equal(stored?.error.code, ErrorCode.BAD_MESSAGE);
      assert.equal(stored?.error.message, settled.error?.message);
      assert.deepEqual(
        runLines(log).filter((line) => line.tag === tag),
        [],
        'the task never ran',
      );
      // The consumer carries on: the next good job runs.
      const completed = nextSettled(consumer, 'completed');
      await queue.dispatch(new Record(log, `good-after-${tag}`), { queue: name });
      await completed;
      assert.equal(runLines(log).filter((line) => line.tag === `good-after-${tag}`).length, 1);
    }

    test('fields named like a member of the task class: failed at once, naming the field', async () => {
      const ctx = await setup();
      for (const member of ['run', 'constructor', 'toString']) {
        await expectBad(
          ctx,
          member,
          () => ctx.queue.dispatchMessage(ctx.name, body({ file: ctx.log, tag: member, [member]: 1 })),
          `field "${member}"`,
          'member of Record',
        );
      }
    });

    test('fields nested 100,000 deep, and a malformed tag: failed at once, naming the field', async () => {
      const ctx = await setup();
      const deep = `{"v":1,"task":"Record","fields":{"file":${JSON.stringify(ctx.log)},"tag":"deep","deep":${deepNesting(100_000)}}}`;
      await expectBad(
        ctx,
        'deep',
        () => ctx.queue.dispatchMessage(ctx.name, deep),
        'field "deep',
        'deeper than 100',
      );
      const malformed = body({
        file: ctx.log,
        tag: 'tag',
        when: { $multitask: 'Date', value: 'not a date' },
      });
      await expectBad(
        ctx,
        'tag',
        () => ctx.queue.dispatchMessage(ctx.name, malformed),
        'field "when"',
        'date string',
      );
    });

    test('dispatch refuses a delay beyond MAX_DELAY_MS (30 days), and takes the maximum itself', async () => {
      const ctx = await setup();
      assert.equal(MAX_DELAY_MS, 30 * 24 * 3_600_000);
      for (const delayMs of [MAX_DELAY_MS + 1, 9e15, Number.POSITIVE_INFINITY]) {
        await assert.rejects(
          ctx.queue.dispatch(new Record(ctx.log, 'far'), { queue: ctx.name, delayMs }),
          (error: Error & { code?: string }) =>
            error.code === ErrorCode.INVALID_OPTION && error.message.includes('"delayMs"'),
        );
        await assert.rejects(
          ctx.queue.dispatchMessage(ctx.name, body({ file: ctx.log, tag: 'far' }), { delayMs }),
          (error: Error & { code?: string }) => error.code === ErrorCode.INVALID_OPTION,
        );
      }
      await assert.rejects(
        openQueue(fixture.url(), { retry: { maxDelayMs: MAX_DELAY_MS + 1 } }),
        (error: Error & { code?: string }) =>
          error.code === ErrorCode.INVALID_OPTION && error.message.includes('"retry.maxDelayMs"'),
      );
      await ctx.queue.dispatch(new Record(ctx.log, 'month'), { queue: ctx.name, delayMs: MAX_DELAY_MS });
      assert.equal((await ctx.queue.stats(ctx.name)).delayed, 1, 'the longest delay is allowed');
    });

    if (fixture.name !== 'amqp') return;

    /** Publishes `content` to the queue as another producer would, with `headers`. */
    async function publishRaw(queue: string, content: string, headers: { [name: string]: unknown }) {
      const connection = await amqp.connect(AMQP_TEST_URL);
      try {
        const channel = await connection.createConfirmChannel();
        channel.sendToQueue(queue, Buffer.from(content), {
          persistent: true,
          contentType: 'application/json',
          headers,
        });
        await channel.waitForConfirms();
      } finally {
        await connection.close();
      }
    }

    test('attempt headers that are not an integer >= 1: failed at once, naming the header', async () => {
      const ctx = await setup();
      for (const [i, attempt] of [-1000, -1e9, 0, 1.5, 'abc'].entries()) {
        const tag = `attempt-${i}`;
        await expectBad(
          ctx,
          tag,
          () => publishRaw(ctx.name, body({ file: ctx.log, tag }), { 'x-multitask-attempt': attempt }),
          'x-multitask-attempt',
          'an integer >= 1',
        );
      }
    });

    test('an attempt header far past the job attempts: failed at once as out of range, not as deaths', async () => {
      const ctx = await setup();
      await expectBad(
        ctx,
        'huge',
        () => publishRaw(ctx.name, body({ file: ctx.log, tag: 'huge' }), { 'x-multitask-attempt': 1e9 }),
        'x-multitask-attempt',
        'out of range',
      );
      const stored = (await ctx.queue.failed(ctx.name)).at(-1)!;
      assert.ok(!stored.error.message.includes('died'), stored.error.message);
    });

    test('a not-before beyond the maximum delay: failed at once, not parked on the ladder', async () => {
      const ctx = await setup();
      await expectBad(
        ctx,
        'future',
        () =>
          publishRaw(ctx.name, body({ file: ctx.log, tag: 'future' }), { 'x-multitask-not-before': 9e15 }),
        'x-multitask-not-before',
        '30 days',
      );
      assert.equal((await ctx.queue.stats(ctx.name)).delayed, 0, 'nothing parked on the delay ladder');
    });
  });
}
