import type { TaskClass } from '../task/task.js';

/** What an app module describes: its task registry and how a worker boots and stops it. */
export interface AppDefinition<App = unknown> {
  /** The registry: name -> task class. Names cross thread and process boundaries. */
  tasks: Record<string, TaskClass>;
  /** Runs once per worker before its first task; its result is `ctx.app`. */
  setup?: () => App | Promise<App>;
  /** Runs when the worker stops, with what `setup` returned. */
  teardown?: (app: App) => void | Promise<void>;
}

/** Marks an app definition so that loaders can recognise it; see {@link defineApp}. */
export const APP_BRAND: unique symbol = Symbol.for('multitask.app');

/** An app definition made by {@link defineApp}. */
export type DefinedApp<App = unknown> = AppDefinition<App> & { readonly [APP_BRAND]: true };

/**
 * Declares the entry point every worker boots from: the task registry plus `setup` and
 * `teardown`. Export it as the module's default export. Importing the module must have no side
 * effects: the main thread imports it only to read the registry.
 */
export function defineApp<App = undefined>(definition: AppDefinition<App>): DefinedApp<App> {
  return Object.freeze({ ...definition, [APP_BRAND]: true as const });
}

/** True for an app made by {@link defineApp}. */
export function isDefinedApp(value: unknown): value is DefinedApp<unknown> {
  return (
    typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[APP_BRAND] === true
  );
}
