// One adapter per library: make a pool of `size` workers, run one task, wait until the workers
// are up, close. Each library is configured the way its README shows, with only the worker
// count pinned; the task function lives in that library's idiomatic worker file (workers/).
import { setTimeout as sleep } from 'node:timers/promises';

const here = (path) => new URL(path, import.meta.url);

/** The libraries compared, multitask first. */
export const LIBRARIES = ['multitask', 'piscina', 'tinypool', 'workerpool', 'poolifier'];
export const PEERS = LIBRARIES.filter((name) => name !== 'multitask');

/**
 * Imports a library (so that module loading is not timed) and returns `create(size, kind)`,
 * where kind is 'inc' (x -> x + 1) or 'fib' (n -> fib(n)); `create` returns
 * `{ run(x): Promise, ready(): Promise, close(): Promise }`.
 */
export async function load(name) {
  switch (name) {
    case 'multitask':
      return multitask();
    case 'piscina': {
      const { Piscina } = await import('piscina');
      return piscinaLike(Piscina, 'piscina');
    }
    case 'tinypool': {
      // tinypool is a fork of piscina with the same constructor options and thread list.
      const { Tinypool } = await import('tinypool');
      return piscinaLike(Tinypool, 'tinypool');
    }
    case 'workerpool': {
      const { default: workerpool } = await import('workerpool');
      return (size, kind) => {
        const pool = workerpool.pool(here(`./workers/workerpool-${kind}.mjs`).pathname, {
          minWorkers: size,
          maxWorkers: size,
          workerType: 'thread',
        });
        return {
          run: (x) => pool.exec(kind, [x]),
          ready: () => waitFor(() => pool.stats().totalWorkers === size),
          close: () => pool.terminate(),
        };
      };
    }
    case 'poolifier': {
      const { FixedThreadPool } = await import('poolifier');
      return (size, kind) => {
        const pool = new FixedThreadPool(size, here(`./workers/poolifier-${kind}.mjs`).pathname);
        return {
          run: (x) => pool.execute(x),
          ready: () => waitFor(() => pool.info.ready),
          close: () => pool.destroy(),
        };
      };
    }
    default:
      throw new Error(`unknown library ${name}`);
  }
}

/** multitask, imported by name (bench/node_modules/multitask links to the repository, so dist/). */
async function multitask() {
  const { Pool } = await import('multitask');
  const { Inc, Fib } = await import('./tasks.mjs');
  return (size, kind) => {
    const pool = new Pool({ app: here('./app.mjs'), size });
    const Kind = kind === 'fib' ? Fib : Inc;
    return {
      run: (x) => pool.run(new Kind(x)),
      ready: async () => {
        await pool.ready;
        for (;;) {
          const { workers } = pool.stats();
          if (workers.length === size && workers.every((worker) => worker.state === 'idle')) return;
          await sleep(2);
        }
      },
      close: () => pool.close(),
      stats: () => pool.stats(),
    };
  };
}

async function waitFor(condition) {
  while (!condition()) await sleep(2);
}

/** An adapter for piscina and its fork tinypool, which share options and the `threads` list. */
function piscinaLike(PoolClass, prefix) {
  return (size, kind) => {
    const pool = new PoolClass({
      filename: here(`./workers/${prefix}-${kind}.mjs`).href,
      minThreads: size,
      maxThreads: size,
    });
    return {
      run: (x) => pool.run(x),
      ready: () => waitFor(() => pool.threads.length === size),
      close: () => pool.destroy(),
    };
  };
}
