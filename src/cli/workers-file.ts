/**
 * The worker count a running instance can be told again. A process's environment is fixed when
 * it starts, so "re-reading MULTITASK_WORKERS" means reading it from a file: a bare value (`8`,
 * `50%`) or dotenv lines (`MULTITASK_WORKERS=8`), e.g. a mounted ConfigMap, read on SIGHUP.
 */

import { readFile } from 'node:fs/promises';
import { ConfigError, workersFromText } from './config.js';

/** Reads the worker count from `path`. */
export async function readWorkersFile(path: string): Promise<number> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      'workersFile',
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  const lines = content
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const assignment = lines.find((line) => /^(export\s+)?MULTITASK_WORKERS\s*=/.test(line));
  const value = (assignment === undefined ? lines[0] : assignment.slice(assignment.indexOf('=') + 1))
    ?.trim()
    .replace(/^["']|["']$/g, '');
  const count = value === undefined ? undefined : workersFromText(value);
  if (count === undefined)
    throw new ConfigError('workersFile', `${path} holds no worker count (8, 50% or MULTITASK_WORKERS=8)`);
  return count;
}
