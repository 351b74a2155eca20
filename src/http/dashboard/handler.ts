/**
 * `createDashboard(queue, options)`: the web dashboard as a plain Node request handler,
 * `(req, res, next?)`, for node:http, Express (`app.use('/dashboard', handler)`), Fastify (see
 * docs/dashboard.md) or `multitask dashboard`. It serves the page, its files and the JSON API
 * of api.ts under its mount point; `handler.close()` stops its collector and ends its streams,
 * leaving the queue open.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { hasCode, invalidOption } from '../../errors.js';
import { type ApiContext, failedAction, failedPage, jobDetail, queueDetail } from './api-routes.js';
import { serveAsset, servePage } from './assets.js';
import { checkAuth, Gate } from './auth.js';
import { Collector } from './collector.js';
import { FailedView } from './failed-view.js';
import { HttpRefusal, methodNotAllowed, sendJson, sendRefusal } from './respond.js';
import type { DashboardOptions, DashboardSource } from './source.js';
import { StreamHub } from './stream.js';

/** The dashboard's request handler; `next` (Express) is called for a path outside its mount. */
export interface DashboardHandler {
  (request: IncomingMessage, response: ServerResponse, next?: (error?: unknown) => void): void;
  /** Stops polling and the feed listener and ends the open streams; the queue stays open. */
  close(): Promise<void>;
}

/** What Express adds to a request it routes through `app.use(path, handler)`. */
type MountedRequest = IncomingMessage & { baseUrl?: string; originalUrl?: string };

/**
 * Builds the dashboard of `queue` (an open `Queue`, or anything with the methods of
 * {@link DashboardSource}). It starts reading the queue's counts at once (once a second), and
 * listens to the event feed while someone looks. Credentials in `options.auth` are required on
 * every request; nothing here listens on a port, so binding only to loopback without them is
 * the caller's part (`multitask dashboard` refuses otherwise).
 */
export function createDashboard(queue: DashboardSource, options: DashboardOptions = {}): DashboardHandler {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object');
  const basePath = normalizeBase(options.basePath);
  const queues = checkQueues(options.queues);
  const gate = new Gate(checkAuth(options.auth));
  const collector = new Collector(queue, queues);
  const hub = new StreamHub(collector);
  const context: ApiContext = {
    source: queue,
    collector,
    failed: new FailedView(queue),
    readOnly: options.readOnly === true,
  };
  collector.start();
  let closed = false;

  const handler = ((request: MountedRequest, response: ServerResponse, next?: (error?: unknown) => void) => {
    const url = new URL(request.url ?? '/', 'http://dashboard.invalid');
    // Under Express the mount path is in baseUrl and req.url is what is below it.
    const mounted = typeof request.baseUrl === 'string' && typeof request.originalUrl === 'string';
    const mount = mounted ? `${request.baseUrl!.replace(/\/$/, '')}/` : basePath;
    let rest: string;
    if (mounted) rest = url.pathname.replace(/^\//, '');
    else if (url.pathname.startsWith(basePath)) rest = url.pathname.slice(basePath.length);
    else if (`${url.pathname}/` === basePath) rest = '';
    else {
      if (next !== undefined) next();
      else sendRefusal(response, new HttpRefusal(404, 'ERR_NOT_FOUND', `no route ${url.pathname}`));
      return;
    }
    serve(request, response, url, rest, mount).catch((error: unknown) => {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      sendRefusal(response, refusalOf(error));
    });
  }) as DashboardHandler;

  async function serve(
    request: MountedRequest,
    response: ServerResponse,
    url: URL,
    rest: string,
    mount: string,
  ) {
    if (closed) throw new HttpRefusal(503, 'ERR_DASHBOARD_CLOSED', 'the dashboard is closed');
    const decision = gate.admit(request, url, mount);
    const method = request.method ?? 'GET';
    if (decision.kind === 'redirect') {
      const location = request.originalUrl === undefined ? decision.location : `${mount}${rest}${url.search}`;
      response.writeHead(303, { location, 'set-cookie': decision.cookie, 'cache-control': 'no-store' });
      response.end();
      return;
    }
    // The page's relative URLs need the mount's trailing slash.
    const path =
      request.originalUrl === undefined ? url.pathname : new URL(request.originalUrl, url).pathname;
    if (rest === '' && !path.endsWith('/')) {
      response.writeHead(308, { location: `${mount}${url.search}`, 'cache-control': 'no-store' });
      response.end();
      return;
    }
    const segments = rest.split('/').map(decodeSegment);
    const read = method === 'GET' || method === 'HEAD';
    if (rest === '' || rest === 'index.html') {
      if (!read) throw methodNotAllowed(['GET', 'HEAD']);
      collector.watched();
      servePage(request, response, { csrfToken: gate.csrfToken, baseHref: mount });
      return;
    }
    if (segments[0] === 'assets' && segments.length > 1) {
      if (!read) throw methodNotAllowed(['GET', 'HEAD']);
      serveAsset(rest.slice('assets/'.length), request, response);
      return;
    }
    if (segments[0] !== 'api') throw new HttpRefusal(404, 'ERR_NOT_FOUND', `no route ${url.pathname}`);
    const [, what, name, sub, action] = segments;
    const post = segments.length === 5 && what === 'queues' && sub === 'failed';
    if (post) {
      if (method !== 'POST') throw methodNotAllowed(['POST']);
      if (action !== 'retry' && action !== 'purge')
        throw new HttpRefusal(404, 'ERR_NOT_FOUND', `no action ${JSON.stringify(action)}`);
      gate.checkAction(request);
      await failedAction(context, name!, action, request, response);
      return;
    }
    if (!read) throw methodNotAllowed(['GET', 'HEAD']);
    collector.watched();
    if (segments.length === 2 && what === 'snapshot') {
      sendJson(response, 200, collector.snapshot.snapshot);
    } else if (segments.length === 2 && what === 'stream') {
      // A HEAD would hold the connection with nothing to send.
      if (method !== 'GET') throw methodNotAllowed(['GET']);
      hub.open(request, response, url.searchParams.get('queue') ?? undefined);
    } else if (segments.length === 3 && what === 'queues') {
      queueDetail(context, name!, response);
    } else if (segments.length === 4 && what === 'queues' && sub === 'failed') {
      await failedPage(context, name!, url, response);
    } else if (segments.length === 3 && what === 'jobs') {
      await jobDetail(context, name!, url, response);
    } else throw new HttpRefusal(404, 'ERR_NOT_FOUND', `no route ${url.pathname}`);
  }

  handler.close = async () => {
    if (closed) return;
    closed = true;
    hub.close();
    await collector.close();
  };
  return handler;
}

/** `/`, or the given path with one leading and one trailing slash. */
function normalizeBase(basePath: unknown): string {
  if (basePath === undefined) return '/';
  if (typeof basePath !== 'string' || !/^\/?[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(basePath))
    throw invalidOption('basePath', basePath, 'a URL path such as /dashboard/');
  return `/${basePath.replace(/^\/+|\/+$/g, '')}/`.replace(/^\/\/$/, '/');
}

function checkQueues(queues: unknown): string[] {
  if (queues === undefined) return [];
  if (!Array.isArray(queues) || !queues.every((name) => typeof name === 'string' && name !== ''))
    throw invalidOption('queues', queues, 'an array of queue names');
  return [...new Set(queues as string[])];
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpRefusal(
      400,
      'ERR_BAD_REQUEST',
      `a path segment that is not URI-encoded: ${JSON.stringify(segment)}`,
    );
  }
}

/** What an error becomes on the wire: its own status, 400 for bad input, 503 for a broker away. */
function refusalOf(error: unknown): HttpRefusal {
  if (error instanceof HttpRefusal) return error;
  const message = (error as Error)?.message ?? String(error);
  if (hasCode(error, 'ERR_INVALID_OPTION')) return new HttpRefusal(400, 'ERR_INVALID_OPTION', message);
  const code = (error as { code?: unknown })?.code;
  if (code === 'ERR_BROKER_UNAVAILABLE' || code === 'ERR_QUEUE_CLOSED')
    return new HttpRefusal(503, code, message, { 'retry-after': '1' });
  return new HttpRefusal(500, typeof code === 'string' ? code : 'ERR_INTERNAL', message);
}
