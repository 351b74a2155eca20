/**
 * A dashboard whose queue is not open yet: the command's server listens at once (a bad address
 * fails fast, a probe sees it up), and until the broker answers every request gets a 503 that
 * says so; the page asks again by itself a second later. Then the real handler takes over.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DashboardHandler } from './handler.js';
import { COMMON_HEADERS } from './respond.js';

/** See the module comment. */
export class DeferredDashboard {
  #handler: DashboardHandler | undefined;
  #closed = false;

  /** The handler to use from now on (closed at once if this one already is). */
  attach(handler: DashboardHandler): void {
    if (this.#closed) void handler.close();
    else this.#handler = handler;
  }

  /** Answers with the real dashboard, or the 503 while there is none. */
  readonly handle = (request: IncomingMessage, response: ServerResponse): void => {
    if (this.#handler !== undefined) {
      this.#handler(request, response);
      return;
    }
    const wantsPage = /text\/html/.test(String(request.headers.accept ?? ''));
    const body = wantsPage
      ? '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="1"><title>multitask dashboard</title><p>Connecting to the queue…</p>\n'
      : `${JSON.stringify({ error: 'connecting to the queue', code: 'ERR_BROKER_UNAVAILABLE' })}\n`;
    response.writeHead(503, {
      ...COMMON_HEADERS,
      'retry-after': '1',
      'content-type': wantsPage ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8',
      'content-security-policy': "default-src 'none'",
    });
    response.end(body);
  };

  /** Closes the real handler, if any. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#handler?.close();
  }
}
