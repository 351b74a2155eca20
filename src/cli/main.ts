#!/usr/bin/env node
/**
 * The `multitask` command. Every flag also reads its environment variable (see settings.ts),
 * so a container needs no flags; only `failed`'s `--all` and `--yes` have none, on purpose. A wrong setting prints one line naming the flag and the
 * variable and exits with 2; a failure at run time exits with 1.
 */

import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import type { Logger } from 'pino';
import { hasCode } from '../errors.js';
import { createLogger } from '../observability/logger.js';
import { BROKER_SETTINGS } from './broker-settings.js';
import { dashboard } from './commands/dashboard.js';
import { DASHBOARD_AUTH_SETTINGS } from './commands/dashboard-settings.js';
import { dispatch } from './commands/dispatch.js';
import { events } from './commands/events.js';
import { failed } from './commands/failed.js';
import { status } from './commands/inspect.js';
import { run } from './commands/run.js';
import { work } from './commands/work.js';
import { logFormat, logLevel, type RawSettings, UsageError } from './config.js';
import { SERVICE_SETTINGS } from './service/settings.js';
import {
  DASHBOARD_OPTIONS,
  FLAG_ONLY,
  type FlagOnlyName,
  SETTINGS,
  type Setting,
  type SettingName,
} from './settings.js';

/** Exit codes: 2 for what the user must fix before trying again. */
const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

function option(name: SettingName): Option {
  return optionOf(SETTINGS[name]);
}

function optionOf(setting: Setting): Option {
  const description =
    setting.defaultValue === undefined
      ? setting.description
      : `${setting.description} (default: ${setting.defaultValue})`;
  // Commander turns a switch on whenever its variable exists, even as "0": switches read theirs in config.ts.
  if (!setting.flags.includes('<')) return new Option(setting.flags, `${description} (env: ${setting.env})`);
  return new Option(setting.flags, description).env(setting.env);
}

/** A switch with no environment variable (see FLAG_ONLY for why). */
function flagOnlyOption(name: FlagOnlyName): Option {
  return new Option(FLAG_ONLY[name].flags, FLAG_ONLY[name].description);
}

const LOGGING: SettingName[] = ['logLevel', 'logFormat'];

/** A subcommand with the settings it reads. */
function command(
  program: Command,
  name: string,
  summary: string,
  settings: SettingName[],
  example: string,
): Command {
  const sub = program.command(name).description(summary);
  for (const setting of [...settings, ...LOGGING]) sub.addOption(option(setting));
  sub.addHelpText('after', `\nExample:\n  ${example}\n`);
  return sub;
}

/** The logger a command asked for; services log to stdout, one-shot commands to stderr. */
function logger(raw: RawSettings, fd: 1 | 2): Logger {
  return createLogger({ level: logLevel(raw), format: logFormat(raw), fd });
}

/** The package's version, from its package.json (two levels up from src/cli and dist/cli alike). */
function packageVersion(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

/** Builds the program; each action resolves with the process's exit code. */
export function buildProgram(exit: (code: number) => void): Command {
  const program = new Command('multitask')
    .version(packageVersion(), '-V, --version')
    .description('Run tasks in parallel on worker threads, fed by RabbitMQ or an embedded SQLite queue.')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // Commander's errors become one line, like ours.
      outputError: (message, write) => write(`${oneLine(message).replace(/^error: /, 'multitask: ')}\n`),
    });
  const finish = (pending: Promise<number>) => pending.then(exit);

  command(
    program,
    'work',
    'consume a queue with a pool of workers, until SIGTERM',
    [
      'app',
      'url',
      'queue',
      ...SERVICE_SETTINGS,
      'minWorkers',
      'maxWorkers',
      'scaleIntervalMs',
      'workersFile',
      'dashboard',
      ...DASHBOARD_AUTH_SETTINGS,
      ...BROKER_SETTINGS,
    ],
    'multitask work --app ./dist/app.js --queue emails --workers 50% --concurrency 16 --url amqp://guest:guest@localhost:5672\n  multitask work --app ./dist/app.js --queue emails --dashboard          # the dashboard at http://127.0.0.1:9464/dashboard/',
  ).action((raw: RawSettings) => finish(work(raw, logger(raw, 1))));

  command(
    program,
    'dashboard',
    'serve the web dashboard of the queues: counts, instances, events, failed jobs (until SIGINT or SIGTERM)',
    ['url', ...DASHBOARD_AUTH_SETTINGS, ...BROKER_SETTINGS],
    [
      'multitask dashboard --url amqp://guest:guest@localhost:5672     # http://127.0.0.1:9465/',
      '  MULTITASK_DASHBOARD_TOKEN=… multitask dashboard --http 0.0.0.0:9465 --queue emails,reports',
    ].join('\n'),
  )
    .addOption(optionOf(DASHBOARD_OPTIONS.queues))
    .addOption(optionOf(DASHBOARD_OPTIONS.http))
    .action((raw: RawSettings) => finish(dashboard(raw, logger(raw, 1))));

  command(
    program,
    'run',
    'supervise a long-running task on every worker, restarted when it fails',
    ['app', 'task', ...SERVICE_SETTINGS],
    `multitask run --app ./dist/app.js --task Listen --workers 4 -- '{"topic":"events"}'`,
  )
    .argument('[fields]', "the task's fields as a JSON object")
    .action((fields: string | undefined, raw: RawSettings) => finish(run(raw, fields, logger(raw, 1))));

  command(
    program,
    'dispatch',
    'put one job, or JSON lines from a file or stdin, on a queue',
    [
      'app',
      'url',
      'queue',
      'task',
      'attempts',
      'timeoutMs',
      'delayMs',
      'wait',
      'waitMs',
      'connectTimeoutMs',
      ...BROKER_SETTINGS,
    ],
    `multitask dispatch --app ./dist/app.js --task SendEmail --queue emails '{"to":"a@b.c"}'\n  multitask dispatch --app ./dist/app.js --queue emails < jobs.jsonl   # {"task":"SendEmail","fields":{…}} or a message body {"v":1,…} per line\n  multitask dispatch --app ./dist/app.js --queue math --wait < jobs.jsonl   # prints each job's result as JSON, in input order`,
  )
    .argument('[input]', '--task given: the fields as JSON; otherwise a JSON-lines file (default: stdin)')
    .action((input: string | undefined, raw: RawSettings) => finish(dispatch(raw, input, logger(raw, 2))));

  command(
    program,
    'failed',
    "list, show, retry or purge a queue's failed jobs",
    ['url', 'queue', 'limit', 'after', 'json', 'connectTimeoutMs', ...BROKER_SETTINGS],
    [
      'multitask failed list --queue emails [--limit 100] [--after <id>] [--json]',
      '  multitask failed show <id> --queue emails [--json]',
      '  multitask failed retry <id…> --queue emails       # or --all (asks first on a terminal, unless --yes)',
      '  multitask failed purge <id…> --queue emails       # or --all',
    ].join('\n'),
  )
    .addOption(flagOnlyOption('all'))
    .addOption(flagOnlyOption('yes'))
    .argument('<action>', 'list, show, retry or purge')
    .argument('[ids...]', 'show: the id of one job; retry, purge: the ids of the jobs (or --all)')
    .action((action: string, ids: string[], raw: RawSettings) =>
      finish(failed(action, ids, raw, logger(raw, 2))),
    );

  command(
    program,
    'status',
    "a queue's counts (ready, in flight, delayed, failed) and the instances consuming it",
    ['url', 'queue', 'json', 'connectTimeoutMs', ...BROKER_SETTINGS],
    'multitask status --queue emails --json',
  ).action((raw: RawSettings) => finish(status(raw, logger(raw, 2))));

  command(
    program,
    'events',
    'the job events of every instance, live, until SIGINT or SIGTERM (JSON lines off a terminal)',
    ['url', 'queue', 'json', 'connectTimeoutMs'],
    'multitask events --queue emails          # every queue without --queue; --json on a terminal too',
  )
    .alias('tail')
    .action((raw: RawSettings) => finish(events(raw, logger(raw, 2))));

  return program;
}

/** One line on stderr, then the exit code for it. */
function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and version exit 0; everything else commander refuses is a usage error (already printed).
    return error.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  const code =
    error instanceof UsageError || typeof error !== 'object' || error === null || !('code' in error)
      ? ''
      : `${(error as { code: unknown }).code}: `;
  process.stderr.write(`multitask: ${oneLine(`${code}${(error as Error)?.message ?? error}`)}\n`);
  return error instanceof UsageError ||
    hasCode(error, 'ERR_INVALID_OPTION') ||
    hasCode(error, 'ERR_DASHBOARD_INSECURE')
    ? EXIT_USAGE
    : EXIT_FAILURE;
}

/** Messages from elsewhere (esbuild, an app's own error) may span lines; ours stay one. */
function oneLine(message: string): string {
  return message.trim().replace(/\s*\n\s*/g, ' ');
}

const exit = (code: number) => {
  // Let stdout drain (a piped `failed list` can be long) before leaving.
  process.stdout.write('', () => process.exit(code));
};

try {
  await buildProgram(exit).parseAsync(process.argv);
} catch (error) {
  exit(report(error));
}
