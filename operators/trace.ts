import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AuditLog, type StoredAuditEntry } from '../shared/audit.js';
import { QUEUES, TARGETS, type QueueName, type Target } from '../shared/jobs.js';
import { LinkStore } from '../shared/links.js';
import { PlanStore } from '../workers/sync/plan-store.js';
import { diagnose, type TargetDiagnosis } from './trace-diagnosis.js';
import { addRef, dedupRefs, loadJobs, queueOfAuditTarget, type JobRefs, type TraceJob } from './trace-jobs.js';
import { planEntriesOf, type TracePlanEntry } from './trace-plans.js';
import { timelineOf, type TraceEvent } from './trace-timeline.js';

/**
 * `idsync trace <userId>`: everything idsync knows about one application user, gathered from
 * the link store, the queues, the audit log and the recent plans, in time order, with a
 * per-target diagnosis ("why is this user not in Entra?"). Read only; every read is bounded.
 */

export interface TraceLink {
  target: Target;
  linked: boolean;
  remoteId?: string;
  remoteName?: string;
  /** Whether idsync recorded what it last wrote / read (the hashes themselves say nothing to a reader). */
  writtenHash: boolean;
  readHash: boolean;
  /** The highest snapshot version applied to the target. */
  version?: number;
  updatedAt?: number;
}

export interface UserTrace {
  userId: string;
  generatedAt: number;
  targets: Target[];
  links: TraceLink[];
  jobs: TraceJob[];
  /** Oldest first. */
  audit: StoredAuditEntry[];
  plans: TracePlanEntry[];
  /** Links, jobs, audit entries and plan entries merged, oldest first. */
  timeline: TraceEvent[];
  diagnosis: TargetDiagnosis[];
  /** The diagnosis as one line. */
  summary: string;
  /** What the bounded reads may have missed. */
  limits: { auditEntries: number; auditLimitReached: boolean; plansScanned: number; planEntriesCut: boolean };
}

export interface TraceDeps {
  redis: Redis;
  prefix: string;
}

export interface TraceOptions {
  /** Targets to diagnose. @defaultValue every target */
  targets?: readonly Target[];
  /** The newest audit entries of the user to read (the audit log has no per-user index). @defaultValue 200 */
  auditLimit?: number;
  /** Recent plans to look through. @defaultValue 20 */
  plans?: number;
  /** Plan entries read per plan at most (a first full sync of a large directory plans every user). @defaultValue 100,000 */
  maxEntriesPerPlan?: number;
  now?: number;
}

export async function traceUser(deps: TraceDeps, userId: string, options: TraceOptions = {}): Promise<UserTrace> {
  const { redis, prefix } = deps;
  const targets = [...(options.targets ?? TARGETS)];
  const auditLimit = options.auditLimit ?? 200;

  const links = await Promise.all(targets.map(async (target): Promise<TraceLink> => {
    const l = await new LinkStore(redis, prefix).get(target, userId);
    return {
      target, linked: Boolean(l?.remoteId),
      ...(l?.remoteId && { remoteId: l.remoteId }), ...(l?.remoteName && { remoteName: l.remoteName }),
      writtenHash: Boolean(l?.writtenHash), readHash: Boolean(l?.readHash),
      ...(l?.version !== undefined && { version: l.version }), ...(l?.updatedAt !== undefined && { updatedAt: l.updatedAt }),
    };
  }));

  const audit = (await new AuditLog(redis, prefix).query({ subject: userId, limit: auditLimit })).reverse();

  const refs: JobRefs = new Map();
  const next = await dedupRefs(redis, prefix, userId, targets, refs);
  for (const e of audit) {
    const queue = e.jobId === undefined ? undefined : queueOfAuditTarget(e.target);
    if (queue) addRef(refs, queue, e.jobId!, 'audit');
  }
  const queues = new Map<QueueName, Queue>([...refs.keys()].map((q) => [q, new Queue(QUEUES[q], { connection: redis, prefix })]));
  let jobs: TraceJob[];
  try {
    jobs = await loadJobs(queues, refs, next);
  } finally {
    await Promise.all([...queues.values()].map((q) => q.close()));
  }

  const plans = await planEntriesOf(redis, new PlanStore(redis, prefix), userId, { plans: options.plans ?? 20, maxEntriesPerPlan: options.maxEntriesPerPlan ?? 100_000 });
  const diagnosis = targets.map((t) => diagnose(t, { link: links.find((l) => l.target === t)!, jobs, audit, plans: plans.entries }));
  return {
    userId, generatedAt: options.now ?? Date.now(), targets, links, jobs, audit, plans: plans.entries,
    timeline: timelineOf({ links, jobs, audit, plans: plans.entries }),
    diagnosis, summary: diagnosis.map((d) => `${d.target}: ${d.text}`).join('; '),
    limits: { auditEntries: audit.length, auditLimitReached: audit.length >= auditLimit, plansScanned: plans.scanned, planEntriesCut: plans.cut },
  };
}
