import type { TaskClass, TaskClassFor } from '../task/task.js';

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
 * The `tasks` an app whose `setup` returns `App` may register: classes whose `run` reads
 * `ctx.app` as `App` (or as something `App` is assignable to), or does not read it at all.
 */
export type AppTasks<App> = Record<string, TaskClassFor<App>>;

/**
 * What `ctx.app` is for an app made by {@link defineApp} (`AppOf<typeof app>`), or for its
 * `setup` function (`AppOf<typeof setup>`: what it returns, awaited). When the tasks module
 * imports this type from the app module that imports the tasks, name the setup function: TypeScript
 * cannot derive the type of `app` from the tasks whose own types depend on it.
 */
export type AppOf<T> =
  T extends DefinedApp<infer App>
    ? App
    : T extends (...args: never[]) => infer Result
      ? Awaited<Result>
      : never;

/**
 * Declares the entry point every worker boots from: the task registry plus `setup` and
 * `teardown`. Export it as the module's default export. Importing the module must have no side
 * effects: the main thread imports it only to read the registry.
 *
 * `App` is inferred from `setup`; a task class whose `ctx.app` does not match it is a type error
 * where it is registered in `tasks`. `App` defaults to `any`, not `undefined`, because TypeScript
 * first checks the call before it has read a method-style `setup() {}` (a method is
 * context-sensitive through `this`): a default of `undefined` would refuse every task that reads
 * `ctx.app` at that first look. An app without `setup` is therefore not checked against its
 * tasks; its `ctx.app` is still typed `undefined` (see the return type).
 */
// biome-ignore lint/suspicious/noExplicitAny: the default must accept every task until setup is read
export function defineApp<App = any>(
  definition: AppDefinition<App> & { tasks: AppTasks<NoInfer<App>> },
): DefinedApp<IsAny<App> extends true ? undefined : App> {
  return Object.freeze({ ...definition, [APP_BRAND]: true as const }) as DefinedApp<
    IsAny<App> extends true ? undefined : App
  >;
}

/** `true` for `any`, the one type that `1 & T` does not narrow. */
type IsAny<T> = 0 extends 1 & T ? true : false;

/** True for an app made by {@link defineApp}. */
export function isDefinedApp(value: unknown): value is DefinedApp<unknown> {
  return (
    typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[APP_BRAND] === true
  );
}
