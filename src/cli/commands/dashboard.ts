/**
 * `multitask dashboard`: the web dashboard of a queue's broker (or SQLite file) on a server of
 * its own, until SIGINT or SIGTERM. It listens at once (127.0.0.1:9465 unless told otherwise,
 * and off loopback only with credentials), then waits for the broker as long as it takes: the
 * page says it is connecting meanwhile. See docs/dashboard.md.
 */

import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { DeferredDashboard } from '../../http/dashboard/deferred.js';
import { createDashboard } from '../../http/dashboard/handler.js';
import { listenDashboard } from '../../http/dashboard/serve.js';
import type { HttpService } from '../../http/server.js';
import { logConnection } from '../../observability/event-logs.js';
import { parseQueueUrl } from '../../queue/url.js';
import { readBrokerSettings } from '../broker-settings.js';
import { ConfigError, httpAddress, queueList, queueUrl, type RawSettings } from '../config.js';
import { connectQueue } from '../connect.js';
import { DEFAULT_DASHBOARD_HTTP } from '../settings.js';
import { authKind, browserAddress, readDashboardSettings } from './dashboard-settings.js';

/** Serves the dashboard until a signal; resolves with the exit code. */
export async function dashboard(raw: RawSettings, log: Logger): Promise<number> {
  // Every setting is checked before anything listens or connects.
  const url = queueUrl(raw);
  const broker = readBrokerSettings(raw);
  const queues = queueList(raw);
  const listen = httpAddress(raw, DEFAULT_DASHBOARD_HTTP, false)!;
  const { auth, readOnly } = readDashboardSettings(raw, listen);
  const location = parseQueueUrl(url);
  if (location.kind === 'sqlite' && !existsSync(location.path))
    log.warn(
      { url: location.safeUrl },
      'no queue file here yet: it is created empty; run the dashboard where the workers run, or give --url',
    );

  const stopping = new AbortController();
  const stop = () => stopping.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const deferred = new DeferredDashboard();
  let server: HttpService;
  try {
    server = await listenDashboard(listen, deferred.handle);
  } catch (error) {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    throw new ConfigError(
      'http',
      `cannot listen on ${listen.host}:${listen.port}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  const address = browserAddress(server.address, '/');
  log.info({ address, auth: authKind(auth), readOnly }, 'dashboard');
  try {
    const queue = await connectQueue({ command: 'dashboard', url, broker, log, signal: stopping.signal });
    if (queue === undefined) return 0;
    logConnection(queue, log);
    deferred.attach(createDashboard(queue, { queues, readOnly, ...(auth === undefined ? {} : { auth }) }));
    log.info({ url: queue.url, address }, 'dashboard ready');
    if (!stopping.signal.aborted)
      await new Promise((resolve) => stopping.signal.addEventListener('abort', resolve));
    log.info('stopping the dashboard');
    await deferred.close();
    await queue.close();
    return 0;
  } finally {
    await deferred.close();
    await server.close();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
