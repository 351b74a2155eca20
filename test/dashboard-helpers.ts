/**
 * What the dashboard tests share: a dashboard served by a real node:http server on loopback,
 * requests to it, and a reader of its event stream (server-sent events, parsed as a browser's
 * EventSource does).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JobEventRow } from '../src/http/dashboard/api.js';
import {
  CSRF_HEADER,
  createDashboard,
  type DashboardHandler,
  type DashboardOptions,
  type Queue,
} from '../src/index.js';

/** A dashboard on its own server. */
export interface Served {
  base: string;
  handler: DashboardHandler;
  close(): Promise<void>;
}

/** Serves `createDashboard(queue, options)` on 127.0.0.1 at a free port, mounted at `options.basePath` or `/`. */
export async function serveDashboard(queue: Queue, options: DashboardOptions = {}): Promise<Served> {
  const handler = createDashboard(queue, options);
  const server: Server = createServer((request, response) =>
    handler(request, response, () => {
      response.writeHead(418);
      response.end('not the dashboard');
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const mount = options.basePath === undefined ? '/' : `/${options.basePath.replace(/^\/+|\/+$/g, '')}/`;
  return {
    base: `http://127.0.0.1:${port}${mount}`,
    handler,
    close: async () => {
      await handler.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An answer, its body read. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, typed as the caller expects (the API's shapes, from api.ts). */
  json: <T = Record<string, unknown>>() => T;
}

/** A request, its answer read whole (redirects not followed). */
export async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, { redirect: 'manual', ...init });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: <T>() => JSON.parse(text) as T };
}

/** The CSRF token the page carries. */
export async function csrfOf(base: string, init: RequestInit = {}): Promise<string> {
  const page = await call(base, init);
  assert.equal(page.status, 200, page.text);
  const token = /<meta name="multitask-csrf" content="([^"]+)">/.exec(page.text)?.[1];
  assert.ok(token, `a CSRF meta in the page: ${page.text.slice(0, 300)}`);
  return token;
}

/** A POST as the page sends it: JSON, with the CSRF header. */
export function action(
  base: string,
  path: string,
  body: unknown,
  csrf: string,
  headers: Record<string, string> = {},
) {
  return call(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [CSRF_HEADER]: csrf, ...headers },
    body: JSON.stringify(body),
  });
}

/** One server-sent event. */
export interface SseEvent {
  event: string;
  data: string;
}

/** Reads a stream as an EventSource would, keeping what it received. */
export class SseReader {
  readonly events: SseEvent[] = [];
  /** Every line received, comments and `retry:` included. */
  readonly lines: string[] = [];
  readonly #abort = new AbortController();
  #done: Promise<void> = Promise.resolve();
  status = 0;
  contentType = '';

  async open(url: string, headers: Record<string, string> = {}): Promise<this> {
    const response = await fetch(url, { headers, signal: this.#abort.signal });
    this.status = response.status;
    this.contentType = response.headers.get('content-type') ?? '';
    if (response.body === null) return this;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    this.#done = (async () => {
      let pending = '';
      let event = 'message';
      let data: string[] = [];
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          pending += value;
          const lines = pending.split('\n');
          pending = lines.pop()!;
          for (const line of lines) {
            this.lines.push(line);
            if (line === '') {
              if (data.length > 0) this.events.push({ event, data: data.join('\n') });
              event = 'message';
              data = [];
            } else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
        }
      } catch {
        // Aborted by close().
      }
    })();
    return this;
  }

  /** Waits until an event satisfies `match` (its data parsed), and returns it. */
  async next<T>(name: string, match: (data: T) => boolean = () => true, withinMs = 20_000): Promise<T> {
    const deadline = Date.now() + withinMs;
    let seen = 0;
    for (;;) {
      for (; seen < this.events.length; seen++) {
        const event = this.events[seen]!;
        if (event.event !== name) continue;
        const data = JSON.parse(event.data) as T;
        if (match(data)) return data;
      }
      if (Date.now() > deadline)
        throw new Error(
          `no matching "${name}" event within ${withinMs} ms; got ${this.events.map((e) => e.event)}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Waits until the stream's `jobs` batches have said that every one of `ids` completed. */
  async completed(ids: string[], withinMs = 30_000): Promise<void> {
    const completed = new Set<string>();
    await this.next<JobEventRow[]>(
      'jobs',
      (rows) => {
        for (const row of rows) if (row.type === 'completed' && row.id !== null) completed.add(row.id);
        return ids.every((id) => completed.has(id));
      },
      withinMs,
    );
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#done;
  }
}
