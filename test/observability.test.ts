/**
 * The pieces behind the worker's HTTP endpoints: the liveness monitor that notices a stuck event
 * loop, the router, and the metrics a real pool and queue produce (restarts included), with
 * the job's id as an exemplar when a scrape asks for OpenMetrics.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROUTES } from '../src/http/routes.js';
import { metricsFormat, startHttpServer } from '../src/http/server.js';
import { openQueue, Pool } from '../src/index.js';
import { LivenessMonitor } from '../src/observability/liveness.js';
import { METRIC } from '../src/observability/metric-names.js';
import { ServiceMetrics } from '../src/observability/metrics.js';
import { http, metricValue, QUEUE_APP_PATH, runCli, startWork } from './cli-helpers.js';
import { CrashTimes, FailTimes, Record as RecordRun } from './fixtures/queue-tasks.js';
import { eventually } from './helpers.js';
import { QUEUE_APP, tempDir } from './queue-helpers.js';

describe('the service logger', () => {
  const LOGGER = new URL('../src/observability/logger.ts', import.meta.url).href;
  const logOnce = (options: string) =>
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { createLogger } = await import(${JSON.stringify(LOGGER)});
         createLogger(${options}).info({ jobId: 'j-1', password: 'hunter2' }, 'job completed');`,
      ],
      { encoding: 'utf8' },
    );

  it('writes pino JSON lines when not on a terminal, and readable lines when asked', () => {
    const json = logOnce("{ level: 'info' }");
    assert.equal(json.status, 0, json.stderr);
    const line = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(line.msg, 'job completed');
    assert.equal(line.level, 30);
    assert.equal(line.jobId, 'j-1');
    assert.equal(line.password, '***', 'a field named password is censored');

    const pretty = logOnce("{ level: 'info', format: 'pretty' }");
    assert.equal(pretty.status, 0, pretty.stderr);
    assert.throws(() => JSON.parse(pretty.stdout), 'not JSON');
    assert.match(pretty.stdout, /INFO.*job completed/);
    assert.match(pretty.stdout, /jobId: "j-1"/);
    assert.doesNotMatch(pretty.stdout, /hunter2/);
  });
});

describe('liveness', () => {
  it('reports a stuck event loop, and recovers once it turns again', async () => {
    const monitor = new LivenessMonitor(300);
    monitor.start();
    try {
      await sleep(600);
      assert.equal(monitor.report().ok, true);
      const blockedUntil = Date.now() + 800;
      while (Date.now() < blockedUntil) {
        // A synchronous loop on the main thread: no timer can run.
      }
      const stuck = monitor.report();
      assert.equal(stuck.ok, false);
      assert.ok((stuck.eventLoopStalledMs as number) >= 300, JSON.stringify(stuck));
      await sleep(600);
      assert.equal(monitor.report().ok, true);
    } finally {
      monitor.stop();
    }
  });
});

describe('the HTTP server', () => {
  it('answers the probes with their status, refuses other methods and lists its routes on a 404', async () => {
    let ready = false;
    const server = await startHttpServer(
      { host: '127.0.0.1', port: 0 },
      {
        health: () => ({ ok: true }),
        ready: () => ({ ok: ready, why: ready ? 'up' : 'draining' }),
        metrics: async (format) => ({ contentType: 'text/plain; version=0.0.4', body: `x 1 ${format}\n` }),
      },
    );
    const base = `http://127.0.0.1:${server.address.port}`;
    try {
      assert.equal((await http(base, ROUTES.health)).status, 200);
      assert.deepEqual((await http(base, ROUTES.ready)).body, { ok: false, why: 'draining' });
      assert.equal((await http(base, ROUTES.ready)).status, 503);
      ready = true;
      assert.equal((await http(base, ROUTES.ready)).status, 200);
      assert.equal((await http(base, ROUTES.health, 'HEAD')).status, 200);
      assert.equal((await http(base, ROUTES.metrics)).text, 'x 1 prometheus\n');
      assert.equal((await http(base, ROUTES.metrics, 'POST')).status, 405);
      const missing = await http(base, '/nope');
      assert.equal(missing.status, 404);
      assert.deepEqual((missing.body as { routes: string[] }).routes, Object.values(ROUTES));
      const noResize = await http(base, `${ROUTES.workers}?size=2`, 'POST');
      assert.equal(noResize.status, 400, 'a server without a resize handler refuses');
    } finally {
      await server.close();
    }
  });
});

describe('service metrics', () => {
  it('count outcomes by queue and task, worker restarts, and the queue counts, from a real pool', async () => {
    const dir = tempDir();
    const file = join(dir, 'runs');
    const queue = await openQueue(`sqlite:${join(dir, 'q.db')}`, {
      app: QUEUE_APP,
      retry: { initialDelayMs: 10, maxDelayMs: 20 },
    });
    await queue.dispatch(new RecordRun(file, 'ok'), { queue: 'm' });
    await queue.dispatch(new FailTimes(1, file, 'flaky'), { queue: 'm' });
    await queue.dispatch(new FailTimes(9, file, 'bad'), { queue: 'm', attempts: 1 });
    await queue.dispatch(new CrashTimes(1, file, 'crash'), { queue: 'm' });
    const pool = new Pool({ app: QUEUE_APP, size: 1 });
    const consumer = pool.consume(queue, { queue: 'm' });
    const metrics = new ServiceMetrics({ pool, queue: { queue, name: 'm' }, ready: () => true });
    metrics.observe(consumer);
    try {
      await eventually(() => consumer.counts.completed === 3 && consumer.counts.failed === 1);
      const text = await metrics.text();
      assert.equal(metricValue(text, METRIC.jobsCompleted, { queue: 'm', task: 'Record' }), 1);
      assert.equal(metricValue(text, METRIC.jobsCompleted, { queue: 'm', task: 'FailTimes' }), 1);
      assert.equal(metricValue(text, METRIC.jobsRetried, { queue: 'm', task: 'FailTimes' }), 1);
      assert.equal(metricValue(text, METRIC.jobsFailed, { queue: 'm', task: 'FailTimes' }), 1);
      assert.equal(metricValue(text, METRIC.jobsRetried, { queue: 'm', task: 'CrashTimes' }), 1);
      assert.equal(metricValue(text, METRIC.workerRestarts), 1, 'the crashed worker was replaced');
      assert.equal(metricValue(text, METRIC.workersAlive), 1);
      assert.equal(metricValue(text, METRIC.queueFailed, { queue: 'm' }), 1);
      assert.equal(metricValue(text, METRIC.queueReady, { queue: 'm' }), 0);
      assert.equal(metricValue(text, METRIC.jobsInFlight, { queue: 'm' }), 0);
      assert.equal(
        metricValue(text, `${METRIC.jobDuration}_count`, { task: 'Record', outcome: 'completed' }),
        1,
      );
      assert.match(text, /^process_cpu_user_seconds_total /m, "Node's process metrics too");
    } finally {
      await consumer.stop();
      await pool.close();
      await queue.close();
    }
  });

  it('count the restarts of a supervised task apart from those of workers', async () => {
    const dir = tempDir();
    const pool = new Pool({ app: QUEUE_APP, size: 1, restart: { initialDelayMs: 1, maxDelayMs: 5 } });
    const metrics = new ServiceMetrics({ pool, ready: () => true });
    try {
      await pool.supervise(new FailTimes(2, join(dir, 'runs'), 'svc')).done;
      const text = await metrics.text();
      assert.equal(metricValue(text, METRIC.taskRestarts), 2);
      assert.equal(metricValue(text, METRIC.workerRestarts), 0);
      assert.equal(metricValue(text, METRIC.queueReady), undefined, 'no queue, no queue gauges');
    } finally {
      await pool.close();
    }
  });
});

describe('metrics exemplars', { timeout: 60_000 }, () => {
  it('pick OpenMetrics only for a scrape that asks for it', () => {
    const prometheusAccept =
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
    assert.equal(metricsFormat(prometheusAccept), 'openmetrics', "Prometheus's own header");
    assert.equal(metricsFormat('application/openmetrics-text'), 'openmetrics');
    assert.equal(metricsFormat(undefined), 'prometheus');
    assert.equal(metricsFormat('*/*'), 'prometheus');
    assert.equal(metricsFormat('text/plain;version=0.0.4'), 'prometheus');
    assert.equal(metricsFormat('text/plain, application/openmetrics-text;q=0.5'), 'prometheus');
    assert.equal(metricsFormat('application/openmetrics-text;q=0, text/plain'), 'prometheus');
  });

  it("carry the job's id in OpenMetrics, and leave the Prometheus text as it was", async () => {
    const cwd = tempDir();
    const id = 'order-42:email';
    const longId = `long-${'x'.repeat(150)}`; // past OpenMetrics' 128 characters: counted, no exemplar
    const lines = [
      { task: 'Record', fields: { file: '', tag: 'a' }, id },
      { v: 1, id: longId, task: 'Noop', fields: { payload: '' } },
    ];
    const sent = runCli(['dispatch', '--app', QUEUE_APP_PATH, '--queue', 'ex'], {
      cwd,
      input: `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`,
    });
    assert.equal(sent.status, 0, sent.stderr);
    const work = startWork(cwd, { queue: 'ex' });
    try {
      const base = await work.httpBase();
      const scrape = async (accept?: string) => {
        const response = await fetch(`${base}${ROUTES.metrics}`, {
          headers: accept === undefined ? {} : { accept },
        });
        assert.equal(response.status, 200);
        return { contentType: response.headers.get('content-type') ?? '', text: await response.text() };
      };
      await eventually(async () => {
        const { text } = await scrape();
        const done = (task: string) => metricValue(text, METRIC.jobsCompleted, { queue: 'ex', task }) === 1;
        return done('Record') && done('Noop');
      });

      const open = await scrape('application/openmetrics-text;version=1.0.0,text/plain;q=0.5');
      assert.match(open.contentType, /^application\/openmetrics-text; version=1\.0\.0/);
      assert.ok(open.text.endsWith('# EOF\n'), 'OpenMetrics ends with # EOF');
      const counter = open.text
        .split('\n')
        .find((line) => line.startsWith(`${METRIC.jobsCompleted}{`) && line.includes('task="Record"'));
      assert.match(
        counter ?? '',
        new RegExp(
          `^${METRIC.jobsCompleted}\\{queue="ex",task="Record"\\} 1 # \\{job_id="${id}"\\} 1 \\d+(\\.\\d+)?$`,
        ),
        open.text,
      );
      assert.match(
        open.text,
        new RegExp(
          `^${METRIC.jobDuration}_bucket\\{[^}]*task="Record"[^}]*\\} 1 # \\{job_id="${id}"\\} `,
          'm',
        ),
      );
      assert.match(
        open.text,
        new RegExp(`^# TYPE ${METRIC.jobsCompleted.replace(/_total$/, '')} counter$`, 'm'),
      );
      assert.ok(!open.text.includes(longId), 'an id too long for an exemplar is left out');
      assert.match(open.text, new RegExp(`^${METRIC.jobsCompleted}\\{queue="ex",task="Noop"\\} 1$`, 'm'));

      // After an OpenMetrics render, the Prometheus text is as it always was: no exemplars,
      // no # EOF, and the counters keep their _total (prom-client renames them to render OpenMetrics).
      const plain = await scrape();
      assert.match(plain.contentType, /^text\/plain; version=0\.0\.4/);
      assert.ok(!plain.text.includes('# {'), 'no exemplar syntax');
      assert.ok(!plain.text.includes('# EOF'));
      assert.match(plain.text, new RegExp(`^# TYPE ${METRIC.jobsCompleted} counter$`, 'm'));
      assert.equal(metricValue(plain.text, METRIC.jobsCompleted, { queue: 'ex', task: 'Record' }), 1);
      assert.match(plain.text, /^process_cpu_user_seconds_total /m);
      for (const line of plain.text.split('\n')) {
        if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
        assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [^ ]+$/, `a Prometheus sample: ${line}`);
      }
      assert.equal(await work.stop(), 0, work.output);
    } finally {
      work.child.kill('SIGKILL');
    }
  });
});
