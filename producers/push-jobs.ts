import { randomBytes } from 'node:crypto';
import type { JobsOptions, Queue } from 'bullmq';
import { JOB_NAMES, type PushUserData, type SetPasswordData } from '../shared/jobs.js';
import { MERGE_PUSH_LUA, ownRank, type MergeOutcome } from './push-merge.js';

/**
 * A push (`push-user`, the default) or a password change (`set-password`): both coalesce per
 * user, so both need the newest one to win while the user's job waits.
 */
export type PushJob =
  | { name?: 'push-user'; data: PushUserData; /** Must carry `deduplication: { id: dedupId.push(userId), keepLastIfActive: true }`. */ opts: JobsOptions }
  | { name: 'set-password'; data: SetPasswordData; /** Must carry `deduplication: { id: dedupId.password(userId), keepLastIfActive: true }`. */ opts: JobsOptions };

/** Which of two jobs for one user is newer: the snapshot version, or for passwords the time of the change. */
const versionOf = (job: PushJob): number => (job.name === 'set-password' ? job.data.enqueuedAt : job.data.user.version);
const rankOf = (job: PushJob): number => (job.name === 'set-password' ? 0 : ownRank(job.data));

const CHUNK = 1000;
// Fresh job ids: 72 random bits per process, then a counter. Shorter than a UUID, which keeps
// the job's keys, list entries and events small; never ':' (BullMQ's key separator).
const ID_PREFIX = `p${randomBytes(9).toString('base64url')}`;
let idSeq = 0;
const freshId = () => `${ID_PREFIX}${(idSeq++).toString(36)}`;
// Each extra round means the user's job changed state between BullMQ's answer and the
// merge (it started or finished); more than a few in a row does not happen in practice.
const MAX_ROUNDS = 5;

const MERGE_COMMAND = 'idsyncMergePush';

export interface AddPushOptions {
  /**
   * Coalescing window of these pushes (see coalesce-window.ts): a job that follows a running
   * one for the same user is held this long after it finishes. 0 = run it as soon as it can.
   * @defaultValue 0
   */
  windowMs?: number;
}

/**
 * Adds push jobs so that the newest snapshot of each user always wins.
 *
 * BullMQ's `keepLastIfActive` keeps a second snapshot only while the user's job runs; while it
 * waits (busy or paused queue, retry delay, bulk priority) a second add is dropped. So each job
 * gets a fresh id: when BullMQ answers with another id, the add was deduplicated into that job,
 * and one small script merges ours into it (see push-merge.ts). A live event that lands on a
 * job waiting at bulk priority lifts it to the front, so provisioning never delays it.
 *
 * Resolves with one job id per input, in order: the job that holds the snapshot, or, while
 * the user's job runs, that job (ours follows it).
 */
export async function addPushJobs(queue: Queue, jobs: readonly PushJob[], options: AddPushOptions = {}): Promise<string[]> {
  const windowMs = options.windowMs ?? 0;
  const ids: string[] = [];
  for (let i = 0; i < jobs.length; i += CHUNK) ids.push(...(await addChunk(queue, jobs.slice(i, i + CHUNK), windowMs)));
  return ids;
}

async function addChunk(queue: Queue, jobs: readonly PushJob[], windowMs: number): Promise<string[]> {
  const ids = new Array<string>(jobs.length);
  let pending = jobs.map((_, i) => i);
  for (let round = 0; pending.length; round++) {
    if (round === MAX_ROUNDS) {
      throw new Error(`push job for user ${jobs[pending[0]!]!.data.user.id} not enqueued: the user's job kept changing state; try again`);
    }
    const ownIds = pending.map(freshId);
    const added = await add(queue, pending.map((index, k) => ({ name: jobs[index]!.name ?? JOB_NAMES.pushUser, data: jobs[index]!.data, opts: { ...jobs[index]!.opts, jobId: ownIds[k] } })));
    const merges: { index: number; existingId: string; ownId: string }[] = [];
    pending.forEach((index, k) => {
      ids[index] = added[k]!;
      if (added[k] !== ownIds[k]) merges.push({ index, existingId: added[k]!, ownId: ownIds[k]! });
    });
    if (!merges.length) break;

    const outcomes = await merge(queue, merges.map((m) => ({ ...m, job: jobs[m.index]! })), windowMs);
    pending = [];
    const lift: string[] = [];
    merges.forEach((m, k) => {
      const [outcome, priority] = outcomes[k]!;
      if (outcome === 'again') pending.push(m.index);
      else if (outcome === 'own') ids[m.index] = m.ownId;
      else if (priority > 0 && !jobs[m.index]!.opts.priority) lift.push(m.existingId);
    });
    await Promise.all(lift.map((id) => liftPriority(queue, id)));
  }
  return ids;
}

async function add(queue: Queue, jobs: { name: string; data: unknown; opts: JobsOptions }[]): Promise<string[]> {
  // One job goes through `add`: no pipeline to build, which keeps `userChanged` cheap.
  if (jobs.length === 1) return [(await queue.add(jobs[0]!.name, jobs[0]!.data, jobs[0]!.opts)).id!];
  return (await queue.addBulk(jobs)).map((j) => j.id!);
}

async function merge(queue: Queue, merges: { existingId: string; ownId: string; job: PushJob }[], windowMs: number): Promise<[MergeOutcome, number][]> {
  const client = await queue.backend.client;
  // Registered once per connection (the client forwards it to ioredis), so every call is an EVALSHA.
  if (typeof (client as unknown as Record<string, unknown>)[MERGE_COMMAND] !== 'function') {
    client.defineCommand(MERGE_COMMAND, { numberOfKeys: 6, lua: MERGE_PUSH_LUA });
  }
  const pipeline = client.pipeline();
  for (const { existingId, ownId, job } of merges) {
    const dedupId = job.opts.deduplication?.id;
    if (!dedupId) throw new Error('push jobs must carry a deduplication id');
    pipeline.runCommand(MERGE_COMMAND, [
      queue.toKey('active'), queue.toKey(existingId), queue.toKey(ownId), `${queue.keys.de}:${dedupId}`, queue.toKey(`dn:${dedupId}`), queue.toKey(`dn:${dedupId}:last`),
      existingId, ownId, String(versionOf(job)), String(rankOf(job)), JSON.stringify(job.data), String(windowMs), job.name === JOB_NAMES.setPassword ? '0' : '1',
    ]);
  }
  const results = (await pipeline.exec()) ?? [];
  return results.map(([err, reply]) => {
    if (err) throw err;
    const [outcome, priority] = reply as [MergeOutcome, number];
    return [outcome, Number(priority)];
  });
}

async function liftPriority(queue: Queue, jobId: string): Promise<void> {
  try {
    // BullMQ's own script moves the job from the prioritized set to the end of `wait`.
    await queue.backend.changePriority(jobId, 0);
  } catch (err) {
    // The job finished in between: there is nothing left to lift.
    const client = await queue.backend.client;
    if (await client.hexists(queue.toKey(jobId), 'data')) throw err;
  }
}
