/**
 * `multitask dispatch`: one job (`--task Name '{"field":1}'`), or many from JSON lines (a file,
 * or stdin), one `{"task":"Name","fields":{…}}` or one message-format body (`{"v":1,…}`) per
 * line (job-line.ts). Every line is read and checked before the first job is sent, so a bad
 * line costs nothing but its message: no half-sent batch.
 */

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { SingleBar } from 'cli-progress';
import type { Logger } from 'pino';
import { type DispatchIncompleteError, ErrorCode, hasCode } from '../../errors.js';
import type { DispatchOptions } from '../../queue/options.js';
import type { Queue } from '../../queue/queue.js';
import type { TaskRegistry } from '../../task/registry.js';
import type { Task } from '../../task/task.js';
import { prepareApp } from '../app.js';
import {
  flag,
  integer,
  jsonObject,
  optional,
  optionalInteger,
  queue as queueSetting,
  type RawSettings,
  required,
  UsageError,
} from '../config.js';
import { readQueueTarget, withQueue } from '../one-shot.js';
import { callAll } from './dispatch-wait.js';
import { jobLine } from './job-line.js';
import { taskFromSettings } from './task-instance.js';

/** One job to send, and the input line it came from. */
interface JobLine {
  line: number;
  task: Task<unknown, never>;
  options: DispatchOptions;
}

/** Jobs per `dispatchMany` call: enough to keep publisher confirms streaming, few enough to bound memory. */
const CHUNK = 5_000;
/** Below this a progress bar would only flicker. */
const BAR_FROM = 200;

/** Sends the jobs; resolves with the exit code. */
export async function dispatch(raw: RawSettings, input: string | undefined, log: Logger): Promise<number> {
  const appPath = required(raw, 'app');
  const target = readQueueTarget(raw);
  const defaults: DispatchOptions = {
    queue: queueSetting(raw),
    attempts: integer(raw, 'attempts', 1),
    delayMs: integer(raw, 'delayMs', 0),
  };
  const timeoutMs = optionalInteger(raw, 'timeoutMs', 1);
  if (timeoutMs !== undefined) defaults.timeoutMs = timeoutMs;
  const wait = flag(raw, 'wait');
  const waitMs = optionalInteger(raw, 'waitMs', 0);
  if (waitMs !== undefined && !wait) throw new UsageError('--wait-ms (MULTITASK_WAIT_MS) needs --wait');
  const taskName = optional(raw, 'task');
  const app = await prepareApp(appPath);
  const registry = app.loaded.registry;

  let jobs: JobLine[];
  if (taskName !== undefined) {
    const task = taskFromSettings(registry, taskName, jsonObject(input, 'the task fields'));
    jobs = [{ line: 1, task, options: defaults }];
  } else {
    jobs = await readJobLines(input, registry, defaults);
  }

  return withQueue(target, { command: 'dispatch', log, app: app.url }, async (queue) => {
    if (wait) {
      const lines = jobs.map((job) => ({ ...job, line: taskName === undefined ? job.line : undefined }));
      return callAll(queue, lines, waitMs);
    }
    if (taskName !== undefined) {
      process.stdout.write(`${await queue.dispatch(jobs[0]!.task, jobs[0]!.options)}\n`);
      return;
    }
    const started = performance.now();
    await sendAll(queue, jobs);
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(
      `dispatched ${jobs.length} job${jobs.length === 1 ? '' : 's'} to ${perQueue(jobs)} in ${seconds.toFixed(2)} s (${Math.round(jobs.length / Math.max(seconds, 0.001))} jobs/s)\n`,
    );
  });
}

/** Reads and checks every line; the first bad one is a usage error naming its line number. */
async function readJobLines(
  input: string | undefined,
  registry: TaskRegistry,
  defaults: DispatchOptions,
): Promise<JobLine[]> {
  if ((input === undefined || input === '-') && process.stdin.isTTY)
    throw new UsageError('dispatch needs --task <name> [fields], or JSON lines in a file or on stdin');
  const stream = input === undefined || input === '-' ? process.stdin : createReadStream(input);
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('error', (error: NodeJS.ErrnoException) =>
      reject(new UsageError(`cannot read ${input}: ${error.code ?? error.message}`)),
    );
    stream.once('readable', resolve);
    stream.once('end', resolve);
  });
  await opened;
  const jobs: JobLine[] = [];
  let lineNumber = 0;
  for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
    lineNumber++;
    if (line.trim() === '') continue;
    try {
      jobs.push({ line: lineNumber, ...jobLine(line, registry, defaults) });
    } catch (error) {
      throw new UsageError(`line ${lineNumber}: ${(error as Error).message}; nothing was dispatched`);
    }
  }
  if (jobs.length === 0)
    throw new UsageError(
      'no jobs in the input: one {"task":"Name","fields":{…}} or message body {"v":1,…} per line',
    );
  return jobs;
}

/**
 * Sends the jobs with `queue.dispatchMany`, a chunk at a time (the bar moves per chunk, and
 * memory stays bounded), showing a bar on a terminal. On the first chunk not wholly accepted it
 * sends nothing more and names the input lines the broker did not confirm, so the operator can
 * send exactly those again.
 */
async function sendAll(queue: Queue, jobs: JobLine[]): Promise<void> {
  const bar =
    process.stderr.isTTY && jobs.length >= BAR_FROM
      ? new SingleBar({
          stream: process.stderr,
          format: 'dispatching [{bar}] {percentage}% {value}/{total} jobs · {eta_formatted} left',
          hideCursor: true,
        })
      : undefined;
  bar?.start(jobs.length, 0);
  let sent = 0;
  try {
    for (let from = 0; from < jobs.length; from += CHUNK) {
      const chunk = jobs.slice(from, from + CHUNK);
      try {
        await queue.dispatchMany(chunk);
      } catch (error) {
        // Some of the chunk not accepted: those lines; anything else: the whole chunk.
        const incomplete = hasCode(error, ErrorCode.DISPATCH_INCOMPLETE)
          ? (error as DispatchIncompleteError)
          : undefined;
        const notAccepted =
          incomplete?.notAccepted.map(({ index }) => chunk[index]!.line) ?? chunk.map((job) => job.line);
        const accepted = chunk.length - notAccepted.length;
        const unsent = jobs.slice(from + CHUNK).map((job) => job.line);
        const cause = (incomplete?.cause ?? error) as Error;
        const code = (cause as { code?: string }).code;
        throw new Error(
          `dispatched ${sent + accepted} of ${jobs.length} jobs; not confirmed, send again: ${lineRanges([...notAccepted, ...unsent])} (${code === undefined ? '' : `${code}: `}${cause.message})`,
        );
      }
      sent += chunk.length;
      bar?.update(sent);
    }
  } finally {
    bar?.stop();
  }
}

/** `"emails"`, or `"emails" (3), "sms" (1)` when lines chose their queues. */
function perQueue(jobs: JobLine[]): string {
  const counts = new Map<string, number>();
  for (const job of jobs) counts.set(job.options.queue!, (counts.get(job.options.queue!) ?? 0) + 1);
  if (counts.size === 1) return `"${[...counts.keys()][0]}"`;
  return [...counts].map(([queue, count]) => `"${queue}" (${count})`).join(', ');
}

/** `3-7, 12`: line numbers as ranges. */
export function lineRanges(lines: number[]): string {
  const sorted = [...lines].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i]!;
    while (i + 1 < sorted.length && sorted[i + 1] === sorted[i]! + 1) i++;
    ranges.push(start === sorted[i] ? `line ${start}` : `lines ${start}-${sorted[i]}`);
  }
  return ranges.join(', ');
}
