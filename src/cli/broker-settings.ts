/**
 * The RabbitMQ settings every command with `--url` reads: the heartbeat, the order of the
 * nodes, TLS files, the size of new quorum queues and the delay ladder. Files are read here, so that a missing one is a usage error naming
 * its flag and variable, before anything connects.
 */

import { readFileSync } from 'node:fs';
import type { OpenQueueOptions } from '../queue/options.js';
import { ConfigError, integer, optional, optionalInteger, type RawSettings } from './config.js';
import type { SettingName } from './settings.js';

/** The settings {@link readBrokerSettings} reads: every command that takes `--url` takes these. */
export const BROKER_SETTINGS = [
  'heartbeat',
  'nodeOrder',
  'tlsCa',
  'tlsCert',
  'tlsKey',
  'tlsServername',
  'quorumSize',
  'delayRungs',
] as const satisfies readonly SettingName[];

/** What the settings give `openQueue`. */
export type BrokerOptions = Pick<
  OpenQueueOptions,
  'heartbeatSeconds' | 'nodeOrder' | 'tls' | 'quorum' | 'delayRungs'
>;

/** Reads and checks the broker settings (TLS files read now). */
export function readBrokerSettings(raw: RawSettings): BrokerOptions {
  const options: BrokerOptions = { heartbeatSeconds: integer(raw, 'heartbeat', 0, 600) };
  const order = optional(raw, 'nodeOrder');
  if (order !== undefined && order !== 'random' && order !== 'listed')
    throw new ConfigError('nodeOrder', `expected random or listed, got ${JSON.stringify(order)}`);
  if (order !== undefined) options.nodeOrder = order;
  const ca = pemFile(raw, 'tlsCa');
  const cert = pemFile(raw, 'tlsCert');
  const key = pemFile(raw, 'tlsKey');
  if ((cert === undefined) !== (key === undefined))
    throw new ConfigError(
      cert === undefined ? 'tlsCert' : 'tlsKey',
      'a client certificate needs its key: give both',
    );
  const servername = optional(raw, 'tlsServername');
  if (ca !== undefined || cert !== undefined || servername !== undefined) {
    options.tls = {};
    if (ca !== undefined) options.tls.ca = ca;
    if (cert !== undefined && key !== undefined) Object.assign(options.tls, { cert, key });
    if (servername !== undefined) options.tls.servername = servername;
  }
  options.delayRungs = integer(raw, 'delayRungs', 4, 10);
  const size = optionalInteger(raw, 'quorumSize', 1, 255);
  if (size !== undefined) options.quorum = { initialGroupSize: size };
  return options;
}

function pemFile(raw: RawSettings, name: SettingName): Buffer | undefined {
  const path = optional(raw, name);
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(name, `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
}
