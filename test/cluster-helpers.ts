/**
 * The local 3-node RabbitMQ cluster of .ci/rabbitmq-cluster.sh, for test/cluster.test.ts and
 * bench/cluster.mjs: its nodes and ports, whether it answers, and killing and restarting a node
 * for real (SIGKILL to the node's Erlang VM, then the script to start it again).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { topologyQueues } from '../src/queue/transports/amqp-topology.js';
import { portOpen as anyPortOpen } from './queue-helpers.js';

/** Where the script keeps the nodes' files and the TLS certificates. */
export const CLUSTER_DIR = process.env.MULTITASK_CLUSTER_DIR ?? '/tmp/multitask-cluster';
export const TLS_DIR = join(CLUSTER_DIR, 'tls');

export type ClusterNode = 's1' | 's2' | 's3';
export const CLUSTER_NODES: readonly ClusterNode[] = ['s1', 's2', 's3'];
export const AMQP_PORT: Record<ClusterNode, number> = { s1: 5681, s2: 5682, s3: 5683 };
export const TLS_PORT: Record<ClusterNode, number> = { s1: 5691, s2: 5692, s3: 5693 };

const SCRIPT = fileURLToPath(new URL('../.ci/rabbitmq-cluster.sh', import.meta.url));

/** The AMQP URL of one node. */
export function nodeUrl(node: ClusterNode): string {
  return `amqp://guest:guest@127.0.0.1:${AMQP_PORT[node]}`;
}

/** The URL list of the cluster, `first` first (for `nodeOrder: 'listed'`). */
export function clusterUrl(first: ClusterNode = 's1'): string {
  const rest = CLUSTER_NODES.filter((node) => node !== first);
  return [first, ...rest].map(nodeUrl).join(',');
}

/** Resolves true when something accepts a TCP connection on 127.0.0.1:`port`. */
function portOpen(port: number, timeoutMs = 1_000): Promise<boolean> {
  return anyPortOpen('127.0.0.1', port, timeoutMs);
}

/**
 * Takes the machine's lock on the cluster, waiting for another run that holds it (two checkouts
 * tested at once would kill each other's nodes); resolves with the function that gives it back.
 * A lock whose process is gone is taken over.
 */
export async function lockCluster(timeoutMs = 600_000): Promise<() => void> {
  const path = join(tmpdir(), 'multitask-cluster.lock');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return () => {
        if (readIfThere(path) === String(process.pid)) rmSync(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(readIfThere(path));
    if (!(holder > 0) || !alive(holder)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new Error(`the test cluster is still in use by process ${holder} (${path})`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Why the cluster tests skip, or undefined when every node answers. Under CI a missing cluster
 * is an error, not a skip: .ci/run starts it.
 */
export async function clusterSkipReason(): Promise<string | undefined> {
  const open = await Promise.all(CLUSTER_NODES.map((node) => portOpen(AMQP_PORT[node])));
  if (open.every(Boolean)) return undefined;
  const reason =
    'no local RabbitMQ cluster on 127.0.0.1:5681-5683: start one with `bash .ci/rabbitmq-cluster.sh` (three nodes beside the test broker, about a minute)';
  if (process.env.CI) throw new Error(`${reason}. CI is set, so the cluster tests must run.`);
  return reason;
}

/** rabbitmqctl against one node of the cluster. */
export function ctl(node: ClusterNode, ...args: string[]): string {
  return execFileSync('rabbitmqctl', ['-q', '-n', `${node}@localhost`, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

/** The node leading each queue whose name starts with `prefix`, asked of `askNode`. */
export function leaders(prefix: string, askNode: ClusterNode): Map<string, ClusterNode> {
  const rows = JSON.parse(ctl(askNode, 'list_queues', 'name', 'leader', '--formatter', 'json')) as Array<{
    name: string;
    leader: string;
  }>;
  const found = new Map<string, ClusterNode>();
  for (const row of rows)
    if (row.name.startsWith(prefix)) found.set(row.name, row.leader.replace(/@.*$/, '') as ClusterNode);
  return found;
}

/** What RabbitMQ holds in one queue: all its messages, those offered, those delivered and not acked. */
export interface QueueCounts {
  messages: number;
  ready: number;
  unacked: number;
}

/** The counts of every queue whose name starts with `prefix`, asked of `askNode`. */
export function queueCounts(prefix: string, askNode: ClusterNode): Map<string, QueueCounts> {
  const rows = JSON.parse(
    ctl(
      askNode,
      'list_queues',
      'name',
      'messages',
      'messages_ready',
      'messages_unacknowledged',
      '--formatter',
      'json',
    ),
  ) as Array<{ name: string; messages: number; messages_ready: number; messages_unacknowledged: number }>;
  const found = new Map<string, QueueCounts>();
  for (const row of rows) {
    if (!row.name.startsWith(prefix)) continue;
    found.set(row.name, {
      messages: row.messages,
      ready: row.messages_ready,
      unacked: row.messages_unacknowledged,
    });
  }
  return found;
}

/**
 * Messages of the queues whose names start with `prefix` that RabbitMQ holds but does not offer
 * (`messages` - `messages_ready` - `messages_unacknowledged`): on a quorum queue with
 * at-least-once dead-lettering, those dead-lettered and not yet moved to their target.
 */
export function stranded(prefix: string, askNode: ClusterNode): Map<string, number> {
  const found = new Map<string, number>();
  for (const [name, counts] of queueCounts(prefix, askNode)) {
    // A stream (the failed log) counts its records apart from "ready": not dead-lettering.
    if (name.endsWith('.failed-log')) continue;
    const held = counts.messages - counts.ready - counts.unacked;
    if (held > 0) found.set(name, held);
  }
  return found;
}

/** `rabbitmq-queues rebalance quorum` for the queues matching `pattern`: their leaders move over the running nodes. */
export function rebalance(askNode: ClusterNode, pattern: string): void {
  execFileSync(
    'rabbitmq-queues',
    ['-q', '-n', `${askNode}@localhost`, 'rebalance', 'quorum', '--queue-pattern', pattern],
    {
      stdio: 'ignore',
      timeout: 60_000,
    },
  );
}

/** The nodes the cluster reports running, asked of `askNode`. */
export function runningNodes(askNode: ClusterNode): ClusterNode[] {
  const status = JSON.parse(ctl(askNode, 'cluster_status', '--formatter', 'json')) as {
    running_nodes: string[];
  };
  return status.running_nodes.map((name) => name.replace(/@.*$/, '') as ClusterNode).sort();
}

/** SIGKILL to the node's Erlang VM, as a crash or the OOM killer would; resolves once its port is shut. */
export async function killNode(node: ClusterNode): Promise<number> {
  // The node's own word for its pid: a pid file can be left over from an earlier start.
  const pid = Number(/\d+/.exec(ctl(node, 'eval', 'os:getpid().'))?.[0]);
  process.kill(pid, 'SIGKILL');
  const killedAt = Date.now();
  while (await portOpen(AMQP_PORT[node], 200)) await new Promise((resolve) => setTimeout(resolve, 20));
  return killedAt;
}

/** Starts a node again with the cluster script, and waits until the cluster runs it. */
export async function restartNode(node: ClusterNode): Promise<void> {
  execFileSync('bash', [SCRIPT, 'start', node], { stdio: 'ignore', timeout: 180_000 });
  const other = CLUSTER_NODES.find((name) => name !== node)!;
  const deadline = Date.now() + 60_000;
  while (!runningNodes(other).includes(node)) {
    if (Date.now() > deadline) throw new Error(`${node} did not rejoin the cluster`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Deletes a queue's topology through whichever node answers. */
export async function deleteClusterQueue(queue: string, node: ClusterNode = 's1'): Promise<void> {
  const connection = await amqp.connect(nodeUrl(node));
  try {
    const channel = await connection.createChannel();
    for (const name of topologyQueues(queue)) await channel.deleteQueue(name);
  } finally {
    await connection.close();
  }
}

/**
 * A TCP relay on a loopback port to `targetPort`, which can be told to black-hole: stop
 * forwarding in both directions without closing anything, as a network partition or a dead
 * machine does. New connections are then accepted and left silent.
 */
export class Relay {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #blackHoled = false;
  /** Bytes the clients sent upstream, and received from it, so far. */
  readonly bytes = { up: 0, down: 0 };
  #cut: { direction: 'up' | 'down'; atBytes: number; done: () => void } | undefined;
  port = 0;

  constructor(readonly targetPort: number) {
    this.#server = createServer((client) => {
      this.#sockets.add(client);
      client.on('error', () => {});
      client.on('close', () => this.#sockets.delete(client));
      if (this.#blackHoled) return;
      const upstream = connect({ host: '127.0.0.1', port: targetPort });
      this.#sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      upstream.on('close', () => {
        this.#sockets.delete(upstream);
        if (!this.#blackHoled) client.destroy();
      });
      client.on('close', () => {
        if (!this.#blackHoled) upstream.destroy();
      });
      client.on('data', (data) => {
        if (this.#blackHoled) return;
        upstream.write(data);
        this.#count('up', data.length);
      });
      upstream.on('data', (data) => {
        if (this.#blackHoled) return;
        client.write(data);
        this.#count('down', data.length);
      });
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return this.port;
  }

  /** From now on nothing passes either way, and nothing is closed. */
  blackHole(): void {
    this.#blackHoled = true;
  }

  /**
   * Once `bytes` more have passed in `direction` (up: from the clients), every connection is
   * cut (the relay goes on listening: a reconnection goes through). Resolves when that happened.
   */
  cutAfter(bytes: number, direction: 'up' | 'down' = 'up'): Promise<void> {
    return new Promise((done) => {
      this.#cut = { direction, atBytes: this.bytes[direction] + bytes, done };
    });
  }

  #count(direction: 'up' | 'down', length: number): void {
    this.bytes[direction] += length;
    const cut = this.#cut;
    if (cut === undefined || cut.direction !== direction || this.bytes[direction] < cut.atBytes) return;
    this.#cut = undefined;
    for (const socket of this.#sockets) socket.destroy();
    cut.done();
  }

  /** Stops listening: later connections are refused. */
  async stopListening(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
