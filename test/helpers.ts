import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Pool, type PoolEventName, type PoolEvents, type PoolOptions } from '../src/index.js';

/** The fixture app most tests boot (TypeScript, so the suite also proves tsx carries into workers). */
export const FIXTURE_APP = new URL('./fixtures/app.ts', import.meta.url);

/** Runs `body` with a fresh pool over the fixture app and always closes it. */
export async function withPool<T>(
  options: Partial<PoolOptions>,
  body: (pool: Pool) => Promise<T>,
): Promise<T> {
  const pool = new Pool({ app: FIXTURE_APP, size: 1, ...options });
  try {
    return await body(pool);
  } finally {
    await pool.close({ graceMs: 1_000 });
  }
}

/** Collects the payloads of one pool event. */
export function record<E extends PoolEventName>(pool: Pool, event: E): Array<PoolEvents[E]> {
  const seen: Array<PoolEvents[E]> = [];
  pool.on(event, (payload) => seen.push(payload));
  return seen;
}

/** Waits for the next `event` whose payload satisfies `match`. */
export async function nextEvent<E extends PoolEventName>(
  pool: Pool,
  event: E,
  match: (payload: PoolEvents[E]) => boolean = () => true,
): Promise<PoolEvents[E]> {
  for (;;) {
    const [payload] = (await once(pool, event)) as [PoolEvents[E]];
    if (match(payload)) return payload;
  }
}

/** Polls `condition` every 10 ms until it holds; fails (rather than hangs) after `withinMs`. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  withinMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`condition still false after ${withinMs} ms: ${condition.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits until `count` workers of `pool` have come online (every test that needs them all says so). */
export async function allOnline(pool: Pool, count = pool.size): Promise<void> {
  await eventually(
    () => pool.stats().workers.filter((worker) => worker.state !== 'starting').length >= count,
  );
}

/** A failed call's error, for assertions on its fields; fails the test if the call succeeded. */
export async function failure(
  promise: Promise<unknown>,
): Promise<Error & { code?: string; [key: string]: unknown }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string; [key: string]: unknown };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Runs a fixture script in its own Node process (under tsx unless `loader` is false) and waits for it. */
export function runScript(
  script: URL | string,
  { loader = true, args = [] as string[] } = {},
): SpawnSyncReturns<string> {
  const path = script instanceof URL ? fileURLToPath(script) : script;
  return spawnSync(process.execPath, [...(loader ? ['--import', 'tsx'] : []), ...args, path], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
}
