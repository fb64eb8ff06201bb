import { Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { SyncErrorKind } from '../shared/errors.js';
import type { QueueName } from '../shared/jobs.js';
import { errorClassOf } from './failed-classify.js';
import { OPERATOR_QUEUES, type OperatorQueues } from './operator-queues.js';

/** One failed job as `idsync failed list --json` prints it. */
export interface FailedJobSummary {
  jobId: string;
  /** crowd or entra for target jobs, `app` for pulled changes, the job's targets (comma-separated) for sync work. */
  target: string;
  queue: QueueName;
  name: string;
  /** The application user the job is about; null for sync work. */
  userId: string | null;
  errorClass: SyncErrorKind;
  reason: string;
  /** Attempts made before it failed. */
  attempts: number;
  /** ISO 8601. */
  failedAt: string;
}

export interface FailedFilter {
  target?: string;
  errorClass?: SyncErrorKind;
  /** Epoch ms: only jobs that failed at or after it. */
  since?: number;
  /** @defaultValue every queue */
  queues?: readonly QueueName[];
}

const PAGE = 100;

/** The side a job acts on, for `--target`. */
export function targetOf(queue: QueueName, data: unknown): string {
  if (queue === 'crowd' || queue === 'entra' || queue === 'app') return queue;
  const targets = (data as { targets?: unknown } | null)?.targets;
  return Array.isArray(targets) ? targets.join(',') : '';
}

export function userIdOf(queue: QueueName, data: unknown): string | null {
  const d = data as { user?: { id?: unknown }; appUserId?: unknown; remote?: { username?: unknown } | null } | null;
  if (queue === 'crowd' || queue === 'entra') return typeof d?.user?.id === 'string' ? d.user.id : null;
  if (queue === 'app') {
    if (typeof d?.appUserId === 'string') return d.appUserId;
    return typeof d?.remote?.username === 'string' ? d.remote.username : null;
  }
  return null;
}

export function summarize(queue: QueueName, job: Job): FailedJobSummary {
  return {
    jobId: job.id!,
    target: targetOf(queue, job.data),
    queue,
    name: job.name,
    userId: userIdOf(queue, job.data),
    errorClass: errorClassOf(job),
    reason: job.failedReason ?? '',
    attempts: job.attemptsMade,
    failedAt: new Date(job.finishedOn ?? job.timestamp).toISOString(),
  };
}

export function matches(s: FailedJobSummary, filter: FailedFilter): boolean {
  if (filter.target !== undefined && !s.target.split(',').includes(filter.target)) return false;
  if (filter.errorClass !== undefined && s.errorClass !== filter.errorClass) return false;
  return true;
}

export interface FailedEntry {
  queue: QueueName;
  job: Job;
  summary: FailedJobSummary;
}

/**
 * One queue's failed set, newest first, a page at a time. The cursor is (failed-at score,
 * ids already seen at that score) rather than an offset, so jobs leaving the set while we
 * page (a replay moves them back to wait) never make us skip others.
 */
async function* failedOf(client: Redis, queue: Queue, name: QueueName, since: number | undefined): AsyncIterableIterator<FailedEntry> {
  const key = queue.keys.failed!;
  let max = '+inf';
  let seenAtMax = new Set<string>();
  for (;;) {
    const requested = PAGE + seenAtMax.size;
    const flat = await client.zrevrangebyscore(key, max, since === undefined ? '-inf' : String(since), 'WITHSCORES', 'LIMIT', 0, requested);
    const rows: [string, string][] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) if (!seenAtMax.has(flat[i]!)) rows.push([flat[i]!, flat[i + 1]!]);
    if (!rows.length) return;
    const jobs = await Promise.all(rows.map(([id]) => Job.fromId(queue, id)));
    for (const job of jobs) if (job) yield { queue: name, job, summary: summarize(name, job) };
    if (flat.length / 2 < requested) return;
    const lastScore = rows[rows.length - 1]![1];
    if (lastScore !== max) seenAtMax = new Set();
    for (const [id, score] of rows) if (score === lastScore) seenAtMax.add(id);
    max = lastScore;
  }
}

/**
 * Every failed job matching the filter, newest first across the queues (a merge of each
 * queue's pages), never more than a page per queue in memory.
 */
export async function* iterateFailed(queues: OperatorQueues, filter: FailedFilter = {}): AsyncIterableIterator<FailedEntry> {
  const names = filter.queues ?? OPERATOR_QUEUES;
  const sources = names.map((n) => failedOf(queues.redis, queues.get(n), n, filter.since));
  const heads = await Promise.all(sources.map((s) => s.next()));
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i]!;
      if (h.done) continue;
      if (best < 0 || finishedAt(h.value) > finishedAt((heads[best] as IteratorYieldResult<FailedEntry>).value)) best = i;
    }
    if (best < 0) return;
    const entry = (heads[best] as IteratorYieldResult<FailedEntry>).value;
    heads[best] = await sources[best]!.next();
    if (matches(entry.summary, filter)) yield entry;
  }
}

const finishedAt = (e: FailedEntry) => e.job.finishedOn ?? e.job.timestamp;

export interface ListFailedOptions extends FailedFilter {
  /** @defaultValue 100 */
  limit?: number;
}

/** `idsync failed list`: the newest failed jobs matching the filter. */
export async function listFailed(queues: OperatorQueues, options: ListFailedOptions = {}): Promise<FailedJobSummary[]> {
  const limit = options.limit ?? 100;
  const out: FailedJobSummary[] = [];
  if (limit <= 0) return out;
  for await (const { summary } of iterateFailed(queues, options)) {
    out.push(summary);
    if (out.length >= limit) break;
  }
  return out;
}

/**
 * A job by id, in the given queue or, without one, in every queue; `queue/jobId` names the
 * queue. Rejects when the id is unknown or exists in several queues (ids are per queue).
 */
export async function findJob(queues: OperatorQueues, ref: string): Promise<{ queue: QueueName; job: Job }> {
  const slash = ref.indexOf('/');
  const named = slash > 0 ? (ref.slice(0, slash) as QueueName) : undefined;
  if (named && !OPERATOR_QUEUES.includes(named)) throw new Error(`unknown queue "${named}" in ${ref}; expected one of ${OPERATOR_QUEUES.join(', ')}`);
  const id = named ? ref.slice(slash + 1) : ref;
  const found: { queue: QueueName; job: Job }[] = [];
  for (const name of named ? [named] : OPERATOR_QUEUES) {
    const job = await Job.fromId(queues.get(name), id);
    if (job) found.push({ queue: name, job });
  }
  if (!found.length) throw new Error(`no job ${ref} (failed jobs are kept 30 days, password jobs only until they expire)`);
  if (found.length > 1) throw new Error(`job id ${id} exists in ${found.map((f) => f.queue).join(' and ')}; name one as ${found[0]!.queue}/${id}`);
  return found[0]!;
}
