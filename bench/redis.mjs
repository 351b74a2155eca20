// The benchmarks' own redis-server, for BullMQ (queue.mjs, calls.mjs): in a temp dir, on a free
// port of loopback, AOF with fsync every second, no RDB snapshots.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Starts redis-server with its files under `tmp`; resolves once it answers PING. */
export async function startRedis(tmp) {
  const port = await freePort();
  const dir = join(tmp, 'redis');
  mkdirSync(dir);
  // appendonly yes + everysec: jobs survive a Redis restart (up to the last second), the common
  // durable setting; RDB snapshots off so that a snapshot cannot land inside a timed run.
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--logfile',
    join(dir, 'redis.log'),
  ];
  const proc = spawn('redis-server', args, { stdio: 'ignore' });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const deadline = Date.now() + 10_000;
  while (!(await ping(port))) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error('redis-server did not start');
    await sleep(50);
  }
  return {
    port,
    /** Stops it (SIGTERM), waiting up to 10 s. */
    async stop() {
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
    },
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' }, () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.on('error', () => resolve(false));
  });
}
