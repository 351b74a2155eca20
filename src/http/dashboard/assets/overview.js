/**
 * The overview (`#/`): alerts first, then every queue with its counts and rates, a live chart
 * of completed and failed jobs per second over 15 minutes, and every live instance.
 */
import { sumSeries, timeChart } from './chart.js';
import { h, link, queueHash, section, setText, syncRows, table } from './dom.js';
import { bytes, clock, count, iso, rate, uptime } from './format.js';

/** "1 queue", "3 queues". */
function plural(n, noun) {
  return `${count(n)} ${noun}${n === 1 ? '' : 's'}`;
}

const ALERT_LABELS = {
  'backlog-growing': 'Backlog growing',
  'failures-rising': 'Failures rising',
  'crash-loop': 'Crash loop',
  'broker-down': 'Broker down',
  'feed-gaps': 'Events missed',
};

function alertItem(alert) {
  return h(
    'li',
    {
      class: `alert ${alert.kind === 'backlog-growing' ? 'alert-warn' : 'alert-bad'}`,
      'data-kind': alert.kind,
    },
    h('strong', {}, ALERT_LABELS[alert.kind] ?? alert.kind),
    ' ',
    h('span', { class: 'message' }, alert.message),
    ' ',
    h('time', { datetime: iso(alert.since), class: 'muted' }, `since ${clock(alert.since)}`),
    alert.queue ? [' ', link(queueHash(alert.queue), `queue ${alert.queue}`)] : null,
  );
}

/** The alerts list, shared with the queue page (which shows only its queue's). */
export function alertList() {
  const list = h('ul', { class: 'alerts' });
  const element = section('Alerts', list);
  return {
    element,
    update(alerts) {
      const items = alerts.length > 0 ? alerts : [{ kind: 'none' }];
      syncRows(
        list,
        items,
        (alert) => `${alert.kind} ${alert.queue ?? ''} ${alert.instance ?? ''}`,
        (alert) => (alert.kind === 'none' ? h('li', { class: 'all-clear' }, 'No alerts.') : alertItem(alert)),
        (item, alert) => {
          if (alert.kind !== 'none') setText(item.querySelector('.message'), alert.message);
        },
      );
    },
  };
}

/** The queues table: a row per queue, kept in place between snapshots. */
export function queueTable() {
  const numeric = [1, 2, 3, 4, 5, 6];
  const queues = table(
    'Queues',
    ['Queue', 'Ready', 'In flight', 'Delayed', 'Failed', 'Completed/s', 'Failed/s'],
    { numeric, captionHidden: true },
  );
  queues.element.id = 'queues';
  const empty = h(
    'p',
    { class: 'muted' },
    'No queues yet: start ',
    h('code', {}, 'multitask work'),
    ' or dispatch a job.',
  );
  const element = h('section', { 'aria-label': 'Queues' }, queues.element, empty);
  return {
    element,
    update(rows) {
      empty.hidden = rows.length > 0;
      syncRows(
        queues.tbody,
        rows,
        (row) => row.name,
        (row) =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, link(queueHash(row.name), row.name)),
            numeric.map(() => h('td', { class: 'num' })),
          ),
        (tr, row) => {
          const values = [
            count(row.ready),
            count(row.inFlight),
            count(row.delayed),
            count(row.failed),
            rate(row.completedPerSec),
            rate(row.failedPerSec),
          ];
          values.forEach((value, i) => {
            setText(tr.cells[i + 1], value);
          });
          tr.cells[4].classList.toggle('bad', row.failed > 0);
          tr.cells[6].classList.toggle('bad', row.failedPerSec > 0);
        },
      );
    },
  };
}

/** The instances table: one row per live process, crash loops marked. */
export function instanceTable(caption = 'Instances') {
  const headers = [
    'Host',
    'PID',
    'Queues',
    'Workers',
    'In flight',
    'Jobs/s',
    'Completed',
    'Failed',
    'RSS',
    'Uptime',
  ];
  const numeric = [1, 3, 4, 5, 6, 7, 8, 9];
  const instances = table(caption, [...headers, 'Version'], { numeric, captionHidden: true });
  instances.element.id = 'instances';
  const empty = h('p', { class: 'muted' }, 'No instances: nothing consumes right now.');
  const element = h('section', { 'aria-label': caption }, instances.element, empty);
  return {
    element,
    update(rows) {
      empty.hidden = rows.length > 0;
      const sorted = [...rows].sort((a, b) => a.host.localeCompare(b.host) || a.pid - b.pid);
      syncRows(
        instances.tbody,
        sorted,
        (row) => row.id,
        () =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }),
            headers.slice(1).map((_, i) => h('td', { class: numeric.includes(i + 1) ? 'num' : null })),
            h('td'),
          ),
        (tr, row) => {
          const workers = `${row.workers.alive}/${row.workers.target}${row.crashLoop ? ' · crash loop' : ''}`;
          const values = [
            row.host,
            String(row.pid),
            row.queues.join(', '),
            workers,
            count(row.inFlight),
            rate(row.jobsPerSec),
            count(row.totals.completed),
            count(row.totals.failed),
            bytes(row.rss),
            uptime(row.uptimeMs),
            row.version,
          ];
          values.forEach((value, i) => {
            setText(tr.cells[i], value);
          });
          tr.dataset.pid = String(row.pid);
          tr.classList.toggle('bad', row.crashLoop);
          tr.cells[3].classList.toggle('bad', row.workers.alive < row.workers.target);
          tr.title = `started ${clock(row.startedAt)}, last seen ${clock(row.seenAt)}`;
        },
      );
    },
  };
}

/** The overview view. */
export function overviewView() {
  const alerts = alertList();
  const queues = queueTable();
  const chart = timeChart('Jobs per second, all queues (15 minutes)', [
    { label: 'completed', color: '--ok', unit: '/s' },
    { label: 'failed', color: '--bad', unit: '/s' },
  ]);
  const instances = instanceTable();
  const summary = h('p', { class: 'muted', id: 'summary' });
  const element = h(
    'div',
    { class: 'view' },
    h('h1', { tabindex: '-1' }, 'Overview'),
    summary,
    alerts.element,
    h('h2', {}, 'Queues'),
    queues.element,
    h('div', { class: 'charts' }, chart.element),
    h('h2', {}, 'Instances'),
    instances.element,
  );
  return {
    element,
    title: 'Overview',
    crumbs: [],
    stream: undefined,
    snapshot(snapshot) {
      const inFlight = snapshot.queues.reduce((sum, row) => sum + row.inFlight, 0);
      setText(
        summary,
        `${plural(snapshot.queues.length, 'queue')} · ${plural(snapshot.instances.length, 'instance')} · ${plural(inFlight, 'job')} in flight`,
      );
      alerts.update(snapshot.alerts);
      queues.update(snapshot.queues);
      instances.update(snapshot.instances);
      const all = sumSeries(snapshot.queues);
      chart.update(all.t, all.completed, all.failed);
      const completed = snapshot.queues.reduce((sum, row) => sum + row.completedPerSec, 0);
      const failed = snapshot.queues.reduce((sum, row) => sum + row.failedPerSec, 0);
      chart.summary(`now ${rate(completed)} completed and ${rate(failed)} failed per second`);
    },
    jobs() {},
    destroy() {
      chart.destroy();
    },
  };
}
