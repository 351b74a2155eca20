// `multitask failed` job by job, on the embedded queue: show one job in full, retry or purge
// some ids (naming those missing, exit 1, after acting on the others), `--all` without a
// terminal, and `list --json` with the bodies. The question `--all` asks on a terminal is
// checked on the helper that asks it.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { confirm } from '../src/cli/confirm.js';
import { type FailedJob, openQueue, Pool } from '../src/index.js';
import { runCli } from './cli-helpers.js';
import { FailTimes } from './fixtures/queue-tasks.js';
import { eventually } from './helpers.js';
import { QUEUE_APP, tempDir } from './queue-helpers.js';

const IDS = ['a-1', 'a-2', 'a-3'];

/** A directory whose default queue (./.multitask/queue.db) holds three failed jobs, a-1 to a-3. */
async function withFailedJobs(): Promise<string> {
  const cwd = tempDir();
  mkdirSync(join(cwd, '.multitask'));
  const queue = await openQueue(`sqlite:${join(cwd, '.multitask', 'queue.db')}`, { app: QUEUE_APP });
  const pool = new Pool({ app: QUEUE_APP, size: 1 });
  try {
    for (const id of IDS) await queue.dispatch(new FailTimes(9, '', id), { id, attempts: 1 });
    const consumer = pool.consume(queue);
    await eventually(() => consumer.counts.failed === IDS.length);
  } finally {
    await pool.close();
    await queue.close();
  }
  return cwd;
}

function stats(cwd: string): { ready: number; failed: number } {
  const result = runCli(['status', '--json'], { cwd });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as { ready: number; failed: number };
}

describe('multitask failed, job by job', () => {
  it('show prints one job in full; an id not in the store exits 1 saying so', async () => {
    const cwd = await withFailedJobs();
    const shown = runCli(['failed', 'show', 'a-2'], { cwd });
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /^id +a-2$/m);
    assert.match(shown.stdout, /^task +FailTimes$/m);
    assert.match(shown.stdout, /^attempts +1$/m);
    assert.match(shown.stdout, /^failed at +\d{4}-\d\d-\d\dT/m);
    assert.match(shown.stdout, /^error +E_PLANNED RangeError: planned failure 1$/m);
    assert.match(shown.stdout, /^ +at .*queue-tasks/m, 'the stack');
    assert.match(shown.stdout, /"failures": 9/, 'the fields');
    assert.match(shown.stdout, /^ +\{"v":1,"id":"a-2"/m, 'the body');

    const json = JSON.parse(runCli(['failed', 'show', 'a-2', '--json'], { cwd }).stdout) as FailedJob;
    assert.equal(json.id, 'a-2');
    assert.match(json.error.stack ?? '', /queue-tasks/);
    assert.equal((JSON.parse(json.body) as { id: string }).id, 'a-2');

    const missing = runCli(['failed', 'show', 'nope'], { cwd });
    assert.equal(missing.status, 1);
    assert.equal(missing.stdout, '');
    assert.equal(missing.stderr, 'multitask: no failed job "nope" in "default"\n');
    assert.equal(runCli(['failed', 'show'], { cwd }).status, 2, 'an id is needed');
  });

  it('list --json prints what queue.failed() returns, bodies included; --after pages', async () => {
    const cwd = await withFailedJobs();
    const listed = runCli(['failed', 'list', '--json'], { cwd });
    assert.equal(listed.status, 0, listed.stderr);
    const jobs = JSON.parse(listed.stdout) as FailedJob[];
    assert.deepEqual(
      jobs.map((job) => job.id),
      IDS,
    );
    for (const job of jobs) assert.equal((JSON.parse(job.body) as { id: string }).id, job.id);

    const page = runCli(['failed', 'list', '--limit', '1', '--after', 'a-1'], { cwd });
    assert.equal(page.status, 0, page.stderr);
    assert.match(page.stdout, /^a-2 +FailTimes/m);
    assert.doesNotMatch(page.stdout, /^a-[13] /m);
    assert.match(page.stdout, /next page: multitask failed list --queue default --after a-2/);
    assert.match(page.stdout, /move them back with: multitask failed retry <id…> --queue default/);

    const unknown = runCli(['failed', 'list', '--after', 'nope'], { cwd });
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /ERR_INVALID_OPTION: Invalid option "after"/);
    const bad = runCli(['failed', 'list', '--after', 'has space'], { cwd });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /invalid --after \(MULTITASK_AFTER\)/);
  });

  it('retry and purge of ids act on those found, then name each one missing and exit 1', async () => {
    const cwd = await withFailedJobs();
    const retried = runCli(['failed', 'retry', 'a-1', 'nope'], { cwd });
    assert.equal(retried.status, 1);
    assert.equal(retried.stdout, 'moved 1 failed jobs back to "default"\n');
    assert.equal(retried.stderr, 'multitask: no failed job "nope" in "default"\n');
    assert.deepEqual([stats(cwd).ready, stats(cwd).failed], [1, 2]);

    const purged = runCli(['failed', 'purge', 'gone', 'a-3', 'also-gone'], { cwd });
    assert.equal(purged.status, 1);
    assert.equal(purged.stdout, 'deleted 1 failed jobs of "default"\n');
    assert.match(purged.stderr, /no failed job "gone"/);
    assert.match(purged.stderr, /no failed job "also-gone"/);
    assert.equal(stats(cwd).failed, 1);

    const found = runCli(['failed', 'purge', 'a-2'], { cwd });
    assert.equal(found.status, 0, found.stderr);
    assert.equal(stats(cwd).failed, 0);
  });

  it('retry or purge needs ids or --all, not neither nor both (exit 2)', async () => {
    const cwd = await withFailedJobs();
    for (const args of [
      ['failed', 'retry'],
      ['failed', 'purge'],
      ['failed', 'retry', 'a-1', '--all'],
      ['failed', 'retry', 'has space'],
    ]) {
      const result = runCli(args, { cwd });
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /^multitask: /);
    }
    assert.equal(stats(cwd).failed, 3, 'nothing moved');
  });

  it('--all acts without asking when not on a terminal', async () => {
    const cwd = await withFailedJobs();
    const retried = runCli(['failed', 'retry', '--all'], { cwd });
    assert.equal(retried.status, 0, retried.stderr);
    assert.equal(retried.stdout, 'moved 3 failed jobs back to "default"\n');
    assert.deepEqual([stats(cwd).ready, stats(cwd).failed], [3, 0]);

    const other = await withFailedJobs();
    const purged = runCli(['failed', 'purge', '--all'], { cwd: other });
    assert.equal(purged.status, 0, purged.stderr);
    assert.equal(purged.stdout, 'deleted 3 failed jobs of "default"\n');
    assert.equal(stats(other).failed, 0);
  });
});

describe('the question --all asks on a terminal', () => {
  async function answer(text: string | undefined): Promise<{ yes: boolean; asked: string }> {
    const input = new PassThrough();
    const output = new PassThrough();
    let asked = '';
    output.on('data', (chunk: Buffer) => {
      asked += chunk.toString();
    });
    const pending = confirm('retry every failed job of "default" (3 jobs)?', input, output);
    if (text === undefined) input.end();
    else input.write(text);
    return { yes: await pending, asked };
  }

  it('is yes only for y or yes', async () => {
    for (const text of ['y\n', 'yes\n', 'YES\n', ' Y \n']) assert.equal((await answer(text)).yes, true, text);
    for (const text of ['\n', 'n\n', 'no\n', 'yep\n', undefined])
      assert.equal((await answer(text)).yes, false, text);
    assert.equal((await answer('\n')).asked, 'retry every failed job of "default" (3 jobs)? [y/N] ');
  });
});
