// Results across processes, on both transports: this process calls (`queue.call`,
// `queue.result`, `multitask dispatch --wait`) and a `multitask work` process runs the jobs.
// A call resolves with the task's value (through the codec), rejects as pool.run does once the
// job failed for good, stops waiting (not the job) on waitMs or a signal, refuses bad input
// before sending anything, and a caller that dies mid-wait leaves nothing behind.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import Database from 'better-sqlite3';
import { ErrorCode, openQueue, Pool, type Queue, Task } from '../src/index.js';
import { CliProcess, runCli } from './cli-helpers.js';
import {
  AnswerUnlessFlag,
  CrashThenAnswer,
  Fib,
  NapThenAnswer,
  Tagged,
  Throw,
  Unsendable,
} from './fixtures/result-tasks.js';
import { eventually, failure } from './helpers.js';
import {
  AMQP_TEST_URL,
  amqpSkipReason,
  ctlSkipReason,
  deleteAmqpQueue,
  dropConnections,
  runLines,
  tempDir,
  uniqueQueue,
} from './queue-helpers.js';

const RESULT_APP = new URL('./fixtures/result-app.ts', import.meta.url);
const RESULT_APP_PATH = fileURLToPath(RESULT_APP);
const CALLER = fileURLToPath(new URL('./fixtures/result-caller.ts', import.meta.url));

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

const amqpSkip = await amqpSkipReason();
const transports = [
  {
    name: 'sqlite',
    skip: undefined,
    url: () => `sqlite:${join(dir, 'results.db')}`,
    cleanup: async (_: string) => {},
  },
  { name: 'amqp', skip: amqpSkip, url: () => AMQP_TEST_URL, cleanup: deleteAmqpQueue },
];

function rabbitmqctlRows(...args: string[]): string[][] {
  return execFileSync('rabbitmqctl', ['-q', '--no-table-headers', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  })
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.split('\t'));
}

/** Every queue on the local broker: its name, whether it is exclusive, and its owner connection. */
function brokerQueues(): Array<{ name: string; exclusive: boolean; owner: string }> {
  return rabbitmqctlRows('list_queues', 'name', 'exclusive', 'owner_pid').map(([name, exclusive, owner]) => ({
    name: name!,
    exclusive: exclusive === 'true',
    owner: owner ?? '',
  }));
}

/** The queues bound to multitask's fleet exchange (instances and feed listeners). */
function fleetQueues(): Set<string> {
  return new Set(
    rabbitmqctlRows('list_bindings', 'source_name', 'destination_name')
      .filter(([source]) => source === 'multitask.fleet')
      .map(([, destination]) => destination!),
  );
}

/** The broker's ids of the connections named `name`. */
function connectionIds(name: string): string[] {
  return rabbitmqctlRows('list_connections', 'pid', 'client_properties')
    .filter(([, properties]) => properties?.includes(`{"connection_name","${name}"}`))
    .map(([pid]) => pid!);
}

/** A task class no app registers. */
class Unregistered extends Task<number> {
  run(): number {
    return 1;
  }
}

for (const transport of transports) {
  describe(`results across processes: ${transport.name}`, { skip: transport.skip, timeout: 360_000 }, () => {
    const name = uniqueQueue(`results-${transport.name}`);
    const connectionName = `results-test-${name}`;
    const log = join(dir, `${name}.log`);
    let queue: Queue;
    let worker: CliProcess;
    /** Caller processes, killed after the tests whatever happened. */
    const callers = new Set<ChildProcess>();

    const started = (tag: string) => runLines(log).some((line) => line.kind === 'start' && line.tag === tag);
    const ended = (tag: string) => runLines(log).some((line) => line.kind === undefined && line.tag === tag);
    const attemptsOf = (tag: string) =>
      runLines(log)
        .filter((line) => line.kind === undefined && line.tag === tag)
        .map((line) => line.attempt);

    before(async () => {
      worker = new CliProcess(
        [
          'work',
          '--app',
          RESULT_APP_PATH,
          '--queue',
          name,
          '--url',
          transport.url(),
          '--workers',
          '2',
          '--concurrency',
          '2',
          '--http',
          'off',
        ],
        { cwd: dir },
      );
      await worker.waitForLine('consuming');
      queue = await openQueue(transport.url(), { app: RESULT_APP, connectionName });
    });

    after(async () => {
      for (const child of callers) child.kill('SIGKILL');
      await queue?.close();
      if (worker !== undefined) assert.equal(await worker.stop('SIGTERM'), 0, worker.output);
      await transport.cleanup(name);
    });

    test('a call resolves with what the task returned in the other process, Dates and bigints included', async () => {
      assert.equal(await queue.call(new Fib(20), { queue: name, waitMs: 20_000 }), 6765);
      const value = await queue.call(
        new Tagged('2026-01-02T03:04:05.000Z', '123456789012345678901234567890'),
        {
          queue: name,
          waitMs: 20_000,
        },
      );
      assert.ok(value.at instanceof Date);
      assert.equal(value.at.toISOString(), '2026-01-02T03:04:05.000Z');
      assert.equal(value.big, 123456789012345678901234567890n);
      assert.deepEqual(value.sets, new Map([['odd', new Set([1, 3])]]));
      assert.deepEqual(value.bytes, new Uint8Array([1, 2, 255]));
      const fib = (k: number): number => (k < 2 ? k : fib(k - 1) + fib(k - 2));
      const many = await Promise.all(
        Array.from({ length: 60 }, (_, i) => queue.call(new Fib(i % 20), { queue: name, waitMs: 30_000 })),
      );
      assert.deepEqual(
        many,
        Array.from({ length: 60 }, (_, i) => fib(i % 20)),
        'each call gets its own job',
      );
    });

    test('a task that throws rejects with ERR_TASK_FAILED, its message, code and stack, after its attempts', async () => {
      const id = `thrown-${randomUUID()}`;
      const error = await failure(queue.call(new Throw(log, id), { queue: name, id, attempts: 2 }));
      assert.equal(error.code, ErrorCode.TASK_FAILED);
      assert.equal(error.message, 'planned failure 2');
      const cause = error.cause as Error & { code?: string };
      assert.equal(cause.name, 'RangeError');
      assert.equal(cause.message, 'planned failure 2');
      assert.equal(cause.code, 'E_PLANNED');
      assert.match(String(cause.stack), /RangeError: planned failure 2\n\s+at .*result-tasks/);
      assert.deepEqual(attemptsOf(id), [1, 2], 'not rejected on the first attempt, which was retried');
      const stored = await queue.failedJob(name, id);
      assert.equal(stored?.error.message, 'planned failure 2', 'the job is in the failed store');
    });

    test("a worker that crashes, then succeeds: the call resolves with the retry's value", async () => {
      const answer = `survived-${randomUUID()}`;
      assert.equal(
        await queue.call(new CrashThenAnswer(1, log, answer), { queue: name, waitMs: 30_000 }),
        answer,
      );
      assert.deepEqual(attemptsOf(answer), [1, 2]);
    });

    test('a delayed call resolves once its job ran', async () => {
      const from = Date.now();
      assert.equal(await queue.call(new Fib(7), { queue: name, delayMs: 400, waitMs: 20_000 }), 13);
      assert.ok(Date.now() - from >= 400, 'not before its delay');
    });

    test('waitMs runs out: ERR_RESULT_TIMEOUT, and the job still completes', async () => {
      const id = `slow-${randomUUID()}`;
      const from = Date.now();
      const error = await failure(
        queue.call(new NapThenAnswer(1_500, log, id), { queue: name, id, waitMs: 300 }),
      );
      assert.equal(error.code, ErrorCode.RESULT_TIMEOUT);
      assert.ok(Date.now() - from < 1_400, 'rejected at its waitMs, not when the job ended');
      await eventually(() => ended(id), 20_000);
      if (transport.name === 'sqlite') {
        assert.equal(await queue.result(id, { waitMs: 10_000 }), id, 'the results table still has it');
      } else {
        const late = await failure(queue.result(id));
        assert.equal(late.code, ErrorCode.INVALID_OPTION, 'RabbitMQ keeps no outcome: the reply was dropped');
      }
    });

    test('an aborted signal stops the wait, not the job; an aborted one sends nothing', async () => {
      const id = `aborted-${randomUUID()}`;
      const controller = new AbortController();
      const calling = queue.call(new NapThenAnswer(1_000, log, id), {
        queue: name,
        id,
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(), 200);
      const error = await failure(calling);
      assert.equal(error.name, 'AbortError');
      await eventually(() => ended(id), 20_000);

      const never = `never-${randomUUID()}`;
      const refused = await failure(
        queue.call(new NapThenAnswer(10, log, never), { queue: name, signal: AbortSignal.abort() }),
      );
      assert.equal(refused.name, 'AbortError');
      // A job sent after it has run: one sent before would have run too (FIFO).
      assert.equal(await queue.call(new Fib(5), { queue: name, waitMs: 20_000 }), 5);
      assert.equal(started(never), false, 'the aborted call sent nothing');
    });

    test('a result JSON cannot carry fails the job at once: ERR_RESULT_NOT_CLONEABLE, stored and as the rejection', async () => {
      for (const kind of ['function', 'symbol', 'nan'] as const) {
        const id = `unsendable-${kind}-${randomUUID()}`;
        const error = await failure(queue.call(new Unsendable(kind, log), { queue: name, id, attempts: 3 }));
        assert.equal(error.code, ErrorCode.RESULT_NOT_CLONEABLE, `${kind}: ${error.message}`);
        const stored = await queue.failedJob(name, id);
        assert.equal(stored?.error.code, ErrorCode.RESULT_NOT_CLONEABLE, kind);
        assert.equal(stored?.attempts, 1, `${kind}: not retried`);
      }
      assert.match(
        (await failure(queue.call(new Unsendable('nan', ''), { queue: name }))).message,
        /result\.ratio \(NaN is not a finite number\)/,
        'the message names the value',
      );
    });

    test('bad input is refused before anything is sent', async () => {
      const tag = `refused-${randomUUID()}`;
      const refusals: Array<[Promise<unknown>, string]> = [
        [queue.call(new Unregistered(), { queue: name }), ErrorCode.TASK_NOT_REGISTERED],
        [queue.call(new NapThenAnswer(Number.NaN, log, tag), { queue: name }), ErrorCode.INVALID_TASK_FIELD],
        [
          queue.call(new NapThenAnswer(1, log, tag), { queue: 'no spaces allowed' }),
          ErrorCode.INVALID_OPTION,
        ],
        [queue.call(new NapThenAnswer(1, log, tag), { queue: `${name}.failed` }), ErrorCode.INVALID_OPTION],
        [queue.call(new NapThenAnswer(1, log, tag), { queue: name, attempts: 0 }), ErrorCode.INVALID_OPTION],
        [queue.call(new NapThenAnswer(1, log, tag), { queue: name, waitMs: -1 }), ErrorCode.INVALID_OPTION],
        [
          queue.call(new NapThenAnswer(1, log, tag), { queue: name, waitMs: 2 ** 31 }),
          ErrorCode.INVALID_OPTION,
        ],
        [
          queue.call(new NapThenAnswer(1, log, tag), { queue: name, id: 'has space' }),
          ErrorCode.INVALID_OPTION,
        ],
        [
          queue.dispatch(new NapThenAnswer(1, log, tag), { queue: name, result: 1 as never }),
          ErrorCode.INVALID_OPTION,
        ],
        [queue.result('has space'), ErrorCode.INVALID_OPTION],
      ];
      for (const [refusal, code] of refusals) assert.equal((await failure(refusal)).code, code);
      assert.equal(await queue.call(new Fib(6), { queue: name, waitMs: 20_000 }), 8);
      assert.equal(started(tag), false, 'nothing of it ran');
      // Two waits for one id would share one reply: the second is refused.
      const id = `twice-${randomUUID()}`;
      const first = queue.call(new NapThenAnswer(300, log, id), { queue: name, id });
      const second = await failure(queue.call(new NapThenAnswer(300, log, id), { queue: name, id }));
      assert.equal(second.code, ErrorCode.INVALID_OPTION);
      assert.equal(await first, id);
    });

    test('queue.result(id) of a dispatch with result: true; of one without: ERR_INVALID_OPTION', async () => {
      const id = await queue.dispatch(new Fib(12), { queue: name, result: true });
      assert.equal(await queue.result(id, { waitMs: 20_000 }), 144);
      assert.equal(await queue.result(id), 144, 'read again');
      const failing = await queue.dispatch(new Throw(log, `kept-${randomUUID()}`), {
        queue: name,
        result: true,
        attempts: 1,
      });
      assert.equal((await failure(queue.result(failing, { waitMs: 20_000 }))).code, ErrorCode.TASK_FAILED);
      const plain = await queue.dispatch(new Fib(3), { queue: name });
      const error = await failure(queue.result(plain));
      assert.equal(error.code, ErrorCode.INVALID_OPTION);
      assert.match(error.message, /result: true/);
    });

    test('a job retried from the failed store answers again', async () => {
      const id = `retried-${randomUUID()}`;
      const flag = join(dir, `${id}.flag`);
      writeFileSync(flag, 'fail');
      if (transport.name === 'sqlite') {
        // Any process may read the outcome: the retried job is pending, then done.
        await queue.dispatch(new AnswerUnlessFlag(flag, id), { queue: name, id, attempts: 1, result: true });
        assert.equal((await failure(queue.result(id, { waitMs: 20_000 }))).code, ErrorCode.TASK_FAILED);
        rmSync(flag);
        assert.equal(await queue.retryFailed(name, { ids: [id] }), 1);
        assert.equal(await queue.result(id, { waitMs: 20_000 }), id);
        return;
      }
      // A producer in another language asks with reply-to and correlation-id (docs/message-format.md).
      const connection = await amqp.connect(AMQP_TEST_URL);
      try {
        const channel = await connection.createConfirmChannel();
        const replies: Array<{ correlationId: unknown; body: Record<string, unknown> }> = [];
        await channel.consume(
          'amq.rabbitmq.reply-to',
          (message) => {
            if (message !== null)
              replies.push({
                correlationId: message.properties.correlationId,
                body: JSON.parse(message.content.toString()) as Record<string, unknown>,
              });
          },
          { noAck: true },
        );
        const body = { v: 1, id, task: 'AnswerUnlessFlag', fields: { flag, answer: id }, attempts: 1 };
        await new Promise<void>((resolve, reject) =>
          channel.sendToQueue(
            name,
            Buffer.from(JSON.stringify(body)),
            {
              persistent: true,
              messageId: id,
              replyTo: 'amq.rabbitmq.reply-to',
              correlationId: `corr-${id}`,
            },
            (error) => (error ? reject(error) : resolve()),
          ),
        );
        await eventually(() => replies.length === 1, 20_000);
        assert.equal(replies[0]!.correlationId, `corr-${id}`);
        assert.equal(replies[0]!.body.ok, false);
        assert.match(String((replies[0]!.body.error as { message: string }).message), /flag .* is up/);
        rmSync(flag);
        assert.equal(await queue.retryFailed(name, { ids: [id] }), 1);
        await eventually(() => replies.length === 2, 20_000);
        assert.deepEqual(replies[1], { correlationId: `corr-${id}`, body: { ok: true, value: id } });
      } finally {
        await connection.close();
      }
    });

    test('a caller killed mid-wait leaves nothing behind; the worker answers the next call', async () => {
      const ctlSkip = transport.name === 'amqp' ? ctlSkipReason() : undefined;
      const before = transport.name === 'amqp' && ctlSkip === undefined ? brokerQueues() : undefined;
      const id = `orphan-${randomUUID()}`;
      const callerConnection = `results-caller-${id}`;
      const caller = spawn(process.execPath, ['--import', 'tsx', CALLER], {
        env: {
          ...process.env,
          NODE_OPTIONS: '',
          QUEUE_URL: transport.url(),
          QUEUE_NAME: name,
          JOB_ID: id,
          // Long enough for two rabbitmqctl calls, which take seconds on a busy machine, while it waits.
          NAP_MS: '12000',
          RUN_LOG: log,
          CONNECTION_NAME: callerConnection,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      callers.add(caller);
      let output = '';
      caller.stdout!.on('data', (chunk) => {
        output += chunk;
      });
      caller.stderr!.on('data', (chunk) => {
        output += chunk;
      });
      const exited = once(caller, 'exit');
      await eventually(() => started(id) || caller.exitCode !== null, 30_000);
      assert.ok(started(id), `the job started: ${output}`);
      if (before !== undefined) {
        // Waiting, the caller owns no queue for its replies: they come by direct reply-to. (Its
        // one exclusive queue bound to the fleet exchange hears feed listeners, for `dispatched`
        // events; it dies with the connection.)
        const owners = connectionIds(callerConnection);
        assert.equal(owners.length, 1, 'the caller is connected');
        const fleet = fleetQueues();
        assert.deepEqual(
          brokerQueues().filter(
            (queueName) => owners.includes(queueName.owner) && !fleet.has(queueName.name),
          ),
          [],
        );
      }
      caller.kill('SIGKILL');
      await exited;
      const seen = worker.lines.length;
      await eventually(() => ended(id), 30_000);
      assert.doesNotMatch(output, /answered/);
      if (before !== undefined) {
        // Other processes on this broker come and go; a queue of this caller would be a
        // server-named or reply queue that outlives it (exclusive ones die with their connection).
        const known = new Set(before.map((queueName) => queueName.name));
        const added = brokerQueues().filter(
          (queueName) => !known.has(queueName.name) && !queueName.exclusive,
        );
        assert.deepEqual(
          added.filter(({ name: added }) => added.startsWith('amq.') || added.includes('reply')),
          [],
          'nothing is left on the broker',
        );
        assert.deepEqual(connectionIds(callerConnection), [], 'the connection died with the caller');
      }
      assert.equal(await queue.call(new Fib(10), { queue: name, waitMs: 20_000 }), 55);
      assert.deepEqual(
        worker.lines.slice(seen).filter((line) => Number(line.level) >= 50),
        [],
        'the dropped reply cost the worker nothing',
      );
      if (transport.name === 'sqlite') {
        // Another process, which did not dispatch it, reads the outcome from the file.
        const reader = spawnSync(process.execPath, ['--import', 'tsx', CALLER], {
          env: { ...process.env, NODE_OPTIONS: '', QUEUE_URL: transport.url(), JOB_ID: id, READ_ONLY: '1' },
          encoding: 'utf8',
          timeout: 30_000,
        });
        assert.equal(reader.stdout.trim(), JSON.stringify({ value: id }), reader.stderr);
      }
    });

    test('a dropped connection rejects the waits in flight with ERR_RESULT_LOST; the next call works', {
      skip: transport.name === 'amqp' ? ctlSkipReason() : 'RabbitMQ only: a SQLite file has no connection',
    }, async () => {
      const id = `lost-${randomUUID()}`;
      // Long enough for rabbitmqctl, which takes seconds on a busy machine, to drop the connection first.
      const calling = queue.call(new NapThenAnswer(12_000, log, id), { queue: name, id });
      await eventually(() => started(id), 20_000);
      assert.ok(dropConnections(connectionName) >= 1, 'the caller had a connection to drop');
      const error = await failure(calling);
      assert.equal(error.code, ErrorCode.RESULT_LOST);
      assert.match(error.message, /channel its reply was addressed to closed/);
      await eventually(() => ended(id), 30_000);
      assert.equal(await queue.call(new Fib(11), { queue: name, waitMs: 30_000 }), 89, 'after reconnecting');
    });

    test('multitask dispatch --wait prints each result as JSON in input order, and exits 1 when a job failed', () => {
      const url = transport.url();
      const input = [
        { task: 'Fib', fields: { n: 10 } },
        { task: 'Tagged', fields: { iso: '2026-01-02T03:04:05.000Z', digits: '12' } },
        { task: 'Throw', fields: { file: log, tag: `cli-${randomUUID()}` }, attempts: 1 },
        { task: 'Fib', fields: { n: 5 } },
      ]
        .map((line) => JSON.stringify(line))
        .join('\n');
      const args = ['dispatch', '--app', RESULT_APP_PATH, '--queue', name, '--url', url, '--wait'];
      const batch = runCli(args, { cwd: dir, input });
      assert.equal(batch.status, 1, batch.stderr);
      const lines = batch.stdout.trim().split('\n');
      assert.equal(lines.length, 4, batch.stdout);
      assert.equal(lines[0], '55');
      const tagged = JSON.parse(lines[1]!) as Record<string, unknown>;
      assert.deepEqual(tagged.at, { $multitask: 'Date', value: '2026-01-02T03:04:05.000Z' });
      assert.deepEqual(tagged.big, { $multitask: 'BigInt', value: '12' });
      assert.equal(lines[2], 'null', 'a failed job keeps its line');
      assert.equal(lines[3], '5');
      assert.match(
        batch.stderr,
        /^line 3: ERR_TASK_FAILED: planned failure 1\n\s+RangeError: planned failure 1/m,
      );

      const one = runCli([...args, '--task', 'Fib', '{"n":12}'], { cwd: dir });
      assert.equal(one.status, 0, one.stderr);
      assert.equal(one.stdout, '144\n');

      const slow = runCli(
        [
          ...args,
          '--wait-ms',
          '200',
          '--task',
          'NapThenAnswer',
          JSON.stringify({ ms: 1_500, file: log, answer: 'x' }),
        ],
        { cwd: dir },
      );
      assert.equal(slow.status, 1);
      assert.equal(slow.stdout, 'null\n');
      assert.match(slow.stderr, /ERR_RESULT_TIMEOUT/);

      const usage = runCli(
        ['dispatch', '--app', RESULT_APP_PATH, '--url', url, '--wait-ms', '5', '--task', 'Fib', '{}'],
        {
          cwd: dir,
        },
      );
      assert.equal(usage.status, 2);
      assert.match(usage.stderr, /--wait-ms \(MULTITASK_WAIT_MS\) needs --wait/);
    });
  });
}

describe('results on SQLite are kept resultTtlMs', () => {
  test('an outcome past resultTtlMs is gone for readers, and the next writer prunes it', async () => {
    const path = join(dir, 'ttl.db');
    const queue = await openQueue(`sqlite:${path}`, { app: RESULT_APP, resultTtlMs: 300 });
    const pool = new Pool({ app: RESULT_APP, size: 1 });
    const name = uniqueQueue('results-ttl');
    const consumer = pool.consume(queue, { queue: name });
    const rowsOf = (id: string) => {
      const db = new Database(path, { readonly: true });
      try {
        return (db.prepare('SELECT count(*) AS n FROM results WHERE id = ?').get(id) as { n: number }).n;
      } finally {
        db.close();
      }
    };
    try {
      const id = await queue.dispatch(new Fib(5), { queue: name, result: true });
      assert.equal(await queue.result(id, { waitMs: 10_000 }), 5);
      assert.equal(rowsOf(id), 1);
      await sleep(400);
      assert.equal((await failure(queue.result(id))).code, ErrorCode.INVALID_OPTION, 'past its time');
      assert.equal(await queue.call(new Fib(6), { queue: name, waitMs: 10_000 }), 8);
      assert.equal(rowsOf(id), 0, 'pruned when the next outcome was written');
    } finally {
      await consumer.stop();
      await pool.close();
      await queue.close();
    }
  });
});
