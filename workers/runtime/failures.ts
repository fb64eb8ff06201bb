import { RateLimitError, UnrecoverableError, type Job, type Queue } from 'bullmq';
import { errorKind, type ThrottledError } from '../../shared/errors.js';
import { redactText } from '../../shared/redact.js';
import type { AuditStatus } from '../../shared/audit.js';
import type { Quarantine } from './quarantine.js';
import { throttleEvents } from './process-metrics.js';

/**
 * The one place the error taxonomy becomes BullMQ behaviour (design decision 5).
 * Returns what to audit and the error the processor must throw.
 */
export interface FailureDecision {
  status: AuditStatus;
  /** Readable, redacted reason. */
  reason: string;
  toThrow: Error;
}

export interface FailureContext {
  queue: Queue;
  quarantine: Quarantine;
  /** True once shutdown has aborted this job: release it instead of failing it. */
  released: boolean;
}

export async function decideFailure(err: unknown, job: Job, ctx: FailureContext): Promise<FailureDecision> {
  const reason = redactText(err instanceof Error ? err.message : String(err));
  if (ctx.released) {
    // Shutdown ran out of time: back to `wait` without using an attempt; the next
    // worker re-applies it (every operation is idempotent).
    return { status: 'retrying', reason: `released on shutdown: ${reason}`, toThrow: new RateLimitError() };
  }
  switch (errorKind(err)) {
    case 'throttled': {
      const { retryAfterMs } = err as ThrottledError;
      throttleEvents.inc({ target: ctx.queue.name });
      // Pauses every worker on this target's queue; the job goes back to wait, no attempt used.
      await ctx.queue.rateLimit(Math.max(1, retryAfterMs));
      return { status: 'throttled', reason: `${reason} (retry after ${retryAfterMs} ms)`, toThrow: new RateLimitError() };
    }
    case 'configuration':
      await ctx.quarantine.enter(reason);
      return { status: 'quarantined', reason, toThrow: new RateLimitError() };
    case 'permanent':
      return { status: 'failed', reason, toThrow: sanitized(new UnrecoverableError(reason), err) };
    case 'transient': {
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      return { status: last ? 'failed' : 'retrying', reason, toThrow: sanitized(new RetryableFailure(reason, err), err) };
    }
  }
}

/** Carries the retry hint to the backoff strategy; its message and stack are redacted. */
export class RetryableFailure extends Error {
  readonly nextRetryDelayMs: number | undefined;
  constructor(message: string, cause: unknown) {
    super(message);
    this.name = 'RetryableFailure';
    const hint = (cause as { nextRetryDelayMs?: unknown } | null)?.nextRetryDelayMs;
    this.nextRetryDelayMs = typeof hint === 'number' ? hint : undefined;
  }
}

// BullMQ stores the message and stack in Redis; neither may carry a secret.
function sanitized<E extends Error>(error: E, original: unknown): E {
  const origStack = original instanceof Error && original.stack ? original.stack : error.stack;
  error.stack = origStack ? redactText(origStack).replace(/^.*$/m, `${error.name}: ${error.message}`) : undefined;
  return error;
}
