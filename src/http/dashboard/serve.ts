/**
 * A server of its own for the dashboard (`multitask dashboard`): the handler mounted at `/`,
 * bound where asked, closed with every open stream.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { bind, closeServer, type HttpService, type ListenAddress } from '../server.js';

/** Listens on `listen` with `handle`; rejects (EADDRINUSE, EACCES…) when it cannot. */
export async function listenDashboard(
  listen: ListenAddress,
  handle: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<HttpService> {
  const server = createServer(handle);
  // Idle keep-alive sockets must not hold a stop; open streams are closed with the server.
  server.keepAliveTimeout = 5_000;
  return { address: await bind(server, listen), close: () => closeServer(server) };
}
