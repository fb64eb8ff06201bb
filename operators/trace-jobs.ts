import { Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { dedupId, JOB_NAMES, TARGETS, type QueueName, type Target } from '../shared/jobs.js';

/**
 * The jobs of one user, found without scanning any queue: the deduplication key of each
 * (queue, kind, user) names the job that currently holds the slot, the next-job hash names the
 * one queued behind a running job, and audit entries carry the ids of jobs that ran. Job data
 * is shown through a whitelist, so a password envelope (or anything else) never leaves Redis.
 */

export interface TraceJob {
  queue: QueueName;
  id: string;
  name: string;
  /** BullMQ's state, or `next`: stored behind the running job and created when that one ends. */
  state: string;
  attemptsMade: number;
  attempts: number;
  createdAt: number;
  processedOn?: number;
  finishedOn?: number;
  /** Why it failed (state `failed` only). */
  failedReason?: string;
  /** The error of an earlier attempt of a job that is retrying or completed after a retry. */
  earlierError?: string;
  /** Outcome, operation and reason of a finished job (never the remote user it read). */
  result?: Record<string, unknown>;
  /** What the job asks for, reduced to fields that are safe to print. */
  data: Record<string, unknown>;
  /** How it was found. */
  via: ('deduplication' | 'next' | 'audit')[];
}

export const PENDING_STATES = new Set(['waiting', 'prioritized', 'delayed', 'active', 'waiting-children', 'next']);

/** Job ids per queue, gathered before loading. */
export type JobRefs = Map<QueueName, Map<string, TraceJob['via']>>;

export function addRef(refs: JobRefs, queue: QueueName, id: string, via: TraceJob['via'][number]): void {
  const ids = refs.get(queue) ?? new Map<string, TraceJob['via']>();
  refs.set(queue, ids);
  const seen = ids.get(id) ?? [];
  if (!seen.includes(via)) seen.push(via);
  ids.set(id, seen);
}

/** The queue whose jobs write audit entries with this `target` (the app processor audits as `app`). */
export function queueOfAuditTarget(target: string): QueueName | undefined {
  if ((TARGETS as readonly string[]).includes(target)) return target as Target;
  return target === 'app' ? 'app' : undefined;
}

/** Ids held by the user's deduplication keys and next-job hashes, in one round trip. */
export async function dedupRefs(redis: Redis, prefix: string, userId: string, targets: readonly Target[], refs: JobRefs): Promise<Map<string, Record<string, string>>> {
  const slots = targets.flatMap((t) => [dedupId.push(userId), dedupId.password(userId), dedupId.pull(userId)].map((id) => ({ queue: t, id })));
  const pipeline = redis.pipeline();
  for (const s of slots) {
    pipeline.get(`${prefix}:${s.queue}:de:${s.id}`);
    pipeline.hmget(`${prefix}:${s.queue}:dn:${s.id}`, 'jid', 'name', 'data');
  }
  const replies = (await pipeline.exec()) ?? [];
  // Proto-jobs behind a running job, by `<queue>:<jid>`, for jobs BullMQ has not created yet.
  const next = new Map<string, Record<string, string>>();
  slots.forEach((s, i) => {
    const current = replies[2 * i]?.[1] as string | null;
    if (current) addRef(refs, s.queue, current, 'deduplication');
    const [jid, name, data] = (replies[2 * i + 1]?.[1] ?? []) as (string | null)[];
    if (jid) {
      addRef(refs, s.queue, jid, 'next');
      next.set(`${s.queue}:${jid}`, { name: name ?? '', data: data ?? '{}' });
    }
  });
  return next;
}

export async function loadJobs(queues: Map<QueueName, Queue>, refs: JobRefs, next: Map<string, Record<string, string>>): Promise<TraceJob[]> {
  const out: TraceJob[] = [];
  for (const [queueName, ids] of refs) {
    const queue = queues.get(queueName);
    if (!queue) continue;
    for (const [id, via] of ids) {
      const job = await Job.fromId(queue, id);
      if (job) {
        const state = await job.getState();
        out.push({
          queue: queueName, id, name: job.name, state, attemptsMade: job.attemptsMade, attempts: job.opts.attempts ?? 1,
          createdAt: job.timestamp,
          ...(job.processedOn && { processedOn: job.processedOn }),
          ...(job.finishedOn && { finishedOn: job.finishedOn }),
          // BullMQ keeps the last attempt's error on a job that later completed: not its outcome.
          ...(job.failedReason && (state === 'failed' ? { failedReason: job.failedReason } : { earlierError: job.failedReason })),
          ...(job.returnvalue && { result: resultSummary(job.returnvalue) }),
          data: dataSummary(job.name, job.data), via,
        });
        continue;
      }
      const proto = next.get(`${queueName}:${id}`);
      if (proto) {
        const data = parse(proto.data);
        out.push({ queue: queueName, id, name: proto.name!, state: 'next', attemptsMade: 0, attempts: 0, createdAt: Number(data?.enqueuedAt ?? 0), data: dataSummary(proto.name!, data), via });
      }
      // Otherwise removed (completed jobs are kept an hour): the audit entries still tell its story.
    }
  }
  return out.sort((a, b) => a.createdAt - b.createdAt);
}

/** The fields of a job's payload that are safe and useful to print. */
export function dataSummary(name: string, data: unknown): Record<string, unknown> {
  type Payload = Record<string, unknown> & { user?: Record<string, unknown>; remote?: { remoteId?: unknown; username?: unknown } | null };
  const d = (data ?? {}) as Payload;
  const pick = (o: Record<string, unknown> | undefined, keys: string[]) =>
    Object.fromEntries(keys.filter((k) => o?.[k] !== undefined).map((k) => [k, o![k]]));
  switch (name) {
    case JOB_NAMES.pushUser:
      return { op: d.op, ...pick(d, ['origin']), ...pick(d.user, ['version', 'username', 'email', 'active']) };
    case JOB_NAMES.setPassword:
      return { password: '[encrypted]', ...(typeof d.expiresAt === 'number' && { expiresAt: new Date(d.expiresAt).toISOString() }) };
    case JOB_NAMES.pullUser:
      return pick(d, ['mode']);
    case JOB_NAMES.applyUser:
      return {
        ...pick(d, ['action', 'source', 'appUserId', 'planId', 'fields']),
        ...(d.remote && { remoteId: d.remote.remoteId, remoteName: d.remote.username }),
        ...(d.remote === null && { remote: 'gone' }),
      };
    default:
      return {};
  }
}

function resultSummary(value: unknown): Record<string, unknown> {
  const v = (value ?? {}) as Record<string, unknown>;
  return Object.fromEntries(['outcome', 'operation', 'reason', 'remoteId', 'changedAttributes', 'changed', 'created'].filter((k) => v[k] !== undefined).map((k) => [k, v[k]]));
}

function parse(text: string | undefined): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text ?? '') as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
