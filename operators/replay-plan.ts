import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOB_NAMES, SCHEMA_VERSION, dedupId, type PushUserData, type SetPasswordData, type Target } from '../shared/jobs.js';
import type { LinkStore } from '../shared/links.js';
import type { UserDirectory } from '../workers/app/directory.js';
import { toSnapshot } from '../workers/sync/snapshot.js';
import { slotHolder } from './replay-dedup.js';

/**
 * What replaying one failed job means, decided before anything is changed (so `--dry-run`
 * shows exactly what a replay would do):
 *
 * - `retry`: reset the attempts and run the job again, with `data` when the payload is
 *   replaced, taking the user's deduplication slot when the job has one;
 * - `merge`: another job for the user is pending; the snapshot goes into it through
 *   addPushJobs (the newest snapshot wins) and the failed job is removed;
 * - `refuse`: nothing is done, for the reason given.
 */
export type ReplayPlan =
  | { kind: 'retry'; data?: unknown; slot?: string; snapshot?: SnapshotSource; note?: string }
  | { kind: 'merge'; data: PushUserData; slot: string; into: string; snapshot: SnapshotSource; note?: string }
  | { kind: 'refuse'; reason: string };

/** Where a replayed push's snapshot came from: the application now, or the job itself. */
export type SnapshotSource = 'application' | 'job';

export interface PlanDeps {
  redis: Redis;
  links: LinkStore;
  /** The application directory, or why it cannot be used. */
  directory(): Promise<UserDirectory | { error: string }>;
  now: number;
}

export async function planReplay(deps: PlanDeps, queue: Queue, target: string, job: Job): Promise<ReplayPlan> {
  if (target === 'crowd' || target === 'entra') {
    if (job.name === JOB_NAMES.pushUser) return planPush(deps, queue, target, job);
    if (job.name === JOB_NAMES.setPassword) return planPassword(deps, queue, job);
  }
  // Pulls, pulled changes and sync work read their source again when they run: replaying them as they are is safe.
  return { kind: 'retry' };
}

async function planPassword(deps: PlanDeps, queue: Queue, job: Job): Promise<ReplayPlan> {
  const data = job.data as SetPasswordData;
  if (!(typeof data?.expiresAt === 'number') || deps.now > data.expiresAt) {
    const when = typeof data?.expiresAt === 'number' ? ` at ${new Date(data.expiresAt).toISOString()}` : '';
    return { kind: 'refuse', reason: `the password change expired${when}; a stale password is never applied (ask the user to set it again)` };
  }
  const slot = slotOf(job, dedupId.password(data.user.id));
  const pending = await slotHolder(deps.redis, queue, slot, job.id!);
  // A later password change is waiting: replaying this one could overwrite it afterwards.
  if (pending) return { kind: 'refuse', reason: `a later password change for this user is pending (job ${pending.id}); it supersedes this one` };
  return { kind: 'retry', slot };
}

/**
 * A push re-asserts the application's state as it is now, so a replay never writes data
 * older than what the application holds. When the directory cannot be read, the job's own
 * snapshot is used only if nothing newer is pending for the user or was applied already.
 */
async function planPush(deps: PlanDeps, queue: Queue, target: Target, job: Job): Promise<ReplayPlan> {
  const own = job.data as PushUserData;
  const userId = own.user.id;
  const slot = slotOf(job, dedupId.push(userId));
  const now = deps.now;
  const directory = await deps.directory();
  let current: PushUserData | undefined;
  let note: string | undefined;
  if ('error' in directory) {
    note = `the application directory could not be opened (${directory.error}); the job's own snapshot was used`;
  } else {
    try {
      const user = await directory.get(userId);
      if (!user && own.op === 'upsert') return { kind: 'refuse', reason: 'the application no longer has this user; run a full sync' };
      if (!user) {
        current = { ...own, enqueuedAt: now, origin: 'replay' };
      } else {
        const snap = toSnapshot(user, now);
        if (!snap.ok) return { kind: 'refuse', reason: `the application's current data for this user cannot be pushed: ${snap.reason}` };
        current = { schemaVersion: SCHEMA_VERSION, enqueuedAt: now, op: 'upsert', user: snap.snapshot, origin: 'replay' };
      }
    } catch (err) {
      note = `the application directory could not be read (${(err as Error).message}); the job's own snapshot was used`;
    }
  }
  const pending = await slotHolder(deps.redis, queue, slot, job.id!);
  if (current) {
    return pending ? { kind: 'merge', data: current, slot, into: pending.id, snapshot: 'application' } : { kind: 'retry', data: current, slot, snapshot: 'application' };
  }

  const fallback: PushUserData = { ...own, enqueuedAt: now, origin: 'replay' };
  if (pending && versionOf(pending.data) >= own.user.version) {
    return { kind: 'refuse', reason: `${note}; but a newer snapshot for this user is pending (job ${pending.id}), so this one is not replayed` };
  }
  const applied = (await deps.links.get(target, userId))?.version;
  if (applied !== undefined && applied > own.user.version) {
    return { kind: 'refuse', reason: `${note}; but version ${applied} was applied since, newer than this job's ${own.user.version}` };
  }
  return pending
    ? { kind: 'merge', data: fallback, slot, into: pending.id, snapshot: 'job', ...(note && { note }) }
    : { kind: 'retry', data: fallback, slot, snapshot: 'job', ...(note && { note }) };
}

const slotOf = (job: Job, fallback: string): string => job.opts.deduplication?.id ?? fallback;

function versionOf(json: string): number {
  try {
    const v = (JSON.parse(json) as { user?: { version?: unknown } }).user?.version;
    return typeof v === 'number' ? v : -1;
  } catch {
    return -1;
  }
}
