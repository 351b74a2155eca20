// The documented message format works for a producer that is not multitask: a plain amqplib
// script (examples/amqplib-producer) publishes a job that a multitask consumer runs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openQueue, Pool } from '../src/index.js';
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

const PRODUCER = fileURLToPath(new URL('../examples/amqplib-producer/publish.mjs', import.meta.url));
const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

describe('message format', { skip: await amqpSkipReason() }, () => {
  test('a job published by a plain amqplib script runs in a multitask consumer', async () => {
    const name = uniqueQueue('amqp');
    const log = join(dir, `${name}.log`);
    const queue = await openQueue(AMQP_TEST_URL, { app: QUEUE_APP });
    const pool = new Pool({ app: QUEUE_APP, size: 1 });
    try {
      const consumer = pool.consume(queue, { queue: name });
      await consumer.ready;
      const output = execFileSync(
        process.execPath,
        [PRODUCER, AMQP_TEST_URL, name, 'Record', JSON.stringify({ file: log, tag: 'from-amqplib' })],
        { encoding: 'utf8' },
      );
      assert.match(output, /published job [0-9a-f-]{36} \(Record\)/);
      await eventually(() => consumer.counts.completed === 1);
      assert.deepEqual(
        runLines(log).map(({ tag, attempt }) => ({ tag, attempt })),
        [{ tag: 'from-amqplib', attempt: 1 }],
      );
    } finally {
      await pool.close({ graceMs: 0 });
      await queue.close();
      await deleteAmqpQueue(name);
    }
  });
});
