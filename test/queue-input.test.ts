// Bad input to the queue API: each gets a clear error with a stable code, and nothing is lost.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ErrorCode, maskUrl, openQueue, Pool, Task } from '../src/index.js';
import { Record } from './fixtures/queue-tasks.js';
import { QUEUE_APP, tempDir } from './queue-helpers.js';

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));
const sqliteUrl = `sqlite:${join(dir, 'input.db')}`;

function withCode(code: string, ...fragments: string[]) {
  return (error: Error & { code?: string }) => {
    assert.equal(error.code, code, error.message);
    for (const fragment of fragments)
      assert.ok(error.message.includes(fragment), `"${fragment}" in: ${error.message}`);
    return true;
  };
}

class Unregistered extends Task<void> {
  run(): void {}
}

class WithField extends Task<void> {
  constructor(readonly value: unknown) {
    super();
  }
  run(): void {}
}

describe('queue input', () => {
  it('refuses task fields that are not JSON, naming the field, and dispatches nothing', async () => {
    const queue = await openQueue(sqliteUrl, { app: QUEUE_APP });
    try {
      // Date, Map and bigint are carried (tagged; see test/field-codec.test.ts): what would not
      // arrive intact is refused.
      const cases: Array<[unknown, string]> = [
        [new Date(Number.NaN), 'file'],
        [new Map([[1, new WithField(1)]]), 'file.get(1)'],
        [{ deep: [1, () => 0] }, 'file.deep[1]'],
        [Number.NaN, 'file'],
        [Buffer.from('x'), 'file'],
      ];
      for (const [value, field] of cases) {
        await assert.rejects(
          queue.dispatch(new Record(value as string, 'x'), { queue: 'input' }),
          withCode(ErrorCode.INVALID_TASK_FIELD, `"${field}"`, 'Record'),
        );
      }
      const circular: { self?: unknown } = {};
      circular.self = circular;
      await assert.rejects(
        queue.dispatch(new Record(circular as unknown as string, 'x'), { queue: 'input' }),
        withCode(ErrorCode.INVALID_TASK_FIELD, 'circular'),
      );
      assert.deepEqual(await queue.stats('input'), { ready: 0, inFlight: 0, delayed: 0, failed: 0 });
    } finally {
      await queue.close();
    }
  });

  it('refuses a task class that the app does not register', async () => {
    const queue = await openQueue(sqliteUrl, { app: QUEUE_APP });
    try {
      await assert.rejects(
        queue.dispatch(new Unregistered(), { queue: 'input' }),
        withCode(ErrorCode.TASK_NOT_REGISTERED, 'Unregistered'),
      );
      // Only the app's registry tells names: a class of the same shape from elsewhere is refused too.
      await assert.rejects(
        queue.dispatch(new WithField(1)),
        withCode(ErrorCode.TASK_NOT_REGISTERED, 'WithField'),
      );
    } finally {
      await queue.close();
    }
  });

  it('refuses bad dispatch options, quoting the value', async () => {
    const queue = await openQueue(sqliteUrl, { app: QUEUE_APP });
    const task = new Record('f', 't');
    try {
      const cases: Array<[object, string, string]> = [
        [{ attempts: 0 }, 'attempts', '0'],
        [{ attempts: 1.5 }, 'attempts', '1.5'],
        [{ delayMs: -1 }, 'delayMs', '-1'],
        [{ timeoutMs: 'soon' }, 'timeoutMs', '"soon"'],
        [{ queue: 'has space' }, 'queue', '"has space"'],
        [{ queue: 'jobs.failed' }, 'queue', 'reserved'],
        [{ queue: 'jobs.delay.50' }, 'queue', 'reserved'],
        [{ queue: '' }, 'queue', '""'],
      ];
      for (const [options, option, quoted] of cases) {
        await assert.rejects(
          queue.dispatch(task, options),
          withCode(ErrorCode.INVALID_OPTION, `"${option}"`, quoted),
        );
      }
    } finally {
      await queue.close();
    }
  });

  it('refuses bad queue URLs and options', async () => {
    await assert.rejects(
      openQueue('redis://localhost'),
      withCode(ErrorCode.INVALID_OPTION, '"url"', 'redis://'),
    );
    await assert.rejects(openQueue('sqlite:'), withCode(ErrorCode.INVALID_OPTION, '"url"'));
    await assert.rejects(
      openQueue(sqliteUrl, { retry: { initialDelayMs: 10, maxDelayMs: 5 } }),
      withCode(ErrorCode.INVALID_OPTION, '"retry.maxDelayMs"'),
    );
    await assert.rejects(
      openQueue(sqliteUrl, { leaseMs: 5 }),
      withCode(ErrorCode.INVALID_OPTION, '"leaseMs"'),
    );
    await assert.rejects(
      openQueue(sqliteUrl, { app: join(dir, 'missing-app.js') }),
      withCode(ErrorCode.APP_INVALID),
    );
  });

  it('a broker that is down at start: ERR_BROKER_UNAVAILABLE after the timeout, password masked', async () => {
    const url = 'amqp://operator:s3cret-pw@127.0.0.1:1/vhost';
    const error = await openQueue(url, { connectTimeoutMs: 300 }).then(
      () => assert.fail('opened a queue on a closed port'),
      (caught: Error & { code?: string }) => caught,
    );
    assert.equal(error.code, ErrorCode.BROKER_UNAVAILABLE);
    assert.ok(error.message.includes('amqp://operator:***@127.0.0.1:1/vhost'), error.message);
    assert.ok(!error.message.includes('s3cret-pw'), 'the password never shows');
    assert.ok(!String(error.stack).includes('s3cret-pw'), 'not in the stack either');
  });

  it('masks the password of any URL', () => {
    assert.equal(maskUrl('amqp://u:p%40ss@host:5672/v'), 'amqp://u:***@host:5672/v');
    assert.equal(maskUrl('amqps://u@host'), 'amqps://u@host');
    // Passwords pasted unencoded: nothing of them may survive.
    assert.equal(maskUrl('amqp://u:se/cret@host:5672/v'), 'amqp://u:***@host:5672/v');
    assert.equal(maskUrl('amqp://u:p@ss@host:5672'), 'amqp://u:***@host:5672');
    assert.equal(maskUrl('amqp://u:a:b@host'), 'amqp://u:***@host');
    assert.equal(maskUrl('sqlite:/x.db'), 'sqlite:/x.db');
  });

  it('a closed queue refuses work with ERR_QUEUE_CLOSED; a consumer needs a real queue and good options', async () => {
    const queue = await openQueue(sqliteUrl, { app: QUEUE_APP });
    const pool = new Pool({ app: QUEUE_APP, size: 1 });
    try {
      assert.throws(
        () => pool.consume(queue, { concurrency: 0 }),
        withCode(ErrorCode.INVALID_OPTION, '"concurrency"'),
      );
      assert.throws(
        () => pool.consume(queue, { queue: 'a b' }),
        withCode(ErrorCode.INVALID_OPTION, '"queue"'),
      );
      assert.throws(() => pool.consume({} as never), withCode(ErrorCode.INVALID_OPTION, '"queue"'));
      await queue.close();
      await assert.rejects(queue.dispatch(new Record('f', 't')), withCode(ErrorCode.QUEUE_CLOSED));
      await assert.rejects(queue.stats(), withCode(ErrorCode.QUEUE_CLOSED));
      assert.throws(() => pool.consume(queue), withCode(ErrorCode.QUEUE_CLOSED));
    } finally {
      await pool.close();
      await queue.close();
    }
  });

  it('with no URL, the embedded queue lives in ./.multitask/queue.db', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const queue = await openQueue(undefined, { app: QUEUE_APP });
      assert.equal(queue.url, 'sqlite:.multitask/queue.db');
      await queue.dispatch(new Record('f', 'default'));
      assert.equal((await queue.stats()).ready, 1);
      await queue.close();
    } finally {
      process.chdir(cwd);
    }
  });
});
