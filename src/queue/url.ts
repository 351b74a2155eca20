import { isAbsolute, resolve } from 'node:path';
import { invalidOption } from '../errors.js';

/** Where jobs live when no URL is given: an embedded SQLite file under the working directory. */
export const DEFAULT_SQLITE_PATH = '.multitask/queue.db';

/** One RabbitMQ node of a URL list. */
export interface AmqpNode {
  /** Its URL as given, password included: for connecting only. */
  readonly url: string;
  /** Its URL with the password masked: what logs and errors show. */
  readonly safeUrl: string;
  /** `host:port`: the node's name in metrics (a label with no credentials in it). */
  readonly address: string;
  readonly tls: boolean;
}

/** A queue URL, read. `safeUrl` is the form that may be logged: its password is masked. */
export type QueueLocation =
  | { kind: 'amqp'; nodes: readonly AmqpNode[]; safeUrl: string }
  | { kind: 'sqlite'; path: string; safeUrl: string };

const AMQP_LIST_EXPECTED =
  'a comma-separated list of amqp:// or amqps:// URLs, each a full URL of one node of the cluster ' +
  '(a comma in a password is written %2C, as any reserved character of a URL)';

/**
 * Reads `amqp://` / `amqps://` URLs and `sqlite:` ones: `sqlite:///abs/path.db` (absolute),
 * `sqlite:rel/path.db` (relative to the working directory). No URL means the embedded default.
 * RabbitMQ takes a comma-separated list of full URLs, one per node of one cluster:
 * `amqp://u:p@rabbit-0:5672,amqp://u:p@rabbit-1:5672`.
 */
export function parseQueueUrl(url: string | undefined): QueueLocation {
  if (url === undefined || url === '') {
    const path = resolve(DEFAULT_SQLITE_PATH);
    return { kind: 'sqlite', path, safeUrl: `sqlite:${DEFAULT_SQLITE_PATH}` };
  }
  if (typeof url !== 'string') throw invalidOption('url', url, 'a string (amqp://… or sqlite:…)');
  if (/^\s*amqps?:\/\//i.test(url)) return parseAmqpList(url);
  if (url.startsWith('sqlite:')) {
    // sqlite:///abs -> /abs ; sqlite://abs is read as relative, as SQLAlchemy does with sqlite:rel.
    const rest = url.slice('sqlite:'.length);
    const path = rest.startsWith('///') ? rest.slice(2) : rest.startsWith('//') ? rest.slice(2) : rest;
    if (path === '') throw invalidOption('url', url, 'sqlite:<file path>');
    return { kind: 'sqlite', path: isAbsolute(path) ? path : resolve(path), safeUrl: url };
  }
  throw invalidOption('url', maskUrl(url), 'an amqp://, amqps:// or sqlite: URL');
}

/** One URL or a list of them; each entry is refused as a whole list, masked (see {@link maskUrl}). */
function parseAmqpList(text: string): QueueLocation {
  const entries = text.split(',').map((entry) => entry.trim());
  const nodes: AmqpNode[] = [];
  for (const entry of entries) {
    let parsed: URL | undefined;
    try {
      parsed = /^amqps?:\/\//i.test(entry) ? new URL(entry) : undefined;
    } catch {
      parsed = undefined;
    }
    // Not a URL: an empty entry, another scheme, or part of a password that held a raw comma.
    if (parsed === undefined || parsed.hostname === '')
      throw invalidOption(
        'url',
        maskUrl(text),
        entries.length > 1 ? AMQP_LIST_EXPECTED : 'a valid amqp:// URL',
      );
    const tls = parsed.protocol.toLowerCase() === 'amqps:';
    const address = `${parsed.hostname}:${parsed.port || (tls ? 5671 : 5672)}`;
    if (nodes.some((node) => node.url === entry))
      throw invalidOption('url', maskUrl(text), `${AMQP_LIST_EXPECTED}, each node once`);
    nodes.push({ url: entry, safeUrl: maskUrl(entry), address, tls });
  }
  return { kind: 'amqp', nodes, safeUrl: nodes.map((node) => node.safeUrl).join(',') };
}

/**
 * The URL with its password replaced by `***`: the only form of a URL that logs and errors show.
 * Passwords are often pasted unencoded, `@` and `/` included: the credentials run to the last
 * `@`, so nothing of a password survives (a path holding `@` is masked a little too far). A
 * comma-separated list is masked entry by entry; an entry without a scheme of its own is the
 * rest of a password that held a raw comma, so the entry before it is masked after its scheme
 * and the entry itself up to its last `@`.
 */
export function maskUrl(url: string): string {
  if (!url.includes(',') || !/^\s*[a-z][a-z0-9+.-]*:\/\//i.test(url)) return maskOne(url);
  const entries = url.split(',');
  const scheme = (entry: string) => /^\s*[a-z][a-z0-9+.-]*:\/\//i.exec(entry)?.[0];
  return entries
    .map((entry, index) => {
      const own = scheme(entry);
      if (own === undefined) {
        const at = entry.lastIndexOf('@');
        return at < 0 ? '***' : `***${entry.slice(at)}`;
      }
      const next = entries[index + 1];
      // The password went on past a raw comma: nothing after the scheme is safe to show.
      if (!entry.includes('@') && next !== undefined && scheme(next) === undefined) return `${own}***`;
      return maskOne(entry);
    })
    .join(',');
}

/** {@link maskUrl} of one URL. */
function maskOne(url: string): string {
  const scheme = /^\s*[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (scheme === null) return url;
  const rest = url.slice(scheme[0].length);
  const at = rest.lastIndexOf('@');
  const colon = rest.indexOf(':');
  if (at < 0 || colon < 0 || colon > at) return url;
  return `${scheme[0]}${rest.slice(0, colon)}:***${rest.slice(at)}`;
}
