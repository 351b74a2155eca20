/**
 * The live stream (server-sent events) of every open page: the collector's snapshot, written
 * once as JSON and sent to each page every second; every 500 ms the new events of the queue a
 * page views (`?queue=`); a comment every 15 s so proxies keep the connection; `retry: 1000` so
 * a page whose server went away asks again a second later. A page costs no broker query and no
 * timer of its own: the hub's one timer serves them all, and runs only while one is open. A
 * page too slow to take what is sent (its socket buffer full) misses snapshots (the next one
 * replaces them) and event batches, rather than growing the server's memory.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { type JobEventRow, SNAPSHOT_EVERY_MS } from './api.js';
import type { Collector } from './collector.js';
import { safeJson } from './respond.js';

/** Event batches go out this often. */
export const JOBS_EVERY_MS = 500;
/** A comment line this often keeps idle proxies from closing the stream. */
export const HEARTBEAT_MS = 15_000;

interface Client {
  response: ServerResponse;
  queue: string | undefined;
}

/** See the module comment. */
export class StreamHub {
  readonly #collector: Collector;
  readonly #clients = new Set<Client>();
  #timer: NodeJS.Timeout | undefined;
  #stopSnapshots: (() => void) | undefined;
  #ticks = 0;

  constructor(collector: Collector) {
    this.#collector = collector;
  }

  /** How many pages are connected. */
  get size(): number {
    return this.#clients.size;
  }

  /** Takes a request for the stream: the headers, the retry delay and a first snapshot at once. */
  open(request: IncomingMessage, response: ServerResponse, queue: string | undefined): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-content-type-options': 'nosniff',
      // nginx would buffer the stream otherwise.
      'x-accel-buffering': 'no',
    });
    const client: Client = { response, queue };
    this.#clients.add(client);
    response.write(`retry: ${SNAPSHOT_EVERY_MS}\n\n`);
    response.write(`event: snapshot\ndata: ${this.#collector.snapshot.json}\n\n`);
    const close = () => this.#drop(client);
    request.once('close', close);
    response.once('close', close);
    this.#collector.watched();
    this.#changed();
  }

  /** Ends every stream (the dashboard closes): the pages reconnect to whatever serves next. */
  close(): void {
    for (const client of [...this.#clients]) {
      client.response.end();
      this.#drop(client);
    }
  }

  #drop(client: Client): void {
    if (!this.#clients.delete(client)) return;
    this.#changed();
  }

  /** Starts or stops the timer and the snapshot listener as pages come and go. */
  #changed(): void {
    this.#collector.feed.watch(new Set([...this.#clients].flatMap((client) => client.queue ?? [])));
    if (this.#clients.size > 0 && this.#timer === undefined) {
      this.#stopSnapshots = this.#collector.onSnapshot((_snapshot, json) => {
        this.#collector.watched();
        this.#send('snapshot', json, undefined);
      });
      this.#timer = setInterval(() => this.#tick(), JOBS_EVERY_MS);
      this.#timer.unref();
    } else if (this.#clients.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#stopSnapshots?.();
      this.#stopSnapshots = undefined;
    }
  }

  #tick(): void {
    this.#ticks++;
    const pending = this.#collector.feed.takePending();
    for (const [queue, rows] of pending) this.#send('jobs', safeJson(rows satisfies JobEventRow[]), queue);
    if ((this.#ticks * JOBS_EVERY_MS) % HEARTBEAT_MS === 0)
      for (const client of this.#clients) client.response.write(': keep-alive\n\n');
  }

  /** Sends an event to every page (or those viewing `queue`) whose socket is not backed up. */
  #send(event: string, json: string, queue: string | undefined): void {
    const message = `event: ${event}\ndata: ${json}\n\n`;
    for (const client of this.#clients) {
      if (queue !== undefined && client.queue !== queue) continue;
      if (client.response.writableNeedDrain) continue;
      client.response.write(message);
    }
  }
}
