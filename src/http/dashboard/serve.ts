/**
 * A server of its own for the dashboard (`multitask dashboard`): the handler mounted at `/`,
 * bound where asked, closed with every open stream.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A listening dashboard server. */
export interface DashboardServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** Listens on `host:port` with `handle`; rejects (EADDRINUSE, EACCES…) when it cannot. */
export async function listenDashboard(
  listen: { host: string; port: number },
  handle: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<DashboardServer> {
  const server = createServer(handle);
  // An open stream is a keep-alive connection: closing must not wait for the page to leave.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
