/**
 * A queue's page (`#/queue/<name>`): its counts, throughput, failure and backlog charts, run-time
 * percentiles per task, the live event stream, and the failed jobs with their actions.
 */
import { getJSON, PATHS } from './api.js';
import { timeChart } from './chart.js';
import { h, setText, syncRows, table } from './dom.js';
import { eventLog } from './event-log.js';
import { failedTable } from './failed-table.js';
import { count, duration, rate } from './format.js';
import { alertList, instanceTable } from './overview.js';

/** Percentiles come from the server's view of completed jobs; asked again this often. */
const TASKS_EVERY_MS = 5_000;

function stat(label, id) {
  const value = h('dd', { id });
  return { element: h('div', { class: 'stat' }, h('dt', {}, label), value), value };
}

export function queueView(name) {
  const stats = {
    ready: stat('Ready', 'stat-ready'),
    inFlight: stat('In flight', 'stat-in-flight'),
    delayed: stat('Delayed', 'stat-delayed'),
    failed: stat('Failed', 'stat-failed'),
    completedPerSec: stat('Completed/s', 'stat-completed-rate'),
    failedPerSec: stat('Failed/s', 'stat-failed-rate'),
  };
  const unknown = h(
    'p',
    { class: 'muted', hidden: true },
    `No queue named ${name} is known to this dashboard yet.`,
  );
  const alerts = alertList();
  const throughput = timeChart('Completed jobs per second', [
    { label: 'completed', color: '--ok', unit: '/s' },
  ]);
  const failures = timeChart('Failed jobs per second', [{ label: 'failed', color: '--bad', unit: '/s' }]);
  const backlog = timeChart('Backlog (ready jobs)', [{ label: 'ready', color: '--accent', unit: '' }]);
  const tasks = table(
    'Run times per task (completed jobs seen by the dashboard)',
    ['Task', 'Completed', 'Failed', 'p50', 'p95', 'p99'],
    { numeric: [1, 2, 3, 4, 5] },
  );
  tasks.element.id = 'tasks';
  const instances = instanceTable(`Instances consuming ${name}`);
  const events = eventLog();
  const failed = failedTable(name);

  const element = h(
    'div',
    { class: 'view' },
    h('h1', { tabindex: '-1' }, 'Queue ', h('span', { class: 'name' }, name)),
    unknown,
    h(
      'dl',
      { class: 'stats' },
      Object.values(stats).map((s) => s.element),
    ),
    alerts.element,
    h('div', { class: 'charts' }, throughput.element, failures.element, backlog.element),
    h('h2', {}, 'Tasks'),
    tasks.element,
    failed.element,
    events.element,
    h('h2', {}, 'Instances'),
    instances.element,
  );

  let seeded = false;
  const loadDetail = async () => {
    if (document.hidden && seeded) return;
    try {
      const detail = await getJSON(PATHS.queue, { name });
      if (!seeded) {
        seeded = true;
        events.seed(detail.recent);
      }
      syncRows(
        tasks.tbody,
        detail.tasks,
        (task) => task.task,
        () =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }),
            [1, 2, 3, 4, 5].map(() => h('td', { class: 'num' })),
          ),
        (tr, task) => {
          const values = [
            task.task,
            count(task.completed),
            count(task.failed),
            // No completed run, no run time (rather than a misleading 0 ms).
            ...[task.p50Ms, task.p95Ms, task.p99Ms].map((ms) => (task.completed === 0 ? '–' : duration(ms))),
          ];
          values.forEach((value, i) => {
            setText(tr.cells[i], value);
          });
        },
      );
    } catch (error) {
      if (error.status !== 404) setText(unknown, `Could not load the queue: ${error.message}`);
      unknown.hidden = false;
    }
  };
  loadDetail();
  const timer = setInterval(loadDetail, TASKS_EVERY_MS);

  return {
    element,
    title: `Queue ${name}`,
    crumbs: [{ label: name }],
    stream: name,
    snapshot(snapshot) {
      const row = snapshot.queues.find((queue) => queue.name === name);
      unknown.hidden = row !== undefined;
      alerts.update(snapshot.alerts.filter((alert) => alert.queue === name));
      instances.update(snapshot.instances.filter((instance) => instance.queues.includes(name)));
      if (row === undefined) return;
      setText(stats.ready.value, count(row.ready));
      setText(stats.inFlight.value, count(row.inFlight));
      setText(stats.delayed.value, count(row.delayed));
      setText(stats.failed.value, count(row.failed));
      setText(stats.completedPerSec.value, rate(row.completedPerSec));
      setText(stats.failedPerSec.value, rate(row.failedPerSec));
      stats.failed.element.classList.toggle('bad', row.failed > 0);
      const { t, completed, failed: failedSeries, ready } = row.series;
      throughput.update(t, completed);
      throughput.summary(`now ${rate(row.completedPerSec)} per second`);
      failures.update(t, failedSeries);
      failures.summary(`now ${rate(row.failedPerSec)} per second`);
      backlog.update(t, ready);
      backlog.summary(`now ${count(row.ready)} ready`);
      failed.failedCount(row.failed);
    },
    jobs(rows) {
      events.add(rows.filter((row) => row.queue === name));
    },
    destroy() {
      clearInterval(timer);
      throughput.destroy();
      failures.destroy();
      backlog.destroy();
      failed.destroy();
    },
  };
}
