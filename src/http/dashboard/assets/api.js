/**
 * Talking to the dashboard's server. Every path is relative to where the dashboard is mounted
 * (its `<base href>`, or the page's own address), so the page works at `/` and under
 * `/dashboard/` alike. POSTs carry the CSRF token the server put in the page, and JSON.
 */
import { CSRF_HEADER, PATHS } from './contract.js';

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';
let csrf = meta('multitask-csrf');
/** Where the dashboard is mounted: a `multitask-base` meta when the server gives one, else `<base href>`. */
const base = new URL(meta('multitask-base') || document.baseURI, document.baseURI).href;

/** An answer other than 2xx: its status and the server's `{ error }` message when it sent one. */
export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * The URL of a path of {@link PATHS}, with `:name`/`:id` filled in (encoded) and a query from
 * `params` (undefined and '' values left out).
 */
export function apiUrl(path, { name, id, ...params } = {}) {
  let filled = path;
  if (name !== undefined) filled = filled.replace(':name', encodeURIComponent(name));
  if (id !== undefined) filled = filled.replace(':id', encodeURIComponent(id));
  const url = new URL(filled, base);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, String(value));
  }
  return url.href;
}

async function answer(response) {
  const text = await response.text();
  let body;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body?.error ?? `${response.status} ${response.statusText}`.trim();
    throw new ApiError(response.status, message, body?.code);
  }
  return body;
}

/** GET a JSON answer. */
export async function getJSON(path, params) {
  const response = await fetch(apiUrl(path, params), {
    headers: { accept: 'application/json' },
    credentials: 'same-origin',
  });
  return answer(response);
}

/**
 * The CSRF token of the page as the server serves it now. A restarted dashboard has a new one,
 * and a page left open across the restart still holds the old: read from a fresh copy of the
 * page (parsed as an inert document: nothing in it runs).
 */
async function freshCsrf() {
  const response = await fetch(base, { credentials: 'same-origin', headers: { accept: 'text/html' } });
  if (!response.ok) return csrf;
  const page = new DOMParser().parseFromString(await response.text(), 'text/html');
  return page.querySelector('meta[name="multitask-csrf"]')?.getAttribute('content') ?? csrf;
}

/** POST `body` as JSON with the CSRF header; the JSON answer. */
export async function postJSON(path, params, body) {
  const post = () =>
    fetch(apiUrl(path, params), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', [CSRF_HEADER]: csrf },
      credentials: 'same-origin',
      body: JSON.stringify(body),
    });
  let response = await post();
  if (response.status === 403) {
    // Once, with the token of the server that answers now (it may have restarted).
    const token = await freshCsrf();
    if (token !== csrf) {
      csrf = token;
      response = await post();
    }
  }
  return answer(response);
}

export { PATHS };
