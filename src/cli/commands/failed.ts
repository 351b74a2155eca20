/**
 * `multitask failed list|show|retry|purge`: a queue's failed store a page at a time, one job in
 * full, and jobs moved back or deleted by id, or every one with `--all`. Like `status`, it needs
 * no app: it reads and moves messages, it runs no task.
 */

import type { Logger } from 'pino';
import { jobId } from '../../queue/options.js';
import type { Queue } from '../../queue/queue.js';
import type { FailedJob } from '../../queue/transport.js';
import { flag, flagOnly, integer, optionalJobId, type RawSettings, UsageError } from '../config.js';
import { confirm, interactive } from '../confirm.js';
import { print, withExistingQueue } from './inspect.js';

/** What `failed` does. */
export type FailedAction = 'list' | 'show' | 'retry' | 'purge';

/** `multitask failed <action> [ids…]`; resolves with the exit code. */
export function failed(
  action: string,
  ids: readonly string[],
  raw: RawSettings,
  log: Logger,
): Promise<number> {
  switch (action) {
    case 'list':
      return list(ids, raw, log);
    case 'show':
      return show(ids, raw, log);
    case 'retry':
    case 'purge':
      return move(action, ids, raw, log);
    default:
      throw new UsageError(
        `unknown action "${action}": failed list, failed show, failed retry or failed purge`,
      );
  }
}

/** `failed list [--limit N] [--after ID] [--json]`: a page, oldest first. */
function list(ids: readonly string[], raw: RawSettings, log: Logger): Promise<number> {
  if (ids.length > 0) throw new UsageError('failed list takes no job ids: see one job with failed show <id>');
  const limit = integer(raw, 'limit', 1);
  const after = optionalJobId(raw, 'after');
  const json = flag(raw, 'json');
  // A URL typed as a flag must be typed again; one from MULTITASK_URL is read again.
  const urlFlag = raw.url !== undefined && raw.url !== process.env.MULTITASK_URL;
  return withExistingQueue(raw, log, async (queue, name) => {
    const jobs = await queue.failed(name, { limit, after });
    // The objects queue.failed() resolves with, bodies included: what a script needs to act on them.
    if (json) print(JSON.stringify(jobs, null, 2));
    else printPage(name, jobs, { more: jobs.length === limit, urlFlag });
  });
}

/** `failed show <id> [--json]`: one job in full; exit 1 when no failed job has the id. */
function show(ids: readonly string[], raw: RawSettings, log: Logger): Promise<number> {
  if (ids.length !== 1) throw new UsageError('failed show takes one job id: multitask failed show <id>');
  const id = idArgument(ids[0]!);
  const json = flag(raw, 'json');
  return withExistingQueue(raw, log, async (queue, name) => {
    const job = await queue.failedJob(name, id);
    if (job === undefined) return notFound(name, [id]);
    if (json) print(JSON.stringify(job, null, 2));
    else printJob(job);
    return 0;
  });
}

/**
 * `failed retry|purge <id…>` or `--all`. Ids are looked up first, so that each one missing is
 * named (exit 1) after those found were acted on. `--all` asks first on a terminal, unless `--yes`.
 */
function move(
  action: 'retry' | 'purge',
  ids: readonly string[],
  raw: RawSettings,
  log: Logger,
): Promise<number> {
  const all = flagOnly(raw, 'all');
  if (all && ids.length > 0) throw new UsageError(`failed ${action}: give job ids or --all, not both`);
  if (!all && ids.length === 0)
    throw new UsageError(`failed ${action} needs the ids of the jobs, or --all for every failed job`);
  const wanted = [...new Set(ids.map(idArgument))];
  const ask = all && !flagOnly(raw, 'yes') && interactive();
  return withExistingQueue(raw, log, async (queue, name) => {
    const act = (chosen: string[] | undefined) =>
      action === 'retry'
        ? queue.retryFailed(name, { ids: chosen })
        : queue.purgeFailed(name, { ids: chosen });
    if (all) {
      if (ask && !(await confirmAll(queue, name, action))) {
        print('nothing done');
        return 0;
      }
      print(outcome(action, await act(undefined), name));
      return 0;
    }
    const found: string[] = [];
    const missing: string[] = [];
    for (const id of wanted) ((await queue.failedJob(name, id)) === undefined ? missing : found).push(id);
    print(outcome(action, found.length === 0 ? 0 : await act(found), name));
    return missing.length === 0 ? 0 : notFound(name, missing);
  });
}

async function confirmAll(queue: Queue, name: string, action: 'retry' | 'purge'): Promise<boolean> {
  const count = (await queue.stats(name)).failed;
  const verb = action === 'retry' ? 'retry' : 'delete';
  return confirm(`${verb} every failed job of "${name}" (${count} job${count === 1 ? '' : 's'})?`);
}

function outcome(action: 'retry' | 'purge', count: number, name: string): string {
  return action === 'retry'
    ? `moved ${count} failed jobs back to "${name}"`
    : `deleted ${count} failed jobs of "${name}"`;
}

/** Names each id no failed job has, on stderr; the exit code for it. */
function notFound(name: string, ids: readonly string[]): number {
  for (const id of ids) process.stderr.write(`multitask: no failed job "${id}" in "${name}"\n`);
  return 1;
}

/** A job id typed as an argument, checked as the queue checks it. */
function idArgument(id: string): string {
  try {
    return jobId(id);
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^Invalid option "id"/, `invalid job id "${id}"`));
  }
}

function printPage(
  name: string,
  jobs: FailedJob[],
  { more, urlFlag }: { more: boolean; urlFlag: boolean },
): void {
  if (jobs.length === 0) {
    print(`no failed jobs in "${name}"`);
    return;
  }
  print(`${jobs.length} failed job${jobs.length === 1 ? '' : 's'} in "${name}" (oldest first):`);
  for (const job of jobs) {
    print('');
    print(
      `${job.id}  ${job.task ?? '(not a job)'}  attempts ${job.attempts}  failed ${job.failedAt.toISOString()}`,
    );
    print(`  fields: ${job.fields === undefined ? job.body.slice(0, 200) : JSON.stringify(job.fields)}`);
    print(`  error:  ${errorLine(job)}`);
  }
  const target = `--queue ${name}${urlFlag ? ' --url <the same URL>' : ''}`;
  print('');
  if (more) print(`next page: multitask failed list ${target} --after ${jobs.at(-1)!.id}`);
  print(`one in full, with its stack and body: multitask failed show <id> ${target}`);
  print(`move them back with: multitask failed retry <id…> ${target} (or --all for every one)`);
}

function printJob(job: FailedJob): void {
  print(`id         ${job.id}`);
  print(`queue      ${job.queue}`);
  print(`task       ${job.task ?? '(not a job)'}`);
  print(`attempts   ${job.attempts}`);
  print(`failed at  ${job.failedAt.toISOString()}`);
  print(`error      ${errorLine(job)}`);
  if (job.error.stack !== undefined) print(indent(job.error.stack));
  if (job.fields === undefined) print('fields     (none: not a job)');
  else print(`fields\n${indent(JSON.stringify(job.fields, null, 2))}`);
  print('body');
  print(indent(job.body));
}

function errorLine({ error }: FailedJob): string {
  return `${error.code === undefined ? '' : `${error.code} `}${error.name}: ${error.message}`;
}

function indent(text: string): string {
  return text.replace(/^/gm, '  ');
}
