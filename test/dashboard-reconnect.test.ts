// The dashboard through a broker outage (RabbitMQ; skipped without a broker, outside CI): its
// queue reaches the real broker through a TCP relay this test cuts and restores. While the
// broker is unreachable the stream keeps sending snapshots that say so (broker.connected false,
// a broker-down alert); once it is back the snapshots say connected again, and the feed
// listener, subscribed anew, brings the events of jobs run after the outage.
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, afterEach, describe, test } from 'node:test';
import type { Snapshot } from '../src/http/dashboard/api.js';
import { openQueue, type Queue } from '../src/index.js';
import type { CliProcess } from './cli-helpers.js';
import { SseReader, serveDashboard } from './dashboard-helpers.js';
import { Noop } from './fixtures/queue-tasks.js';
import { killAll, startWorks } from './fleet-helpers.js';
import {
  AMQP_TEST_URL,
  amqpSkipReason,
  deleteAmqpQueue,
  QUEUE_APP,
  tempDir,
  uniqueQueue,
} from './queue-helpers.js';

/** A TCP relay to the broker that can be cut (every connection closed, nothing accepted) and restored. */
class Relay {
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor(readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  }
}

const skip = await amqpSkipReason();
const started = new Set<CliProcess>();
afterEach(() => killAll(started));

describe('dashboard through a broker outage', { skip, timeout: 120_000 }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('the stream says the broker is down, then connected again, and events flow again', async () => {
    const target = new URL(AMQP_TEST_URL);
    const relay = new Relay({ host: target.hostname, port: Number(target.port || 5672) });
    await relay.start();
    cleanups.push(() => relay.cut());
    const relayed = new URL(AMQP_TEST_URL);
    relayed.hostname = '127.0.0.1';
    relayed.port = String(relay.port);
    const name = uniqueQueue('dash-outage');
    const cwd = tempDir();
    // The workers use the broker directly; only the dashboard's queue goes through the relay.
    await startWorks(cwd, AMQP_TEST_URL, name, 1, started);
    const view: Queue = await openQueue(relayed.toString(), { app: QUEUE_APP, heartbeatSeconds: 1 });
    const dashboard = await serveDashboard(view, { queues: [name] });
    cleanups.push(async () => {
      await dashboard.close();
      await view.close();
      await deleteAmqpQueue(name);
    });
    const stream = await new SseReader().open(`${dashboard.base}api/stream?queue=${name}`);
    cleanups.push(() => stream.close());
    await stream.next<Snapshot>('snapshot', (snapshot) => snapshot.instances.length > 0);

    await relay.cut();
    const down = await stream.next<Snapshot>('snapshot', (snapshot) => !snapshot.broker.connected);
    assert.ok(
      down.alerts.some((alert) => alert.kind === 'broker-down'),
      JSON.stringify(down.alerts),
    );
    const during = stream.events.length;
    await stream.next<Snapshot>('snapshot', (snapshot) => snapshot.at > down.at + 2_000);
    assert.ok(stream.events.length > during, 'snapshots keep coming while the broker is away');

    await relay.start();
    const back = await stream.next<Snapshot>('snapshot', (snapshot) => snapshot.broker.connected, 60_000);
    assert.ok(!back.alerts.some((alert) => alert.kind === 'broker-down'));

    // Jobs dispatched after the outage (by the dashboard's own queue, reconnected) show as events.
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await view.dispatch(new Noop(`after${i}`), { queue: name }));
    await stream.completed(ids);
  });
});
