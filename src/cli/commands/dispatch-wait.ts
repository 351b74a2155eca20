/**
 * `multitask dispatch --wait`: every job is a `queue.call`. Each result is printed on stdout as
 * one JSON line (tagged as task fields are: a Date is `{"$multitask":"Date","value":…}`;
 * undefined is `null`), in input order, as soon as the jobs before it have theirs; a job that
 * failed prints `null` there, so that line n of the output stays job n's, and its error on
 * stderr, and the exit code is 1.
 */

import type { Queue } from '../../queue/queue.js';
import type { CallOptions } from '../../queue/result-options.js';
import { resultJson } from '../../task/field-codec.js';
import type { Task } from '../../task/task.js';

/** One job to call, and the input line it came from (undefined for `--task`). */
export interface CallLine {
  line: number | undefined;
  task: Task<unknown, never>;
  options: CallOptions;
}

/** Calls outstanding at once: as `dispatch`'s window of confirms. */
const WINDOW = 512;

type Settled = { ok: true; json: string } | { ok: false; error: Error };

/** Calls every job and prints the results in order; resolves with the exit code. */
export async function callAll(queue: Queue, jobs: CallLine[], waitMs: number | undefined): Promise<number> {
  const settled: Array<Settled | undefined> = new Array(jobs.length);
  let printed = 0;
  let failures = 0;
  const flush = () => {
    for (; printed < jobs.length; printed++) {
      const outcome = settled[printed];
      if (outcome === undefined) return;
      settled[printed] = undefined; // printed: let the value go
      process.stdout.write(`${outcome.ok ? outcome.json : 'null'}\n`);
      if (!outcome.ok) process.stderr.write(`${describeFailure(jobs[printed]!.line, outcome.error)}\n`);
    }
  };
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const index = next++;
      const job = jobs[index]!;
      const options = waitMs === undefined ? job.options : { ...job.options, waitMs };
      try {
        settled[index] = { ok: true, json: resultJson(await queue.call(job.task, options)) ?? 'null' };
      } catch (error) {
        failures++;
        settled[index] = { ok: false, error: error as Error };
      }
      flush();
    }
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, jobs.length) }, lane));
  return failures === 0 ? 0 : 1;
}

/** `line 3: ERR_TASK_FAILED: planned failure`, then the task's own stack, indented. */
function describeFailure(line: number | undefined, error: Error): string {
  const code = (error as { code?: unknown }).code;
  const head = `${line === undefined ? '' : `line ${line}: `}${typeof code === 'string' ? `${code}: ` : ''}${error.message}`;
  const stack = (error.cause as Error | undefined)?.stack ?? error.stack;
  if (typeof stack !== 'string') return head;
  return `${head}\n${stack
    .split('\n')
    .map((row) => `    ${row}`)
    .join('\n')}`;
}
