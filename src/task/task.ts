/** A task's own enumerable fields: its whole input. */
export type TaskFields = Record<string, unknown>;

/** A minimal structured logger handed to tasks as `ctx.log`. */
export interface TaskLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What a task's `run` receives. */
export interface TaskContext<App = unknown> {
  /** What the app's `setup` returned in this worker (undefined when the app has no setup). */
  app: App;
  /** Aborts on timeout, cancellation and shutdown: pass it to I/O and check it in long loops. */
  signal: AbortSignal;
  /** 1 on the first run; a queued job's delivery attempt, or a supervised replica's run count. */
  attempt: number;
  /** A logger whose lines name the worker and the task. */
  log: TaskLogger;
}

/**
 * A unit of work. Its own public fields are its input: an instance crosses to a worker as its
 * registered name plus those fields, and is rebuilt there from the class prototype without
 * calling the constructor. A task never needs to know where it runs: `new Fib(10).run(ctx)`
 * works inline.
 *
 * @typeParam Result what `run` returns (or resolves to)
 * @typeParam App what the app's `setup` returns, seen as `ctx.app`
 */
export abstract class Task<Result = unknown, App = unknown> {
  /** Does the work; a throw or rejection means failed, a return means done. */
  abstract run(ctx: TaskContext<App>): Result | Promise<Result>;
}

/** The result type of a task instance. */
export type ResultOf<T> = T extends Task<infer R, never> ? R : T extends Task<infer R, infer _A> ? R : never;

/** A concrete task class, as registered in an app. */
// biome-ignore lint/suspicious/noExplicitAny: constructor parameters are the task's own business
export type TaskClass = abstract new (...args: any[]) => Task<unknown, any>;

/**
 * A task class whose `run` accepts a context with `ctx.app` of type `App`. `run` is compared as a
 * function property, not a method, so that its parameter is checked contravariantly: a task that
 * needs `{ db }` does not accept an app of `{}`. A task whose `run` takes no context, or reads
 * `ctx.app` as `unknown`, fits every app.
 */
export type TaskClassFor<App> = abstract new (
  // biome-ignore lint/suspicious/noExplicitAny: constructor parameters are the task's own business
  ...args: any[]
) => {
  run: (ctx: TaskContext<App>) => unknown;
};
