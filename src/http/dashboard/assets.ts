/**
 * The page and its files: `index.html` and `assets/*` from this module's `assets/` folder (the
 * page helper's plain files, copied next to the built module by scripts/build.mjs, so the npm
 * package serves them with no build step), and uPlot from the installed package. Files are
 * read once per change (their mtime), gzipped when the browser takes it, and revalidated by
 * ETag. The page carries its CSRF token and its base URL; its Content-Security-Policy lets it
 * run only the scripts served here.
 */

import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { COMMON_HEADERS, HttpRefusal } from './respond.js';

const ASSETS_DIR = fileURLToPath(new URL('./assets/', import.meta.url));
const requireHere = createRequire(import.meta.url);

/** Files served from the uPlot package rather than the assets folder. */
const PACKAGE_FILES: Record<string, () => string> = {
  'uplot.js': () => requireHere.resolve('uplot/dist/uPlot.iife.min.js'),
  'uplot.css': () => requireHere.resolve('uplot/dist/uPlot.min.css'),
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.svg', '.json', '.txt']);

/**
 * What the page may do: scripts, styles, images and requests of its own origin only; no inline
 * script, no frames, no plugins. uPlot styles its elements from script (allowed: that is not
 * inline CSS).
 */
export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface Loaded {
  mtimeMs: number;
  size: number;
  body: Buffer;
  gzip: Buffer | undefined;
  etag: string;
}

/** A file read once per change. */
const cache = new Map<string, Loaded>();

function load(path: string): Loaded | undefined {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch {
    return undefined;
  }
  if (!stat.isFile()) return undefined;
  const known = cache.get(path);
  if (known !== undefined && known.mtimeMs === stat.mtimeMs && known.size === stat.size) return known;
  const body = readFileSync(path);
  const loaded: Loaded = {
    mtimeMs: stat.mtimeMs,
    size: stat.size,
    body,
    gzip: COMPRESSIBLE.has(extname(path)) && body.length > 1024 ? gzipSync(body) : undefined,
    etag: `"${createHash('sha1').update(body).digest('base64url')}"`,
  };
  cache.set(path, loaded);
  return loaded;
}

/** The file behind `assets/<name>`, or undefined; a name that climbs out of the folder is none. */
function assetPath(name: string): string | undefined {
  const packaged = PACKAGE_FILES[name];
  if (packaged !== undefined) return packaged();
  const segments = name.split('/');
  if (!segments.every((segment) => /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(segment))) return undefined;
  return join(ASSETS_DIR, ...segments);
}

/** Serves `assets/<name>` (GET, HEAD); 404 when there is no such file. */
export function serveAsset(name: string, request: IncomingMessage, response: ServerResponse): void {
  const path = assetPath(name);
  const file = path === undefined ? undefined : load(path);
  if (path === undefined || file === undefined)
    throw new HttpRefusal(404, 'ERR_NOT_FOUND', `no asset ${JSON.stringify(name)}`);
  const type = TYPES[extname(path)] ?? 'application/octet-stream';
  // Revalidated every time (cheap: 304): a new version of the package shows at once.
  send(request, response, file, type, { 'cache-control': 'no-cache', etag: file.etag });
}

/** The page with its CSRF token and base URL filled in (a placeholder until the page exists). */
export function servePage(
  request: IncomingMessage,
  response: ServerResponse,
  page: { csrfToken: string; baseHref: string },
): void {
  const file = load(join(ASSETS_DIR, 'index.html'));
  const html = injectPage(file === undefined ? PLACEHOLDER : file.body.toString('utf8'), page);
  const body = Buffer.from(html, 'utf8');
  const loaded: Loaded = {
    mtimeMs: 0,
    size: body.length,
    body,
    gzip: body.length > 1024 && acceptsGzip(request) ? gzipSync(body) : undefined,
    etag: '',
  };
  send(request, response, loaded, TYPES['.html']!, {
    ...COMMON_HEADERS,
    'content-security-policy': PAGE_CSP,
  });
}

/** Sets the page's `<base href>` and CSRF meta, replacing those it has or adding them to `<head>`. */
export function injectPage(html: string, { csrfToken, baseHref }: { csrfToken: string; baseHref: string }) {
  const base = `<base href="${escapeAttribute(baseHref)}">`;
  const meta = `<meta name="multitask-csrf" content="${escapeAttribute(csrfToken)}">`;
  let out = html;
  out = /<base\b[^>]*>/i.test(out) ? out.replace(/<base\b[^>]*>/i, () => base) : addToHead(out, base);
  const metaTag = /<meta\s+name="multitask-csrf"[^>]*>/i;
  out = metaTag.test(out) ? out.replace(metaTag, () => meta) : addToHead(out, meta);
  return out;
}

function addToHead(html: string, tag: string): string {
  // The base must come before any relative URL in the head: right after <head>.
  return /<head\b[^>]*>/i.test(html)
    ? html.replace(/<head\b[^>]*>/i, (head) => `${head}\n    ${tag}`)
    : `${tag}\n${html}`;
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function acceptsGzip(request: IncomingMessage): boolean {
  return /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
}

function send(
  request: IncomingMessage,
  response: ServerResponse,
  file: Loaded,
  type: string,
  headers: Record<string, string>,
): void {
  const common = { 'x-content-type-options': 'nosniff', vary: 'accept-encoding', ...headers };
  if (file.etag !== '' && request.headers['if-none-match'] === file.etag) {
    response.writeHead(304, common);
    response.end();
    return;
  }
  const gzip = file.gzip !== undefined && acceptsGzip(request);
  const body = gzip ? file.gzip! : file.body;
  response.writeHead(200, {
    ...common,
    'content-type': type,
    'content-length': body.length,
    ...(gzip ? { 'content-encoding': 'gzip' } : {}),
  });
  response.end(request.method === 'HEAD' ? undefined : body);
}

/** Served until the page's own index.html exists: enough to see the server answer. */
const PLACEHOLDER = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>multitask dashboard</title>
  </head>
  <body>
    <h1>multitask dashboard</h1>
    <p>The page is not installed here; the API answers under <code>api/snapshot</code> and <code>api/stream</code>.</p>
  </body>
</html>
`;
