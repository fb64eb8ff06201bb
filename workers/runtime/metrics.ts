import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one runtime (served on /metrics by the health server). */
export class RuntimeMetrics {
  readonly registry = new Registry();
  readonly outcomes = new Counter({
    name: 'idsync_job_attempts_total',
    help: 'Job attempts by target, job name, operation and outcome status',
    labelNames: ['target', 'job', 'operation', 'status'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'idsync_job_duration_seconds',
    help: 'Time from job start to outcome',
    labelNames: ['target', 'job'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'idsync_event_to_apply_seconds',
    help: 'Time from enqueue to a successful remote write',
    labelNames: ['target'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600],
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
