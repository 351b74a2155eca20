/**
 * Producers in other languages, written only from the docs (examples/python-producer,
 * examples/php-producer): each declares the queue as docs/producers.md says, before any
 * multitask process has, publishes jobs with publisher confirms, and then a multitask consumer
 * declares the same queue without a PRECONDITION_FAILED and runs every job once, its fields
 * read back (the task records its own `tag` field). Under CI the interpreters must be there (.ci/producers.sh installs them); elsewhere a
 * missing one skips with how to install it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { openQueue, Pool } from '../src/index.js';
import {
  AMQP_TEST_URL,
  amqpSkipReason,
  deleteAmqpQueue,
  QUEUE_APP,
  runLines,
  tempDir,
  uniqueQueue,
} from './queue-helpers.js';

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));
const JOBS = 50;

interface Producer {
  name: string;
  command: string[];
  /** Exits 0 when the interpreter and its AMQP client are there. */
  probe: string[];
  install: string;
}

const PRODUCERS: Producer[] = [
  {
    name: 'Python (pika)',
    command: ['/usr/bin/python3', join(EXAMPLES, 'python-producer/publish.py')],
    probe: ['/usr/bin/python3', '-c', 'import pika'],
    install: 'apt-get install python3-pika',
  },
  {
    name: 'PHP (pecl amqp)',
    command: ['php', join(EXAMPLES, 'php-producer/publish.php')],
    probe: ['php', '-r', 'exit(class_exists("AMQPConnection") ? 0 : 1);'],
    install: 'apt-get install php-cli php-amqp',
  },
];

function skipReason(producer: Producer): string | undefined {
  if (spawnSync(producer.probe[0]!, producer.probe.slice(1)).status === 0) return undefined;
  const reason = `${producer.name} is not installed (${producer.install}, or bash .ci/producers.sh)`;
  if (process.env.CI) throw new Error(`${reason}; CI is set, so the producer tests must run`);
  return reason;
}

const amqpSkip = await amqpSkipReason();
const queues: string[] = [];
after(async () => {
  for (const queue of queues) await deleteAmqpQueue(queue);
});

describe('producers in other languages, from the docs alone', () => {
  for (const producer of PRODUCERS) {
    it(`${producer.name}: declares the queue first, and multitask runs every job once`, {
      skip: amqpSkip ?? skipReason(producer),
    }, async () => {
      const queue = uniqueQueue('amqp-producer');
      queues.push(queue);
      const file = join(tempDir(), 'runs.log');
      // Fields as a producer would write them: nested objects, an empty object, unicode.
      const lines = Array.from({ length: JOBS }, (_, i) =>
        JSON.stringify({ file, tag: `job-${i}`, meta: { empty: {}, text: 'ü ✓' } }),
      );
      const published = spawnSync(
        producer.command[0]!,
        [...producer.command.slice(1), AMQP_TEST_URL, queue, 'Record'],
        {
          input: `${lines.join('\n')}\n`,
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      assert.equal(published.status, 0, published.stderr);
      const ids = published.stdout.trim().split('\n');
      assert.equal(ids.length, JOBS, 'one confirmed id per job');
      assert.equal(new Set(ids).size, JOBS, 'ids are unique');

      // multitask starts second: its declaration must match the producer's.
      const handle = await openQueue(AMQP_TEST_URL, { app: QUEUE_APP });
      const pool = new Pool({ app: QUEUE_APP, size: 1, concurrency: 8 });
      try {
        const consumer = pool.consume(handle, { queue });
        await consumer.ready;
        const deadline = Date.now() + 30_000;
        while (runLines(file).length < JOBS && Date.now() < deadline) await sleep(50);
        const runs = runLines(file);
        assert.deepEqual(
          runs.map((run) => run.tag).sort(),
          lines.map((_, i) => `job-${i}`).sort(),
          'every job ran once',
        );
        assert.ok(
          runs.every((run) => run.attempt === 1),
          'each on its first attempt',
        );
        assert.equal((await handle.failed(queue)).length, 0, 'nothing in the failed store');
      } finally {
        await pool.close();
        await handle.close();
      }
    });
  }
});
