/**
 * A queue's failed jobs: a page of 50 at a time (the server pages; 10,000 failed jobs never
 * reach the page at once), searchable by id, task and error code, with Retry and Purge for one
 * job, the selection, or every failed job of the queue, each after a confirmation.
 */
import { getJSON, PATHS, postJSON } from './api.js';
import { h, jobHash, link, replace, section, setText, syncRows, table } from './dom.js';
import { clock, count, iso } from './format.js';
import { confirmAction, jobs, toast } from './ui.js';

const PAGE = 50;
const SEARCH_DEBOUNCE_MS = 300;
/** A changed failed count reloads the page shown, at most this often (failures may pour in). */
const REFRESH_EVERY_MS = 2_000;

/**
 * Retries or purges (`action`: 'retry' | 'purge') some jobs of `queue` by id, or all its failed
 * jobs, after asking; true when it was done.
 */
export async function failedAction(queue, action, target) {
  const verb = action === 'retry' ? 'Retry' : 'Purge';
  const what = target.all ? `every failed job of queue ${queue}` : jobs(target.ids.length);
  const consequence =
    action === 'retry'
      ? 'They go back to the queue and run again.'
      : 'They are deleted from the failed store for good.';
  const yes = await confirmAction({
    title: `${verb} ${what}?`,
    message: `${target.all ? '' : `${listIds(target.ids)}. `}${consequence}`,
    confirm: `${verb} ${what}`,
  });
  if (!yes) return false;
  try {
    const result = await postJSON(action === 'retry' ? PATHS.retry : PATHS.purge, { name: queue }, target);
    toast(`${action === 'retry' ? 'Retried' : 'Purged'} ${jobs(result.count)} of queue ${queue}.`);
    return true;
  } catch (error) {
    toast(`${verb} failed: ${error.message}`, 'error');
    return false;
  }
}

/** "a, b and c" / "a, b, c and 7 more": the ids a confirmation names. */
function listIds(ids) {
  if (ids.length === 1) return `Job ${ids[0]}`;
  const named = ids.slice(0, 3);
  const rest = ids.length - named.length;
  return `Jobs ${named.join(', ')}${rest > 0 ? ` and ${rest} more` : ''}`;
}

export function failedTable(queue) {
  const state = { search: '', cursors: [null], next: null, total: 0, rows: [], selected: new Set() };
  let loading = 0;
  let loadedAt = 0;
  let loadedFailedCount = -1;

  const search = h('input', {
    type: 'search',
    id: 'failed-search',
    placeholder: 'id, task or error code',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const summary = h('span', { class: 'muted', role: 'status', id: 'failed-summary' });
  const retrySelected = h('button', { type: 'button', disabled: true }, 'Retry selected');
  const purgeSelected = h('button', { type: 'button', class: 'danger', disabled: true }, 'Purge selected');
  const retryAll = h('button', { type: 'button' }, 'Retry all');
  const purgeAll = h('button', { type: 'button', class: 'danger' }, 'Purge all');
  const previous = h('button', { type: 'button', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', disabled: true }, 'Next →');
  const pageLabel = h('span', { class: 'muted' });
  const selectPage = h('input', { type: 'checkbox', 'aria-label': 'Select every job on this page' });
  const failed = table(
    'Failed jobs',
    ['', 'Job', 'Task', 'Error code', 'Error', 'Attempts', 'Failed at', 'Actions'],
    {
      numeric: [5],
      captionHidden: true,
    },
  );
  failed.element.id = 'failed';
  replace(failed.head.cells[0], selectPage);

  const selectionChanged = () => {
    const n = state.selected.size;
    retrySelected.disabled = n === 0;
    purgeSelected.disabled = n === 0;
    setText(retrySelected, n === 0 ? 'Retry selected' : `Retry ${n} selected`);
    setText(purgeSelected, n === 0 ? 'Purge selected' : `Purge ${n} selected`);
    selectPage.checked = n > 0 && n === state.rows.length;
    selectPage.indeterminate = n > 0 && n < state.rows.length;
  };

  const act = async (action, target) => {
    if (await failedAction(queue, action, target)) {
      state.selected.clear();
      await load();
    }
  };

  const row = (job) => {
    const box = h('input', { type: 'checkbox', 'aria-label': `Select job ${job.id}` });
    box.checked = state.selected.has(job.id);
    box.addEventListener('change', () => {
      if (box.checked) state.selected.add(job.id);
      else state.selected.delete(job.id);
      selectionChanged();
    });
    return h(
      'tr',
      { 'data-id': job.id },
      h('td', {}, box),
      h('td', { class: 'id' }, link(jobHash(job.id, queue), job.id)),
      h('td', {}, job.task ?? '(not a readable job)'),
      h('td', {}, job.error.code ?? ''),
      h('td', { class: 'error-text', title: job.error.message }, job.error.message),
      h('td', { class: 'num' }, String(job.attempts)),
      h('td', {}, h('time', { datetime: iso(job.failedAt) }, clock(job.failedAt))),
      h(
        'td',
        { class: 'actions' },
        h('button', { type: 'button', onclick: () => act('retry', { ids: [job.id] }) }, 'Retry'),
        h(
          'button',
          { type: 'button', class: 'danger', onclick: () => act('purge', { ids: [job.id] }) },
          'Purge',
        ),
      ),
    );
  };

  const render = () => {
    const first = (state.cursors.length - 1) * PAGE;
    const n = state.rows.length;
    const shown = n === 0 ? 'none' : n === 1 ? count(first + 1) : `${count(first + 1)}–${count(first + n)}`;
    const of =
      state.search === '' ? (state.total === 1 ? 'failed job' : 'failed jobs') : `matching “${state.search}”`;
    setText(summary, `${shown} of ${count(state.total)} ${of}`);
    setText(pageLabel, `page ${state.cursors.length}`);
    previous.disabled = state.cursors.length === 1;
    next.disabled = state.next === null;
    // Rows keyed by id: a reload that keeps a job keeps its row (and the focus inside it).
    const empty = state.search ? 'No failed job matches.' : 'No failed jobs.';
    syncRows(
      failed.tbody,
      state.rows.length > 0 ? state.rows : [{ empty }],
      (job) => (job.empty ? '' : `job:${job.id}:${job.failedAt}`),
      (job) => (job.empty ? h('tr', {}, h('td', { colspan: '8', class: 'muted' })) : row(job)),
      (tr, job) => {
        if (job.empty) setText(tr.cells[0], job.empty);
        else tr.querySelector('input').checked = state.selected.has(job.id);
      },
    );
    selectionChanged();
  };

  /** Loads the page at the current cursor; answers that come back out of order are dropped. */
  async function load() {
    const ticket = ++loading;
    const after = state.cursors[state.cursors.length - 1];
    try {
      const page = await getJSON(PATHS.failed, { name: queue, limit: PAGE, after, search: state.search });
      if (ticket !== loading) return;
      loadedAt = Date.now();
      // A page emptied by an action: step back to the previous one.
      if (page.jobs.length === 0 && state.cursors.length > 1) {
        state.cursors.pop();
        return load();
      }
      state.rows = page.jobs;
      state.next = page.next;
      state.total = page.total;
      const ids = new Set(page.jobs.map((job) => job.id));
      for (const id of state.selected) if (!ids.has(id)) state.selected.delete(id);
      render();
    } catch (error) {
      if (ticket === loading) setText(summary, `Could not load the failed jobs: ${error.message}`);
    }
  }

  let debounce;
  search.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      state.search = search.value.trim();
      state.cursors = [null];
      state.selected.clear();
      load();
    }, SEARCH_DEBOUNCE_MS);
  });
  previous.addEventListener('click', () => {
    state.cursors.pop();
    state.selected.clear();
    load();
  });
  next.addEventListener('click', () => {
    if (state.next === null) return;
    state.cursors.push(state.next);
    state.selected.clear();
    load();
  });
  selectPage.addEventListener('change', () => {
    state.selected = new Set(selectPage.checked ? state.rows.map((job) => job.id) : []);
    for (const box of failed.tbody.querySelectorAll('input[type=checkbox]')) box.checked = selectPage.checked;
    selectionChanged();
  });
  retrySelected.addEventListener('click', () => act('retry', { ids: [...state.selected] }));
  purgeSelected.addEventListener('click', () => act('purge', { ids: [...state.selected] }));
  retryAll.addEventListener('click', () => act('retry', { all: true }));
  purgeAll.addEventListener('click', () => act('purge', { all: true }));

  const element = section(
    'Failed jobs',
    h('div', { class: 'toolbar' }, h('label', { for: 'failed-search' }, 'Search'), search, summary),
    h('div', { class: 'toolbar' }, retrySelected, purgeSelected, retryAll, purgeAll),
    failed.element,
    h('nav', { class: 'toolbar pager', 'aria-label': 'Failed jobs pages' }, previous, pageLabel, next),
  );
  load();

  return {
    element,
    /** The queue's failed count from a snapshot: a change reloads the page, unless a selection is in progress. */
    failedCount(n) {
      retryAll.disabled = n === 0;
      purgeAll.disabled = n === 0;
      if (loadedFailedCount === -1) loadedFailedCount = n;
      if (n === loadedFailedCount || state.selected.size > 0 || Date.now() - loadedAt < REFRESH_EVERY_MS)
        return;
      loadedFailedCount = n;
      load();
    },
    destroy() {
      clearTimeout(debounce);
      loading++;
    },
  };
}
