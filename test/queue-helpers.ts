/**
 * What the queue tests share: the queue fixture app, run logs, and the RabbitMQ test broker,
 * which must be there under CI and may be missing locally (those tests then skip, saying how
 * to start one).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { type Consumer, maskUrl, type SettledJob } from '../src/index.js';
import { topologyQueues } from '../src/queue/transports/amqp-topology.js';

export const QUEUE_APP = new URL('./fixtures/queue-app.ts', import.meta.url);

/** A fresh directory for one test's files. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'multitask-queue-'));
}

/** A unique queue name, so tests on one broker never see each other's jobs. */
export function uniqueQueue(prefix = 'test'): string {
  return `${prefix}.${randomUUID().slice(0, 8)}`;
}

/** One line a fixture task wrote: `[kind] tag attempt pid`. */
export interface RunLine {
  kind: string | undefined;
  tag: string;
  attempt: number;
  pid: number;
}

/** The lines fixture tasks appended to `file` (none yet when it does not exist). */
export function runLines(file: string): RunLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const parts = line.split(' ');
      const kind = parts.length === 4 ? parts.shift() : undefined;
      return { kind, tag: parts[0]!, attempt: Number(parts[1]), pid: Number(parts[2]) };
    });
}

/** Resolves true when something accepts a TCP connection on `host`:`port` within `timeoutMs`. */
export function portOpen(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export const AMQP_TEST_URL = process.env.MULTITASK_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/**
 * Why the RabbitMQ tests skip, or undefined when the broker answers. Under CI a missing broker
 * is an error, not a skip.
 */
export async function amqpSkipReason(): Promise<string | undefined> {
  const { hostname, port } = new URL(AMQP_TEST_URL);
  if (await portOpen(hostname, Number(port || 5672))) return undefined;
  const reason = `no RabbitMQ at ${maskUrl(AMQP_TEST_URL)}: start one (bash .ci/rabbitmq.sh installs Debian's and starts it on 127.0.0.1) or set MULTITASK_TEST_AMQP_URL`;
  if (process.env.CI) throw new Error(`${reason}. CI is set, so the RabbitMQ tests must run.`);
  return reason;
}

/** Deletes a queue's RabbitMQ topology (queue, failed store, delay ladder). */
export async function deleteAmqpQueue(queue: string): Promise<void> {
  const connection = await amqp.connect(AMQP_TEST_URL);
  try {
    const channel = await connection.createChannel();
    for (const name of topologyQueues(queue)) await channel.deleteQueue(name);
  } finally {
    await connection.close();
  }
}

function rabbitmqctl(...args: string[]): string {
  return execFileSync('rabbitmqctl', ['-q', ...args], { encoding: 'utf8', timeout: 30_000 });
}

/** Why tests that drive the local broker with rabbitmqctl skip (an error under CI). */
export function ctlSkipReason(): string | undefined {
  try {
    rabbitmqctl('status');
    return undefined;
  } catch {
    if (process.env.CI) throw new Error('rabbitmqctl cannot reach the local broker, and CI is set');
    return 'rabbitmqctl cannot reach the broker (a remote broker?): the reconnection test needs it';
  }
}

/** Closes the broker side of every connection named `name`; returns how many. */
export function dropConnections(name: string): number {
  const rows = rabbitmqctl('--no-table-headers', 'list_connections', 'pid', 'client_properties').split('\n');
  const pids = rows
    .filter((row) => row.includes(`{"connection_name","${name}"}`))
    .map((row) => row.split('\t')[0]!);
  for (const pid of pids) rabbitmqctl('close_connection', pid, 'test: the broker drops the connection');
  return pids.length;
}

/**
 * The first `settled` event with this outcome from now on. A listener, not a loop of `once`:
 * two events in a row are never missed between awaits.
 */
export function nextSettled(consumer: Consumer, outcome: SettledJob['outcome']): Promise<SettledJob> {
  return new Promise((resolve) => {
    const listener = (settled: SettledJob) => {
      if (settled.outcome !== outcome) return;
      consumer.off('settled', listener);
      resolve(settled);
    };
    consumer.on('settled', listener);
  });
}
