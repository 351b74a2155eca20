// The first module a worker thread runs. It is plain JavaScript on purpose: on Node 20 a
// loader given to the parent (`node --import tsx`) is not active in worker threads, so when the
// parent runs under tsx and the thread needs TypeScript (its entry or its app, see
// pool/thread-files.ts) this file registers tsx here before importing the real entry.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { workerData } from 'node:worker_threads';

if (workerData.tsx) {
  let api;
  try {
    api = await import('tsx/esm/api');
  } catch {
    const fromCwd = createRequire(pathToFileURL(`${process.cwd()}/`).href);
    api = await import(pathToFileURL(fromCwd.resolve('tsx/esm/api')).href);
  }
  api.register();
}

// Start loading the app (which may be TypeScript, hence after tsx) while the entry loads; the
// entry's own import of the app joins this one, and reports its errors as it always did.
import(workerData.appUrl).catch(() => {});
await import(workerData.entry);
