/**
 * The paths the worker's HTTP server answers. Probes, scrapers and the deploy manifests name
 * them; the deploy test checks the manifests against these constants.
 */
export const ROUTES = {
  /** Liveness: 200 while the event loop turns; 503 once it has been stuck. */
  health: '/healthz',
  /** Readiness: 200 when the broker is connected, a worker is up and the instance is not draining. */
  ready: '/readyz',
  /** Prometheus text format (prom-client). */
  metrics: '/metrics',
  /** `POST /workers?size=8` resizes the pool; answered only to loopback clients. */
  workers: '/workers',
} as const;

/** The metric names other systems query (KEDA's Prometheus trigger, dashboards). */
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
} as const;
