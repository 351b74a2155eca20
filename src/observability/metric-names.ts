/**
 * The metric names other systems query (KEDA's Prometheus trigger, dashboards, the deploy
 * manifests); the deploy test checks the manifests against these constants.
 */
/** Every metric name the service exports, by role. */
export const METRIC = {
  /** Jobs ready in the queue (the broker's own count: the same on every instance). */
  queueReady: 'multitask_queue_ready',
  /** Jobs delivered and not acknowledged: every consumer's on SQLite, this instance's own on RabbitMQ. */
  queueUnacked: 'multitask_queue_unacked',
  queueDelayed: 'multitask_queue_delayed',
  queueFailed: 'multitask_queue_failed',
  jobsCompleted: 'multitask_jobs_completed_total',
  jobsFailed: 'multitask_jobs_failed_total',
  jobsRetried: 'multitask_jobs_retried_total',
  jobsReleased: 'multitask_jobs_released_total',
  jobDuration: 'multitask_job_duration_seconds',
  jobsInFlight: 'multitask_jobs_in_flight',
  workersAlive: 'multitask_workers_alive',
  workersTarget: 'multitask_workers_target',
  workerRestarts: 'multitask_worker_restarts_total',
  /** Supervised tasks (`multitask run`) run again after failing. */
  taskRestarts: 'multitask_task_restarts_total',
  ready: 'multitask_ready',
  /** RabbitMQ: 1 for the node of the URL list the connection is to, 0 for the others (label `node`: host:port). */
  brokerConnected: 'multitask_broker_connected',
} as const;
