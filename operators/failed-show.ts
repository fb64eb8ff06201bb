import type { Job } from 'bullmq';
import { AuditLog, type StoredAuditEntry } from '../shared/audit.js';
import { JOB_NAMES } from '../shared/jobs.js';
import { redactText, redactValue } from '../shared/redact.js';
import { findJob, summarize, type FailedJobSummary } from './failed-jobs.js';
import { withQueues, type OperatorConnection } from './operator-queues.js';

/** What `idsync failed show` prints: never a password envelope, never a secret. */
export interface FailedJobDetail extends Omit<FailedJobSummary, 'errorClass' | 'reason' | 'failedAt'> {
  /** BullMQ's state: `failed` for the jobs this command is meant for, but any job can be shown. */
  state: string;
  errorClass: FailedJobSummary['errorClass'] | null;
  reason: string | null;
  failedAt: string | null;
  createdAt: string;
  /** Attempts allowed. */
  maxAttempts: number;
  attemptsStarted: number;
  /** The payload with secrets replaced; a set-password job's envelope is `[encrypted]`. */
  data: unknown;
  /** Each attempt's stack, split into lines and redacted, oldest attempt first. */
  stacktrace: string[][];
  /** The audit entries of this job, oldest first. */
  audit: StoredAuditEntry[];
}

export interface ShowFailedOptions extends OperatorConnection {
  /** `jobId`, or `queue/jobId` when the id exists in several queues. */
  jobId: string;
  /** Audit entries at most. @defaultValue 100 */
  auditLimit?: number;
}

export async function showFailed(options: ShowFailedOptions): Promise<FailedJobDetail> {
  return withQueues(options, async (queues) => {
    const { queue, job } = await findJob(queues, options.jobId);
    const summary = summarize(queue, job);
    const failed = job.failedReason !== undefined && job.finishedOn !== undefined;
    return {
      ...summary,
      state: await job.getState(),
      errorClass: failed ? summary.errorClass : null,
      reason: failed ? summary.reason : null,
      failedAt: failed ? summary.failedAt : null,
      createdAt: new Date(job.timestamp).toISOString(),
      maxAttempts: job.opts.attempts ?? 1,
      attemptsStarted: job.attemptsStarted,
      data: safeData(job),
      stacktrace: (job.stacktrace ?? []).filter(Boolean).map((s) => redactText(s).split('\n')),
      audit: await auditOf(new AuditLog(options.redis, options.prefix), job, summary.userId, options.auditLimit ?? 100),
    };
  });
}

/**
 * The payload as an operator may see it. A password envelope is ciphertext, but it is still
 * the password: it is replaced outright, not left to the key-name redaction.
 */
export function safeData(job: Pick<Job, 'name' | 'data'>): unknown {
  const data = redactValue(job.data) as Record<string, unknown> | null;
  if (job.name === JOB_NAMES.setPassword && data && typeof data === 'object') return { ...data, password: '[encrypted]' };
  return data;
}

/**
 * The job's own audit entries: the audit log is queried by subject (the user) within the
 * job's lifetime, and only entries naming this job id are kept, so the scan stays bounded.
 */
async function auditOf(audit: AuditLog, job: Job, subject: string | null, limit: number): Promise<StoredAuditEntry[]> {
  const entries: StoredAuditEntry[] = [];
  const until = (job.finishedOn ?? Date.now()) + 1000;
  for await (const e of audit.listEntries({ ...(subject !== null && { subject }), since: job.timestamp, until, limit: Number.MAX_SAFE_INTEGER })) {
    if (e.jobId !== job.id) continue;
    entries.push(e);
    if (entries.length >= limit) break;
  }
  return entries.reverse();
}
