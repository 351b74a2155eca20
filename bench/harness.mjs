// Helpers shared by the benchmark entry points (run.mjs, queue.mjs): machine CPU sampling,
// waiting for a quiet machine, and formatting the figures of the report.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** The RabbitMQ every queue benchmark uses (BENCH_AMQP_URL). */
export const AMQP_URL = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/**
 * How quiet the queue benchmarks wait for the machine to be before each run (see {@link quiet}):
 * RabbitMQ and Redis are part of what they measure, so only a short wait for a deleted queue's
 * clean-up, not run.mjs's longer one.
 */
export const QUEUE_QUIET = { share: 0.1, sampleMs: 300, maxWaitMs: 30_000 };

/**
 * Busy and stolen CPU time of the whole machine (ms), from /proc/stat; undefined off Linux.
 * busyMs leaves out steal time: add stealMs where time taken by other guests counts too.
 */
export function machineCpu() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = fields;
    const tick = 1000 / 100; // USER_HZ is 100 on Linux
    return {
      busyMs: (user + nice + system + irq + softirq) * tick,
      stealMs: (steal ?? 0) * tick,
      at: performance.now(),
    };
  } catch {
    return undefined;
  }
}

/**
 * Waits (up to maxWaitMs) until other processes leave the CPU alone for sampleMs: until the
 * machine's busy and stolen CPU time over a sample is at most `share` of its wall time (a share
 * of one core). Returns at once off Linux.
 */
export async function quiet({ share, sampleMs, maxWaitMs }) {
  const deadline = performance.now() + maxWaitMs;
  for (;;) {
    const before = machineCpu();
    if (before === undefined) return;
    await sleep(sampleMs);
    const after = machineCpu();
    const busy = after.busyMs - before.busyMs + after.stealMs - before.stealMs;
    if (busy <= share * (after.at - before.at) || performance.now() > deadline) return;
  }
}

const defined = (values) => values.filter((value) => value !== undefined && value !== null);

/** Median of the values that are there (undefined and null are left out); undefined if none. */
export function median(values) {
  const sorted = defined(values).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export const fmt = (value, digits = 0) =>
  value === undefined
    ? 'n/a'
    : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export const ratio = (value, base) =>
  value === undefined || base === undefined ? 'n/a' : `${(value / base).toFixed(2)}×`;

/** Lowest–highest of the values that are there (undefined and null are left out). */
export const range = (values, digits = 0) => {
  const present = defined(values);
  return present.length ? `${fmt(Math.min(...present), digits)}–${fmt(Math.max(...present), digits)}` : 'n/a';
};

/** A progress line on stderr (the report goes to stdout). */
export const progress = (text) => process.stderr.write(`${text}\n`);

/** The parts named on the command line (all of them when none is), or exit 2 on an unknown one. */
export function requestedParts(allParts, args = process.argv.slice(2)) {
  for (const part of args) {
    if (!allParts.includes(part)) {
      console.error(`unknown part "${part}"; parts: ${allParts.join(', ')}`);
      process.exit(2);
    }
  }
  return args.length > 0 ? args : allParts;
}

/**
 * Deletes every RabbitMQ queue whose name starts with `prefix` (a run's queues, multitask's
 * <name>.failed, .failed-log and .delay.<ms> included): rabbitmqctl lists them, as AMQP cannot,
 * and amqplib deletes them.
 */
export async function sweepAmqpQueues(amqpUrl, prefix) {
  let names;
  try {
    names = execFileSync('rabbitmqctl', ['list_queues', 'name', '--quiet', '--no-table-headers'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .split('\n')
      .map((line) => line.trim())
      .filter((name) => name.startsWith(prefix));
  } catch (error) {
    progress(`  could not list queues with rabbitmqctl: ${error.message}`);
    return;
  }
  if (names.length === 0) return;
  const { default: amqplib } = await import('amqplib');
  const connection = await amqplib.connect(amqpUrl);
  const channel = await connection.createChannel();
  for (const name of names) await channel.deleteQueue(name);
  await connection.close();
}

/**
 * Runs `run(kind, round)` for every kind, `rounds` times, rotating which kind goes first, so
 * that no setup always runs on a machine warmed (or tired) by the same neighbour.
 */
export async function interleave(kinds, rounds, run) {
  for (let round = 1; round <= rounds; round++) {
    for (let k = 0; k < kinds.length; k++) await run(kinds[(k + round - 1) % kinds.length], round);
  }
}

/** Polls `condition` every 2 ms until it holds; rejects after `timeoutMs`, naming `what`. */
export async function until(condition, what, timeoutMs = 240_000) {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/**
 * Resolves once `consumer` has completed `count` jobs. Told by the consumer's own `settled`
 * event rather than polled: a poll's wake-ups would count as the consumer's CPU.
 */
export function completed(consumer, count) {
  return new Promise((resolve) => {
    const check = () => consumer.counts.completed >= count && resolve();
    consumer.on('settled', check);
    check();
  });
}

/**
 * The plain amqplib consumer of I/O-bound jobs that multitask is measured against: one channel
 * with `prefetch` messages unacknowledged, each acked after a 20 ms timer. Resolves once the
 * channel is open, with `drain(count)` (resolves once `count` messages are acked) and `close()`.
 */
export async function plainIoConsumer(amqpUrl, name, prefetch) {
  const { default: amqplib } = await import('amqplib');
  const connection = await amqplib.connect(amqpUrl);
  const channel = await connection.createChannel();
  await channel.prefetch(prefetch);
  const drain = (count) =>
    new Promise((resolve) => {
      let done = 0;
      channel.consume(name, (message) => {
        sleep(20).then(() => {
          channel.ack(message);
          if (++done === count) resolve();
        });
      });
    });
  return { drain, close: () => connection.close() };
}

/**
 * Keeps up to `window` dispatches of `make(i)` in flight, each settled one starting the next;
 * resolves once `count` are confirmed, rejects on the first error.
 */
export function dispatchWindow(queue, make, count, options, window) {
  return new Promise((resolve, reject) => {
    let next = 0;
    let done = 0;
    let failed = false;
    const launch = () => {
      const i = next++;
      queue.dispatch(make(i), options).then(
        () => {
          done++;
          if (next < count) launch();
          else if (done === count) resolve();
        },
        (error) => {
          if (!failed) reject(error);
          failed = true;
        },
      );
    };
    for (let k = 0; k < Math.min(window, count); k++) launch();
  });
}

/**
 * Runs `node <script> ...args` in `cwd` with `env` added, killed past `timeoutMs`; resolves with
 * the JSON of its `RESULT {json}` line when it exits 0, rejects with the tail of its stderr.
 */
export function runChild(script, args, { cwd, env, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [script, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (chunk) => (out += chunk));
    proc.stderr.on('data', (chunk) => (err += chunk));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((text) => text.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice(7)));
      else {
        const tail = err.trim().split('\n').slice(-4).join(' | ');
        reject(new Error(`exit ${code ?? signal}${tail ? `: ${tail}` : ''}`));
      }
    });
  });
}
