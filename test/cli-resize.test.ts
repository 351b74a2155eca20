/**
 * Resizing a running instance without a restart: SIGHUP re-reads the workers file, `POST
 * /workers` answers loopback clients, and the autoscaler follows the backlog between its
 * bounds. (`multitask run` has its own file, cli-run.test.ts.)
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROUTES } from '../src/http/routes.js';
import { METRIC } from '../src/observability/metric-names.js';
import { CliProcess, http, metricValue, QUEUE_APP_PATH, runCli } from './cli-helpers.js';
import { eventually } from './helpers.js';
import { runLines, tempDir } from './queue-helpers.js';

async function gauge(base: string, name: string): Promise<number | undefined> {
  return metricValue((await http(base, ROUTES.metrics)).text, name);
}

/** An address of this machine that is not loopback, if it has one. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const entry of list ?? []) if (entry.family === 'IPv4' && !entry.internal) return entry.address;
  return undefined;
}

describe('resizing multitask work', () => {
  it('re-reads the workers file on SIGHUP, and resizes on POST /workers from loopback', async () => {
    const cwd = tempDir();
    const workersFile = join(cwd, 'workers');
    writeFileSync(workersFile, 'MULTITASK_WORKERS=1\n');
    const work = new CliProcess(
      ['work', '--app', QUEUE_APP_PATH, '--queue', 'resize', '--workers', '4', '--http', '127.0.0.1:0'],
      { cwd, env: { MULTITASK_WORKERS_FILE: workersFile } },
    );
    const base = await work.httpBase();
    await eventually(async () => (await http(base, ROUTES.ready)).status === 200);
    assert.equal((await work.waitForLine('consuming')).workers, 1, 'the file sizes the pool from the start');

    writeFileSync(workersFile, 'MULTITASK_WORKERS=3\n');
    work.child.kill('SIGHUP');
    await eventually(async () => (await gauge(base, METRIC.workersAlive)) === 3);
    assert.equal(await gauge(base, METRIC.workersTarget), 3);
    const resized = await work.waitForLine('resizing the pool');
    assert.equal(resized.to, 3);

    const posted = await http(base, `${ROUTES.workers}?size=2`, 'POST');
    assert.equal(posted.status, 200, posted.text);
    assert.deepEqual(posted.body, { ok: true, size: 2 });
    await eventually(async () => (await gauge(base, METRIC.workersAlive)) === 2);
    const refused = await http(base, `${ROUTES.workers}?size=lots`, 'POST');
    assert.equal(refused.status, 400);
    const tooMany = await http(base, `${ROUTES.workers}?size=100000`, 'POST');
    assert.equal(tooMany.status, 400, 'a typo must not start a hundred thousand threads');
    assert.match(String((tooMany.body as { error: string }).error), /at most 1024/);
    assert.equal((await http(base, ROUTES.workers)).status, 405, 'GET does not resize');

    writeFileSync(workersFile, 'plenty\n');
    work.child.kill('SIGHUP');
    const error = await work.waitForLine('SIGHUP: resize refused');
    assert.match(String(error.err), /holds no worker count/);
    assert.equal(await gauge(base, METRIC.workersTarget), 2, 'a bad file changes nothing');
    assert.equal(await work.stop(), 0, work.output);
  });

  it('answers POST /workers from another address with 403, even when it listens on every interface', async (t) => {
    const address = externalAddress();
    if (address === undefined) {
      t.skip('this machine has no non-loopback IPv4 address to call from');
      return;
    }
    const cwd = tempDir();
    const work = new CliProcess(
      ['work', '--app', QUEUE_APP_PATH, '--queue', 'resize', '--workers', '1', '--http', '0.0.0.0:0'],
      { cwd },
    );
    const port = new URL(await work.httpBase()).port;
    await eventually(async () => (await http(`http://${address}:${port}`, ROUTES.ready)).status === 200);
    const refused = await http(`http://${address}:${port}`, `${ROUTES.workers}?size=2`, 'POST');
    assert.equal(refused.status, 403);
    assert.equal(await work.stop(), 0, work.output);
  });

  it('grows the pool with the backlog and shrinks it back once the queue is empty', async () => {
    const cwd = tempDir();
    const file = join(cwd, 'runs');
    const jobs = Array.from({ length: 24 }, (_, i) =>
      JSON.stringify({ task: 'Nap', fields: { ms: 400, file, tag: `n${i}` } }),
    ).join('\n');
    assert.equal(
      runCli(['dispatch', '--app', QUEUE_APP_PATH, '--queue', 'auto'], { cwd, input: jobs }).status,
      0,
    );
    const work = new CliProcess(
      ['work', '--app', QUEUE_APP_PATH, '--queue', 'auto', '--concurrency', '2', '--http', '127.0.0.1:0'],
      {
        cwd,
        env: { MULTITASK_MIN_WORKERS: '1', MULTITASK_MAX_WORKERS: '3', MULTITASK_SCALE_INTERVAL_MS: '200' },
      },
    );
    const base = await work.httpBase();
    const grew = await work.waitForLine('autoscaler resizes the pool');
    const manual = await http(base, `${ROUTES.workers}?size=2`, 'POST');
    assert.equal(manual.status, 409, 'the autoscaler owns the size');
    assert.match(
      String((manual.body as { error: string }).error),
      /autoscaler sizes the pool between 1 and 3/,
    );
    assert.deepEqual(
      [grew.from, grew.to],
      [1, 3],
      'from the minimum straight to what the backlog asks, capped',
    );
    await eventually(() => runLines(file).filter((line) => line.kind === 'end').length === 24, 30_000);
    await eventually(
      () => work.lines.some((line) => line.msg === 'autoscaler resizes the pool' && line.to === 1),
      30_000,
    );
    assert.equal(await work.stop(), 0, work.output);
  });
});
