// The dashboard's HTTP API on both transports (RabbitMQ skipped without a broker, outside CI),
// with a real `multitask work` process consuming and the dashboard served by a real node:http
// server: the snapshot and the stream show the queue, the instance and counts that move; failed
// jobs page, search and come back as data (a field holding markup included); a job's page; a
// failed job retried from the dashboard then completed; purges by id and of all; the CSRF,
// Origin and read-only refusals. Docs: docs/dashboard.md.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import type { FailedPage, JobDetail, QueueDetail, Snapshot } from '../src/http/dashboard/api.js';
import { type EventsOptions, openQueue, type Queue } from '../src/index.js';
import type { CliProcess } from './cli-helpers.js';
import { action, call, csrfOf, type Served, SseReader, serveDashboard } from './dashboard-helpers.js';
import { FailTimes, FailWhile, Noop } from './fixtures/queue-tasks.js';
import { fleetFixtures, killAll, startWorks } from './fleet-helpers.js';
import { eventually } from './helpers.js';
import { QUEUE_APP, tempDir, uniqueQueue } from './queue-helpers.js';

/** `queue` as the dashboard's source, every `events()` call's options recorded in `asked`. */
function askingForEvents(queue: Queue, asked: EventsOptions[]): Queue {
  return new Proxy(queue, {
    get(target, property) {
      if (property === 'events')
        return (options?: EventsOptions) => {
          asked.push(options ?? {});
          return target.events(options);
        };
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const started = new Set<CliProcess>();
afterEach(() => killAll(started));
const MARKUP = '<script>alert("x")</script>';

for (const fixture of await fleetFixtures()) {
  describe(`dashboard API: ${fixture.name}`, { skip: fixture.skip, timeout: 180_000 }, () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    /** A queue of its own with one work process on it, a Queue to dispatch with, and its dashboard. */
    async function setUp(options: { readOnly?: boolean } = {}, source = (queue: Queue) => queue) {
      const cwd = tempDir();
      const url = fixture.url(cwd);
      const name = uniqueQueue(`dash-${fixture.name}`);
      const view: Queue = await openQueue(url, { app: QUEUE_APP });
      const [work] = await startWorks(cwd, url, name, 1, started);
      const dashboard: Served = await serveDashboard(source(view), { queues: [name], ...options });
      cleanups.push(async () => {
        await dashboard.close();
        await view.close();
        await fixture.cleanup(name);
      });
      return { cwd, url, name, view, work: work!, dashboard, base: dashboard.base };
    }

    /** The snapshot's row of `name` and the instance of `pid`, once `ok` says they are as wanted. */
    async function snapshotUntil(base: string, ok: (snapshot: Snapshot) => boolean, withinMs = 30_000) {
      let last: Snapshot | undefined;
      await eventually(async () => {
        last = (await call(`${base}api/snapshot`)).json<Snapshot>();
        return ok(last);
      }, withinMs);
      return last!;
    }

    test('the snapshot and the stream show the queue, its instance and counts that move', async () => {
      const { name, view, work, base } = await setUp();
      const stream = await new SseReader().open(`${base}api/stream?queue=${encodeURIComponent(name)}`);
      try {
        assert.equal(stream.status, 200);
        assert.match(stream.contentType, /^text\/event-stream/);
        const first = await stream.next<Snapshot>('snapshot');
        assert.equal(first.transport, fixture.name);
        assert.deepEqual(first.broker.connected, true);
        assert.ok(stream.lines.includes('retry: 1000'), 'asks for a reconnect after 1 s');

        const ids: string[] = [];
        for (let i = 0; i < 30; i++) ids.push(await view.dispatch(new Noop(`p${i}`), { queue: name }));
        await view.dispatch(new FailTimes(9, '', 'planned'), { queue: name, attempts: 1 });

        // The instance's counts reach the stream's snapshots: completed by the instance, failed by the store.
        const moved = await stream.next<Snapshot>(
          'snapshot',
          (snapshot) => {
            const row = snapshot.queues.find((queue) => queue.name === name);
            const instance = snapshot.instances.find((one) => one.pid === work.child.pid);
            // Both workers up: one may still be booting at the first announcements.
            return row?.failed === 1 && instance?.totals.completed === 30 && instance.workers.alive === 2;
          },
          30_000,
        );
        const instance = moved.instances.find((one) => one.pid === work.child.pid)!;
        assert.deepEqual(instance.queues, [name]);
        assert.deepEqual(instance.workers, { alive: 2, target: 2 });
        assert.ok(instance.rss > 0 && instance.uptimeMs > 0, JSON.stringify(instance));
        const row = moved.queues.find((queue) => queue.name === name)!;
        assert.equal(row.ready, 0);
        assert.equal(row.series.t.length, row.series.completed.length);

        // The events of the queue viewed come as `jobs` batches: each dispatched job completes.
        await stream.completed(ids);

        // Its page: run times of the task, and the latest events, newest first.
        const detail = (await call(`${base}api/queues/${encodeURIComponent(name)}`)).json<QueueDetail>();
        const noop = detail.tasks.find((task) => task.task === 'Noop')!;
        assert.equal(noop.completed, 30);
        assert.ok(noop.p50Ms <= noop.p95Ms && noop.p95Ms <= noop.p99Ms, JSON.stringify(noop));
        assert.equal(detail.tasks.find((task) => task.task === 'FailTimes')?.failed, 1);
        assert.ok(detail.recent.length > 0 && detail.recent[0]!.time >= detail.recent.at(-1)!.time);

        // The instance leaves the snapshot once it stops.
        assert.equal(await work.stop('SIGTERM'), 0, work.output);
        await stream.next<Snapshot>(
          'snapshot',
          (snapshot) => !snapshot.instances.some((one) => one.pid === work.child.pid),
        );
      } finally {
        await stream.close();
      }
      assert.equal((await call(`${base}api/queues/no-such-queue`)).status, 404);
    });

    test('failed jobs: pages, search by id, task and code, a field with markup as data, the job page', async () => {
      const { name, view, base } = await setUp();
      const failing: string[] = [];
      for (let i = 0; i < 12; i++)
        failing.push(
          await view.dispatch(new FailTimes(9, '', i === 0 ? MARKUP : `t${i}`), { queue: name, attempts: 1 }),
        );
      const kept = await view.dispatch(new Noop('kept'), { queue: name, result: true });
      await snapshotUntil(
        base,
        (snapshot) => snapshot.queues.find((queue) => queue.name === name)?.failed === 12,
      );
      const failedPath = `${base}api/queues/${encodeURIComponent(name)}/failed`;

      const first = await call(`${failedPath}?limit=5`);
      assert.equal(first.status, 200);
      assert.match(first.headers.get('content-type')!, /^application\/json/);
      assert.equal(first.headers.get('cache-control'), 'no-store');
      assert.equal(first.headers.get('x-content-type-options'), 'nosniff');
      const page1 = first.json<FailedPage>();
      assert.equal(page1.total, 12);
      assert.equal(page1.jobs.length, 5);
      assert.equal(page1.next, page1.jobs[4]!.id);
      const page2 = (await call(`${failedPath}?limit=5&after=${page1.next}`)).json<FailedPage>();
      const page3 = (await call(`${failedPath}?limit=5&after=${page2.next}`)).json<FailedPage>();
      assert.equal(page3.jobs.length, 2);
      assert.equal(page3.next, null);
      assert.deepEqual(
        [...page1.jobs, ...page2.jobs, ...page3.jobs].map((job) => job.id).sort(),
        [...failing].sort(),
      );

      // The markup is data: escaped in the JSON text, intact once parsed.
      assert.ok(!first.text.includes('<script>'), 'no raw markup in the JSON text');
      assert.ok(first.text.includes('\\u003cscript\\u003e'));
      const marked = page1.jobs.find((job) => job.id === failing[0])!;
      assert.equal(marked.fields?.tag, MARKUP);
      assert.equal(marked.task, 'FailTimes');
      assert.equal(marked.error.code, 'E_PLANNED');
      assert.match(marked.error.stack ?? '', /planned failure 1/);

      const search = async (text: string) =>
        (await call(`${failedPath}?limit=50&search=${encodeURIComponent(text)}`)).json<FailedPage>();
      const byId = await search(failing[3]!.slice(0, 13).toUpperCase());
      assert.deepEqual(
        byId.jobs.map((job) => job.id),
        [failing[3]],
      );
      assert.equal(byId.total, 1);
      assert.equal((await search('failtimes')).total, 12);
      assert.equal((await search('e_plan')).total, 12);
      assert.equal((await search('nothing-like-it')).total, 0);
      assert.equal((await call(`${failedPath}?limit=0`)).status, 400);

      // A failed job's page: its row and its events.
      const failedJob = (
        await call(`${base}api/jobs/${failing[0]}?queue=${encodeURIComponent(name)}`)
      ).json<JobDetail>();
      assert.equal(failedJob.queue, name);
      assert.equal(failedJob.failed?.fields?.tag, MARKUP);
      assert.ok(
        failedJob.events.some((event) => event.type === 'failed' && event.error?.code === 'E_PLANNED'),
      );

      // A completed job's page: where and when it ran; its result where the transport keeps one.
      await eventually(async () => {
        const job = (await call(`${base}api/jobs/${kept}`)).json<JobDetail>();
        return job.events?.some((event) => event.type === 'completed');
      });
      const done = (await call(`${base}api/jobs/${kept}`)).json<JobDetail>();
      assert.equal(done.failed, null);
      const ran = done.events.find((event) => event.type === 'completed')!;
      assert.equal(typeof ran.host, 'string');
      assert.equal(typeof ran.pid, 'number');
      assert.equal(typeof ran.worker, 'number');
      assert.deepEqual(done.result, fixture.name === 'sqlite' ? { value: null } : null);
      assert.equal((await call(`${base}api/jobs/no-such-job`)).status, 404);
    });

    test('retry from the dashboard, then the job completes; purge by id and of all', async () => {
      const { cwd, name, view, base } = await setUp();
      const flag = join(cwd, 'flag');
      writeFileSync(flag, 'up');
      const ids: string[] = [];
      for (let i = 0; i < 4; i++)
        ids.push(await view.dispatch(new FailWhile(flag, '', `w${i}`), { queue: name, attempts: 1 }));
      await snapshotUntil(
        base,
        (snapshot) => snapshot.queues.find((queue) => queue.name === name)?.failed === 4,
      );
      const csrf = await csrfOf(base);
      const path = `api/queues/${encodeURIComponent(name)}/failed`;

      rmSync(flag);
      const retried = await action(base, `${path}/retry`, { ids: [ids[0]] }, csrf);
      assert.equal(retried.status, 200, retried.text);
      assert.deepEqual(retried.json(), { count: 1 });
      await eventually(async () => {
        const job = (await call(`${base}api/jobs/${ids[0]}`)).json<JobDetail>();
        return job.failed === null && job.events.some((event) => event.type === 'completed');
      }, 30_000);

      const purged = await action(base, `${path}/purge`, { ids: [ids[1], 'not-there'] }, csrf);
      assert.deepEqual(purged.json(), { count: 1 });
      assert.equal((await call(`${base}${path}?limit=50`)).json<FailedPage>().total, 2);
      const all = await action(base, `${path}/purge`, { all: true }, csrf);
      assert.deepEqual(all.json(), { count: 2 });
      assert.equal((await view.stats(name)).failed, 0);
      assert.equal((await action(base, `${path}/purge`, { ids: 'x' }, csrf)).status, 400);
    });

    test('given its queues, it listens to their events only; given none, to every queue', async () => {
      const asked: EventsOptions[] = [];
      const { name, view, base } = await setUp({}, (queue) => askingForEvents(queue, asked));
      await call(`${base}api/snapshot`); // someone looks: the feed listener starts
      await eventually(() => asked.length > 0);
      const id = await view.dispatch(new Noop('heard'), { queue: name });
      await eventually(async () => {
        const job = await call(`${base}api/jobs/${id}`);
        return job.status === 200 && job.json<JobDetail>().events.some((event) => event.type === 'completed');
      }, 30_000);
      // Asked for this queue alone: instances of other queues send this dashboard nothing.
      assert.deepEqual(
        asked.filter((options) => options.queue !== name),
        [],
      );

      const everyQueue: EventsOptions[] = [];
      const unscoped = await serveDashboard(askingForEvents(view, everyQueue));
      try {
        await call(`${unscoped.base}api/snapshot`);
        await eventually(() => everyQueue.length > 0);
        assert.deepEqual(
          everyQueue.filter((options) => options.queue !== undefined),
          [],
        );
      } finally {
        await unscoped.close();
      }
    });

    test('actions are refused without the CSRF header, from another site, or read-only', async () => {
      const { name, view, base } = await setUp();
      await view.dispatch(new FailTimes(9, '', 'r'), { queue: name, attempts: 1 });
      await snapshotUntil(
        base,
        (snapshot) => snapshot.queues.find((queue) => queue.name === name)?.failed === 1,
      );
      const csrf = await csrfOf(base);
      const path = `api/queues/${encodeURIComponent(name)}/failed/purge`;
      const refusals = [
        await call(`${base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"all":true}',
        }),
        await action(base, path, { all: true }, 'not-the-token'),
        await action(base, path, { all: true }, csrf, { origin: 'http://evil.example' }),
        await action(base, path, { all: true }, csrf, { 'sec-fetch-site': 'cross-site' }),
        await call(`${base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain', 'x-multitask-csrf': csrf },
          body: '{"all":true}',
        }),
      ];
      for (const refusal of refusals) {
        assert.equal(refusal.status, 403, refusal.text);
        assert.equal(refusal.json().code, 'ERR_CSRF');
      }
      assert.equal((await call(`${base}${path}`)).status, 405, 'GET is not an action');
      assert.equal((await view.stats(name)).failed, 1, 'nothing was purged');

      const readOnly = await serveDashboard(view, { queues: [name], readOnly: true });
      try {
        const refused = await action(readOnly.base, path, { all: true }, await csrfOf(readOnly.base));
        assert.equal(refused.status, 403);
        assert.equal(refused.json().code, 'ERR_READ_ONLY');
      } finally {
        await readOnly.close();
      }
      const sameOrigin = await action(base, path, { all: true }, csrf, {
        origin: base.replace(/\/$/, ''),
        'sec-fetch-site': 'same-origin',
      });
      assert.deepEqual(sameOrigin.json(), { count: 1 });
    });
  });
}
