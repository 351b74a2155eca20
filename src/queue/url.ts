import { isAbsolute, resolve } from 'node:path';
import { invalidOption } from '../errors.js';

/** Where jobs live when no URL is given: an embedded SQLite file under the working directory. */
export const DEFAULT_SQLITE_PATH = '.multitask/queue.db';

/** A queue URL, read. `safeUrl` is the form that may be logged: its password is masked. */
export type QueueLocation =
  | { kind: 'amqp'; url: string; safeUrl: string }
  | { kind: 'sqlite'; path: string; safeUrl: string };

/**
 * Reads `amqp://` / `amqps://` URLs and `sqlite:` ones: `sqlite:///abs/path.db` (absolute),
 * `sqlite:rel/path.db` (relative to the working directory). No URL means the embedded default.
 */
export function parseQueueUrl(url: string | undefined): QueueLocation {
  if (url === undefined || url === '') {
    const path = resolve(DEFAULT_SQLITE_PATH);
    return { kind: 'sqlite', path, safeUrl: `sqlite:${DEFAULT_SQLITE_PATH}` };
  }
  if (typeof url !== 'string') throw invalidOption('url', url, 'a string (amqp://… or sqlite:…)');
  if (/^amqps?:\/\//i.test(url)) {
    try {
      new URL(url);
    } catch {
      throw invalidOption('url', maskUrl(url), 'a valid amqp:// URL');
    }
    return { kind: 'amqp', url, safeUrl: maskUrl(url) };
  }
  if (url.startsWith('sqlite:')) {
    // sqlite:///abs -> /abs ; sqlite://abs is read as relative, as SQLAlchemy does with sqlite:rel.
    const rest = url.slice('sqlite:'.length);
    const path = rest.startsWith('///') ? rest.slice(2) : rest.startsWith('//') ? rest.slice(2) : rest;
    if (path === '') throw invalidOption('url', url, 'sqlite:<file path>');
    return { kind: 'sqlite', path: isAbsolute(path) ? path : resolve(path), safeUrl: url };
  }
  throw invalidOption('url', maskUrl(url), 'an amqp://, amqps:// or sqlite: URL');
}

/**
 * The URL with its password replaced by `***`: the only form of a URL that logs and errors show.
 * Passwords are often pasted unencoded, `@` and `/` included: the credentials run to the last
 * `@`, so nothing of a password survives (a path holding `@` is masked a little too far).
 */
export function maskUrl(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (scheme === null) return url;
  const rest = url.slice(scheme[0].length);
  const at = rest.lastIndexOf('@');
  const colon = rest.indexOf(':');
  if (at < 0 || colon < 0 || colon > at) return url;
  return `${scheme[0]}${rest.slice(0, colon)}:***${rest.slice(at)}`;
}
