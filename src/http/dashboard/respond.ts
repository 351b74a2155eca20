/**
 * Small pieces every dashboard route shares: JSON answers (never cached), refusals with a
 * stable `code`, and reading a bounded JSON body.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

/** Headers every dashboard answer carries: nothing is cached, sniffed, framed or referred. */
export const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

/** A refusal the page can show: an HTTP status, a readable message and a stable code. */
export class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * JSON with `<`, `>` and `&` (and the two line separators JavaScript once refused) written as
 * `\u` escapes: the same data, but a job field holding `<script>` cannot be read as markup by
 * anything that mistakes the answer for HTML. The page inserts every value as text anyway.
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Sends `body` as JSON with `status`. */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers = {}): void {
  const text = safeJson(body);
  response.writeHead(status, {
    ...COMMON_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

/** Sends a refusal as `{ error, code }`. */
export function sendRefusal(response: ServerResponse, refusal: HttpRefusal): void {
  sendJson(response, refusal.status, { error: refusal.message, code: refusal.code }, refusal.headers);
}

/** The largest body a POST may carry: ids of a selection, not a data upload. */
const MAX_BODY_BYTES = 1 << 20;

/**
 * Reads a JSON body of at most 1 MiB; a refusal (400, 413) otherwise. A body an earlier
 * middleware parsed already (Express's `express.json()` sets `req.body`) is taken as it is.
 */
export async function readJson(request: IncomingMessage & { body?: unknown }): Promise<unknown> {
  if (request.body !== undefined && typeof request.body === 'object' && request.readableEnded)
    return request.body;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpRefusal(413, 'ERR_BODY_TOO_LARGE', 'the body is over 1 MiB');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpRefusal(400, 'ERR_BAD_REQUEST', 'the body is not JSON');
  }
}

/** 405 with the methods a path takes. */
export function methodNotAllowed(methods: string[]): HttpRefusal {
  return new HttpRefusal(405, 'ERR_METHOD_NOT_ALLOWED', `use ${methods.join(' or ')}`, {
    allow: methods.join(', '),
  });
}
