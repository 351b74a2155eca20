import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { appImportFailed, appNotDefined, invalidOption } from '../errors.js';
import { TaskRegistry } from '../task/registry.js';
import { type DefinedApp, isDefinedApp } from './define-app.js';

/** Where an app module lives: a path (relative to the working directory) or a URL. */
export type AppLocation = string | URL;

/** The app location as a `file:` URL string, the one form both threads import the same way. */
export function appUrl(location: AppLocation): string {
  if (location instanceof URL) return location.href;
  if (typeof location === 'string' && location.length > 0) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(location) && !isAbsolute(location)) return new URL(location).href;
    return pathToFileURL(resolve(location)).href;
  }
  throw invalidOption('app', location, 'a path or URL');
}

/** A loaded app: its definition and its registry. */
export interface LoadedApp {
  definition: DefinedApp<unknown>;
  registry: TaskRegistry;
}

/** Imports the app module and checks that it exports an app made by `defineApp` (default or `app`). */
export async function loadApp(url: string): Promise<LoadedApp> {
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw appImportFailed(url, error);
  }
  const definition = [module.default, module.app].find(isDefinedApp);
  if (definition === undefined) {
    throw appNotDefined(url);
  }
  return { definition, registry: new TaskRegistry(definition.tasks) };
}
