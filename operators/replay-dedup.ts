import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * The user's deduplication slot (push-user and set-password jobs coalesce per user through
 * BullMQ's `deduplication: { id, keepLastIfActive }`). BullMQ frees the slot when a job fails,
 * and `job.retry()` does not take it back; a replayed job outside the slot could run beside a
 * newer job for the same user, and later events would not coalesce into it. So a replay first
 * looks at who holds the slot, and takes it when it is free.
 */

export interface PendingJob {
  id: string;
  /** The holder's payload (JSON), for comparing versions. */
  data: string;
}

/** The unfinished job that holds the slot, if any (a holder that finished or vanished is stale). */
export async function slotHolder(redis: Redis, queue: Queue, dedupId: string, selfId: string): Promise<PendingJob | undefined> {
  const holder = await redis.get(`${queue.keys.de}:${dedupId}`);
  if (!holder || holder === selfId) return undefined;
  const [data, finishedOn] = await redis.hmget(queue.toKey(holder), 'data', 'finishedOn');
  return data && !finishedOn ? { id: holder, data } : undefined;
}

// KEYS: deduplication key, next-job hash, the job, the failed set.
// ARGV: job id, the queue's key prefix for job hashes, replacement data ('' = keep).
// Returns { 'claimed' } | { 'pending', holder id } | { 'gone' } (no longer failed).
const CLAIM_LUA = `
if not redis.call('ZSCORE', KEYS[4], ARGV[1]) then return {'gone'} end
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  local h = redis.call('HMGET', ARGV[2] .. holder, 'data', 'finishedOn')
  if h[1] and not h[2] then return {'pending', holder} end
  -- A stale holder's next-job payload would be resurrected when ours finishes.
  redis.call('DEL', KEYS[2])
end
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], 'data', ARGV[3]) end
return {'claimed'}
`;

export type ClaimOutcome = { outcome: 'claimed' } | { outcome: 'pending'; holder: string } | { outcome: 'gone' };

/**
 * Atomically: the job is still failed, nobody else holds the slot; then the slot names the
 * job and the job carries `data`. The caller retries the job next; when it finishes, BullMQ
 * frees the slot as for any other job (the job kept its `deid`).
 */
export async function claimSlot(redis: Redis, queue: Queue, job: Job, dedupId: string, data: unknown | undefined): Promise<ClaimOutcome> {
  const reply = (await redis.eval(
    CLAIM_LUA, 4,
    `${queue.keys.de}:${dedupId}`, queue.toKey(`dn:${dedupId}`), queue.toKey(job.id!), queue.keys.failed!,
    job.id!, queue.toKey(''), data === undefined ? '' : JSON.stringify(data),
  )) as string[];
  if (reply[0] === 'pending') return { outcome: 'pending', holder: reply[1]! };
  return { outcome: reply[0] === 'claimed' ? 'claimed' : 'gone' };
}

/** Gives the slot back when the retry that should have followed the claim did not happen. */
export async function releaseSlot(redis: Redis, queue: Queue, dedupId: string, jobId: string): Promise<void> {
  const key = `${queue.keys.de}:${dedupId}`;
  if ((await redis.get(key)) === jobId) await redis.del(key);
}
