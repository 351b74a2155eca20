/**
 * `multitask work` against RabbitMQ: it waits for a broker that is down at start (saying so on
 * each try, password masked, not ready meanwhile), then consumes, reports the queue in its
 * metrics, and drains on SIGTERM with nothing lost.
 */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { ROUTES } from '../src/http/routes.js';
import { METRIC } from '../src/observability/metric-names.js';
import { CliProcess, http, metricValue, QUEUE_APP_PATH, runCli, startWork } from './cli-helpers.js';
import { eventually } from './helpers.js';
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

const skip = await amqpSkipReason();
const ctlSkip = skip === undefined ? ctlSkipReason() : skip;

describe('multitask work (RabbitMQ)', { skip }, () => {
  const queue = uniqueQueue('cli-amqp');
  before(async () => {
    await deleteAmqpQueue(queue).catch(() => {});
  });
  after(async () => {
    await deleteAmqpQueue(queue);
  });

  it('retries a broker that is down at start, says so each time with the password masked, and stays unready', async () => {
    const cwd = tempDir();
    // Nothing listens on port 1 of loopback: the connection is refused at once.
    const work = new CliProcess(
      ['work', '--app', QUEUE_APP_PATH, '--queue', 'q', '--workers', '1', '--http', '127.0.0.1:0'],
      { cwd, env: { MULTITASK_URL: 'amqp://app:s3cr3t@pw@127.0.0.1:1/' } },
    );
    const base = await work.httpBase();
    await eventually(
      () => work.lines.filter((line) => line.msg === 'broker unreachable, retrying').length >= 3,
    );
    const tries = work.lines.filter((line) => line.msg === 'broker unreachable, retrying');
    assert.deepEqual(
      tries.slice(0, 3).map((line) => line.attempt),
      [1, 2, 3],
      'each try is numbered',
    );
    for (const line of tries) {
      assert.equal(line.url, 'amqp://app:***@127.0.0.1:1/');
      assert.equal(typeof line.retryInMs, 'number');
    }
    assert.equal((await http(base, ROUTES.health)).status, 200, 'alive while it waits');
    const ready = await http(base, ROUTES.ready);
    assert.equal(ready.status, 503);
    assert.equal((ready.body as { phase: string }).phase, 'connecting');
    assert.equal(
      metricValue((await http(base, ROUTES.metrics)).text, METRIC.ready),
      0,
      'a scrape says not ready',
    );
    // Well inside a connection attempt's ten seconds: stopping does not wait for it.
    assert.equal(await work.stop('SIGTERM', 5_000), 0, work.output);
    assert.ok(!work.output.includes('s3cr3t'), 'the password never reaches the log');
  });

  it('stops with one line and exit 1 when the broker refuses the login or the virtual host', () => {
    const cwd = tempDir();
    const { hostname: host, port } = new URL(AMQP_TEST_URL);
    const login = runCli(['status', '--url', `amqp://guest:not-the-password@${host}:${port || 5672}`], {
      cwd,
    });
    assert.equal(login.status, 1);
    assert.equal(login.stderr.trim().split('\n').length, 1, login.stderr);
    assert.match(login.stderr, /ERR_BROKER_REFUSED: RabbitMQ at amqp:\/\/guest:\*\*\*@.* refused the login/);
    const vhost = runCli(['status', '--url', `${AMQP_TEST_URL}/no-such-vhost`], { cwd });
    assert.equal(vhost.status, 1);
    assert.match(vhost.stderr, /ERR_BROKER_REFUSED: .* refused the virtual host/);
  });

  it('refuses to show a queue that does not exist, without creating it', async () => {
    const cwd = tempDir();
    const missing = uniqueQueue('cli-amqp-missing');
    for (const args of [['status'], ['failed', 'list']]) {
      const result = runCli([...args, '--url', AMQP_TEST_URL, '--queue', missing], { cwd });
      assert.equal(result.status, 2, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(`^multitask: invalid --queue \\(MULTITASK_QUEUE\\): no queue "${missing}" on amqp://`),
      );
    }
    const connection = await amqp.connect(AMQP_TEST_URL);
    try {
      const channel = await connection.createChannel();
      channel.on('error', () => {});
      await assert.rejects(channel.checkQueue(missing), /404/, 'still not declared');
    } finally {
      await connection.close().catch(() => {});
    }
  });

  it('consumes, reports ready and unacknowledged jobs, and drains on SIGTERM with nothing lost', async () => {
    const cwd = tempDir();
    const file = join(cwd, 'runs');
    const env = { MULTITASK_URL: AMQP_TEST_URL, MULTITASK_QUEUE: queue };
    const jobs = Array.from({ length: 12 }, (_, i) =>
      JSON.stringify({ task: 'Nap', fields: { ms: 800, file, tag: `n${i}` } }),
    ).join('\n');
    const sent = runCli(['dispatch', '--app', QUEUE_APP_PATH], { cwd, env, input: jobs });
    assert.equal(sent.status, 0, sent.stderr);

    const work = startWork(cwd, { extra: ['--grace-ms', '20000'], env });
    const base = await work.httpBase();
    await eventually(async () => (await http(base, ROUTES.ready)).status === 200);
    let metrics = '';
    await eventually(async () => {
      metrics = (await http(base, ROUTES.metrics)).text;
      return (metricValue(metrics, METRIC.queueUnacked, { queue }) ?? 0) > 0;
    });
    assert.ok((metricValue(metrics, METRIC.queueReady, { queue }) ?? -1) >= 0, metrics);
    await eventually(async () => {
      metrics = (await http(base, ROUTES.metrics)).text;
      return (metricValue(metrics, METRIC.jobsCompleted, { queue, task: 'Nap' }) ?? 0) >= 4;
    });

    work.child.kill('SIGTERM');
    await work.waitForLine(/^draining/);
    assert.equal((await http(base, ROUTES.ready)).status, 503);
    assert.equal(await work.exitCode(), 0, work.output);

    const lines = runLines(file);
    const started = lines.filter((line) => line.kind === 'start').map((line) => line.tag);
    const ended = lines.filter((line) => line.kind === 'end').map((line) => line.tag);
    assert.deepEqual(ended.sort(), started.sort(), 'jobs in flight finished within the grace');
    const status = runCli(['status', '--json'], { cwd, env });
    assert.equal(status.status, 0, status.stderr);
    const counts = JSON.parse(status.stdout) as { ready: number; failed: number; inFlight: number };
    assert.equal(counts.failed, 0);
    assert.equal(counts.inFlight, 0, "the sum of the instances' jobs in flight: none is left");
    assert.equal(counts.ready + new Set(ended).size, 12, 'completed + still queued = dispatched');
  });

  it('is unready while the broker connection is down, says so, and is ready again once it is back', {
    skip: ctlSkip,
  }, async () => {
    const cwd = tempDir();
    const work = new CliProcess(
      ['work', '--app', QUEUE_APP_PATH, '--workers', '1', '--http', '127.0.0.1:0'],
      {
        cwd,
        env: { MULTITASK_URL: AMQP_TEST_URL, MULTITASK_QUEUE: queue },
      },
    );
    const base = await work.httpBase();
    await eventually(async () => (await http(base, ROUTES.ready)).status === 200);
    const name = `multitask work ${hostname()} ${work.child.pid}`;
    assert.ok(dropConnections(name) >= 1, `the broker lists the connection as "${name}"`);
    await work.waitForLine('broker connection lost; not ready until it is back');
    await work.waitForLine('broker connection back');
    await eventually(async () => (await http(base, ROUTES.ready)).status === 200);
    assert.equal(await work.stop(), 0, work.output);
  });
});
