/**
 * `multitask work` end to end on the embedded queue: the binary in a child process, fed by
 * `multitask dispatch`, observed through its probes, metrics and logs, stopped by signals.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ROUTES } from '../src/http/routes.js';
import { METRIC } from '../src/observability/metric-names.js';
import {
  CLI,
  CliProcess,
  cliEnv,
  http,
  metricValue,
  QUEUE_APP_PATH,
  runCli,
  startWork as startWorkProcess,
} from './cli-helpers.js';
import { eventually } from './helpers.js';
import { runLines, tempDir } from './queue-helpers.js';

/** JSON lines of `count` Nap jobs of `ms`, recording to `file`. */
function naps(count: number, ms: number, file: string): string {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({ task: 'Nap', fields: { ms, file, tag: `n${i}` } }),
  ).join('\n');
}

function queueStatus(cwd: string, queue: string) {
  const status = runCli(['status', '--queue', queue, '--json'], { cwd });
  assert.equal(status.status, 0, status.stderr);
  const { ready, inFlight, delayed, failed } = JSON.parse(status.stdout) as Record<
    'ready' | 'inFlight' | 'delayed' | 'failed',
    number
  >;
  return { ready, inFlight, delayed, failed };
}

function dispatchNaps(cwd: string, queue: string, count: number, ms: number, file: string): void {
  const result = runCli(['dispatch', '--app', QUEUE_APP_PATH, '--queue', queue], {
    cwd,
    input: naps(count, ms, file),
  });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`dispatched ${count} jobs to "${queue}"`));
}

function startWork(cwd: string, queue: string, extra: string[] = [], env: Record<string, string> = {}) {
  return startWorkProcess(cwd, { queue, extra, env });
}

describe('multitask work (embedded queue)', () => {
  it('is ready while it runs, counts jobs in its metrics, and on SIGTERM turns unready, finishes what it holds and exits 0', async () => {
    const cwd = tempDir();
    const file = join(cwd, 'runs');
    dispatchNaps(cwd, 'q', 16, 700, file);
    const work = startWork(cwd, 'q', ['--grace-ms', '20000']);
    const base = await work.httpBase();
    assert.equal((await http(base, ROUTES.health)).status, 200);
    await eventually(async () => (await http(base, ROUTES.ready)).status === 200);

    // Metrics move while jobs run: some completed, some in flight.
    let metrics = '';
    await eventually(async () => {
      metrics = (await http(base, ROUTES.metrics)).text;
      return (metricValue(metrics, METRIC.jobsCompleted, { queue: 'q', task: 'Nap' }) ?? 0) >= 4;
    });
    assert.equal(metricValue(metrics, METRIC.workersAlive), 2);
    assert.equal(metricValue(metrics, METRIC.ready), 1);
    assert.ok((metricValue(metrics, METRIC.queueReady, { queue: 'q' }) ?? -1) >= 0, metrics);
    assert.ok(metrics.includes(`${METRIC.jobDuration}_bucket`));

    await eventually(
      () =>
        runLines(file).filter((line) => line.kind === 'start').length >
        runLines(file).filter((line) => line.kind === 'end').length,
    );
    work.child.kill('SIGTERM');
    await work.waitForLine(/^draining/);
    const ready = await http(base, ROUTES.ready);
    assert.equal(ready.status, 503);
    assert.equal((ready.body as { phase: string }).phase, 'draining');
    assert.equal(await work.exitCode(), 0, work.output);

    // Nothing lost: every job that started finished, the rest wait in the queue.
    const lines = runLines(file);
    const started = lines.filter((line) => line.kind === 'start').map((line) => line.tag);
    const ended = lines.filter((line) => line.kind === 'end').map((line) => line.tag);
    assert.deepEqual(ended.sort(), started.sort());
    const status = queueStatus(cwd, 'q');
    assert.equal(status.inFlight, 0);
    assert.equal(status.failed, 0);
    assert.equal(status.ready + new Set(ended).size, 16);
    assert.ok(status.ready > 0);
    const stopped = work.lines.find((line) => line.msg === 'stopped');
    assert.equal(stopped?.exitCode, 0);
  });

  it('gives back the jobs that outlive the grace, uncounted, and exits 0', async () => {
    const cwd = tempDir();
    const file = join(cwd, 'runs');
    dispatchNaps(cwd, 'slow', 6, 60_000, file);
    const work = startWork(cwd, 'slow', ['--grace-ms', '300']);
    await eventually(() => runLines(file).length >= 4);
    assert.equal(await work.stop('SIGTERM'), 0, work.output);
    assert.equal(runLines(file).filter((line) => line.kind === 'end').length, 0);
    assert.deepEqual(queueStatus(cwd, 'slow'), { ready: 6, inFlight: 0, delayed: 0, failed: 0 });
    const released = work.lines.filter((line) => line.msg === 'job given back to the queue');
    assert.equal(released.length, 4);
    for (const line of released) {
      for (const key of ['jobId', 'task', 'queue', 'attempt', 'workerId'])
        assert.ok(line[key] !== undefined, `${key} in ${JSON.stringify(line)}`);
    }
  });

  it('stops at once on a second signal, and the jobs still go back', async () => {
    const cwd = tempDir();
    const file = join(cwd, 'runs');
    dispatchNaps(cwd, 'twice', 4, 60_000, file);
    const work = startWork(cwd, 'twice', ['--grace-ms', '120000']);
    await eventually(() => runLines(file).length >= 4);
    work.child.kill('SIGTERM');
    await work.waitForLine(/^draining/);
    assert.equal(await work.stop('SIGINT', 15_000), 0, work.output);
    await work.waitForLine(/^stopping now/);
    assert.deepEqual(queueStatus(cwd, 'twice'), { ready: 4, inFlight: 0, delayed: 0, failed: 0 });
  });

  it('logs each job with its id, task, queue, attempt and worker, and a failed job lands in `failed list`', async () => {
    const cwd = tempDir();
    const file = join(cwd, 'runs');
    const job = JSON.stringify({ task: 'FailTimes', fields: { failures: 9, file, tag: 'f' }, attempts: 2 });
    const sent = runCli(['dispatch', '--app', QUEUE_APP_PATH, '--queue', 'fails'], {
      cwd,
      input: `${job}\n`,
    });
    assert.equal(sent.status, 0, sent.stderr);
    const work = startWork(cwd, 'fails', [], { MULTITASK_LOG_LEVEL: 'debug' });
    const failed = await work.waitForLine('job failed for good: moved to the failed store');
    assert.equal(await work.stop(), 0);
    const retried = work.lines.find((line) => line.msg === 'job failed, will be retried');
    assert.ok(retried, work.output);
    assert.equal(retried.task, 'FailTimes');
    assert.equal(retried.queue, 'fails');
    assert.equal(retried.attempt, 1);
    assert.equal(typeof retried.workerId, 'number');
    assert.equal(retried.jobId, failed.jobId);
    assert.equal(failed.attempt, 2);
    assert.deepEqual(failed.error, { code: 'E_PLANNED', message: 'planned failure 2', name: 'RangeError' });

    const list = runCli(['failed', 'list', '--queue', 'fails'], { cwd });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /1 failed job in "fails"/);
    assert.match(list.stdout, new RegExp(`${failed.jobId}\\s+FailTimes\\s+attempts 2`));
    assert.match(list.stdout, /E_PLANNED RangeError: planned failure 2/);
    const json = JSON.parse(
      runCli(['failed', 'list', '--queue', 'fails', '--json'], { cwd }).stdout,
    ) as Array<Record<string, unknown>>;
    assert.equal(json.length, 1);
    assert.deepEqual(json[0]!.fields, { failures: 9, file, tag: 'f' });

    assert.match(
      runCli(['failed', 'retry', '--all', '--queue', 'fails'], { cwd }).stdout,
      /moved 1 failed jobs back to "fails"/,
    );
    assert.deepEqual(queueStatus(cwd, 'fails'), { ready: 1, inFlight: 0, delayed: 0, failed: 0 });
    // Back to the failed store through another round, then purged.
    const again = startWork(cwd, 'fails');
    await again.waitForLine('job failed for good: moved to the failed store');
    assert.equal(await again.stop(), 0);
    assert.match(
      runCli(['failed', 'purge', '--all', '--queue', 'fails'], { cwd }).stdout,
      /deleted 1 failed jobs of "fails"/,
    );
    assert.equal(queueStatus(cwd, 'fails').failed, 0);
  });

  it('writes what tasks log with ctx.log into its own JSON log, naming job, queue, worker, task and attempt', async () => {
    const cwd = tempDir();
    const said = runCli(
      ['dispatch', '--app', QUEUE_APP_PATH, '--queue', 'logs', '--task', 'Say', '{"words":"hello"}'],
      { cwd },
    );
    assert.equal(said.status, 0, said.stderr);
    assert.match(said.stdout, /^[0-9a-f-]{36}\n$/);
    const work = startWork(cwd, 'logs');
    const line = await work.waitForLine('task says');
    assert.equal(await work.stop(), 0);
    assert.equal(line.words, 'hello');
    assert.equal(line.jobId, said.stdout.trim(), 'the job id the dispatch printed');
    assert.equal(line.queue, 'logs');
    assert.equal(line.task, 'Say');
    assert.equal(line.attempt, 1);
    assert.equal(typeof line.workerId, 'number');
    assert.equal(line.level, 30);
    assert.ok(work.lines.every((entry) => typeof entry.level === 'number' && typeof entry.time === 'number'));
  });

  it('shows a progress bar when dispatching a large batch on a terminal, and none when piped', (t) => {
    if (spawnSync('script', ['--version']).status !== 0) {
      t.skip('util-linux `script` is needed to give the command a terminal');
      return;
    }
    const cwd = tempDir();
    const input = join(cwd, 'jobs.jsonl');
    writeFileSync(
      input,
      `${Array.from({ length: 1000 }, () => '{"task":"Noop","fields":{"payload":"x"}}').join('\n')}\n`,
    );
    const command = [process.execPath, CLI, 'dispatch', '--app', QUEUE_APP_PATH, '--queue', 'bar', input]
      .map((part) => `'${part}'`)
      .join(' ');
    const onTerminal = spawnSync('script', ['-qec', command, '/dev/null'], {
      cwd,
      env: cliEnv(),
      encoding: 'utf8',
    });
    assert.equal(onTerminal.status, 0, onTerminal.stdout);
    assert.match(onTerminal.stdout, /dispatching \[=+\] 100% 1000\/1000 jobs/);
    const piped = runCli(['dispatch', '--app', QUEUE_APP_PATH, '--queue', 'bar', input], { cwd });
    assert.equal(piped.status, 0, piped.stderr);
    assert.doesNotMatch(piped.stderr + piped.stdout, /dispatching \[/);
    assert.equal(queueStatus(cwd, 'bar').ready, 2000);
  });

  it('sends each JSON line to its own queue when it names one, and says how many went where', () => {
    const cwd = tempDir();
    const lines = [
      '{"task":"Record","fields":{"file":"","tag":"a1"}}',
      '{"task":"Record","fields":{"file":"","tag":"b1"},"queue":"b","attempts":5}',
      '{"task":"Record","fields":{"file":"","tag":"a2"}}',
    ].join('\n');
    const sent = runCli(['dispatch', '--app', QUEUE_APP_PATH, '--queue', 'a'], { cwd, input: lines });
    assert.equal(sent.status, 0, sent.stderr);
    assert.match(sent.stdout, /^dispatched 3 jobs to "a" \(2\), "b" \(1\) in /);
    assert.equal(queueStatus(cwd, 'a').ready, 2);
    assert.equal(queueStatus(cwd, 'b').ready, 1);
  });

  it("says why when the app's setup fails in its workers, and stays unready", async () => {
    const cwd = tempDir();
    const failingApp = fileURLToPath(new URL('./fixtures/failing-app.ts', import.meta.url));
    const work = new CliProcess(['work', '--app', failingApp, '--workers', '1', '--http', '127.0.0.1:0'], {
      cwd,
    });
    const base = await work.httpBase();
    const line = await work.waitForLine("the app's setup failed in a worker; trying again after a pause");
    assert.match(String(line.err), /database unreachable at db:5432/);
    assert.equal(line.level, 40);
    const ready = await http(base, ROUTES.ready);
    assert.equal(ready.status, 503);
    assert.equal((ready.body as { workersAlive: number }).workersAlive, 0);
    assert.equal(await work.stop(), 0, work.output);
  });
});
