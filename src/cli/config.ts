/**
 * Reading the command's settings: each value comes as text from a flag or its environment
 * variable; each reader checks it and, when it is wrong, throws a {@link ConfigError} whose one
 * line names both spellings, so the user finds the culprit whether they typed it or a manifest
 * set it.
 */

import { describeValue } from '../errors.js';
import { LOG_LEVEL_NAMES, type LogFormat, type LogLevelName } from '../observability/logger.js';
import { resolveSize } from '../pool/sizing.js';
import { jobId, queueName } from '../queue/options.js';
import { maskUrl, parseQueueUrl } from '../queue/url.js';
import { type FlagOnlyName, SETTINGS, type Setting, type SettingName, settingLabel } from './settings.js';

/** The user asked for something the command cannot do as asked: one line on stderr, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly code: string = 'ERR_USAGE';
}

/** A setting with a wrong value; its message names the flag and the environment variable. */
export class ConfigError extends UsageError {
  override name = 'ConfigError';
  override readonly code = 'ERR_INVALID_CONFIG';
  constructor(
    readonly setting: SettingName,
    message: string,
  ) {
    super(`invalid ${settingLabel(setting)}: ${message}`);
  }
}

/** The raw values commander collected: flags, else environment variables, else defaults. */
export type RawSettings = Partial<Record<SettingName | FlagOnlyName, string | boolean | undefined>>;

function text(raw: RawSettings, name: SettingName): string | undefined {
  const value = raw[name];
  if (value === undefined || value === '') return undefined;
  return String(value).trim();
}

function wrong(name: SettingName, value: string, expected: string): ConfigError {
  return new ConfigError(name, `expected ${expected}, got ${describeValue(value)}`);
}

/** The longest delay Node's timers take (ms): past it they fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A required setting. */
export function required(raw: RawSettings, name: SettingName): string {
  const value = text(raw, name);
  if (value === undefined) throw new ConfigError(name, 'is required');
  return value;
}

/** An optional text setting. */
export function optional(raw: RawSettings, name: SettingName): string | undefined {
  return text(raw, name);
}

/** The value given, else the settings table's default: one place holds each default. */
function valueOrDefault(raw: RawSettings, name: SettingName): string | undefined {
  return text(raw, name) ?? (SETTINGS[name] as Setting).defaultValue;
}

/**
 * An integer setting within bounds, else its default from the settings table (a setting with
 * no default is then required). By default at most what a timer takes, as most are times.
 */
export function integer(raw: RawSettings, name: SettingName, min: number, max = MAX_TIMER_MS): number {
  const value = optionalInteger(raw, name, min, max, valueOrDefault(raw, name));
  if (value === undefined) throw new ConfigError(name, 'is required');
  return value;
}

/** An integer setting within bounds, or undefined when it is not given. */
export function optionalInteger(
  raw: RawSettings,
  name: SettingName,
  min: number,
  max = MAX_TIMER_MS,
  value = text(raw, name),
): number | undefined {
  if (value === undefined) return undefined;
  const number = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max)
    throw wrong(name, value, `an integer from ${min} to ${max}`);
  return number;
}

/** A worker count: a count or a share of the CPUs ('50%', 0.5). */
export function workerCount(raw: RawSettings, name: SettingName): number | undefined {
  const value = text(raw, name);
  if (value === undefined) return undefined;
  const count = workersFromText(value);
  if (count === undefined) throw wrong(name, value, WORKERS_EXPECTED);
  return count;
}

/** More threads than this is a typo, not a plan: each one is an isolate with its own heap. */
export const MAX_WORKERS = 1024;
const WORKERS_EXPECTED = `a worker count (4, at most ${MAX_WORKERS}) or a share of the CPUs (50%, 0.5)`;

/** A worker count as text (`8`, `50%`, `0.5`), or undefined when it is not one or is too many. */
export function workersFromText(value: string): number | undefined {
  let count: number;
  try {
    count = resolveSize(value.trim());
  } catch {
    return undefined;
  }
  return count <= MAX_WORKERS ? count : undefined;
}

/** {@link workersFromText} for a request: an error saying what is expected. */
export function requestedWorkers(value: string): number {
  const count = workersFromText(value);
  if (count === undefined) throw new Error(`expected ${WORKERS_EXPECTED}, got ${describeValue(value)}`);
  return count;
}

/** The queue URL, checked now (its password never appears in the error). */
export function queueUrl(raw: RawSettings): string | undefined {
  const value = text(raw, 'url');
  if (value === undefined) return undefined;
  let location: ReturnType<typeof parseQueueUrl>;
  try {
    location = parseQueueUrl(value);
  } catch {
    throw wrong(
      'url',
      maskUrl(value),
      'amqp://user:pass@host:5672/vhost (or a comma-separated list of them, one per node), amqps://… or sqlite:path.db',
    );
  }
  if (location.kind === 'amqp' && !location.nodes.every((node) => credentialsEncoded(node.url)))
    throw wrong(
      'url',
      maskUrl(value),
      'user and password percent-encoded (@ as %40, / as %2F, % as %25, a comma as %2C)',
    );
  return value;
}

/**
 * False when a URL's user or password holds a raw `@`, `/` or `%`: a URL parser then reads part
 * of the password as the host (and would connect there), or cannot decode it at all.
 */
function credentialsEncoded(url: string): boolean {
  const rest = url.slice(url.indexOf('://') + 3);
  const written = rest
    .slice(rest.lastIndexOf('@') + 1)
    .split(/[/?#]/)[0]!
    .toLowerCase();
  try {
    const parsed = new URL(url);
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
    return parsed.host.toLowerCase() === written;
  } catch {
    return false;
  }
}

/** A queue name. */
export function queue(raw: RawSettings): string {
  const value = valueOrDefault(raw, 'queue')!;
  return checkedBy(queueName, 'queue', value);
}

/** A queue name, or undefined when none is given (`events`: then every queue). */
export function optionalQueue(raw: RawSettings): string | undefined {
  const value = text(raw, 'queue');
  return value === undefined ? undefined : checkedBy(queueName, 'queue', value);
}

/** A job id (`--after`), or undefined when it is not given. */
export function optionalJobId(raw: RawSettings, name: SettingName): string | undefined {
  const value = text(raw, name);
  return value === undefined ? undefined : checkedBy(jobId, name, value);
}

/** A value the library's own validator checks; its complaint becomes the setting's. */
function checkedBy<T>(check: (value: string) => T, name: SettingName, value: string): T {
  try {
    return check(value);
  } catch (error) {
    throw new ConfigError(name, (error as Error).message.replace(/^Invalid option "[^"]+": /, ''));
  }
}

/** `host:port`, or `off`; a bare port means loopback. `fallback` is the command's default. */
export function httpAddress(
  raw: RawSettings,
  fallback: string = SETTINGS.http.defaultValue,
  off = true,
): { host: string; port: number } | undefined {
  const value = text(raw, 'http') ?? fallback;
  if (off && value === 'off') return undefined;
  const match = /^(?:(\[[0-9a-f:]+\]|[\w.-]+):)?(\d{1,5})$/i.exec(value);
  const port = match === null ? Number.NaN : Number(match[2]);
  if (match === null || port > 65_535)
    throw wrong('http', value, `host:port (${fallback})${off ? ', a port, or off' : ' or a port'}`);
  return { host: (match[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port };
}

/** Queue names, comma-separated (`dashboard --queue a,b`); none when not given. */
export function queueList(raw: RawSettings): string[] {
  const value = text(raw, 'queue');
  if (value === undefined) return [];
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  return [...new Set(names.map((name) => checkedBy(queueName, 'queue', name)))];
}

/** A switch: the flag, else its variable as 1/true/yes or 0/false/no. */
export function flag(raw: RawSettings, name: SettingName, env: NodeJS.ProcessEnv = process.env): boolean {
  if (raw[name] === true) return true;
  const value = env[SETTINGS[name].env]?.trim().toLowerCase();
  if (value === undefined || value === '') return false;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw wrong(name, value, '1, true, yes, on, or 0, false, no, off');
}

/** A switch that has no environment variable ({@link FLAG_ONLY}): true only when typed. */
export function flagOnly(raw: RawSettings, name: FlagOnlyName): boolean {
  return raw[name] === true;
}

/** A log level name. */
export function logLevel(raw: RawSettings): LogLevelName {
  const value = valueOrDefault(raw, 'logLevel')!;
  if (!(LOG_LEVEL_NAMES as readonly string[]).includes(value))
    throw wrong('logLevel', value, LOG_LEVEL_NAMES.join(', '));
  return value as LogLevelName;
}

/** `json` or `pretty`; undefined means pretty on a terminal. */
export function logFormat(raw: RawSettings): LogFormat | undefined {
  const value = text(raw, 'logFormat');
  if (value === undefined) return undefined;
  if (value !== 'json' && value !== 'pretty') throw wrong('logFormat', value, 'json or pretty');
  return value;
}

/** A JSON object given as text (a task's fields). */
export function jsonObject(value: string | undefined, what: string): Record<string, unknown> {
  if (value === undefined || value.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new UsageError(`${what} is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new UsageError(`${what} must be a JSON object of the task's fields, got ${describeValue(parsed)}`);
  return parsed as Record<string, unknown>;
}
