/**
 * What the fleet tests (instances, the event feed) share: the two transports as fixtures, and
 * `multitask work` processes started on a queue and stopped at the end, whatever happened.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { InstanceInfo, Queue } from '../src/index.js';
import { type CliProcess, startWork } from './cli-helpers.js';
import { AMQP_TEST_URL, amqpSkipReason, deleteAmqpQueue } from './queue-helpers.js';

/** One transport: where its queue is for a test directory, and how to remove a test's queue. */
export interface FleetFixture {
  name: 'sqlite' | 'amqp';
  skip: string | undefined;
  url: (dir: string) => string;
  cleanup: (queue: string) => Promise<void>;
}

/** SQLite (a file in the test's directory) and RabbitMQ (skipped without a broker, outside CI). */
export async function fleetFixtures(): Promise<FleetFixture[]> {
  return [
    {
      name: 'sqlite',
      skip: undefined,
      url: (dir) => `sqlite:${join(dir, 'queue.db')}`,
      cleanup: async () => {},
    },
    { name: 'amqp', skip: await amqpSkipReason(), url: () => AMQP_TEST_URL, cleanup: deleteAmqpQueue },
  ];
}

/**
 * `count` processes of `multitask work` on `queue` (2 workers × concurrency 2 each, a grace of
 * 300 ms), once each consumes; `started` gets each one at once, so that a test's clean-up
 * kills even those that did not come up.
 */
export async function startWorks(
  cwd: string,
  url: string,
  queue: string,
  count: number,
  started: Set<CliProcess>,
): Promise<CliProcess[]> {
  const works = Array.from({ length: count }, () => {
    const work = startWork(cwd, { queue, extra: ['--url', url, '--grace-ms', '300'] });
    started.add(work);
    return work;
  });
  await Promise.all(works.map((work) => work.waitForLine('consuming')));
  return works;
}

/** Kills what is still running of `started` (SIGKILL) and forgets them. */
export function killAll(started: Set<CliProcess>): void {
  for (const work of started)
    if (work.child.exitCode === null && work.child.signalCode === null) work.child.kill('SIGKILL');
  started.clear();
}

/** The instances consuming `queue`, by pid. */
export async function instancesByPid(view: Queue, queue: string): Promise<Map<number, InstanceInfo>> {
  const all = await view.instances();
  return new Map(
    all.filter((instance) => instance.queues.includes(queue)).map((instance) => [instance.pid, instance]),
  );
}

/** The instance of each `work` process, once every one is listed (in their order). */
export async function instancesOfWorks(
  view: Queue,
  queue: string,
  works: CliProcess[],
): Promise<InstanceInfo[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const byPid = await instancesByPid(view, queue);
    const found = works.map((work) => byPid.get(work.child.pid!));
    if (found.every((instance) => instance !== undefined)) return found as InstanceInfo[];
    assert.ok(Date.now() < deadline, `every work process listed; got pids ${[...byPid.keys()]}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
