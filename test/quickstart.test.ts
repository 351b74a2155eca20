// `npm start` as a user runs it: the quickstart in a fresh working directory, so it makes its
// own embedded queue there, must finish by itself, sum up what happened, and leave the one job
// that always fails in the failed store.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ALWAYS_FAILS_MESSAGE } from '../examples/quickstart/tasks.js';
import { openQueue } from '../src/index.js';
import { tempDir } from './queue-helpers.js';

const MAIN = fileURLToPath(new URL('../examples/quickstart/main.ts', import.meta.url));
// Resolved from the repository: `--import tsx` alone would look for tsx under the temp directory.
const TSX = import.meta.resolve('tsx');
const DEADLINE_MS = 120_000;

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the quickstart in `cwd`; its exit code and everything it printed. */
async function runQuickstart(cwd: string): Promise<{ code: number | null; output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' };
  delete env.MULTITASK_URL; // the embedded default, whatever the environment of the test says
  const child = spawn(process.execPath, ['--import', TSX, MAIN], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

test('npm start: the quickstart consumes its jobs, sums up, and leaves one failed job', {
  timeout: DEADLINE_MS + 30_000,
}, async () => {
  const { code, output } = await runQuickstart(dir);
  assert.equal(code, 0, `the quickstart exits by itself, with 0:\n${output}`);

  const total = Number(/dispatched (\d+) jobs to "quickstart"/.exec(output)?.[1]);
  assert.ok(total >= 1_000, `it says how many jobs it dispatched:\n${output}`);
  const summary =
    /^done (?<done>\d+) · retried (?<retried>\d+) · failed (?<failed>\d+) · restarts (?<restarts>\d+) · (?<rate>\d+) jobs\/s · [\d.]+ s$/m.exec(
      output,
    )?.groups;
  assert.ok(summary, `the summary line is there, in its format:\n${output}`);
  const [done, retried, failed, restarts, rate] = [
    summary.done,
    summary.retried,
    summary.failed,
    summary.restarts,
    summary.rate,
  ].map(Number) as [number, number, number, number, number];
  assert.equal(done + failed, total, 'every job dispatched is done or failed');
  assert.equal(failed, 1, 'exactly the job that always fails failed');
  assert.ok(retried > 0, 'flaky jobs were retried');
  assert.ok(restarts >= 1, 'the crashed worker was replaced');
  assert.ok(rate > 0, 'a throughput is given');
  assert.match(output, /npx multitask failed list --queue quickstart$/m);

  const file = join(dir, '.multitask', 'queue.db');
  assert.ok(existsSync(file), 'the embedded queue lives under the working directory');
  const queue = await openQueue(`sqlite:${file}`);
  try {
    const jobs = await queue.failed('quickstart');
    assert.equal(jobs.length, 1, 'one job in the failed store');
    assert.equal(jobs[0]!.task, 'AlwaysFails');
    assert.equal(jobs[0]!.error.message, ALWAYS_FAILS_MESSAGE);
    assert.equal(jobs[0]!.attempts, 3);
    assert.deepEqual(await queue.stats('quickstart'), { ready: 0, inFlight: 0, delayed: 0, failed: 1 });
  } finally {
    await queue.close();
  }
});
