/**
 * The dashboard's page: a hash router over three views (overview, a queue, a job), the search
 * box, and the one live stream that feeds whichever view is shown. No framework and no build
 * step: plain ES modules the server sends as they are.
 */
import { h, jobHash, link, queueHash, replace, setText } from './dom.js';
import { clock, iso } from './format.js';
import { jobView } from './job-view.js';
import { Live } from './live.js';
import { overviewView } from './overview.js';
import { queueView } from './queue-view.js';

const main = document.getElementById('main');
const crumbs = document.getElementById('crumbs');
const indicator = document.getElementById('live');
const where = document.getElementById('where');

let view = null;
let latest = null;

const live = new Live({
  snapshot(snapshot) {
    latest = snapshot;
    const transport = snapshot.transport === 'amqp' ? 'RabbitMQ' : 'SQLite';
    const node = snapshot.broker.node ? ` ${snapshot.broker.node}` : '';
    setText(where, `${transport}${node}${snapshot.broker.connected ? '' : ' (unreachable)'}`);
    where.classList.toggle('bad', !snapshot.broker.connected);
    view?.snapshot(snapshot);
  },
  jobs(rows) {
    view?.jobs(rows);
  },
  state({ live: fresh, staleSince, connecting, everLive, refused }) {
    document.body.dataset.live = fresh ? 'live' : everLive || refused ? 'stale' : 'connecting';
    if (refused) {
      // Credentials that no longer pass (a new token): only the person can fix that.
      replace(indicator, h('span', { class: 'dot' }), `refused (${refused}): reload with valid credentials`);
    } else if (fresh) {
      replace(indicator, h('span', { class: 'dot' }), 'live');
    } else if (staleSince !== null) {
      replace(
        indicator,
        h('span', { class: 'dot' }),
        'stale since ',
        h('time', { datetime: iso(staleSince) }, clock(staleSince)),
        connecting ? ' · reconnecting…' : '',
      );
    } else {
      replace(indicator, h('span', { class: 'dot' }), connecting ? 'connecting…' : 'waiting for data…');
    }
  },
});

/** The view a hash names: `#/`, `#/queue/<name>`, `#/job/<id>?queue=<name>`; null for another. */
function route(hash) {
  // A hash that is not a route (`#main` before the skip link's handler ran) shows the overview.
  const [path, query = ''] = (hash.startsWith('#/') ? hash.slice(1) : '/').split('?');
  const parts = path.split('/').filter((part) => part !== '');
  try {
    if (parts.length === 0) return overviewView();
    const name = decodeURIComponent(parts.slice(1).join('/'));
    if (parts[0] === 'queue' && name !== '') return queueView(name);
    if (parts[0] === 'job' && name !== '') {
      const queue = new URLSearchParams(query).get('queue') ?? undefined;
      return jobView(name, queue, (known) => live.follow(known));
    }
  } catch (error) {
    if (!(error instanceof URIError)) throw error;
  }
  return null;
}

function notFound() {
  return {
    element: h(
      'div',
      { class: 'view' },
      h('h1', { tabindex: '-1' }, 'Not found'),
      h('p', {}, 'This page does not exist. ', link('#/', 'Back to the overview')),
    ),
    title: 'Not found',
    crumbs: [],
    stream: undefined,
    snapshot() {},
    jobs() {},
    destroy() {},
  };
}

function show({ focus }) {
  view?.destroy();
  view = route(location.hash) ?? notFound();
  replace(main, view.element);
  document.title = `${view.title} · multitask`;
  replace(
    crumbs,
    h(
      'ol',
      {},
      h(
        'li',
        {},
        view.crumbs.length === 0 ? h('span', { 'aria-current': 'page' }, 'Overview') : link('#/', 'Overview'),
      ),
      view.crumbs.map((crumb, i) =>
        h(
          'li',
          {},
          crumb.hash && i < view.crumbs.length - 1
            ? link(crumb.hash, crumb.label)
            : h('span', { 'aria-current': i === view.crumbs.length - 1 ? 'page' : null }, crumb.label),
        ),
      ),
    ),
  );
  live.follow(view.stream);
  if (latest !== null) view.snapshot(latest);
  // After a navigation, focus goes to the new view's heading, so a keyboard or screen reader
  // user starts there rather than at the link they left.
  if (focus) main.querySelector('h1')?.focus();
}

window.addEventListener('hashchange', () => show({ focus: true }));

// The search box: a queue's name opens its page, anything else is taken as a job id.
document.getElementById('search').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('search-input');
  const text = input.value.trim();
  if (text === '') return;
  const isQueue = latest?.queues.some((queue) => queue.name === text);
  location.hash = isQueue ? queueHash(text) : jobHash(text);
  input.select();
});

// The skip link moves focus without touching the hash the router reads.
document.getElementById('skip').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

show({ focus: false });
