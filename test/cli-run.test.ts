/**
 * `multitask run`: a long-running task supervised on every worker, inside the same service as
 * `work` (probes, metrics, signals), minus what only a queue consumer has (a broker, resizing).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROUTES } from '../src/http/routes.js';
import { METRIC } from '../src/observability/metric-names.js';
import { CliProcess, http, metricValue, QUEUE_APP_PATH, runCli } from './cli-helpers.js';
import { eventually } from './helpers.js';
import { runLines, tempDir } from './queue-helpers.js';

/** `multitask run` of a fixture task with its fields. */
function startRun(
  cwd: string,
  task: string,
  workers: number,
  http: string,
  extra: string[],
  fields: unknown,
) {
  return new CliProcess(
    [
      'run',
      '--app',
      QUEUE_APP_PATH,
      '--task',
      task,
      '--workers',
      String(workers),
      '--http',
      http,
      ...extra,
      JSON.stringify(fields),
    ],
    { cwd },
  );
}

describe('multitask run', () => {
  it('supervises the task on every worker and stops on SIGTERM with exit 0', async () => {
    const cwd = tempDir();
    const file = join(cwd, 'runs');
    const run = startRun(cwd, 'Nap', 2, '127.0.0.1:0', [], { ms: 600_000, file, tag: 'svc' });

    const base = await run.httpBase();
    await eventually(() => runLines(file).filter((line) => line.kind === 'start').length === 2);
    assert.equal((await http(base, ROUTES.ready)).status, 200);
    assert.equal(await run.stop('SIGTERM'), 0, run.output);
    await run.waitForLine('stopped');
    assert.deepEqual(
      run.lines.filter((line) => (line.level as number) >= 50),
      [],
      'a requested stop is no crash loop',
    );
  });

  it('stops at once on a second signal, even a task that ignores its signal', async () => {
    const cwd = tempDir();
    const file = join(cwd, 'runs');
    const run = startRun(cwd, 'Hang', 1, 'off', ['--grace-ms', '600000'], { file });

    await eventually(() => runLines(file).length === 1);
    run.child.kill('SIGTERM');
    await run.waitForLine(/^stopping: the task sees its signal abort/);
    // Well inside the ten-minute grace: the second signal ended it.
    assert.equal(await run.stop('SIGTERM', 20_000), 0, run.output);
    await run.waitForLine('stopping now');
  });

  it('exits 0 once every replica returned, and 2 for a task that is not registered', () => {
    const cwd = tempDir();
    const file = join(cwd, 'runs');
    const done = runCli(
      [
        'run',
        '--app',
        QUEUE_APP_PATH,
        '--task',
        'Record',
        '--workers',
        '2',
        '--http',
        'off',
        JSON.stringify({ file, tag: 'once' }),
      ],
      { cwd },
    );
    assert.equal(done.status, 0, done.stderr + done.stdout);
    assert.equal(runLines(file).length, 2, 'one run per replica');
    const missing = runCli(['run', '--app', QUEUE_APP_PATH, '--task', 'Nope', '--http', 'off'], { cwd });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /--task \(MULTITASK_TASK\): Task "Nope" is not registered/);
  });

  it('is ready while it supervises, turns unready on SIGTERM while the task has its grace, and is not resizable', async () => {
    const cwd = tempDir();
    const file = join(cwd, 'runs');
    const run = startRun(cwd, 'Hang', 1, '127.0.0.1:0', ['--grace-ms', '600000'], { file });
    const base = await run.httpBase();
    await eventually(async () => (await http(base, ROUTES.ready)).status === 200);
    assert.deepEqual(
      (await http(base, ROUTES.ready)).body,
      { ok: true, phase: 'running', workersAlive: 1 },
      'no broker to report on',
    );
    const metrics = (await http(base, ROUTES.metrics)).text;
    assert.equal(metricValue(metrics, METRIC.ready), 1);
    assert.equal(metricValue(metrics, METRIC.workersAlive), 1);
    assert.equal(metricValue(metrics, METRIC.taskRestarts), 0);
    assert.equal(metricValue(metrics, METRIC.queueReady), undefined, 'no queue, no queue gauges');

    const resize = await http(base, `${ROUTES.workers}?size=2`, 'POST');
    assert.equal(resize.status, 400, 'one replica per worker: the size is not the operator’s to change');
    run.child.kill('SIGHUP');
    // Answered after the SIGHUP: the signal did not end the process.
    assert.equal((await http(base, ROUTES.health)).status, 200);

    run.child.kill('SIGTERM');
    await run.waitForLine(/^stopping: the task sees its signal abort/);
    const draining = await http(base, ROUTES.ready);
    assert.equal(draining.status, 503);
    assert.equal((draining.body as { phase: string }).phase, 'draining');
    assert.equal((await http(base, ROUTES.health)).status, 200, 'alive while it drains');
    assert.equal(await run.stop('SIGTERM', 20_000), 0, run.output);
  });

  it('reads the pool and probe settings as `work` does, naming the flag and its variable', () => {
    const cwd = tempDir();
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ MULTITASK_WORKERS: 'lots' }, /invalid --workers \(MULTITASK_WORKERS\): expected a worker count/],
      [
        { MULTITASK_CONCURRENCY: '0' },
        /invalid --concurrency \(MULTITASK_CONCURRENCY\): expected an integer from 1/,
      ],
      [{ MULTITASK_GRACE_MS: '-5' }, /invalid --grace-ms \(MULTITASK_GRACE_MS\)/],
      [{ MULTITASK_HTTP: 'everywhere' }, /invalid --http \(MULTITASK_HTTP\)/],
    ];
    const commands = [
      ['run', '--app', QUEUE_APP_PATH, '--task', 'Record'],
      ['work', '--app', QUEUE_APP_PATH],
    ];
    for (const [env, message] of cases) {
      for (const args of commands) {
        const result = runCli(args, { cwd, env });
        assert.equal(result.status, 2, `${args[0]} with ${JSON.stringify(env)}: ${result.stderr}`);
        assert.match(result.stderr.trim(), message);
      }
    }
  });
});
