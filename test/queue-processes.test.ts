// Real consumer processes on one queue: killed with SIGKILL, stopped with SIGTERM, or sharing
// the work. Run on the SQLite file and, when a broker is there (always under CI), on RabbitMQ.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ErrorCode, openQueue, type Queue } from '../src/index.js';
import { KillProcess, Nap } from './fixtures/queue-tasks.js';
import { eventually } from './helpers.js';
import {
  AMQP_TEST_URL,
  amqpSkipReason,
  deleteAmqpQueue,
  QUEUE_APP,
  type RunLine,
  runLines,
  tempDir,
  uniqueQueue,
} from './queue-helpers.js';

const CONSUMER = fileURLToPath(new URL('./fixtures/queue-consumer.ts', import.meta.url));
const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

interface Consumer {
  child: ChildProcess;
  pid: number;
  output: () => string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** Starts a consumer process and waits until it takes jobs. */
async function startConsumer(env: Record<string, string>): Promise<Consumer> {
  const child = spawn(process.execPath, ['--import', 'tsx', CONSUMER], {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    output += chunk;
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  await eventually(() => output.includes('consuming') || child.exitCode !== null, 30_000);
  assert.ok(output.includes('consuming'), `the consumer started: ${output}`);
  return { child, pid: child.pid!, output: () => output, exited };
}

/** Runs a consumer process that is expected to die; 'timed out' when it lives past 30 s. */
async function runToDeath(env: Record<string, string>): Promise<string | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', CONSUMER], {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: 'ignore',
  });
  children.add(child);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, 30_000);
  const [, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  children.delete(child);
  return timedOut ? 'timed out' : signal;
}

function byTag(lines: RunLine[], kind: string): Map<string, RunLine[]> {
  const map = new Map<string, RunLine[]>();
  for (const line of lines.filter((l) => l.kind === kind))
    map.set(line.tag, [...(map.get(line.tag) ?? []), line]);
  return map;
}

const transports: Array<{
  name: string;
  skip: string | undefined;
  url: () => string;
  cleanup(q: string): Promise<void>;
}> = [
  {
    name: 'sqlite',
    skip: undefined,
    url: () => `sqlite:${join(dir, 'processes.db')}`,
    cleanup: async () => {},
  },
  { name: 'amqp', skip: await amqpSkipReason(), url: () => AMQP_TEST_URL, cleanup: deleteAmqpQueue },
];

for (const transport of transports) {
  describe(`consumer processes: ${transport.name}`, { skip: transport.skip }, () => {
    async function prepare(jobs: number, napMs: number) {
      const name = uniqueQueue(`proc-${transport.name}`);
      const log = join(dir, `${name}.log`);
      const queue = await openQueue(transport.url(), { app: QUEUE_APP });
      for (let i = 0; i < jobs; i++) await queue.dispatch(new Nap(napMs, log, `j${i}`), { queue: name });
      const env = { QUEUE_URL: transport.url(), QUEUE_NAME: name, LEASE_MS: '1000' };
      return { name, log, queue, env };
    }

    async function finish(queue: Queue, name: string) {
      assert.deepEqual(await queue.stats(name), { ready: 0, inFlight: 0, delayed: 0, failed: 0 });
      await queue.close();
      await transport.cleanup(name);
    }

    test('a consumer killed with SIGKILL mid-run loses no job; duplicates stay within what it held', async () => {
      const jobs = 30;
      const { name, log, queue, env } = await prepare(jobs, 300);
      const first = await startConsumer({ ...env, WORKERS: '2', CONCURRENCY: '2' });
      await eventually(() => runLines(log).filter((l) => l.kind === 'end').length >= 6, 30_000);
      first.child.kill('SIGKILL');
      await first.exited;
      const second = await startConsumer({ ...env, WORKERS: '2', CONCURRENCY: '2' });
      await eventually(() => byTag(runLines(log), 'end').size === jobs, 60_000);
      const starts = byTag(runLines(log), 'start');
      const twice = [...starts.values()].filter((runs) => runs.length > 1);
      // At most what the killed process held unacknowledged: 2 workers x 2 slots.
      assert.ok(twice.length <= 4, `${twice.length} jobs ran twice`);
      assert.ok(
        twice.every((runs) => runs[0]!.pid === first.pid && runs[1]!.pid === second.pid),
        'only jobs of the killed process ran again',
      );
      second.child.kill('SIGTERM');
      const [code] = await second.exited;
      assert.equal(code, 0);
      await finish(queue, name);
    });

    test('SIGTERM: the consumer stops, finishes what it runs, exits 0; nothing is lost or run twice', async () => {
      const jobs = 20;
      const { name, log, queue, env } = await prepare(jobs, 200);
      const first = await startConsumer({ ...env, WORKERS: '2', CONCURRENCY: '2', GRACE_MS: '10000' });
      await eventually(() => runLines(log).filter((l) => l.kind === 'end').length >= 4, 30_000);
      first.child.kill('SIGTERM');
      const [code, signal] = await first.exited;
      assert.equal(code, 0, first.output());
      assert.equal(signal, null);
      const byFirst = runLines(log).filter((l) => l.pid === first.pid);
      assert.equal(
        byFirst.filter((l) => l.kind === 'start').length,
        byFirst.filter((l) => l.kind === 'end').length,
        'every job it started, it finished',
      );
      const second = await startConsumer({ ...env, WORKERS: '2', CONCURRENCY: '2' });
      await eventually(() => byTag(runLines(log), 'end').size === jobs, 60_000);
      for (const [tag, runs] of byTag(runLines(log), 'start'))
        assert.equal(runs.length, 1, `${tag} ran once`);
      assert.ok(
        runLines(log).every((l) => l.attempt === 1),
        'a job given back does not count an attempt',
      );
      second.child.kill('SIGTERM');
      assert.equal((await second.exited)[0], 0);
      await finish(queue, name);
    });

    test('a job that kills its process every time ends in the failed store, not in a loop', async () => {
      const name = uniqueQueue(`poison-${transport.name}`);
      const log = join(dir, `${name}.log`);
      const queue = await openQueue(transport.url(), { app: QUEUE_APP });
      try {
        await queue.dispatch(new KillProcess(log, 'poison'), { queue: name, attempts: 2 });
        const env = { QUEUE_URL: transport.url(), QUEUE_NAME: name, LEASE_MS: '500' };
        assert.equal(await runToDeath(env), 'SIGKILL');
        assert.equal(await runToDeath(env), 'SIGKILL');
        const survivor = await startConsumer(env);
        await eventually(async () => (await queue.stats(name)).failed === 1, 30_000);
        const [failed] = await queue.failed(name);
        assert.equal(failed?.error.code, ErrorCode.ATTEMPTS_EXHAUSTED);
        assert.equal(failed?.task, 'KillProcess');
        assert.equal(failed?.attempts, 3, 'the third delivery found its attempts used up');
        assert.deepEqual(
          runLines(log).map((line) => line.attempt),
          [1, 2],
        );
        survivor.child.kill('SIGTERM');
        assert.equal((await survivor.exited)[0], 0);
        assert.equal(await queue.purgeFailed(name), 1);
        assert.deepEqual(await queue.stats(name), { ready: 0, inFlight: 0, delayed: 0, failed: 0 });
      } finally {
        await queue.close();
        await transport.cleanup(name);
      }
    });

    test('two consumer processes on one queue share the work, each job once', async () => {
      const jobs = 40;
      const { name, log, queue, env } = await prepare(jobs, 100);
      const [a, b] = await Promise.all([
        startConsumer({ ...env, WORKERS: '1', CONCURRENCY: '2' }),
        startConsumer({ ...env, WORKERS: '1', CONCURRENCY: '2' }),
      ]);
      await eventually(() => byTag(runLines(log), 'end').size === jobs, 60_000);
      const starts = runLines(log).filter((l) => l.kind === 'start');
      assert.equal(starts.length, jobs, 'each job ran once');
      const perProcess = [a.pid, b.pid].map((pid) => starts.filter((l) => l.pid === pid).length);
      assert.ok(
        perProcess.every((count) => count > 0),
        `both took jobs: ${perProcess}`,
      );
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
      assert.deepEqual(
        (await Promise.all([a.exited, b.exited])).map(([code]) => code),
        [0, 0],
      );
      await finish(queue, name);
    });
  });
}
