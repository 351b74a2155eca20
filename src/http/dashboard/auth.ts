/**
 * Who may see the dashboard and act through it. Reading needs the credentials when some are set:
 * a bearer token (the `Authorization` header, or `?token=` once, which becomes a cookie so the
 * page's own requests and its EventSource carry it) or HTTP basic credentials. Acting (retry,
 * purge) also needs the page's CSRF token in a header, a JSON body, and no sign of another
 * site. Secrets are compared in constant time and never echoed.
 */

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { dashboardInsecure, invalidOption } from '../../errors.js';
import { CSRF_HEADER } from './api.js';
import { HttpRefusal } from './respond.js';
import type { DashboardAuth } from './source.js';

/** The cookie `?token=` sets: a value derived from the token, not the token itself. */
export const SESSION_COOKIE = 'multitask_dashboard';

/** Equal strings, in a time that does not tell how much of them matched. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Checks the `auth` option: a non-empty token, or a non-empty user and password. */
export function checkAuth(auth: unknown): DashboardAuth | undefined {
  if (auth === undefined) return undefined;
  const expected = '{ token } or { username, password }, non-empty strings';
  if (typeof auth !== 'object' || auth === null) throw invalidOption('auth', auth, expected);
  const { token, username, password } = auth as Record<string, unknown>;
  if (typeof token === 'string' && token !== '' && username === undefined && password === undefined)
    return { token };
  if (typeof username === 'string' && username !== '' && typeof password === 'string' && password !== '')
    return { username, password };
  // Never quote the value: it holds a secret.
  throw invalidOption('auth', '(hidden)', expected);
}

/** True for an address only this machine reaches. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    bare === 'localhost' || bare === '::1' || /^(::ffff:)?127(\.\d{1,3}){3}$/.test(bare) || bare === '127.1'
  );
}

/**
 * Refuses (`ERR_DASHBOARD_INSECURE`) to serve on a non-loopback `host` without credentials;
 * `how` names the settings that give some.
 */
export function assertSafeListen(host: string, port: number, auth: DashboardAuth | undefined, how: string) {
  if (auth === undefined && !isLoopback(host)) throw dashboardInsecure(`${host}:${port}`, how);
}

/** What the gate decided about a request. */
export type GateDecision =
  | { kind: 'pass' }
  /** `?token=` was right: set the cookie and send the browser to the URL without it. */
  | { kind: 'redirect'; location: string; cookie: string };

/** The credentials check of every request, and the CSRF check of actions. */
export class Gate {
  /** The token the page carries in its `<meta name="multitask-csrf">`, fixed for the dashboard's life. */
  readonly csrfToken = randomBytes(24).toString('base64url');
  readonly #auth: DashboardAuth | undefined;
  /** The cookie's value: an HMAC of the token, the same after a restart (the page reconnects). */
  readonly #session: string | undefined;

  constructor(auth: DashboardAuth | undefined) {
    this.#auth = auth;
    if (auth !== undefined && 'token' in auth)
      this.#session = createHmac('sha256', auth.token)
        .update('multitask dashboard session')
        .digest('base64url');
  }

  /** Lets the request through, sends it to set the cookie, or refuses it (401). */
  admit(request: IncomingMessage, url: URL, cookiePath: string): GateDecision {
    const auth = this.#auth;
    if (auth === undefined) return { kind: 'pass' };
    const header = request.headers.authorization ?? '';
    if ('token' in auth) {
      const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
      if (bearer !== undefined && sameSecret(bearer, auth.token)) return { kind: 'pass' };
      const cookie = cookieValue(request.headers.cookie, SESSION_COOKIE);
      if (cookie !== undefined && sameSecret(cookie, this.#session!)) return { kind: 'pass' };
      const query = url.searchParams.get('token');
      if (query !== null && sameSecret(query, auth.token)) {
        url.searchParams.delete('token');
        const secure = isHttps(request) ? '; Secure' : '';
        return {
          kind: 'redirect',
          location: `${url.pathname}${url.search}`,
          cookie: `${SESSION_COOKIE}=${this.#session}; Path=${cookiePath}; HttpOnly; SameSite=Strict${secure}`,
        };
      }
      throw new HttpRefusal(401, 'ERR_UNAUTHORIZED', 'a token is required: open the address with ?token=…', {
        'www-authenticate': 'Bearer realm="multitask dashboard"',
      });
    }
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header)?.[1];
    if (basic !== undefined) {
      const decoded = Buffer.from(basic, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = colon < 0 ? '' : decoded.slice(0, colon);
      const password = colon < 0 ? '' : decoded.slice(colon + 1);
      // Both compared, whatever the first says: the time tells nothing of which was wrong.
      const userOk = sameSecret(user, auth.username);
      const passwordOk = sameSecret(password, auth.password);
      if (userOk && passwordOk) return { kind: 'pass' };
    }
    throw new HttpRefusal(401, 'ERR_UNAUTHORIZED', 'a user and password are required', {
      'www-authenticate': 'Basic realm="multitask dashboard", charset="UTF-8"',
    });
  }

  /**
   * An action (retry, purge) must come from the page: a JSON body, the CSRF header, and neither
   * `Origin` nor `Sec-Fetch-Site` saying another site sent it. 403 otherwise.
   */
  checkAction(request: IncomingMessage): void {
    const refuse = (why: string) => new HttpRefusal(403, 'ERR_CSRF', why);
    const site = request.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin') throw refuse(`a request from another site (${site})`);
    const origin = request.headers.origin;
    if (origin !== undefined && !sameOrigin(origin, request)) throw refuse('a request from another origin');
    const type = request.headers['content-type'] ?? '';
    if (!/^application\/json\s*(;|$)/i.test(type))
      throw refuse('an action takes a JSON body (application/json)');
    const token = request.headers[CSRF_HEADER];
    if (typeof token !== 'string' || !sameSecret(token, this.csrfToken))
      throw refuse(`the ${CSRF_HEADER} header does not match the page's token: reload the page`);
  }
}

/** The request's `Origin` names the host it was sent to (or the one a proxy says it was). */
function sameOrigin(origin: string, request: IncomingMessage): boolean {
  let host: string;
  try {
    host = new URL(origin).host.toLowerCase();
  } catch {
    return false;
  }
  const forwarded = request.headers['x-forwarded-host'];
  const hosts = [request.headers.host, ...(typeof forwarded === 'string' ? forwarded.split(',') : [])];
  return hosts.some((candidate) => candidate !== undefined && candidate.trim().toLowerCase() === host);
}

function isHttps(request: IncomingMessage): boolean {
  return (
    (request.socket as { encrypted?: boolean }).encrypted === true ||
    request.headers['x-forwarded-proto'] === 'https'
  );
}

/** The value of cookie `name` in a `Cookie` header. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
