import type { Logger } from 'pino';
import {
  type HttpHandlers,
  type HttpService,
  type ListenAddress,
  startHttpServer,
} from '../../http/server.js';
import { ConfigError } from '../config.js';

/**
 * Starts the probes-and-metrics server of a long-running command, or none for `--http off`.
 * A port it cannot take is a configuration error naming `--http`.
 */
export async function serveHttp(
  listen: ListenAddress | undefined,
  handlers: HttpHandlers,
  log: Logger,
): Promise<HttpService | undefined> {
  if (listen === undefined) return undefined;
  let http: HttpService;
  try {
    http = await startHttpServer(listen, handlers);
  } catch (error) {
    throw new ConfigError(
      'http',
      `cannot listen on ${listen.host}:${listen.port}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  log.info({ address: `${http.address.host}:${http.address.port}` }, 'http: /healthz /readyz /metrics');
  return http;
}
