import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PROCESS_METRICS } from './process-metrics.js';

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
    for (const metric of PROCESS_METRICS) this.registry.registerMetric(metric);
  }

  /**
   * Jobs by queue and state, and quarantine per target, read from Redis when /metrics is
   * scraped (every process sees the same cluster-wide numbers; nothing is counted twice).
   */
  watch(queues: readonly Queue[], quarantined: () => Promise<Record<string, boolean>>): void {
    new Gauge({
      name: 'idsync_jobs',
      help: 'Jobs by queue and state, read at scrape time',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        for (const q of queues) {
          const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed');
          for (const [state, n] of Object.entries(counts)) this.set({ queue: q.name, state }, n);
        }
      },
    });
    new Gauge({
      name: 'idsync_quarantined',
      help: '1 while a target is quarantined (misconfigured; its queue paused), else 0',
      labelNames: ['target'] as const,
      registers: [this.registry],
      async collect() {
        for (const [target, on] of Object.entries(await quarantined())) this.set({ target }, on ? 1 : 0);
      },
    });
  }
}
