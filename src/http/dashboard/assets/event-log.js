/**
 * A queue's live event stream: the latest job events, newest first, at most {@link KEEP} rows
 * (a queue draining thousands of jobs a second must not grow the page). Pausable: while paused
 * nothing moves, and the page counts what arrived, to show it on resume.
 */
import { h, jobHash, link, setText, table } from './dom.js';
import { clock, duration, iso } from './format.js';

const KEEP = 200;

/** Where a job ran, as people name it: host, pid and worker. */
export function where(event) {
  const process = event.host ? `${event.host} pid ${event.pid}` : `instance ${event.instance.slice(0, 8)}`;
  return event.worker === null ? process : `${process} · worker ${event.worker}`;
}

/** One event as a table row (every value as text). */
export function eventRow(event, { withJob = true } = {}) {
  const error = event.error ? `${event.error.code ? `${event.error.code}: ` : ''}${event.error.message}` : '';
  return h(
    'tr',
    { class: `event-${event.type}` },
    h('td', {}, h('time', { datetime: iso(event.time) }, clock(event.time))),
    h('td', {}, h('span', { class: `badge ${event.type}` }, event.type)),
    withJob ? h('td', {}, event.task ?? '') : null,
    withJob
      ? h('td', { class: 'id' }, event.id === null ? '' : link(jobHash(event.id, event.queue), event.id))
      : null,
    h('td', { class: 'num' }, String(event.attempt)),
    h('td', {}, where(event)),
    h('td', { class: 'num' }, event.durationMs === null ? '' : duration(event.durationMs)),
    h('td', { class: 'error-text', title: error || null }, error),
  );
}

export function eventLog() {
  const events = table('Live events, newest first', [
    'Time',
    'Event',
    'Task',
    'Job',
    'Attempt',
    'Where',
    'Duration',
    'Error',
  ]);
  events.element.id = 'events';
  // 200 rows would make the page endless: the table scrolls in a box of its own.
  events.element.classList.add('tall');
  let paused = false;
  let held = [];
  let heldCount = 0;
  const note = h('span', { class: 'muted', role: 'status', id: 'events-note' });
  const button = h('button', { type: 'button', 'aria-pressed': 'false', id: 'pause' }, 'Pause');

  /** Puts rows (newest first) on top of the table and trims it to KEEP. */
  const show = (newestFirst) => {
    const fresh = newestFirst.slice(0, KEEP);
    const fragment = document.createDocumentFragment();
    for (const event of fresh) fragment.append(eventRow(event));
    events.tbody.prepend(fragment);
    while (events.tbody.rows.length > KEEP) events.tbody.lastElementChild.remove();
  };

  button.addEventListener('click', () => {
    paused = !paused;
    button.setAttribute('aria-pressed', String(paused));
    setText(button, paused ? 'Resume' : 'Pause');
    if (!paused) {
      show(held);
      held = [];
      heldCount = 0;
    }
    setText(note, paused ? 'Paused: 0 new events' : '');
  });

  const element = h(
    'section',
    { 'aria-labelledby': 'events-title' },
    h('div', { class: 'toolbar' }, h('h2', { id: 'events-title' }, 'Live events'), button, note),
    events.element,
  );

  return {
    element,
    /** The server's recent events (newest first), when the page opens. */
    seed(recent) {
      events.tbody.replaceChildren();
      show(recent);
    },
    /** A batch from the stream (oldest first, as they happened). */
    add(batch) {
      if (batch.length === 0) return;
      const newestFirst = [...batch].sort((a, b) => b.time - a.time);
      if (paused) {
        held = [...newestFirst, ...held].slice(0, KEEP);
        heldCount += batch.length;
        setText(note, `Paused: ${heldCount} new events`);
      } else {
        show(newestFirst);
      }
    },
  };
}
