/**
 * Loading the user's app for the command: check the file, make TypeScript apps work without
 * `node --import tsx` (tsx is registered here and handed to the workers), and turn a module
 * that cannot be loaded into a one-line configuration error.
 */

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { appUrl, type LoadedApp, loadApp } from '../app/load-app.js';
import { usesTsx } from '../worker/loader-flags.mjs';
import { ConfigError } from './config.js';

/** The app, loaded in this thread, and the Node flags its workers need. */
export interface PreparedApp {
  url: string;
  loaded: LoadedApp;
  /** Flags for the pool's threads (tsx for a TypeScript app), or undefined for the defaults. */
  workerExecArgv: string[] | undefined;
}

const TYPESCRIPT = /\.[cm]?tsx?$/;

interface TsxManifest {
  exports: { '.': string };
}

/** Checks, loads and prepares the app module at `path`. */
export async function prepareApp(path: string): Promise<PreparedApp> {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(path) && !existsSync(resolve(path)))
    throw new ConfigError('app', `no such file: ${resolve(path)}`);
  let workerExecArgv: string[] | undefined;
  if (TYPESCRIPT.test(path) && !usesTsx(process.execArgv)) {
    // Workers resolve `--import` from the working directory: give them tsx's own file. Only
    // that flag: per-process flags of this process (--max-old-space-size…) are refused there.
    workerExecArgv = [`--import=${await registerTsx()}`];
  }
  const url = appUrl(path);
  try {
    return { url, loaded: await loadApp(url), workerExecArgv };
  } catch (error) {
    throw new ConfigError('app', (error as Error).message);
  }
}

/**
 * Loads tsx in this thread (its ESM and CommonJS hooks, as `node --import tsx` would), from the
 * project's dependencies or multitask's own, and returns the URL of that loader for the workers.
 */
async function registerTsx(): Promise<string> {
  const fromCwd = createRequire(pathToFileURL(`${process.cwd()}/`).href);
  const fromHere = createRequire(import.meta.url);
  for (const require of [fromCwd, fromHere]) {
    let manifest: string;
    try {
      manifest = require.resolve('tsx/package.json');
    } catch {
      continue;
    }
    // require.resolve would pick the CommonJS build: read the ESM entry from tsx's exports.
    const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as TsxManifest;
    const loader = pathToFileURL(join(dirname(manifest), exports['.'])).href;
    await import(loader);
    return loader;
  }
  throw new ConfigError('app', 'is TypeScript: install tsx (npm i -D tsx), or compile the app to JavaScript');
}
