// One view of every instance, on both transports, with real `multitask work` processes: the
// status command lists them and sums the jobs they hold; an instance killed with SIGKILL ages
// out within the documented time (docs/queues.md, "Instances"); one stopped with SIGTERM says
// goodbye and is gone at once.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { openQueue, type Queue } from '../src/index.js';
import { AGE_OUT_MS } from '../src/queue/fleet-types.js';
import { type CliProcess, runCli } from './cli-helpers.js';
import { Nap } from './fixtures/queue-tasks.js';
import { fleetFixtures, instancesByPid, instancesOfWorks, killAll, startWorks } from './fleet-helpers.js';
import { eventually } from './helpers.js';
import { QUEUE_APP, tempDir, uniqueQueue } from './queue-helpers.js';

const VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
const started = new Set<CliProcess>();
afterEach(() => killAll(started));

for (const fixture of await fleetFixtures()) {
  describe(`instances: ${fixture.name}`, { skip: fixture.skip, timeout: 120_000 }, () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    /** A queue of its own, a directory, and a Queue to look and dispatch with. */
    async function setUp(): Promise<{ cwd: string; url: string; name: string; view: Queue }> {
      const cwd = tempDir();
      const url = fixture.url(cwd);
      const name = uniqueQueue(`fleet-${fixture.name}`);
      const view = await openQueue(url, { app: QUEUE_APP });
      cleanups.push(async () => {
        await view.close();
        await fixture.cleanup(name);
      });
      return { cwd, url, name, view };
    }

    test('status lists two work instances and the sum of the jobs they hold', async () => {
      const { cwd, url, name, view } = await setUp();
      const works = await startWorks(cwd, url, name, 2, started);
      // Slow jobs: each instance holds 4 (2 workers × concurrency 2), so 8 are in flight.
      for (let i = 0; i < 8; i++)
        await view.dispatch(new Nap(60_000, join(cwd, 'runs'), `n${i}`), { queue: name });
      await eventually(async () => {
        const byPid = await instancesByPid(view, name);
        // An announcement is up to an interval old: wait for one made once the workers were up.
        return works.every((work) => {
          const instance = byPid.get(work.child.pid!);
          return instance?.byQueue[name]?.inFlight === 4 && instance.workers.alive === 2;
        });
      }, 30_000);

      const json = runCli(['status', '--url', url, '--queue', name, '--json'], { cwd });
      assert.equal(json.status, 0, json.stderr);
      const status = JSON.parse(json.stdout) as {
        inFlight: number;
        instances: Array<{ pid: number; host: string; version: string; workers: unknown; queues: string[] }>;
      };
      assert.equal(status.inFlight, 8, json.stdout);
      assert.deepEqual(
        status.instances.map((instance) => instance.pid).sort(),
        works.map((work) => work.child.pid).sort(),
      );
      for (const instance of status.instances) {
        assert.equal(instance.host, hostname());
        assert.equal(instance.version, VERSION);
        assert.deepEqual(instance.workers, { alive: 2, target: 2 });
        assert.deepEqual(instance.queues, [name]);
      }

      const text = runCli(['status', '--url', url, '--queue', name], { cwd });
      assert.equal(text.status, 0, text.stderr);
      assert.match(text.stdout, /in flight\s+8\n/);
      assert.match(text.stdout, /instances\s+2\n/);
      for (const work of works) assert.match(text.stdout, new RegExp(`\\s${work.child.pid}\\s+2/2\\s+4\\s`));

      for (const work of works) assert.equal(await work.stop('SIGTERM'), 0, work.output);
    });

    test('an instance killed with SIGKILL ages out; one stopped with SIGTERM is gone at once', async () => {
      const { cwd, url, name, view } = await setUp();
      const [killed, stopped] = await startWorks(cwd, url, name, 2, started);
      const [killedInstance, stoppedInstance] = await instancesOfWorks(view, name, [killed!, stopped!]);
      assert.notEqual(killedInstance!.id, stoppedInstance!.id);
      const ids = async () => [...(await instancesByPid(view, name)).values()].map((instance) => instance.id);

      killed!.child.kill('SIGKILL');
      const killedAt = Date.now();
      await killed!.exited;
      await eventually(async () => !(await ids()).includes(killedInstance!.id), AGE_OUT_MS + 5_000);
      const agedOutMs = Date.now() - killedAt;
      // Its last announcement is at most one interval old when it dies: gone within the age-out.
      assert.ok(agedOutMs <= AGE_OUT_MS + 1_500, `gone after ${agedOutMs} ms`);
      assert.deepEqual(await ids(), [stoppedInstance!.id], 'the other one is still there');

      assert.equal(await stopped!.stop('SIGTERM'), 0, stopped!.output);
      const stoppedAt = Date.now();
      await eventually(async () => (await ids()).length === 0, 1_000);
      assert.ok(Date.now() - stoppedAt < 1_000, 'gone at once, not aged out');
    });
  });
}
