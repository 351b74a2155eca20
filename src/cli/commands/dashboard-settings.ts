/**
 * The dashboard's settings, shared by `multitask dashboard` and `multitask work --dashboard`:
 * the credentials (a token, or a user and password, from flags or their variables) and
 * read-only, and the rule that a listener other machines can reach needs credentials.
 */

import { assertSafeListen } from '../../http/dashboard/auth.js';
import type { DashboardAuth } from '../../http/dashboard/source.js';
import { ConfigError, flag, optional, type RawSettings } from '../config.js';
import type { SettingName } from '../settings.js';

/** The settings every dashboard reads. */
export const DASHBOARD_AUTH_SETTINGS = [
  'token',
  'user',
  'password',
  'readOnly',
] as const satisfies readonly SettingName[];

/** What the settings give the dashboard. */
export interface DashboardSettings {
  auth: DashboardAuth | undefined;
  readOnly: boolean;
}

/** How the refusal names the settings that give credentials. */
const HOW =
  '--token (MULTITASK_DASHBOARD_TOKEN), or --user and --password (MULTITASK_DASHBOARD_USER, MULTITASK_DASHBOARD_PASSWORD)';

/**
 * Reads the credentials and read-only, and refuses (`ERR_DASHBOARD_INSECURE`) to listen on a
 * non-loopback `listen` without credentials.
 */
export function readDashboardSettings(
  raw: RawSettings,
  listen: { host: string; port: number },
): DashboardSettings {
  const token = optional(raw, 'token');
  const user = optional(raw, 'user');
  const password = optional(raw, 'password');
  if (token !== undefined && (user !== undefined || password !== undefined))
    throw new ConfigError('token', 'give a token, or a user and password, not both');
  if ((user === undefined) !== (password === undefined))
    throw new ConfigError(
      user === undefined ? 'user' : 'password',
      'basic credentials need both --user and --password',
    );
  const auth: DashboardAuth | undefined =
    token !== undefined
      ? { token }
      : user !== undefined && password !== undefined
        ? { username: user, password }
        : undefined;
  assertSafeListen(listen.host, listen.port, auth, HOW);
  return { auth, readOnly: flag(raw, 'readOnly') };
}

/** What the log says of the credentials: their kind, never their value. */
export function authKind(auth: DashboardAuth | undefined): 'token' | 'basic' | 'none' {
  return auth === undefined ? 'none' : 'token' in auth ? 'token' : 'basic';
}

/** The address a person types: `http://host:port/path`, an IPv6 host in brackets. */
export function browserAddress(address: { host: string; port: number }, path: string): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `http://${host}:${address.port}${path}`;
}
