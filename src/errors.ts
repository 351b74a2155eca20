/**
 * Every error multitask raises is a {@link MultitaskError} with a stable string `code`, and is
 * built in src/errors/, one function per kind of error, so that each wording lives once
 * (as undici's and fastify's error modules do). Callers elsewhere in src/ import the builders
 * from here and never write `new MultitaskError`.
 */
export * from './errors/core.js';
export * from './errors/dashboard-errors.js';
export * from './errors/pool-errors.js';
export * from './errors/queue-errors.js';
export * from './errors/result-errors.js';
export * from './errors/task-errors.js';
