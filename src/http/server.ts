/**
 * The worker's HTTP server: liveness, readiness and metrics (Prometheus text, or OpenMetrics
 * for a scraper that asks for it) for the orchestrator, and a resize endpoint for the
 * operator. It binds to loopback unless told otherwise, and the resize endpoint answers
 * loopback clients only, whatever the bind address.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROUTES } from './routes.js';

/** What a probe reports: ok or not, and why, as JSON. */
export interface ProbeReport {
  ok: boolean;
  [detail: string]: unknown;
}

/** What the server asks of the service it reports on. */
export interface HttpHandlers {
  health(): ProbeReport;
  ready(): ProbeReport;
  /** The metrics in the format the scraper asked for (see {@link metricsFormat}). */
  metrics(format: MetricsFormat): Promise<{ contentType: string; body: string }>;
  /** Resizes the pool; resolves with the new size. Rejects with a message (and an HTTP `status`, else 400). */
  resize?(size: string): Promise<number>;
  /** Answers everything under `/dashboard/` (the web dashboard); absent: those paths are 404. */
  dashboard?(request: IncomingMessage, response: ServerResponse): void;
}

/** A host and port to listen on. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** The running server. */
export interface HttpService {
  /** The address bound (the real port when 0 was asked). */
  address: ListenAddress;
  close(): Promise<void>;
}

/** The text formats `/metrics` speaks: Prometheus text 0.0.4, and OpenMetrics 1.0.0 (with exemplars). */
export type MetricsFormat = 'prometheus' | 'openmetrics';

/**
 * The format a scrape's `Accept` header asks for: OpenMetrics when it names
 * `application/openmetrics-text` at a quality no lower than `text/plain`'s (Prometheus itself
 * sends `application/openmetrics-text;version=1.0.0,…,text/plain;version=0.0.4;q=0.5,…`),
 * else the Prometheus text, which is also the answer to no header, to any type and to
 * `text/plain`: what every scraper reads, so those that never ask see no change.
 */
export function metricsFormat(accept: string | undefined): MetricsFormat {
  let openMetrics = 0;
  let text = 0;
  for (const range of (accept ?? '').split(',')) {
    const [type = '', ...parameters] = range.split(';').map((part) => part.trim().toLowerCase());
    const quality = parameters.find((parameter) => parameter.startsWith('q='));
    const q = quality === undefined ? 1 : Number(quality.slice(2));
    if (!(q > 0)) continue; // q=0 refuses the type; a malformed q is ignored
    if (type === 'application/openmetrics-text') openMetrics = Math.max(openMetrics, q);
    else if (type === 'text/plain') text = Math.max(text, q);
  }
  return openMetrics > 0 && openMetrics >= text ? 'openmetrics' : 'prometheus';
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** Starts the server; rejects (EADDRINUSE, EACCES…) when it cannot listen. */
export async function startHttpServer(listen: ListenAddress, handlers: HttpHandlers): Promise<HttpService> {
  const server = createServer((request, response) => {
    route(request, response, handlers).catch((error: Error) => {
      if (!response.headersSent) send(response, 500, { ok: false, error: error.message });
      else response.destroy(error);
    });
  });
  // Probes come every few seconds from the kubelet; keep-alive sockets must not hold shutdown.
  server.keepAliveTimeout = 5_000;
  return { address: await bind(server, listen), close: () => closeServer(server) };
}

/** Listens on `listen`; resolves with the address bound, rejects (EADDRINUSE…) when it cannot. */
export async function bind(server: Server, listen: ListenAddress): Promise<ListenAddress> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return { host: bound.address, port: bound.port };
}

async function route(
  request: IncomingMessage,
  response: ServerResponse,
  handlers: HttpHandlers,
): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const method = request.method ?? 'GET';
  if (
    handlers.dashboard !== undefined &&
    (url.pathname.startsWith(ROUTES.dashboard) || `${url.pathname}/` === ROUTES.dashboard)
  ) {
    handlers.dashboard(request, response);
    return;
  }
  switch (url.pathname) {
    case ROUTES.health:
    case ROUTES.ready: {
      if (!allow(method, ['GET', 'HEAD'], response)) return;
      const report = url.pathname === ROUTES.health ? handlers.health() : handlers.ready();
      send(response, report.ok ? 200 : 503, report);
      return;
    }
    case ROUTES.metrics: {
      if (!allow(method, ['GET', 'HEAD'], response)) return;
      const { contentType, body } = await handlers.metrics(metricsFormat(request.headers.accept));
      // The answer depends on Accept: a cache between scraper and server must not mix the two.
      response.writeHead(200, { 'content-type': contentType, vary: 'accept' });
      response.end(body);
      return;
    }
    case ROUTES.workers: {
      if (!allow(method, ['POST'], response)) return;
      if (!LOOPBACK.has(request.socket.remoteAddress ?? '')) {
        send(response, 403, { ok: false, error: 'resizing is allowed from loopback only' });
        return;
      }
      const size = url.searchParams.get('size');
      if (handlers.resize === undefined || size === null) {
        send(response, 400, { ok: false, error: 'POST /workers?size=<count or share of CPUs>' });
        return;
      }
      try {
        send(response, 200, { ok: true, size: await handlers.resize(size) });
      } catch (error) {
        send(response, (error as { status?: number }).status ?? 400, {
          ok: false,
          error: (error as Error).message,
        });
      }
      return;
    }
    default:
      send(response, 404, { ok: false, error: `no route ${url.pathname}`, routes: Object.values(ROUTES) });
  }
}

function allow(method: string, methods: string[], response: ServerResponse): boolean {
  if (methods.includes(method)) return true;
  response.setHeader('allow', methods.join(', '));
  send(response, 405, { ok: false, error: `${method} not allowed` });
  return false;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(`${JSON.stringify(body)}\n`);
}

/** Stops listening and closes every connection (keep-alive sockets, open event streams). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
