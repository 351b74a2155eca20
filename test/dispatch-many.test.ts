// queue.dispatchMany on both transports: ids in the batch's order, each job run once with its
// own options; a bad job anywhere refuses the whole batch before anything is sent; a queue the
// broker refuses fails its own jobs only (ERR_DISPATCH_INCOMPLETE); and on RabbitMQ, a
// connection cut in the middle of a batch: every job it says was accepted is in the queue, and
// the caller learns which ones were not (or, when the broker comes back in time, all go).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import amqp from 'amqplib';
import Database from 'better-sqlite3';
import { type DispatchIncompleteError, ErrorCode, openQueue, Pool, Task } from '../src/index.js';
import { CLI, cliEnv, QUEUE_APP_PATH } from './cli-helpers.js';
import { Relay } from './cluster-helpers.js';
import { Noop, Record } from './fixtures/queue-tasks.js';
import { eventually } from './helpers.js';
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

/** A task class the fixture app does not register. */
class Unregistered extends Task<void> {
  run(): void {}
}

const amqpSkip = await amqpSkipReason();
const fixtures = [
  {
    name: 'sqlite',
    skip: undefined,
    url: () => `sqlite:${join(dir, 'many.db')}`,
    cleanup: async (_: string) => {},
  },
  { name: 'amqp', skip: amqpSkip, url: () => AMQP_TEST_URL, cleanup: deleteAmqpQueue },
];

for (const fixture of fixtures) {
  describe(`dispatchMany: ${fixture.name}`, { skip: fixture.skip, timeout: 60_000 }, () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    async function setup() {
      const name = uniqueQueue(`many-${fixture.name}`);
      const queue = await openQueue(fixture.url(), { app: QUEUE_APP });
      cleanups.push(async () => {
        await queue.close();
        await fixture.cleanup(name);
      });
      return { name, queue, log: join(dir, `${name}.log`) };
    }

    test('resolves with the ids in order, and every job runs once with its own options', async () => {
      const { name, queue, log } = await setup();
      const other = `${name}.other`;
      cleanups.push(() => fixture.cleanup(other));
      const ids = await queue.dispatchMany(
        [
          new Record(log, 'a'),
          { task: new Record(log, 'b'), options: { id: 'batch-b' } },
          new Record(log, 'c'),
          { task: new Record(log, 'd'), options: { queue: other, id: 'batch-d' } },
          { task: new Record(log, 'e'), options: { delayMs: 300 } },
        ],
        { queue: name, attempts: 2 },
      );
      assert.equal(ids.length, 5);
      assert.equal(ids[1], 'batch-b');
      assert.equal(ids[3], 'batch-d');
      assert.equal(new Set(ids).size, 5, 'ids are distinct');
      assert.equal((await queue.stats(name)).ready + (await queue.stats(name)).delayed, 4);
      assert.equal((await queue.stats(other)).ready, 1, 'the job with a queue of its own went there');

      const pool = new Pool({ app: QUEUE_APP, size: 1 });
      cleanups.push(() => pool.close());
      const settled: string[] = [];
      const consumers = [name, other].map((queueName) => {
        const consumer = pool.consume(queue, { queue: queueName });
        consumer.on('settled', (job) => settled.push(String(job.id)));
        return consumer;
      });
      await eventually(() => runLines(log).length === 5, 20_000);
      assert.deepEqual(
        runLines(log)
          .map((line) => line.tag)
          .sort(),
        ['a', 'b', 'c', 'd', 'e'],
      );
      assert.deepEqual(
        runLines(log).map((line) => line.attempt),
        [1, 1, 1, 1, 1],
      );
      // The delayed one came last.
      assert.equal(runLines(log).at(-1)?.tag, 'e');
      await eventually(() => settled.length === 5, 5_000);
      assert.deepEqual([...settled].sort(), [...ids].sort(), 'the settled ids are the ones returned');
      for (const consumer of consumers) await consumer.stop();
    });

    test('a bad job in the middle refuses the whole batch, naming it, before anything is sent', async () => {
      const { name, queue, log } = await setup();
      const good = () => new Record(log, 'never');
      const cases: Array<[string, unknown[], string, number]> = [
        [
          'an unregistered task',
          [good(), good(), new Unregistered(), good()],
          ErrorCode.TASK_NOT_REGISTERED,
          2,
        ],
        [
          'a field that is not JSON',
          [good(), Object.assign(good(), { when: () => 1 })],
          ErrorCode.INVALID_TASK_FIELD,
          1,
        ],
        ['a bad id', [good(), { task: good(), options: { id: 'has space' } }], ErrorCode.INVALID_OPTION, 1],
        [
          'an id twice',
          [{ task: good(), options: { id: 'twice' } }, good(), { task: good(), options: { id: 'twice' } }],
          ErrorCode.INVALID_OPTION,
          2,
        ],
        ['a bad queue name', [good(), { task: good(), options: { queue: '' } }], ErrorCode.INVALID_OPTION, 1],
      ];
      for (const [what, batch, code, index] of cases) {
        await assert.rejects(
          queue.dispatchMany(batch as Task<void>[], { queue: name }),
          (error: Error & { code?: string; index?: number }) => {
            assert.equal(error.code, code, `${what}: ${error.message}`);
            assert.equal(error.index, index, what);
            assert.match(error.message, new RegExp(`^job ${index} of ${batch.length}: `), what);
            return true;
          },
        );
      }
      await assert.rejects(queue.dispatchMany(new Record(log, 'x') as never, { queue: name }), {
        code: ErrorCode.INVALID_OPTION,
      });
      await assert.rejects(queue.dispatchMany([good()], { queue: name, id: 'one-for-all' }), {
        code: ErrorCode.INVALID_OPTION,
      });
      assert.deepEqual(await queue.dispatchMany([], { queue: name }), []);
      const stats = await queue.stats(name);
      assert.equal(stats.ready + stats.delayed, 0, 'nothing was sent');
    });

    test('20,000 jobs in one batch: ids in order, each one in the queue', async () => {
      const { name, queue } = await setup();
      const count = 20_000;
      const batch = Array.from({ length: count }, (_, i) =>
        i % 1000 === 0 ? { task: new Noop('x'), options: { id: `bulk-${i}` } } : new Noop('x'),
      );
      const ids = await queue.dispatchMany(batch, { queue: name });
      assert.equal(ids.length, count);
      for (let i = 0; i < count; i += 1000) assert.equal(ids[i], `bulk-${i}`);
      assert.equal((await queue.stats(name)).ready, count);
    });
  });
}

describe('dispatchMany: SQLite rows', () => {
  test('each row holds its own job, in the batch order, across full multi-row inserts and the rest', async () => {
    // 123 jobs: two inserts of fifty rows, then 23 rows one at a time (sqlite-store.ts), with
    // a delay and a result wanted on some, so that a row mixed up with another shows.
    const file = join(dir, 'rows.db');
    const name = uniqueQueue('many-rows');
    const queue = await openQueue(`sqlite:${file}`, { app: QUEUE_APP });
    const count = 123;
    let ids: string[];
    try {
      ids = await queue.dispatchMany(
        Array.from({ length: count }, (_, i) => ({
          task: new Noop(`payload-${i}`),
          options: { id: `row-${i}`, delayMs: i % 7 === 0 ? 60_000 : 0, result: i % 5 === 0 },
        })),
        { queue: name },
      );
    } finally {
      await queue.close();
    }
    assert.deepEqual(
      ids,
      Array.from({ length: count }, (_, i) => `row-${i}`),
    );
    const db = new Database(file, { readonly: true });
    try {
      const rows = db
        .prepare('SELECT id, body, attempt, run_at, want_result FROM jobs WHERE queue = ? ORDER BY seq')
        .all(name) as Array<{
        id: string;
        body: string;
        attempt: number;
        run_at: number;
        want_result: number;
      }>;
      assert.equal(rows.length, count);
      const now = Date.now();
      rows.forEach((row, i) => {
        const body = JSON.parse(String(row.body)) as { id: string; fields: { payload: string } };
        assert.equal(row.id, `row-${i}`);
        assert.equal(body.id, `row-${i}`);
        assert.equal(body.fields.payload, `payload-${i}`);
        assert.equal(row.attempt, 0);
        assert.equal(row.want_result, i % 5 === 0 ? 1 : 0, `row ${i}: want_result`);
        assert.equal(row.run_at > now + 30_000, i % 7 === 0, `row ${i}: delayed`);
      });
    } finally {
      db.close();
    }
  });
});

describe('dispatchMany: RabbitMQ refuses one queue of the batch', { skip: amqpSkip, timeout: 60_000 }, () => {
  test('the jobs for that queue are not accepted, the others are: ERR_DISPATCH_INCOMPLETE says which', async () => {
    const good = uniqueQueue('many-good');
    const bad = uniqueQueue('many-refused');
    // A classic queue of that name: declaring it as a quorum queue fails with PRECONDITION_FAILED.
    const connection = await amqp.connect(AMQP_TEST_URL);
    const channel = await connection.createChannel();
    await channel.assertQueue(bad, { durable: true });
    const queue = await openQueue(AMQP_TEST_URL, { app: QUEUE_APP });
    try {
      const log = join(dir, 'refused.log');
      const error = await queue
        .dispatchMany(
          [
            new Record(log, 'a'),
            { task: new Record(log, 'b'), options: { queue: bad } },
            new Record(log, 'c'),
            { task: new Record(log, 'd'), options: { queue: bad, id: 'to-refused' } },
          ],
          { queue: good },
        )
        .then(
          () => assert.fail('the batch resolved'),
          (rejected: DispatchIncompleteError) => rejected,
        );
      assert.equal(error.code, ErrorCode.DISPATCH_INCOMPLETE);
      assert.equal(error.accepted.length, 2);
      assert.deepEqual(error.notAccepted.map(({ index, id }) => [index, id]).slice(1), [[3, 'to-refused']]);
      assert.deepEqual(
        error.notAccepted.map(({ index }) => index),
        [1, 3],
      );
      assert.match(String(error.notAccepted[0]!.error.message), /PRECONDITION|inequivalent/);
      assert.equal((await queue.stats(good)).ready, 2);
    } finally {
      await queue.close();
      await channel.deleteQueue(bad);
      await connection.close();
      await deleteAmqpQueue(good);
      await deleteAmqpQueue(bad).catch(() => {});
    }
  });
});

/** The message ids in `queue` (consumed and acked: the queue is left empty). */
async function idsInQueue(queue: string): Promise<string[]> {
  const connection = await amqp.connect(AMQP_TEST_URL);
  try {
    const channel = await connection.createChannel();
    const { messageCount } = await channel.checkQueue(queue);
    const ids: string[] = [];
    if (messageCount === 0) return ids;
    await channel.prefetch(1_000);
    await new Promise<void>((resolve) => {
      void channel.consume(queue, (message) => {
        if (message === null) return;
        ids.push(String(message.properties.messageId));
        channel.ack(message);
        if (ids.length === messageCount) resolve();
      });
    });
    return ids;
  } finally {
    await connection.close();
  }
}

describe('dispatchMany: the connection drops in the middle of a batch', {
  skip: amqpSkip,
  timeout: 120_000,
}, () => {
  const COUNT = 10_000;
  const batch = () => Array.from({ length: COUNT }, () => new Noop('x'.repeat(100)));

  async function throughRelay(connectTimeoutMs: number) {
    const relay = new Relay(Number(new URL(AMQP_TEST_URL).port || 5672));
    const port = await relay.listen();
    const url = new URL(AMQP_TEST_URL);
    url.port = String(port);
    const name = uniqueQueue('many-drop');
    const queue = await openQueue(url.toString(), { app: QUEUE_APP, connectTimeoutMs });
    // Opened and declared first: the cut falls among the batch's messages, not the declarations.
    await queue.dispatchMany([new Noop('warm-up')], { queue: name });
    return { relay, queue, name };
  }

  test('and does not come back: what it says was accepted is in the queue, and it names the rest', async () => {
    const { relay, queue, name } = await throughRelay(2_000);
    try {
      // Cut for good once the broker's first confirms came back, the rest of the batch in flight.
      void relay.cutAfter(200, 'down').then(() => relay.stopListening());
      const error = await queue.dispatchMany(batch(), { queue: name }).then(
        () => assert.fail('the batch resolved though the broker was gone'),
        (rejected: DispatchIncompleteError) => rejected,
      );
      assert.equal(error.code, ErrorCode.DISPATCH_INCOMPLETE, error.message);
      assert.ok(error.notAccepted.length > 0, 'some jobs were not accepted');
      assert.ok(error.accepted.length > 0, 'the confirms that came before the cut count');
      assert.equal(error.accepted.length + error.notAccepted.length, COUNT);
      for (const job of error.notAccepted) assert.equal(job.error.constructor.name, 'MultitaskError');
      const inQueue = new Set(await idsInQueue(name));
      const lost = error.accepted.filter((id) => !inQueue.has(id));
      assert.deepEqual(lost, [], 'every accepted job is in the queue');
    } finally {
      await queue.close();
      await relay.close();
      await deleteAmqpQueue(name);
    }
  });

  test('and comes back within the timeout: every job is accepted, each in the queue at least once', async () => {
    const { relay, queue, name } = await throughRelay(30_000);
    try {
      const cut = relay.cutAfter(200, 'down');
      const ids = await queue.dispatchMany(batch(), { queue: name });
      await cut;
      assert.equal(ids.length, COUNT);
      const inQueue = new Set(await idsInQueue(name));
      assert.deepEqual(
        ids.filter((id) => !inQueue.has(id)),
        [],
        'every job is in the queue (some perhaps twice: at least once)',
      );
    } finally {
      await queue.close();
      await relay.close();
      await deleteAmqpQueue(name);
    }
  });
});

describe('multitask dispatch: JSON lines through dispatchMany, the link cut on the way', {
  skip: amqpSkip,
  timeout: 120_000,
}, () => {
  test('names the lines not confirmed; every other line is in the queue', async () => {
    const relay = new Relay(Number(new URL(AMQP_TEST_URL).port || 5672));
    const url = new URL(AMQP_TEST_URL);
    url.port = String(await relay.listen());
    const name = uniqueQueue('many-cli');
    const count = 12_000;
    const lines = Array.from(
      { length: count },
      (_, i) => `{"task":"Noop","id":"line-${i + 1}","fields":{"payload":"${'x'.repeat(100)}"}}`,
    );
    const file = join(dir, 'jobs.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    // About a third of the jobs' bytes pass, then the broker is gone for good.
    void relay.cutAfter(count * 90).then(() => relay.stopListening());
    const child = spawn(
      process.execPath,
      [
        CLI,
        'dispatch',
        '--app',
        QUEUE_APP_PATH,
        '--url',
        url.toString(),
        '--queue',
        name,
        '--connect-timeout-ms',
        '2000',
        file,
      ],
      { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const [code] = await once(child, 'exit');
    try {
      assert.equal(code, 1, stderr);
      const said = /dispatched (\d+) of 12000 jobs; not confirmed, send again: ([^(]+) \(/.exec(stderr);
      assert.ok(said, stderr);
      const named = new Set<number>();
      for (const range of said[2]!.split(', ')) {
        const [from, to = from] = range
          .replace(/^lines? /, '')
          .split('-')
          .map(Number);
        for (let line = from!; line <= to!; line++) named.add(line);
      }
      assert.equal(Number(said[1]) + named.size, count, 'every line is either dispatched or named');
      assert.ok(named.size > 0 && named.size < count, `${named.size} named`);
      const inQueue = new Set(await idsInQueue(name));
      const lost = lines
        .map((_, i) => i + 1)
        .filter((line) => !named.has(line) && !inQueue.has(`line-${line}`));
      assert.deepEqual(lost, [], 'every line not named is in the queue');
    } finally {
      await relay.close();
      await deleteAmqpQueue(name);
    }
  });
});
