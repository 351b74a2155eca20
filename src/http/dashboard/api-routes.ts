/**
 * The JSON routes of the dashboard (paths in api.ts): what each answers, given the collector's
 * state and the queue. The handler (handler.ts) has checked the credentials; actions also pass
 * the CSRF check there.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FailedAction, FailedActionResult, JobDetail } from './api.js';
import type { Collector } from './collector.js';
import { type FailedView, failedRow, MAX_PAGE } from './failed-view.js';
import { HttpRefusal, readJson, sendJson } from './respond.js';
import type { DashboardSource } from './source.js';

/** Most ids one action may name. */
const MAX_ACTION_IDS = 10_000;

/** What the routes work with. */
export interface ApiContext {
  source: DashboardSource;
  collector: Collector;
  failed: FailedView;
  readOnly: boolean;
}

/** A queue the dashboard knows, else 404: a request must not make it look at (or create) any queue. */
export function knownQueue(context: ApiContext, name: string): string {
  if (!context.collector.knows(name))
    throw new HttpRefusal(404, 'ERR_NOT_FOUND', `no queue ${JSON.stringify(name)} on this dashboard`);
  return name;
}

/** GET api/queues/:name */
export function queueDetail(context: ApiContext, name: string, response: ServerResponse): void {
  const detail = context.collector.detail(knownQueue(context, name));
  if (detail === undefined)
    throw new HttpRefusal(404, 'ERR_NOT_FOUND', `no queue ${JSON.stringify(name)} yet`);
  sendJson(response, 200, detail);
}

/** GET api/queues/:name/failed?limit&after&search */
export async function failedPage(context: ApiContext, name: string, url: URL, response: ServerResponse) {
  const queue = knownQueue(context, name);
  const limitText = url.searchParams.get('limit') ?? '50';
  const limit = /^\d+$/.test(limitText) ? Number(limitText) : Number.NaN;
  if (!(limit >= 1 && limit <= MAX_PAGE))
    throw new HttpRefusal(400, 'ERR_INVALID_OPTION', `limit must be an integer from 1 to ${MAX_PAGE}`);
  const after = url.searchParams.get('after') || undefined;
  const search = url.searchParams.get('search') || undefined;
  const page = await context.failed.page(queue, {
    limit,
    ...(after === undefined ? {} : { after }),
    ...(search === undefined ? {} : { search }),
  });
  sendJson(response, 200, page);
}

/** POST api/queues/:name/failed/retry and …/purge, with a {@link FailedAction} body. */
export async function failedAction(
  context: ApiContext,
  name: string,
  action: 'retry' | 'purge',
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  if (context.readOnly) throw new HttpRefusal(403, 'ERR_READ_ONLY', 'this dashboard is read-only');
  const queue = knownQueue(context, name);
  const body = await readJson(request);
  const ids = actionIds(body);
  const options = ids === undefined ? {} : { ids };
  const count =
    action === 'retry'
      ? await context.source.retryFailed(queue, options)
      : await context.source.purgeFailed(queue, options);
  context.failed.invalidate(queue);
  sendJson(response, 200, { count } satisfies FailedActionResult);
}

/** The ids an action names (undefined: every one), or a 400. */
function actionIds(body: unknown): string[] | undefined {
  const expected = 'a JSON body { "ids": ["…"] } or { "all": true }';
  if (typeof body !== 'object' || body === null) throw new HttpRefusal(400, 'ERR_BAD_REQUEST', expected);
  const action = body as Partial<Record<keyof FailedAction | 'all', unknown>> & {
    ids?: unknown;
    all?: unknown;
  };
  if (action.all === true && action.ids === undefined) return undefined;
  const { ids } = action;
  if (!Array.isArray(ids) || action.all !== undefined || !ids.every((id) => typeof id === 'string'))
    throw new HttpRefusal(400, 'ERR_BAD_REQUEST', expected);
  if (ids.length > MAX_ACTION_IDS)
    throw new HttpRefusal(
      400,
      'ERR_BAD_REQUEST',
      `at most ${MAX_ACTION_IDS} ids at once (or { "all": true })`,
    );
  return ids as string[];
}

/** GET api/jobs/:id?queue= */
export async function jobDetail(context: ApiContext, id: string, url: URL, response: ServerResponse) {
  const { source, collector } = context;
  const given = url.searchParams.get('queue');
  const queues = collector.queueNames();
  // The queue named first; the others after it, in case the link was old.
  const order =
    given !== null && collector.knows(given) ? [given, ...queues.filter((q) => q !== given)] : queues;
  let failed: JobDetail['failed'] = null;
  for (const queue of order) {
    const job = await source.failedJob(queue, id);
    if (job !== undefined) {
      failed = failedRow(job);
      break;
    }
  }
  const events = collector.feed.job(id);
  const stored = await source.storedResult(id);
  const result = stored.state === 'completed' ? { value: stored.value ?? null } : null;
  if (failed === null && events.length === 0 && stored.state === 'unknown')
    throw new HttpRefusal(404, 'ERR_NOT_FOUND', `nothing is known of job ${JSON.stringify(id)} here`);
  const queue =
    failed?.queue ?? events[0]?.queue ?? (given !== null && collector.knows(given) ? given : null);
  sendJson(response, 200, { id, queue, failed, events, result } satisfies JobDetail);
}
