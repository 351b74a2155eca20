// The job event feed, on both transports, with two real `multitask work` processes: nothing is
// published while nobody listens (the broker and the file see no event); a listener sees the
// dispatches and the jobs of both instances, a failing job retried then failed with its code;
// `multitask events` prints the feed and stops on SIGTERM.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp, { type ChannelModel } from 'amqplib';
import Database from 'better-sqlite3';
import { type FeedEvent, type InstanceInfo, type JobEvent, openQueue, type Queue } from '../src/index.js';
import { HEARTBEAT_MS } from '../src/queue/fleet-types.js';
import { FLEET_EXCHANGE } from '../src/queue/transports/amqp-fleet.js';
import { CliProcess } from './cli-helpers.js';
import { FailTimes, Nap, Record as RecordRun } from './fixtures/queue-tasks.js';
import { fleetFixtures, instancesOfWorks, killAll, startWorks } from './fleet-helpers.js';
import { eventually } from './helpers.js';
import { AMQP_TEST_URL, QUEUE_APP, tempDir, uniqueQueue } from './queue-helpers.js';

/** What the fleet exchange carried, seen by a plain amqplib queue bound to every key. */
class ExchangeSpy {
  readonly keys: string[] = [];
  /** The queue each `listener.hello` asked for (`null`: every queue), in the order heard. */
  readonly hellos: (string | null)[] = [];
  #connection: ChannelModel | undefined;

  async start(): Promise<void> {
    this.#connection = await amqp.connect(AMQP_TEST_URL);
    const channel = await this.#connection.createChannel();
    await channel.assertExchange(FLEET_EXCHANGE, 'topic', { durable: true });
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    await channel.bindQueue(queue, FLEET_EXCHANGE, '#');
    await channel.consume(
      queue,
      (message) => {
        if (!message) return;
        this.keys.push(message.fields.routingKey);
        if (message.fields.routingKey !== 'listener.hello') return;
        const notice = JSON.parse(message.content.toString('utf8')) as { queue?: string };
        this.hellos.push(notice.queue ?? null);
      },
      { noAck: true },
    );
  }

  async stop(): Promise<void> {
    await this.#connection?.close();
  }
}

/** The events of the fleet's SQLite tables, counted. */
function eventRows(url: string): number {
  const db = new Database(url.slice('sqlite:'.length), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM fleet_events').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Collects what a feed yields until `stop()`. */
function collect(feed: AsyncIterableIterator<FeedEvent>) {
  const seen: FeedEvent[] = [];
  const reading = (async () => {
    for await (const event of feed) seen.push(event);
  })();
  return {
    seen,
    jobEvents: (id: string) =>
      seen.filter((event): event is JobEvent => event.type !== 'gap' && event.id === id),
    stop: async () => {
      await feed.return?.();
      await reading;
    },
  };
}

for (const fixture of await fleetFixtures()) {
  describe(`event feed: ${fixture.name}`, { skip: fixture.skip, timeout: 180_000 }, () => {
    const started = new Set<CliProcess>();
    const cwd = tempDir();
    const url = fixture.url(cwd);
    const name = uniqueQueue(`feed-${fixture.name}`);
    const runs = join(cwd, 'runs');
    const spy = new ExchangeSpy();
    let view: Queue;
    let producer: Queue;
    let instances: InstanceInfo[];

    before(async () => {
      if (fixture.name === 'amqp') await spy.start();
      view = await openQueue(url);
      producer = await openQueue(url, { app: QUEUE_APP });
      const works = await startWorks(cwd, url, name, 2, started);
      instances = await instancesOfWorks(view, name, works);
    });
    after(async () => {
      for (const work of started) await work.stop('SIGTERM');
      killAll(started);
      await producer?.close();
      await view?.close();
      await spy.stop();
      await fixture.cleanup(name);
    });

    /** Waits until every work instance has heard of `listeners` feed listeners. */
    async function instancesHear(listeners: number): Promise<void> {
      await eventually(async () => {
        const live = (await view.instances()).filter((instance) => instance.queues.includes(name));
        return live.length === 2 && live.every((instance) => instance.feedListeners === listeners);
        // Listeners are the broker's, not this file's: a dashboard test running beside this one
        // listens to every queue until it ends (a minute or two), and its listener counts here.
      }, 240_000);
    }

    test('with no listener, nothing is published', async () => {
      let round = 0;
      const runQuietRound = async () => {
        // Announcements from before the wait count: an instance's beat saying "no listener" may
        // be 2 s old, and a listener may have come in those 2 s.
        const hellosBefore = spy.hellos.length;
        await instancesHear(0);
        const keysBefore = spy.keys.length;
        for (let i = 0; i < 6; i++) {
          await producer.dispatch(new RecordRun(runs, `quiet${round}-${i}`), { queue: name });
        }
        round++;
        await eventually(async () => (await producer.stats(name)).ready === 0);
        await eventually(async () => {
          const live = (await view.instances()).filter((instance) => instance.queues.includes(name));
          return (
            live.reduce((sum, instance) => sum + (instance.byQueue[name]?.completed ?? 0), 0) === 6 * round
          );
        });
        return { keys: spy.keys.slice(keysBefore), hellos: spy.hellos.slice(hellosBefore) };
      };
      if (fixture.name === 'sqlite') {
        await runQuietRound();
        assert.equal(eventRows(url), 0, 'the events table stays empty');
        return;
      }
      // Listeners are the broker's, not this file's: a dashboard test in another file may start
      // listening to every queue in the middle of a round, and then events are rightly sent. A
      // round some listener of this queue announced itself in proves nothing either way: run
      // another, until one had no such listener (the spy hears every announcement).
      let quiet = await runQuietRound();
      while (quiet.hellos.some((queue) => queue === null || queue === name) && round < 8) {
        quiet = await runQuietRound();
      }
      assert.ok(spy.keys.includes('instance.beat'), `the spy hears the exchange: ${spy.keys}`);
      assert.ok(
        !quiet.hellos.some((queue) => queue === null || queue === name),
        `a round with no listener of this queue, in ${round}: ${quiet.hellos}`,
      );
      assert.deepEqual(
        quiet.keys.filter((key) => key === `event.${name}`),
        [],
        'no event of this queue reaches the exchange',
      );
    });

    test('a listener sees the dispatches, and the jobs of both instances, a failure retried then failed', async () => {
      const feed = collect(view.events({ queue: name }));
      await instancesHear(1);
      const naps = Array.from({ length: 8 }, (_, i) => `nap-${i}`);
      for (const id of naps) await producer.dispatch(new Nap(400, runs, id), { queue: name, id });
      await producer.dispatch(new FailTimes(5, runs, 'fail'), { queue: name, id: 'fail', attempts: 2 });
      // Instances send their events apart: a dispatch's may come after its job's ending.
      const seenAll = (id: string, types: string[]) =>
        types.every((type) => feed.jobEvents(id).some((event) => event.type === type));
      await eventually(
        () =>
          naps.every((id) => seenAll(id, ['dispatched', 'started', 'completed'])) &&
          seenAll('fail', ['dispatched', 'failed']),
        30_000,
      );
      await feed.stop();

      const workIds = new Set(instances.map((instance) => instance.id));
      const ranOn = new Set<string>();
      for (const id of naps) {
        const events = feed.jobEvents(id);
        // One of each; a dispatch's confirmation may reach its producer after the job started.
        assert.deepEqual(events.map((event) => event.type).sort(), ['completed', 'dispatched', 'started']);
        const [dispatched, start, done] = ['dispatched', 'started', 'completed'].map(
          (type) => events.find((event) => event.type === type)!,
        );
        assert.ok(
          dispatched && start && done,
          `dispatched, started and completed for ${id}: ${JSON.stringify(events)}`,
        );
        assert.ok(!workIds.has(dispatched.instance), 'dispatched by the producer, not a work instance');
        assert.ok(workIds.has(start.instance), 'started by a work instance');
        assert.equal(done.instance, start.instance);
        assert.equal(done.task, 'Nap');
        assert.equal(done.queue, name);
        assert.equal(done.attempt, 1);
        assert.equal(typeof done.worker, 'number');
        assert.ok((done.durationMs ?? 0) >= 350, `a duration: ${done.durationMs}`);
        assert.ok(done.time instanceof Date);
        ranOn.add(done.instance);
      }
      assert.deepEqual([...ranOn].sort(), [...workIds].sort(), 'both instances ran jobs');

      const failing = feed
        .jobEvents('fail')
        .map((event) => [event.type, event.attempt, event.error?.code] as const)
        .filter(([type]) => type !== 'dispatched');
      assert.deepEqual(failing, [
        ['started', 1, undefined],
        ['retried', 1, 'E_PLANNED'],
        ['started', 2, undefined],
        ['failed', 2, 'E_PLANNED'],
      ]);
      assert.match(
        feed.jobEvents('fail').find((event) => event.type === 'failed')!.error!.message,
        /planned/,
      );
      assert.deepEqual(
        feed.seen.filter((event) => event.type === 'gap'),
        [],
        'nothing missed',
      );
      // What carried them: the exchange, or the table.
      if (fixture.name === 'sqlite') assert.ok(eventRows(url) > 0);
      else assert.ok(spy.keys.includes(`event.${name}`), 'events went through the exchange');
      // Ended: the instances hear that nobody listens any more, and stop publishing.
      await instancesHear(0);
    });

    test('an instance counts the listeners of its queues and of every queue, not those of another', async () => {
      const elsewhere = collect(view.events({ queue: `${name}-elsewhere` }));
      const everywhere = collect(view.events());
      try {
        // Both announce themselves as they start: once the second is heard, so is the first.
        await instancesHear(1);
        await sleep(2 * HEARTBEAT_MS + 500);
        const live = (await view.instances()).filter((instance) => instance.queues.includes(name));
        assert.deepEqual(
          live.map((instance) => instance.feedListeners),
          [1, 1],
          "the listener of every queue counts, the other queue's does not",
        );
      } finally {
        await elsewhere.stop();
        await everywhere.stop();
      }
      await instancesHear(0);
    });

    test('multitask events prints the feed as JSON lines, and stops on SIGTERM', async () => {
      const events = new CliProcess(['events', '--url', url, '--queue', name], { cwd });
      started.add(events);
      await events.waitForLine('listening to the job events until SIGINT or SIGTERM');
      await instancesHear(1);
      await producer.dispatch(new RecordRun(runs, 'cli'), { queue: name, id: 'cli-job' });
      const types = () =>
        events.lines.filter((line) => line.id === 'cli-job' && line.queue === name).map((line) => line.type);
      await eventually(() => types().length >= 3);
      assert.deepEqual(types().sort(), ['completed', 'dispatched', 'started']);
      assert.equal(await events.stop('SIGTERM'), 0, events.output);
      started.delete(events);
      await instancesHear(0);
    });
  });
}
