// A RabbitMQ cluster of three real nodes (.ci/rabbitmq-cluster.sh), and a node that dies for
// real: SIGKILL to its Erlang VM while three `multitask work` processes drain a queue and a
// producer dispatches. No confirmed job may be lost, and everyone works again within 5 s. Then
// a consumer whose first node is dead, close() during a reconnection, a silent link noticed by
// its heartbeat, and TLS. Skipped, saying how to start it, when no cluster answers (an error
// under CI).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ErrorCode, openQueue, Pool, type Queue } from '../src/index.js';
import {
  type CliProcess,
  http,
  metricValue,
  QUEUE_APP_PATH,
  runCli,
  startWork,
  usageError,
} from './cli-helpers.js';
import {
  AMQP_PORT,
  type ClusterNode,
  clusterSkipReason,
  clusterUrl,
  deleteClusterQueue,
  killNode,
  leaders,
  lockCluster,
  nodeUrl,
  queueCounts,
  Relay,
  rebalance,
  restartNode,
  runningNodes,
  stranded,
  TLS_DIR,
  TLS_PORT,
} from './cluster-helpers.js';
import { FailTimes, Noop, Record as RecordTask } from './fixtures/queue-tasks.js';
import { allOnline, eventually } from './helpers.js';
import { QUEUE_APP, runLines, tempDir, uniqueQueue } from './queue-helpers.js';

// Another run of these tests on this machine (another checkout) kills nodes too: take turns.
const unlock = await lockCluster();
const skip = await clusterSkipReason();
const dir = tempDir();
const queues: string[] = [];
/** Nodes a test killed and has not started again: started in `after`, whatever happened. */
const dead = new Set<ClusterNode>();

after(async () => {
  try {
    for (const node of dead) await restartNode(node);
    for (const name of queues) await deleteClusterQueue(name).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  } finally {
    unlock();
  }
});

/** Prefilled jobs, and the producer's pace during the kill (as the issue measured). */
const PREFILL = 20_000;
const DISPATCH_PER_SECOND = 150;
/** Each consumer: 2 workers of 8 jobs; a resumption is the first completion past what it held. */
const WORKERS = 2;
const CONCURRENCY = 8;
const FAILOVER_BUDGET_MS = 5_000;

/** Polls `condition` every 250 ms (it reads thousands of log lines) until it holds, or fails. */
async function waitFor(condition: () => boolean, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`still false after ${withinMs} ms: ${condition.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Waits until `count()` is 0, or has not moved for 10 s, or `withinMs` passed (polled every 500 ms). */
async function waitUntilSettled(count: () => number, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  let last = count();
  let movedAt = Date.now();
  while (last > 0 && Date.now() < deadline && Date.now() - movedAt < 10_000) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = count();
    if (now !== last) movedAt = Date.now();
    last = now;
  }
}

/** `multitask work` on the cluster with `first` as its preferred node, logging every completion. */
function consumer(name: string, first: ClusterNode, extra: string[] = []): CliProcess {
  return startWork(dir, {
    queue: name,
    extra: [
      '--url',
      clusterUrl(first),
      '--node-order',
      'listed',
      '--workers',
      String(WORKERS),
      '--concurrency',
      String(CONCURRENCY),
      '--log-level',
      'debug',
      '--heartbeat',
      '5',
      ...extra,
    ],
  });
}

/** Completion times (epoch ms) by job id, from a consumer's `job completed` lines. */
function completions(process: CliProcess): Array<{ id: string; time: number }> {
  return process.lines
    .filter((line) => line.msg === 'job completed')
    .map((line) => ({ id: String(line.jobId), time: Number(line.time) }));
}

/** One dispatch of the steady producer: when it started and ended, and how. */
interface Dispatched {
  startedAt: number;
  endedAt: number;
  id: string | undefined;
  error: string | undefined;
}

/** Dispatches Noop jobs at `perSecond` until stopped; records each. */
function steadyProducer(queue: Queue, name: string, perSecond: number) {
  const records: Dispatched[] = [];
  const pending = new Set<Promise<unknown>>();
  const timer = setInterval(() => {
    const record: Dispatched = { startedAt: Date.now(), endedAt: 0, id: undefined, error: undefined };
    records.push(record);
    const dispatching = queue.dispatch(new Noop(''), { queue: name }).then(
      (id) => {
        record.id = id;
        record.endedAt = Date.now();
      },
      (error: Error & { code?: string }) => {
        record.error = `${error.code}: ${error.message}`;
        record.endedAt = Date.now();
      },
    );
    pending.add(dispatching);
    void dispatching.finally(() => pending.delete(dispatching));
  }, 1_000 / perSecond);
  return {
    records,
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
    },
  };
}

describe('a RabbitMQ cluster that loses a node', { skip, timeout: 170_000 }, () => {
  const name = uniqueQueue('cluster');
  queues.push(name);
  /** The node killed by the first test, which the second uses while it is still down. */
  let killed: ClusterNode | undefined;
  // The tests after this suite need every node, whatever happened here.
  after(async () => {
    if (killed === undefined || !dead.has(killed)) return;
    await restartNode(killed);
    dead.delete(killed);
  });

  test('kill -9 of the node leading the queue: no confirmed job lost, consumers and producer back within 5 s', async (t) => {
    // Prefill through s1; the queue's leader goes wherever `balanced` puts it.
    const filler = await openQueue(nodeUrl('s1'), { app: QUEUE_APP });
    const confirmed = new Set<string>();
    try {
      // One job in 20 fails its first attempt: its retry is published to a delay rung (whose
      // leader may be the node killed) by the consumer, which must ride out the election too.
      for (let sent = 0; sent < PREFILL; sent += 1_000) {
        const batch = Array.from({ length: 1_000 }, (_, i) =>
          filler.dispatch(i % 20 === 0 ? new FailTimes(1, '', `retried-${sent + i}`) : new Noop(''), {
            queue: name,
          }),
        );
        for (const id of await Promise.all(batch)) confirmed.add(id);
      }
    } finally {
      await filler.close();
    }
    const placed = leaders(`${name}`, 's1');
    const leader = placed.get(name)!;
    assert.ok(leader, `the queue has a leader: ${JSON.stringify([...placed])}`);
    // Balanced placement: the 12 quorum queues of one job queue do not all lead on one node.
    assert.ok(
      new Set(placed.values()).size > 1,
      `leaders spread over the nodes: ${JSON.stringify([...placed])}`,
    );

    // One producer sits on the leader's node (it loses its connection), as does one of the three
    // consumers. Another sits on a surviving node and publishes its first job just after the
    // kill: RabbitMQ 3.10 nacks such a channel for good, so it must move to a fresh one.
    const survivor = (['s1', 's2', 's3'] as const).find((node) => node !== leader)!;
    const producerQueue = await openQueue(clusterUrl(leader), { app: QUEUE_APP, nodeOrder: 'listed' });
    const lateQueue = await openQueue(clusterUrl(survivor), { app: QUEUE_APP, nodeOrder: 'listed' });
    assert.equal(producerQueue.node, nodeUrl(leader).replace('guest:guest', 'guest:***'));
    // Declared on its connection, so that its first publish does not wait for a declaration.
    await lateQueue.stats(name);
    const consumers = (['s1', 's2', 's3'] as const).map((node) => ({ node, work: consumer(name, node) }));
    let producer: ReturnType<typeof steadyProducer> | undefined;
    let late: ReturnType<typeof steadyProducer> | undefined;
    /** What failed first: a consumer that then does not stop must not hide it. */
    let failure: unknown;
    try {
      for (const { work } of consumers) await work.waitForLine('consuming', 60_000);
      producer = steadyProducer(producerQueue, name, DISPATCH_PER_SECOND);
      // Everyone busy before the kill.
      await waitFor(() => consumers.every(({ work }) => completions(work).length > 200), 60_000);
      const killedAt = await killNode(leader);
      late = steadyProducer(lateQueue, name, DISPATCH_PER_SECOND);
      dead.add(leader);
      killed = leader;

      await new Promise((resolve) => setTimeout(resolve, FAILOVER_BUDGET_MS + 1_000));
      // Each consumer resumed: more completions after the kill than the jobs it could hold then.
      const held = WORKERS * CONCURRENCY;
      for (const { node, work } of consumers) {
        const after = completions(work).filter(({ time }) => time > killedAt);
        assert.ok(
          after.length > held,
          `the consumer on ${node} works again (${after.length} jobs since the kill)`,
        );
        const pause = after[held]!.time - killedAt;
        assert.ok(pause < FAILOVER_BUDGET_MS, `the consumer on ${node} resumed ${pause} ms after the kill`);
      }
      const back = (records: Dispatched[]) => {
        const after = records.filter((record) => record.startedAt >= killedAt && record.id);
        assert.ok(after.length > 0, 'dispatches succeed after the kill');
        return Math.min(...after.map((record) => record.endedAt)) - killedAt;
      };
      const producerBack = back(producer.records);
      const lateBack = back(late.records);
      assert.ok(
        producerBack < FAILOVER_BUDGET_MS,
        `the producer's dispatches succeed ${producerBack} ms after the kill`,
      );
      assert.ok(lateBack < FAILOVER_BUDGET_MS, `the late producer's succeed ${lateBack} ms after the kill`);
      assert.notEqual(producerQueue.node, undefined, 'the producer is connected');
      assert.ok(!producerQueue.node?.includes(`:${AMQP_PORT[leader]}`), 'to another node');
      // The consumer that was on the dead node says so, names the node it moved to, and its
      // metrics follow.
      const moved = consumers.find(({ node }) => node === leader)!.work;
      const deadNode = nodeUrl(leader).replace('guest:guest', 'guest:***');
      assert.equal((await moved.waitForLine('broker connected', 1_000)).node, deadNode);
      assert.equal(
        (await moved.waitForLine('broker connection lost; not ready until it is back', 1_000)).node,
        deadNode,
      );
      const cameBack = await moved.waitForLine('broker connection back', 1_000);
      assert.match(String(cameBack.node), /^amqp:\/\/guest:\*\*\*@127\.0\.0\.1:568\d$/);
      assert.notEqual(cameBack.node, deadNode);
      const metrics = (await http(await moved.httpBase(), '/metrics')).text;
      assert.equal(
        metricValue(metrics, 'multitask_broker_connected', { node: `127.0.0.1:${AMQP_PORT[leader]}` }),
        0,
      );
      const backPort = String(cameBack.node).slice(-4);
      assert.equal(metricValue(metrics, 'multitask_broker_connected', { node: `127.0.0.1:${backPort}` }), 1);

      await producer.stop();
      await late.stop();
      for (const records of [producer.records, late.records]) {
        const failed = records.filter((record) => record.error !== undefined);
        assert.deepEqual(failed, [], 'no dispatch failed: each was published again until a node took it');
        for (const record of records) confirmed.add(record.id!);
      }

      // Every confirmed job runs (at least once).
      const done = () => new Set(consumers.flatMap(({ work }) => completions(work).map(({ id }) => id)));
      const missing = () => {
        const ran = done();
        return [...confirmed].filter((id) => !ran.has(id));
      };
      await waitUntilSettled(() => missing().length, 60_000);
      // RabbitMQ 3.10.8 (Debian's) sometimes strands what a quorum queue whose leader died had
      // dead-lettered: at-least-once dead-lettering keeps it (nothing is lost) but does not move
      // it on until the queue's leadership moves again. Here that is retried jobs on a delay rung.
      // The remedy is the operator's (docs/deploy.md): rebalance the leaders, then wait again.
      const survivorNode = (['s1', 's2', 's3'] as const).find((node) => node !== leader)!;
      const strandedByBroker = [...stranded(name, survivorNode).values()].reduce(
        (sum, count) => sum + count,
        0,
      );
      let rebalanced = false;
      if (missing().length > 0) {
        rebalance(survivorNode, `^${name.replace(/\./g, '\\.')}`);
        rebalanced = true;
        await waitUntilSettled(() => missing().length, 60_000);
      }
      // What still waits on a delay rung after that is held by the broker, not lost (seen once
      // under CI: retried jobs that stopped coming back from a rung whose leader had moved).
      // Anything beyond what the rungs hold is lost, and fails the test.
      const lost = missing();
      const counts = queueCounts(name, survivorNode);
      const onRungs = [...counts]
        .filter(([queue]) => queue.startsWith(`${name}.delay.`))
        .reduce((sum, [, count]) => sum + count.messages, 0);
      if (lost.length > onRungs) {
        // What became of them, to tell a lost job from a slow or a failed one.
        const lines = consumers.flatMap(({ work }) => work.lines);
        const about = (id: string) => lines.filter((line) => line.jobId === id).map((line) => line.msg);
        const stats = await producerQueue.stats(name).catch((error: Error) => error.message);
        assert.fail(
          `${lost.length} of ${confirmed.size} confirmed jobs never completed, ${onRungs} wait on delay rungs; ` +
            `queue: ${JSON.stringify(stats)}; broker: ${JSON.stringify([...counts])}; ` +
            `the first: ${JSON.stringify(lost.slice(0, 5).map((id) => ({ id, lines: about(id) })))}`,
        );
      }
      const resumed = consumers.map(({ node, work }) => ({
        node,
        pauseMs: completions(work).filter(({ time }) => time > killedAt)[held]!.time - killedAt,
      }));
      // What the run looked like, for the record (the test's output).
      t.diagnostic(
        JSON.stringify({
          leader,
          producerBack,
          lateBack,
          resumed,
          jobs: confirmed.size,
          strandedByBroker,
          rebalanced,
          waitingOnRungs: lost.length,
        }),
      );
    } catch (error) {
      failure = error;
    }
    await producer?.stop();
    await late?.stop();
    const stopped = await Promise.allSettled(consumers.map(({ work }) => work.stop('SIGTERM', 30_000)));
    await producerQueue.close();
    await lateQueue.close();
    const notStopped = stopped.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
    if (notStopped.length > 0) {
      throw new AggregateError(
        failure === undefined ? notStopped : [failure, ...notStopped],
        `${failure === undefined ? '' : `${String(failure)}; and then `}${notStopped.length} consumer(s) did not stop: ${notStopped.map(String).join('; ')}`,
      );
    }
    if (failure !== undefined) throw failure;
  });

  test('a consumer whose first node is dead consumes within 5 s', async () => {
    assert.ok(killed, 'the node killed by the test before is still down');
    // A queue of its own: whatever the test before left in its queue is not in the way.
    const fresh = uniqueQueue('cluster-dead-first');
    queues.push(fresh);
    const log = join(dir, 'dead-first.log');
    const pool = new Pool({ app: QUEUE_APP, size: 1, concurrency: 4 });
    await allOnline(pool);
    const startedAt = Date.now();
    const queue = await openQueue(clusterUrl(killed), { app: QUEUE_APP, nodeOrder: 'listed' });
    try {
      const openMs = Date.now() - startedAt;
      assert.ok(openMs < 2_000, `opened past the dead node in ${openMs} ms`);
      for (let i = 0; i < 5; i++)
        await queue.dispatch(new RecordTask(log, `dead-first-${i}`), { queue: fresh });
      const consuming = pool.consume(queue, { queue: fresh });
      await eventually(() => runLines(log).length >= 5, FAILOVER_BUDGET_MS);
      assert.ok(Date.now() - startedAt < FAILOVER_BUDGET_MS, 'consumed within 5 s of starting');
      await consuming.stop({ graceMs: 1_000 });
    } finally {
      await pool.close({ graceMs: 0 });
      await queue.close();
    }
    await restartNode(killed);
    dead.delete(killed);
    assert.deepEqual(runningNodes('s1'), ['s1', 's2', 's3'], 'the killed node is back in the cluster');
  });
});

const CLOSE_FIXTURE = fileURLToPath(new URL('./fixtures/close-while-reconnecting.ts', import.meta.url));

/** Runs the close fixture; resolves with its output and how long it took to exit once it began closing. */
async function closeWhileReconnecting(
  url: string,
  heartbeat: number,
  when: 'retry' | 'lost' | 'instance',
  onOpen: () => Promise<void>,
  queue?: string,
): Promise<{ output: string; code: number | null; exitAfterCloseMs: number }> {
  const args = [CLOSE_FIXTURE, url, String(heartbeat), when, ...(queue === undefined ? [] : [queue])];
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let closedAt = 0;
  let opened = false;
  const exited = once(child, 'exit');
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (!opened && output.includes('open ')) {
      opened = true;
      void onOpen();
    }
    if (closedAt === 0 && output.includes('closing (')) closedAt = Date.now();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
  const [code] = (await exited) as [number | null];
  clearTimeout(killer);
  return { output, code, exitAfterCloseMs: closedAt === 0 ? Number.NaN : Date.now() - closedAt };
}

describe('close() while reconnecting', { skip, timeout: 60_000 }, () => {
  test('after failed attempts at every node of the list: the process exits by itself', async () => {
    const relay = new Relay(AMQP_PORT.s1);
    const port = await relay.listen();
    // The relay, then a port where nothing listens: both refuse once the relay is gone.
    const url = `amqp://guest:guest@127.0.0.1:${port},amqp://guest:guest@127.0.0.1:1`;
    const run = await closeWhileReconnecting(url, 15, 'retry', () => relay.close());
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /attempt 3 at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+ failed/);
    assert.ok(run.exitAfterCloseMs < 3_000, `exited ${run.exitAfterCloseMs} ms after close(): ${run.output}`);
  });

  test('while an attempt hangs on a silent node: the attempt is cut and the process exits', async () => {
    const relay = new Relay(AMQP_PORT.s2);
    const port = await relay.listen();
    try {
      const url = `amqp://guest:guest@127.0.0.1:${port}`;
      // A 1 s heartbeat notices the black hole; the next attempt, to the same silent relay, hangs.
      const run = await closeWhileReconnecting(url, 1, 'lost', async () => relay.blackHole());
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /lost: nothing from the broker for/);
      assert.ok(
        run.exitAfterCloseMs < 3_000,
        `exited ${run.exitAfterCloseMs} ms after close(): ${run.output}`,
      );
    } finally {
      await relay.close();
    }
  });

  test('an instance whose heartbeat waits for the missing link: close() does not wait on itself', async () => {
    // A consumer's fleet heartbeat asks for a channel while the link is down; that channel waited
    // for a link only close() could end, after it: `work` hung after SIGTERM (seen under CI).
    const name = uniqueQueue('cluster-close-instance');
    queues.push(name);
    const relay = new Relay(AMQP_PORT.s2);
    const port = await relay.listen();
    try {
      const url = `amqp://guest:guest@127.0.0.1:${port}`;
      const run = await closeWhileReconnecting(url, 1, 'instance', async () => relay.blackHole(), name);
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /closed \(an instance, while reconnecting\)/);
      assert.ok(
        run.exitAfterCloseMs < 3_000,
        `exited ${run.exitAfterCloseMs} ms after close(): ${run.output}`,
      );
    } finally {
      await relay.close();
    }
  });
});

/**
 * `multitask work` on a queue of its own, connected to s3 through a {@link Relay} that the test
 * can black-hole. Whatever `body` does, the process is stopped and the relay closed after it: a
 * listening relay or a live child would keep this file's process, and the whole run, waiting.
 */
async function workBehindRelay(
  queuePrefix: string,
  extra: string[],
  body: (work: CliProcess, relay: Relay) => Promise<void>,
): Promise<void> {
  const name = uniqueQueue(queuePrefix);
  queues.push(name);
  const relay = new Relay(AMQP_PORT.s3);
  const port = await relay.listen();
  const work = startWork(dir, {
    queue: name,
    extra: ['--url', `amqp://guest:guest@127.0.0.1:${port}`, ...extra],
  });
  try {
    await body(work, relay);
  } finally {
    // A process that already exited is not signalled again.
    await work.stop('SIGTERM', 30_000).finally(() => relay.close());
  }
}

describe('a link that goes silent', { skip, timeout: 60_000 }, () => {
  test('is noticed within the heartbeat + 5 s, and /readyz of multitask work turns 503', async () => {
    const heartbeat = 2;
    await workBehindRelay('cluster-silent', ['--heartbeat', String(heartbeat)], async (work, relay) => {
      const base = await work.httpBase();
      await work.waitForLine('consuming', 60_000);
      // Ready once a worker is up too.
      await eventually(async () => (await http(base, '/readyz')).status === 200, 30_000);
      const silentFrom = Date.now();
      relay.blackHole();
      await eventually(async () => (await http(base, '/readyz')).status === 503, (heartbeat + 5) * 1_000);
      const noticedMs = Date.now() - silentFrom;
      const lost = await work.waitForLine('broker connection lost; not ready until it is back', 1_000);
      assert.match(String(lost.reason), /heartbeat 2 s/);
      assert.ok(noticedMs < (heartbeat + 5) * 1_000, `noticed after ${noticedMs} ms`);
      assert.equal((await http(base, '/metrics')).status, 200);
    });
  });

  test('SIGTERM while the broker answers nothing (heartbeat not yet due): work exits within its grace + 15 s', async () => {
    // A broker whose channel process is stuck (as a quorum queue in a long election can leave
    // it) answers no cancel and no close; so does a silent link the heartbeat has not judged yet.
    // Seen under CI: a `work` process stuck after SIGTERM, its last line "draining".
    const graceMs = 1_000;
    await workBehindRelay(
      'cluster-mute',
      ['--heartbeat', '600', '--grace-ms', String(graceMs)],
      async (work, relay) => {
        await work.waitForLine('consuming', 60_000);
        relay.blackHole();
        const stoppedAt = Date.now();
        // The broker's answer is waited for 10 s (amqp-connection.ts), then the link is cut.
        const code = await work.stop('SIGTERM', graceMs + 30_000);
        const exitMs = Date.now() - stoppedAt;
        assert.ok(exitMs < graceMs + 15_000, `exited ${exitMs} ms after SIGTERM:\n${work.output}`);
        assert.equal(code, 0, work.output);
      },
    );
  });
});

describe('TLS to the cluster, and nodes that refuse', { skip, timeout: 60_000 }, () => {
  const ca = join(TLS_DIR, 'ca.pem');

  test('a job round-trips over amqps:// with the CA (and a client certificate) given by option', async () => {
    const name = uniqueQueue('cluster-tls');
    queues.push(name);
    const log = join(dir, 'tls.log');
    const queue = await openQueue(`amqps://guest:guest@localhost:${TLS_PORT.s2}`, {
      app: QUEUE_APP,
      tls: { ca, cert: join(TLS_DIR, 'client.pem'), key: join(TLS_DIR, 'client-key.pem') },
    });
    const pool = new Pool({ app: QUEUE_APP, size: 1 });
    try {
      await queue.dispatch(new RecordTask(log, 'over-tls'), { queue: name });
      const consuming = pool.consume(queue, { queue: name });
      await eventually(() => runLines(log).some((line) => line.tag === 'over-tls'), 15_000);
      await consuming.stop({ graceMs: 1_000 });
    } finally {
      await pool.close({ graceMs: 0 });
      await queue.close();
    }
  });

  test('a wrong CA fails at once with ERR_BROKER_TLS, even when retrying forever', async () => {
    const startedAt = Date.now();
    const error = await openQueue(`amqps://guest:s3cret@localhost:${TLS_PORT.s1}`, {
      connectTimeoutMs: Number.POSITIVE_INFINITY,
      tls: { ca: join(TLS_DIR, 'other-ca.pem') },
    }).then(
      () => assert.fail('opened with a CA that did not sign the certificate'),
      (caught: Error & { code?: string }) => caught,
    );
    assert.equal(error.code, ErrorCode.BROKER_TLS, error.message);
    assert.match(error.message, /amqps:\/\/guest:\*\*\*@localhost:5691/);
    assert.ok(!error.message.includes('s3cret'));
    assert.ok(Date.now() - startedAt < 2_000, 'at once');
  });

  test('multitask dispatch over amqps:// with --tls-ca; a wrong CA exits 1 with ERR_BROKER_TLS, a missing file 2', () => {
    const name = uniqueQueue('cluster-tls-cli');
    queues.push(name);
    const url = `amqps://guest:guest@localhost:${TLS_PORT.s3}`;
    const dispatch = (tlsCa: string) =>
      runCli(
        [
          'dispatch',
          '--app',
          QUEUE_APP_PATH,
          '--task',
          'Noop',
          '--queue',
          name,
          '--url',
          url,
          '{"payload":"x"}',
        ],
        { cwd: dir, env: { MULTITASK_TLS_CA: tlsCa, MULTITASK_CONNECT_TIMEOUT_MS: '20000' } },
      );
    const sent = dispatch(ca);
    assert.equal(sent.status, 0, sent.stderr);
    const startedAt = Date.now();
    const wrong = dispatch(join(TLS_DIR, 'other-ca.pem'));
    assert.equal(wrong.status, 1, wrong.stderr);
    assert.match(wrong.stderr, /ERR_BROKER_TLS/);
    assert.ok(Date.now() - startedAt < 15_000, 'not retried until the 20 s timeout');
    const missing = dispatch(join(TLS_DIR, 'no-such-ca.pem'));
    assert.match(usageError(missing), /--tls-ca \(MULTITASK_TLS_CA\): cannot read .*no-such-ca\.pem: ENOENT/);
  });

  test('a node that refuses (TLS, login) is passed over for the next; all refusing fails at once', async () => {
    const retries: Array<{ code: unknown; node: string | undefined }> = [];
    // Without the CA, the TLS node's certificate does not verify; the plain node takes the connection.
    const queue = await openQueue(
      `amqps://guest:guest@localhost:${TLS_PORT.s1},amqp://guest:guest@127.0.0.1:${AMQP_PORT.s2}`,
      {
        nodeOrder: 'listed',
        onConnectRetry: ({ error, node }) => retries.push({ code: (error as { code?: unknown }).code, node }),
      },
    );
    try {
      assert.equal(queue.node, `amqp://guest:***@127.0.0.1:${AMQP_PORT.s2}`);
      assert.deepEqual(retries, [
        { code: ErrorCode.BROKER_TLS, node: `amqps://guest:***@localhost:${TLS_PORT.s1}` },
      ]);
    } finally {
      await queue.close();
    }
    const startedAt = Date.now();
    await assert.rejects(
      openQueue(
        `amqp://guest:wrong-pw@127.0.0.1:${AMQP_PORT.s1},amqp://guest:wrong-pw@127.0.0.1:${AMQP_PORT.s3}`,
        {
          connectTimeoutMs: Number.POSITIVE_INFINITY,
        },
      ),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, ErrorCode.BROKER_REFUSED, error.message);
        assert.ok(!error.message.includes('wrong-pw'));
        return true;
      },
    );
    assert.ok(Date.now() - startedAt < 3_000, 'at once, after one round of the nodes');
  });

  test('a host name the certificate does not carry fails with ERR_BROKER_TLS', async () => {
    // The certificate names localhost and 127.0.0.1; the broker is checked against servername when given.
    const url = `amqps://guest:guest@127.0.0.1:${TLS_PORT.s3}`;
    await assert.rejects(
      openQueue(url, { tls: { ca, servername: 'rabbitmq.example' } }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, ErrorCode.BROKER_TLS, error.message);
        assert.match(error.message, /rabbitmq\.example/);
        return true;
      },
    );
    const queue = await openQueue(url, { tls: { ca } });
    await queue.close();
  });
});
