/**
 * A job's page (`#/job/<id>?queue=<name>`): what the dashboard knows of one id. Its fields,
 * error and stack while it is in the failed store (with Retry and Purge), the events it saw
 * (where and when each attempt ran), and its result where one was kept. It reloads when the
 * stream reports an event of this job, and every few seconds.
 */
import { getJSON, PATHS } from './api.js';
import { h, link, queueHash, replace, section, table } from './dom.js';
import { eventRow, where } from './event-log.js';
import { failedAction } from './failed-table.js';
import { clock, iso, json } from './format.js';

/** Also reloaded this often, whatever the stream says. */
const POLL_MS = 5_000;

function field(label, ...value) {
  return [h('dt', {}, label), h('dd', {}, ...value)];
}

/** What state a job is in, from what the dashboard knows. */
function stateOf(detail) {
  if (detail.failed) return 'failed';
  const last = detail.events.at(-1);
  if (last) return last.type;
  return detail.result ? 'completed' : 'unknown';
}

export function jobView(id, queueHint, follow) {
  const body = h(
    'div',
    { 'aria-live': 'polite', 'aria-busy': 'true' },
    h('p', { class: 'muted' }, 'Loading…'),
  );
  const element = h(
    'div',
    { class: 'view' },
    h('h1', { tabindex: '-1' }, 'Job ', h('span', { class: 'name id' }, id)),
    body,
  );
  let queue = queueHint ?? undefined;
  let reloading = null;

  const render = (detail) => {
    queue = detail.queue ?? queue;
    if (queue) follow(queue);
    const failed = detail.failed;
    const task = failed?.task ?? detail.events.find((event) => event.task)?.task ?? null;
    const last = detail.events.at(-1);
    const state = stateOf(detail);
    const summary = h(
      'dl',
      { class: 'fields', id: 'job-summary' },
      field('State', h('span', { class: `badge ${state}` }, state)),
      field('Queue', queue ? link(queueHash(queue), queue) : 'unknown'),
      field('Task', task ?? 'unknown'),
      field('Attempts', String(failed?.attempts ?? last?.attempt ?? '–')),
      last ? field('Last seen', `${last.type} on ${where(last)} at ${clock(last.time)}`) : null,
      failed
        ? field('Failed at', h('time', { datetime: iso(failed.failedAt) }, clock(failed.failedAt)))
        : null,
    );

    const actions = failed
      ? h(
          'div',
          { class: 'toolbar' },
          h('button', { type: 'button', id: 'job-retry', onclick: () => act('retry') }, 'Retry'),
          h(
            'button',
            { type: 'button', class: 'danger', id: 'job-purge', onclick: () => act('purge') },
            'Purge',
          ),
        )
      : null;

    const error = failed
      ? section(
          'Error',
          h(
            'dl',
            { class: 'fields' },
            field('Code', failed.error.code ?? '(none)'),
            field('Message', failed.error.message),
          ),
          failed.error.stack ? h('pre', { class: 'stack', id: 'job-stack' }, failed.error.stack) : null,
        )
      : null;

    const fields = failed
      ? section(
          'Fields',
          failed.fields === null
            ? [
                h('p', { class: 'muted' }, 'Not a readable job; the body as received:'),
                h('pre', { id: 'job-body' }, failed.body),
              ]
            : h('pre', { id: 'job-fields' }, json(failed.fields)),
        )
      : null;

    const result = detail.result
      ? section('Result', h('pre', { id: 'job-result' }, json(detail.result.value)))
      : null;

    const events = table('Events seen by the dashboard, oldest first', [
      'Time',
      'Event',
      'Attempt',
      'Where',
      'Duration',
      'Error',
    ]);
    events.element.id = 'job-events';
    events.tbody.append(...detail.events.map((event) => eventRow(event, { withJob: false })));
    const noEvents =
      detail.events.length === 0
        ? h('p', { class: 'muted' }, 'The dashboard saw no event of this job.')
        : null;

    replace(body, summary, actions, error, fields, result, section('Events', noEvents ?? events.element));
  };

  /** What is shown, so that a reload that brings nothing new leaves the page (and its focus) alone. */
  let shown = '';

  async function load() {
    try {
      const detail = await getJSON(PATHS.job, { id, queue });
      const text = JSON.stringify(detail);
      if (text === shown) return;
      shown = text;
      render(detail);
    } catch (error) {
      shown = '';
      replace(
        body,
        h(
          'p',
          { class: error.status === 404 ? 'muted' : 'bad', id: 'job-missing' },
          error.status === 404
            ? `No job with id ${id} is known here: not in a failed store, no event of it seen, no result kept.`
            : `Could not load the job: ${error.message}`,
        ),
      );
    } finally {
      body.setAttribute('aria-busy', 'false');
    }
  }

  async function act(action) {
    if (queue && (await failedAction(queue, action, { ids: [id] }))) await load();
  }

  load();
  // Events bring the page up to date at once; this catches what the feed may have missed (its
  // events are best-effort), and a job that only another process knows yet.
  const poll = setInterval(() => {
    if (!document.hidden) load();
  }, POLL_MS);

  return {
    element,
    title: `Job ${id}`,
    crumbs: queue ? [{ label: queue, hash: queueHash(queue) }, { label: id }] : [{ label: id }],
    stream: queue,
    snapshot() {},
    jobs(rows) {
      // One reload for a burst of this job's events, not one per event.
      if (!rows.some((row) => row.id === id) || reloading !== null) return;
      reloading = setTimeout(() => {
        reloading = null;
        load();
      }, 250);
    },
    destroy() {
      clearTimeout(reloading);
      clearInterval(poll);
    },
  };
}
