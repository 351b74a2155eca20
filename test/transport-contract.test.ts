// The transport contract (src/queue/transport.ts), driven directly: a Transport, its Lanes and
// their Deliveries, with no pool and no threads, against every transport (as BullMQ's
// adapter-conformance test does). What a job means is the consumer's business; this suite
// checks that each transport moves messages and keeps counts the same way.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openTransport } from '../src/queue/open-transport.js';
import { type OpenQueueOptions, resolveQueueOptions } from '../src/queue/options.js';
import type { Delivery, Lane, OutgoingMessage, QueueStats, Transport } from '../src/queue/transport.js';
import { eventually } from './helpers.js';
import { AMQP_TEST_URL, amqpSkipReason, deleteAmqpQueue, tempDir, uniqueQueue } from './queue-helpers.js';

/** How the suite opens one transport. */
interface TransportFixture {
  name: string;
  skip?: string | undefined;
  open(options?: OpenQueueOptions): Promise<Transport>;
  /** True when `exists()` holds for any name (an open SQLite file holds every queue). */
  holdsEveryQueue: boolean;
  cleanup(queue: string): Promise<void>;
}

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

const fixtures: TransportFixture[] = [
  {
    name: 'sqlite',
    open: (options = {}) =>
      openTransport(`sqlite:${join(dir, 'contract.db')}`, resolveQueueOptions({ pollMs: 20, ...options })),
    holdsEveryQueue: true,
    cleanup: async () => {},
  },
  {
    name: 'amqp',
    skip: await amqpSkipReason(),
    open: (options = {}) => openTransport(AMQP_TEST_URL, resolveQueueOptions(options)),
    holdsEveryQueue: false,
    cleanup: deleteAmqpQueue,
  },
];

/** A message as a producer sends a new job. */
function message(body: string, changes: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return { body, id: `id-${body}`, attempt: 1, notBefore: 0, ...changes };
}

/** The deliveries of one lane, in order, each awaitable. */
class Inbox {
  readonly received: Delivery[] = [];
  readonly #waiters: Array<(delivery: Delivery) => void> = [];
  #taken = 0;

  readonly push = (delivery: Delivery): void => {
    this.received.push(delivery);
    this.#waiters.shift()?.(delivery);
  };

  /** The next delivery not taken yet (waiting for it when needed). */
  next(): Promise<Delivery> {
    const index = this.#taken++;
    const ready = this.received[index];
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

const ERROR = { name: 'Error', message: 'boom', code: 'E_BOOM' };

for (const fixture of fixtures) {
  describe(`transport contract: ${fixture.name}`, { skip: fixture.skip }, () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    /** A transport and a fresh queue name; closed and removed after the suite. */
    async function setup(options?: OpenQueueOptions) {
      const transport = await fixture.open(options);
      const queue = uniqueQueue(`contract-${fixture.name}`);
      cleanups.push(async () => {
        await transport.close();
        await fixture.cleanup(queue);
      });
      const subscribe = async (prefetch: number) => {
        const inbox = new Inbox();
        const lane: Lane = await transport.subscribe(queue, prefetch, inbox.push);
        return { inbox, lane };
      };
      const statsAre = (expected: QueueStats) =>
        eventually(async () => {
          const stats = await transport.stats(queue);
          return JSON.stringify(stats) === JSON.stringify(expected);
        }, 10_000).catch(async (error: Error) => {
          assert.deepEqual(await transport.stats(queue), expected, error.message);
        });
      return { transport, queue, subscribe, statsAre };
    }

    test('a published message is delivered with its body, id and attempt 1; ack removes it', async () => {
      const { transport, queue, subscribe, statsAre } = await setup();
      await transport.publish(queue, message('hello'));
      await statsAre({ ready: 1, inFlight: 0, delayed: 0, failed: 0 });
      const { inbox, lane } = await subscribe(1);
      const delivery = await inbox.next();
      assert.equal(delivery.body, 'hello');
      assert.equal(delivery.id, 'id-hello');
      assert.equal(delivery.attempt, 1);
      assert.equal(delivery.lastError, undefined);
      await statsAre({ ready: 0, inFlight: 1, delayed: 0, failed: 0 });
      await delivery.ack();
      await statsAre({ ready: 0, inFlight: 0, delayed: 0, failed: 0 });
      await lane.close();
    });

    test('a lane holds at most `prefetch` deliveries unsettled at once', async () => {
      const { transport, queue, statsAre } = await setup();
      const jobs = 6;
      for (let i = 0; i < jobs; i++) await transport.publish(queue, message(`job${i}`));
      let unsettled = 0;
      let most = 0;
      let acked = 0;
      const bodies: string[] = [];
      const heldBack: Delivery[] = [];
      let holding = true;
      const ack = (delivery: Delivery) =>
        delivery.ack().then(() => {
          unsettled--;
          acked++;
        });
      const lane = await transport.subscribe(queue, 2, (delivery) => {
        unsettled++;
        most = Math.max(most, unsettled);
        bodies.push(delivery.body);
        if (holding) heldBack.push(delivery);
        else setImmediate(() => ack(delivery));
      });
      await statsAre({ ready: jobs - 2, inFlight: 2, delayed: 0, failed: 0 });
      assert.equal(heldBack.length, 2, 'two taken while four are ready');
      // Now each delivery is acked as it comes: every ack frees one slot, never more.
      holding = false;
      for (const delivery of heldBack) void ack(delivery);
      await eventually(() => acked === jobs);
      assert.equal(most, 2, `${most} unsettled at once with prefetch 2`);
      assert.deepEqual(
        bodies,
        Array.from({ length: jobs }, (_, i) => `job${i}`),
        'each once, in order',
      );
      await statsAre({ ready: 0, inFlight: 0, delayed: 0, failed: 0 });
      await lane.close();
    });

    test('retry(delay, error) delivers it again as the next attempt, no sooner than the delay, with the error', async () => {
      const { transport, queue, subscribe, statsAre } = await setup();
      await transport.publish(queue, message('flaky'));
      const { inbox, lane } = await subscribe(1);
      const first = await inbox.next();
      const retriedAt = Date.now();
      await first.retry(400, ERROR);
      await statsAre({ ready: 0, inFlight: 0, delayed: 1, failed: 0 });
      const second = await inbox.next();
      assert.ok(Date.now() - retriedAt >= 400, `delivered again after ${Date.now() - retriedAt} ms`);
      assert.equal(second.id, 'id-flaky');
      assert.equal(second.body, 'flaky');
      assert.equal(second.attempt, 2);
      assert.deepEqual(second.lastError, ERROR);
      await second.ack();
      await statsAre({ ready: 0, inFlight: 0, delayed: 0, failed: 0 });
      await lane.close();
    });

    test('release() gives it back without counting the attempt', async () => {
      const { transport, queue, subscribe } = await setup();
      await transport.publish(queue, message('given-back', { attempt: 2, lastError: ERROR }));
      const { inbox, lane } = await subscribe(1);
      const first = await inbox.next();
      assert.equal(first.attempt, 2, 'the attempt it was sent as');
      await first.release();
      const again = await inbox.next();
      assert.equal(again.id, 'id-given-back');
      assert.equal(again.attempt, 2, 'not counted');
      assert.deepEqual(again.lastError, ERROR, 'the last error stays');
      await again.ack();
      await lane.close();
    });

    test('fail(error) moves it to the failed store; retryFailed puts it back afresh; purgeFailed empties it', async () => {
      const { transport, queue, subscribe, statsAre } = await setup();
      const body = JSON.stringify({ v: 1, id: 'job-1', task: 'Send', fields: { to: 'a' } });
      await transport.publish(queue, message(body, { id: 'job-1', attempt: 3 }));
      const { inbox, lane } = await subscribe(1);
      const delivery = await inbox.next();
      await delivery.fail(ERROR);
      await statsAre({ ready: 0, inFlight: 0, delayed: 0, failed: 1 });
      const firstPage = { limit: 10, after: undefined };
      const [failed, ...more] = await transport.failed(queue, firstPage);
      assert.equal(more.length, 0);
      assert.equal(failed?.id, 'job-1');
      assert.equal(failed?.queue, queue);
      assert.equal(failed?.task, 'Send');
      assert.deepEqual(failed?.fields, { to: 'a' });
      assert.equal(failed?.attempts, 3);
      assert.deepEqual(failed?.error, ERROR);
      assert.ok(failed?.failedAt instanceof Date);
      assert.equal(failed?.body, body);
      assert.equal(
        (await transport.failed(queue, firstPage)).length,
        1,
        'listing leaves the store as it was',
      );
      assert.deepEqual(await transport.failedJob(queue, 'job-1'), failed);

      assert.deepEqual(await transport.retryFailed(queue), ['job-1']);
      const back = await inbox.next();
      assert.equal(back.id, 'job-1');
      assert.equal(back.attempt, 1, 'attempts counted afresh');
      assert.deepEqual(back.lastError, ERROR, 'the error kept for the record');
      await back.fail(ERROR);
      await statsAre({ ready: 0, inFlight: 0, delayed: 0, failed: 1 });
      assert.deepEqual(await transport.purgeFailed(queue), ['job-1']);
      assert.deepEqual(await transport.failed(queue, firstPage), []);
      assert.equal(await transport.failedJob(queue, 'job-1'), undefined);
      await statsAre({ ready: 0, inFlight: 0, delayed: 0, failed: 0 });
      await lane.close();
    });

    test('the failed store by id: pages, one job, retry and purge of some ids', async () => {
      const { transport, queue, subscribe, statsAre } = await setup();
      const ids = ['f-1', 'f-2', 'f-3', 'f-4'];
      for (const id of ids) await transport.publish(queue, message(JSON.stringify({ v: 1, id }), { id }));
      const { inbox, lane } = await subscribe(4);
      for (const _ of ids) await (await inbox.next()).fail(ERROR);
      await statsAre({ ready: 0, inFlight: 0, delayed: 0, failed: 4 });
      const all = await transport.failed(queue, { limit: 10, after: undefined });
      assert.deepEqual(
        all.map((job) => job.id),
        ids,
        'oldest first',
      );
      const page = await transport.failed(queue, { limit: 2, after: 'f-1' });
      assert.deepEqual(
        page.map((job) => job.id),
        ['f-2', 'f-3'],
      );
      await assert.rejects(transport.failed(queue, { limit: 2, after: 'nope' }), {
        code: 'ERR_INVALID_OPTION',
      });
      assert.equal((await transport.failedJob(queue, 'f-3'))?.id, 'f-3');
      assert.equal(await transport.failedJob(queue, 'nope'), undefined);

      assert.deepEqual(await transport.retryFailed(queue, ['f-3', 'nope', 'f-2']), ['f-2', 'f-3']);
      const back = [await inbox.next(), await inbox.next()];
      assert.deepEqual(back.map((delivery) => delivery.id).sort(), ['f-2', 'f-3']);
      assert.ok(back.every((delivery) => delivery.attempt === 1));
      for (const delivery of back) await delivery.ack();
      assert.deepEqual(await transport.purgeFailed(queue, ['f-4']), ['f-4']);
      assert.deepEqual(await transport.purgeFailed(queue, ['f-4']), []);
      assert.deepEqual(
        (await transport.failed(queue, { limit: 10, after: undefined })).map((job) => job.id),
        ['f-1'],
      );
      await statsAre({ ready: 0, inFlight: 0, delayed: 0, failed: 1 });
      await lane.close();
    });

    test('stop() takes no new deliveries, while those delivered can still be settled', async () => {
      const { transport, queue, subscribe, statsAre } = await setup();
      await transport.publish(queue, message('before'));
      const stopped = await subscribe(5);
      const held = await stopped.inbox.next();
      await stopped.lane.stop();
      await transport.publish(queue, message('after'));
      await statsAre({ ready: 1, inFlight: 1, delayed: 0, failed: 0 });
      await held.ack();
      // A fresh lane gets the message published after the stop; the stopped lane never does.
      const fresh = await subscribe(5);
      const next = await fresh.inbox.next();
      assert.equal(next.body, 'after');
      assert.deepEqual(
        stopped.inbox.received.map((delivery) => delivery.body),
        ['before'],
      );
      await next.ack();
      await statsAre({ ready: 0, inFlight: 0, delayed: 0, failed: 0 });
      await stopped.lane.close();
      await fresh.lane.close();
    });

    test('close() gives back what is still unsettled', async () => {
      const { transport, queue, subscribe, statsAre } = await setup();
      await transport.publish(queue, message('held'));
      const closing = await subscribe(1);
      const held = await closing.inbox.next();
      await closing.lane.close();
      await statsAre({ ready: 1, inFlight: 0, delayed: 0, failed: 0 });
      const fresh = await subscribe(1);
      const again = await fresh.inbox.next();
      assert.equal(again.id, held.id);
      assert.equal(again.body, 'held');
      // SQLite gives it back uncounted; RabbitMQ counts a requeue as a delivery (x-delivery-count).
      assert.ok(again.attempt === 1 || again.attempt === 2, `attempt ${again.attempt}`);
      await again.ack();
      await fresh.lane.close();
    });

    test('notBefore holds a message back until its time; stats count it as delayed', async () => {
      const { transport, queue, subscribe, statsAre } = await setup();
      // Far enough ahead that "now", published right after, is in the queue first even on a busy broker.
      const notBefore = Date.now() + 1_000;
      await transport.publish(queue, message('later', { notBefore }));
      await transport.publish(queue, message('now'));
      const { inbox, lane } = await subscribe(2);
      const first = await inbox.next();
      assert.equal(first.body, 'now');
      await statsAre({ ready: 0, inFlight: 1, delayed: 1, failed: 0 });
      const later = await inbox.next();
      assert.equal(later.body, 'later');
      assert.ok(Date.now() >= notBefore, `delivered ${notBefore - Date.now()} ms early`);
      assert.equal(later.attempt, 1);
      await first.ack();
      await later.ack();
      await statsAre({ ready: 0, inFlight: 0, delayed: 0, failed: 0 });
      await lane.close();
    });

    test('exists() tells whether a queue is there, without creating it', async () => {
      const { transport, queue } = await setup();
      const unknown = uniqueQueue(`contract-${fixture.name}-never`);
      assert.equal(await transport.exists(unknown), fixture.holdsEveryQueue);
      assert.equal(await transport.exists(unknown), fixture.holdsEveryQueue, 'asking did not create it');
      await transport.publish(queue, message('there'));
      assert.equal(await transport.exists(queue), true);
    });
  });
}
