/**
 * The paths the worker's HTTP server answers. Probes, scrapers and the deploy manifests name
 * them; the deploy test checks the manifests against these constants. (The metric names those
 * systems query live with the metrics, in observability/metric-names.ts.)
 */
export const ROUTES = {
  /** Liveness: 200 while the event loop turns; 503 once it has been stuck. */
  health: '/healthz',
  /** Readiness: 200 when the broker is connected, a worker is up and the instance is not draining. */
  ready: '/readyz',
  /** Prometheus text (prom-client); OpenMetrics, with exemplars, when the scrape's Accept asks for it. */
  metrics: '/metrics',
  /** `POST /workers?size=8` resizes the pool; answered only to loopback clients. */
  workers: '/workers',
  /** The web dashboard (`work --dashboard`), everything below it; off unless asked for. */
  dashboard: '/dashboard/',
} as const;
