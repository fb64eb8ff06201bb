import type { AdvancedOptions, Job } from 'bullmq';
import { BACKOFF_TYPE } from '../../shared/jobs.js';

export interface BackoffSettings {
  /** First retry delay. */
  baseMs: number;
  /** Upper bound for any computed delay. */
  maxMs: number;
}

/**
 * Exponential backoff with "equal jitter" (half fixed, half random), so a burst of
 * failures spreads out instead of retrying in lock-step. An error that knows better
 * (a per-resource Retry-After) sets `nextRetryDelayMs` and wins.
 */
export function computeBackoff(attemptsMade: number, settings: BackoffSettings, err?: unknown, random = Math.random): number {
  const hinted = (err as { nextRetryDelayMs?: unknown } | undefined)?.nextRetryDelayMs;
  if (typeof hinted === 'number' && Number.isFinite(hinted) && hinted >= 0) return Math.ceil(hinted);
  const exp = Math.min(settings.maxMs, settings.baseMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** The BullMQ `settings.backoffStrategy` for the `idsync` backoff type. */
export function backoffStrategy(defaults: BackoffSettings) {
  return (attemptsMade: number, _type: string | undefined, err: Error | undefined, job: Job | undefined): number => {
    const delay = typeof job?.opts.backoff === 'object' ? job.opts.backoff.delay : undefined;
    return computeBackoff(attemptsMade, { baseMs: delay ?? defaults.baseMs, maxMs: defaults.maxMs }, err);
  };
}

/**
 * The worker `settings` every idsync worker uses: the `idsync` backoff type through
 * `backoffStrategy`, BullMQ's exponential default for anything else.
 */
export function workerBackoffSettings(defaults: BackoffSettings): AdvancedOptions {
  const backoff = backoffStrategy(defaults);
  return {
    backoffStrategy: (attemptsMade, type, err, job) =>
      type === BACKOFF_TYPE ? backoff(attemptsMade, type, err, job as Job | undefined) : 1000 * 2 ** (attemptsMade - 1),
  };
}
