/**
 * The pieces behind the worker's HTTP endpoints: the liveness monitor that notices a stuck event
 * loop, the router, and the metrics a real pool and queue produce (restarts included).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROUTES } from '../src/http/routes.js';
import { startHttpServer } from '../src/http/server.js';
import { openQueue, Pool } from '../src/index.js';
import { LivenessMonitor } from '../src/observability/liveness.js';
import { METRIC } from '../src/observability/metric-names.js';
import { ServiceMetrics } from '../src/observability/metrics.js';
import { http, metricValue } from './cli-helpers.js';
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
        metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'x 1\n' }),
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
      assert.equal((await http(base, ROUTES.metrics)).text, 'x 1\n');
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
