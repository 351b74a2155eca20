/**
 * multitask: run TypeScript work in parallel on Node.js — tasks, an app every worker boots
 * from, supervised pools of worker threads, and durable queues. Public exports only.
 */
export {
  type AppDefinition,
  type AppOf,
  type AppTasks,
  type DefinedApp,
  defineApp,
} from './app/define-app.js';
export {
  type DispatchIncompleteError,
  ErrorCode,
  type ErrorCodeValue,
  hasCode,
  MultitaskError,
  type MultitaskErrorDetails,
  type NotAcceptedJob,
} from './errors.js';
export { CSRF_HEADER, DASHBOARD_PATHS } from './http/dashboard/api.js';
export { createDashboard, type DashboardHandler } from './http/dashboard/handler.js';
export type { DashboardAuth, DashboardOptions, DashboardSource } from './http/dashboard/source.js';
export type {
  ConsumeOptions,
  Consumer,
  ConsumerCounts,
  ConsumerEvents,
  SettledJob,
  StopOptions,
} from './pool/consumer.js';
export type { PoolEventName, PoolEvents } from './pool/events.js';
export type { PoolOptions, RecycleOptions } from './pool/options.js';
export {
  type CloseOptions,
  Pool,
  type PoolStats,
  type RunOptions,
  type SuperviseOptions,
  type WorkerStats,
} from './pool/pool.js';
export type { RestartOptions } from './pool/restart-policy.js';
export type { Percentiles } from './pool/run-stats.js';
export type { PoolSize } from './pool/sizing.js';
export type { Service } from './pool/supervisor.js';
export type { WorkerState } from './pool/worker-handle.js';
export type { PoolState } from './pool/workforce.js';
export {
  DEFAULT_HEARTBEAT_SECONDS,
  type NodeOrder,
  type QuorumOptions,
  type TlsOptions,
} from './queue/amqp-options.js';
export type { BatchEntry } from './queue/dispatch-many.js';
export type {
  EventsOptions,
  FeedEvent,
  FeedGap,
  InstanceInfo,
  InstanceQueueCounts,
  JobEvent,
  JobEventType,
} from './queue/fleet-types.js';
export { type JobBody, MAX_DELAY_MS, MESSAGE_VERSION, type StoredError } from './queue/message.js';
export type {
  ConnectRetry,
  DispatchOptions,
  FailedIdsOptions,
  FailedListOptions,
  OpenQueueOptions,
} from './queue/options.js';
export { openQueue, Queue, type QueueEvents, type StoredResult } from './queue/queue.js';
export type { CallOptions, ResultOptions } from './queue/result-options.js';
export type { FailedJob, QueueStats } from './queue/transport.js';
export { maskUrl } from './queue/url.js';
export {
  type ResultOf,
  Task,
  type TaskClass,
  type TaskClassFor,
  type TaskContext,
  type TaskLogger,
} from './task/task.js';
export type { LogLevelOption, TaskLogLevel, TaskLogRecord } from './worker/task-logger.js';
