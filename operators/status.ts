import type { Redis } from 'ioredis';
import { AuditLog } from '../shared/audit.js';
import type { SyncErrorKind } from '../shared/errors.js';
import { TARGETS, type QueueName, type Target } from '../shared/jobs.js';
import type { QuarantineState } from '../workers/runtime/quarantine.js';
import { buildSchedules, slotAfter, type ScheduleSettings } from '../producers/scheduler/index.js';
import { ERROR_CLASSES } from './failed-classify.js';
import { OPERATOR_QUEUES, withQueues, type OperatorConnection } from './operator-queues.js';
import { iterateFailed } from './failed-jobs.js';

export const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed', 'paused'] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface QueueStatus {
  counts: Record<JobState, number>;
  /** Paused by an operator or by a quarantine. */
  isPaused: boolean;
}

export interface Throughput {
  windowSeconds: number;
  completed: number;
  failed: number;
  perQueue: Record<QueueName, { completed: number; failed: number }>;
}

export interface FailureClasses {
  counts: Record<SyncErrorKind, number>;
  /** Failed jobs classified (newest first). */
  scanned: number;
  /** Failed jobs in all queues; more than `scanned` when the scan limit was reached. */
  total: number;
}

export interface StatusReport {
  at: string;
  queues: Record<QueueName, QueueStatus>;
  throughput: Throughput;
  failuresByClass: FailureClasses;
  quarantined: { target: Target | 'app'; reason: string; since: string }[];
  nextSlots: { name: string; at: string }[];
}

export interface StatusOptions extends OperatorConnection {
  /** Configured targets (IDSYNC_TARGETS), for the schedules. */
  targets: readonly Target[];
  /** SYNC_FULL_SCHEDULE, SYNC_INCREMENTAL_SCHEDULE, IDSYNC_TIMEZONE. */
  schedules: ScheduleSettings;
  /** Failed jobs classified at most, newest first. @defaultValue 10,000 */
  failureScanLimit?: number;
  /** @defaultValue Date.now() */
  now?: number;
}

const WINDOW_MS = 60_000;

/**
 * `idsync status`. Sources, so the figures can be trusted for what they are:
 * - counts: BullMQ's own per-state counts. BullMQ 6 has no separate paused list (the jobs
 *   of a paused queue count as waiting), so `paused` is the waiting + prioritized jobs of a
 *   queue that is paused, and those jobs are in `waiting` / `prioritized` as well;
 * - throughput: attempt outcomes of the last 60 s. For crowd, entra and app, the audit
 *   stream (its ids are ms timestamps, so the window is one XRANGE): `succeeded` and
 *   `skipped` count as completed, `failed` as failed (a job's final failure). The sync queue
 *   writes no audit entry per job, so its figures are the completed and failed sets scored
 *   by finish time. Jobs removed on completion (password jobs) are counted by the audit;
 *   set-only figures would miss them;
 * - failures by class: the failed sets, classified by the stack of each job's last attempt
 *   (see failed-classify.ts), newest first up to `failureScanLimit`;
 * - quarantine: the state each target's Quarantine keeps;
 * - next slots: the configured schedules, each one's first slot after now.
 */
export async function getStatus(options: StatusOptions): Promise<StatusReport> {
  const now = options.now ?? Date.now();
  return withQueues(options, async (queues) => {
    const entries = await Promise.all(OPERATOR_QUEUES.map(async (name): Promise<[QueueName, QueueStatus]> => {
      const queue = queues.get(name);
      const [c, isPaused] = await Promise.all([queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'), queue.isPaused()]);
      const counts = Object.fromEntries(JOB_STATES.map((s) => [s, c[s] ?? 0])) as Record<JobState, number>;
      counts.paused = isPaused ? counts.waiting + counts.prioritized : 0;
      return [name, { counts, isPaused }];
    }));
    const queueStatus = Object.fromEntries(entries) as Record<QueueName, QueueStatus>;

    const failuresByClass: FailureClasses = { counts: Object.fromEntries(ERROR_CLASSES.map((k) => [k, 0])) as Record<SyncErrorKind, number>, scanned: 0, total: 0 };
    failuresByClass.total = entries.reduce((sum, [, q]) => sum + q.counts.failed, 0);
    const limit = options.failureScanLimit ?? 10_000;
    if (limit > 0) {
      for await (const { summary } of iterateFailed(queues)) {
        failuresByClass.counts[summary.errorClass]++;
        if (++failuresByClass.scanned >= limit) break;
      }
    }

    const sync = queues.get('sync');
    const syncSets = await Promise.all(['completed', 'failed'].map((set) => options.redis.zcount(sync.keys[set]!, now - WINDOW_MS, '+inf')));
    return {
      at: new Date(now).toISOString(),
      queues: queueStatus,
      throughput: await throughput(options.redis, options.prefix, now, { completed: syncSets[0]!, failed: syncSets[1]! }),
      failuresByClass,
      quarantined: await quarantined(options.redis, options.prefix),
      nextSlots: buildSchedules(options.targets, options.schedules).map((s) => ({ name: s.name, at: slotAfter(s.cron, s.timezone, new Date(now)).toISOString() })),
    };
  });
}

async function throughput(redis: Redis, prefix: string, now: number, sync: { completed: number; failed: number }): Promise<Throughput> {
  const perQueue = Object.fromEntries(OPERATOR_QUEUES.map((q) => [q, { completed: 0, failed: 0 }])) as Throughput['perQueue'];
  perQueue.sync = { ...sync };
  const audit = new AuditLog(redis, prefix);
  // Target-wide events (quarantine, recover) are not job outcomes.
  for await (const e of audit.listEntries({ since: now - WINDOW_MS, until: now, status: ['succeeded', 'skipped', 'failed'], limit: Number.MAX_SAFE_INTEGER })) {
    if (e.resource === 'target') continue;
    const bucket = perQueue[e.target as QueueName];
    if (!bucket || e.target === 'sync') continue;
    if (e.status === 'failed') bucket.failed++;
    else bucket.completed++;
  }
  const all = Object.values(perQueue);
  return { windowSeconds: WINDOW_MS / 1000, completed: all.reduce((s, q) => s + q.completed, 0), failed: all.reduce((s, q) => s + q.failed, 0), perQueue };
}

/** Every quarantined side, read from the key each Quarantine keeps (`<prefix>:quarantine:<target>`). */
export async function quarantined(redis: Redis, prefix: string): Promise<StatusReport['quarantined']> {
  const sides = [...TARGETS, 'app'] as const;
  const raw = await redis.mget(...sides.map((t) => `${prefix}:quarantine:${t}`));
  const out: StatusReport['quarantined'] = [];
  raw.forEach((value, i) => {
    if (!value) return;
    const state = JSON.parse(value) as QuarantineState;
    out.push({ target: sides[i]!, reason: state.reason, since: new Date(state.since).toISOString() });
  });
  return out;
}
