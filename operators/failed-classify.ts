import { errorKind, type SyncErrorKind } from '../shared/errors.js';

/**
 * The taxonomy kind (shared/errors.ts) of a failed job, read from the stack BullMQ kept for
 * its last attempt. The runtime (workers/runtime/failures.ts) rewrites that stack's first line
 * to `<error name>: <reason>`, so the name tells the kind:
 *
 * - `UnrecoverableError` → permanent (a PermanentError, or an invalid payload);
 * - `RetryableFailure` → transient (attempts used up);
 * - a taxonomy name thrown as is (the sync processor) → its own kind;
 * - no stack: BullMQ's own texts (a job stalled too often → transient; too many started
 *   attempts under 429 pauses, `job started more than allowable limit` → throttled);
 * - anything else → transient, as `errorKind` counts every unknown error.
 *
 * Configuration errors never fail a target job (they quarantine the target), so
 * `configuration` appears only for work that runs outside the target runtime.
 */
export function errorClassOf(job: { stacktrace?: readonly string[] | null; failedReason?: string }): SyncErrorKind {
  const last = job.stacktrace?.length ? job.stacktrace[job.stacktrace.length - 1] : undefined;
  const name = last ? /^([A-Za-z_$][\w$]*)(?::|\s*$)/.exec(last.split('\n', 1)[0]!.trim())?.[1] : undefined;
  if (name === 'UnrecoverableError') return /started more than allowable limit/i.test(job.failedReason ?? '') ? 'throttled' : 'permanent';
  if (name === 'RetryableFailure') return 'transient';
  if (name) return errorKind({ name });
  const reason = job.failedReason ?? '';
  if (/started more than allowable limit/i.test(reason)) return 'throttled';
  return 'transient';
}

export const ERROR_CLASSES: readonly SyncErrorKind[] = ['transient', 'throttled', 'permanent', 'configuration'];

export function isErrorClass(value: string): value is SyncErrorKind {
  return (ERROR_CLASSES as readonly string[]).includes(value);
}
