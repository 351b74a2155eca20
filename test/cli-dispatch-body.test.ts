/**
 * `multitask dispatch` reading message-format bodies (`{"v":1,…}`, docs/message-format.md) as
 * JSON lines: the way into a SQLite queue for producers in other languages. The body's id,
 * attempts and tagged fields reach the consumer as if the body had been put on the queue
 * itself; a body the consumer would refuse is refused by its line number, with nothing sent.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openQueue, Pool } from '../src/index.js';
import { QUEUE_APP_PATH, runCli, usageError } from './cli-helpers.js';
import { nextSettled, QUEUE_APP, tempDir } from './queue-helpers.js';

const CODEC_APP = new URL('./fixtures/codec-app.ts', import.meta.url);
const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

/** `multitask dispatch` of these lines to `queue` of the SQLite file `db`. */
function dispatchLines(app: string, db: string, queue: string, lines: unknown[]) {
  const input = `${lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`;
  return runCli(['dispatch', '--app', app, '--url', `sqlite:${db}`, '--queue', queue], { cwd: dir, input });
}

describe('dispatch of message-format bodies', { timeout: 60_000 }, () => {
  it('lands a body with its id, and its tagged Date arrives as a Date in the task', async () => {
    const db = join(dir, 'codec.db');
    const seen = join(dir, 'seen');
    const sent = dispatchLines(fileURLToPath(CODEC_APP), db, 'bodies', [
      {
        v: 1,
        id: 'order-7:invoice',
        task: 'Inspect',
        fields: { file: seen, value: { $multitask: 'Date', value: '2026-12-01T10:00:00.000Z' } },
        attempts: 2,
        dispatchedAt: '2026-11-28T10:00:00.000Z',
      },
    ]);
    assert.equal(sent.status, 0, sent.stderr);
    assert.match(sent.stdout, /^dispatched 1 job to "bodies"/);

    const queue = await openQueue(`sqlite:${db}`, { app: CODEC_APP });
    const pool = new Pool({ app: CODEC_APP, size: 1 });
    try {
      const consumer = pool.consume(queue, { queue: 'bodies' });
      const settled = await nextSettled(consumer, 'completed');
      assert.equal(settled.id, 'order-7:invoice', "the body's id is the job's");
      assert.equal(settled.task, 'Inspect');
      // inspect() prints a Date bare and a string quoted: the tag was decoded, not passed on.
      assert.deepEqual(readFileSync(seen, 'utf8').trim().split('\n'), [
        JSON.stringify('2026-12-01T10:00:00.000Z'),
      ]);
      await consumer.stop();
    } finally {
      await pool.close();
      await queue.close();
    }
  });

  it("uses the body's attempts: a failing job with one attempt fails at once, under its id", async () => {
    const db = join(dir, 'attempts.db');
    const sent = dispatchLines(QUEUE_APP_PATH, db, 'fails', [
      { v: 1, id: 'order-43', task: 'FailTimes', fields: { failures: 9, file: '', tag: 'f' }, attempts: 1 },
      // The command's own shape still works beside a body.
      { task: 'Record', fields: { file: '', tag: 'r' } },
    ]);
    assert.equal(sent.status, 0, sent.stderr);
    const queue = await openQueue(`sqlite:${db}`, { app: QUEUE_APP });
    const pool = new Pool({ app: QUEUE_APP, size: 1 });
    try {
      const consumer = pool.consume(queue, { queue: 'fails' });
      const failed = await nextSettled(consumer, 'failed');
      assert.equal(failed.id, 'order-43');
      assert.equal(failed.attempt, 1, 'no retry: the body allowed one attempt (the flag says 3)');
      await consumer.stop();
      const stored = await queue.failed('fails');
      assert.equal(stored.length, 1);
      assert.equal(stored[0]!.id, 'order-43');
      assert.equal(stored[0]!.attempts, 1);
    } finally {
      await pool.close();
      await queue.close();
    }
  });

  it('refuses a body the consumer would not run, by its line, and sends nothing of the batch', async () => {
    const db = join(dir, 'refused.db');
    const good = { v: 1, id: 'ok-1', task: 'Record', fields: { file: '', tag: 'a' } };
    assert.equal(dispatchLines(QUEUE_APP_PATH, db, 'refused', [good]).status, 0, 'one job first');
    const refusals: Array<[unknown, RegExp]> = [
      [{ ...good, v: 2 }, /line 2: Message is not a job: "v" must be 1, got 2; nothing was dispatched$/],
      [{ ...good, queue: 'other' }, /line 2: unknown key "queue" in a message body \(v, id, task, .*--queue/],
      [{ ...good, fields: undefined }, /line 2: Message is not a job: "fields" must be a JSON object/],
      [{ ...good, id: 'has space' }, /line 2: Invalid option "id": expected 1 to 200 printable ASCII/],
      [{ ...good, attempts: 0 }, /line 2: Message is not a job: "attempts" must be an integer >= 1/],
      [{ ...good, fields: { run: 1 } }, /line 2: Message is not a job: field "run" is named like a member/],
      [
        { ...good, fields: { file: '', tag: { $multitask: 'Date', value: 'not a date' } } },
        /line 2: Message is not a job: .*tag/,
      ],
      [{ ...good, task: 'Missing' }, /line 2: Task "Missing" is not registered/],
    ];
    for (const [line, expected] of refusals) {
      assert.match(usageError(dispatchLines(QUEUE_APP_PATH, db, 'refused', [good, line])), expected);
    }
    const queue = await openQueue(`sqlite:${db}`, { app: QUEUE_APP });
    try {
      assert.equal((await queue.stats('refused')).ready, 1, 'only the first, separate, dispatch');
    } finally {
      await queue.close();
    }
  });
});
