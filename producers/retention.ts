import type { JobsOptions } from 'bullmq';
import { BACKOFF_TYPE } from '../shared/jobs.js';

/**
 * Job options every producer uses, so retries and retention are the same whether a
 * job came from the client library, the HTTP ingest or the scheduler.
 * Completed jobs are kept briefly (debugging); failed ones for 30 days (replay).
 * `age` is in seconds, as BullMQ expects.
 */
export function standardJobOptions(attempts: number, backoffMs: number): JobsOptions {
  return {
    attempts,
    backoff: { type: BACKOFF_TYPE, delay: backoffMs },
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: { age: 30 * 86_400 },
  };
}

/** Password jobs never outlive their usefulness: removed on completion, and on failure after the TTL. */
export function passwordJobOptions(attempts: number, backoffMs: number, ttlMs: number): JobsOptions {
  return {
    ...standardJobOptions(attempts, backoffMs),
    removeOnComplete: true,
    removeOnFail: { age: Math.ceil(ttlMs / 1000) },
  };
}
