import type { PushUserData } from '../shared/jobs.js';

/**
 * - `replaced`: the waiting job now carries our snapshot;
 * - `kept`: the stored snapshot is at least as new as ours;
 * - `next`: the job runs and BullMQ keeps ours as the job that follows it;
 * - `own`: that following job already exists under our id;
 * - `again`: the job started or finished since BullMQ answered; add ours again.
 */
export type MergeOutcome = 'replaced' | 'kept' | 'next' | 'own' | 'again';

/**
 * Tie-break between snapshots of the same version: a delete beats an upsert (a row deleted
 * at version v comes after its upsert at v), and a re-assertion (provision, sync, replay)
 * beats a live event, since the worker skips an equal-version live event but not a
 * re-assertion. Must match `rank` in the script.
 */
export function ownRank(data: PushUserData): number {
  return (data.op === 'delete' ? 2 : 0) + (data.origin !== undefined && data.origin !== 'event' ? 1 : 0);
}

/**
 * Merges a deduplicated push into the user's job, atomically: with BullMQ's key layout
 * (job hash `<queue key>:<id>`, its `data` field the JSON payload; `dn:<dedup id>` the
 * job that follows a running one, `jid` its id).
 *
 * With a coalescing window (ARGV[6] > 0), the job that follows a running one is held that long
 * after it finishes (its `delay` option, which BullMQ applies when it creates the job): the
 * running job is the window's write, and whatever arrives meanwhile merges into the held job.
 * This holds across producer processes, each of which only knows its own windows.
 *
 * KEYS: active list, the user's job, our job, the deduplication key, the next-job hash.
 * ARGV: the user's job id, our job id, our version, our rank, our data, the window in ms (0: none).
 * Returns { outcome, the user's job's priority }.
 */
export const MERGE_PUSH_LUA = `
local activeKey, jobKey, ownKey, dedupKey, nextKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local existingId, ownId, version, rank, data = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local windowMs = tonumber(ARGV[6]) or 0

local function newer(stored)
  if not stored then return true end
  local ok, d = pcall(cjson.decode, stored)
  if not ok or type(d) ~= 'table' or type(d.user) ~= 'table' then return true end
  -- Password changes have no version: the later change wins.
  local v = tonumber(d.user.version) or tonumber(d.enqueuedAt) or -1
  if version ~= v then return version > v end
  local r = (d.op == 'delete' and 2 or 0) + ((type(d.origin) == 'string' and d.origin ~= 'event') and 1 or 0)
  return rank > r
end

local function holdNext()
  if windowMs <= 0 then return end
  local ok, opts = pcall(cjson.decode, redis.call('HGET', nextKey, 'opts') or '')
  if not ok or type(opts) ~= 'table' or (tonumber(opts.delay) or 0) >= windowMs then return end
  opts.delay = windowMs
  redis.call('HSET', nextKey, 'opts', cjson.encode(opts))
end

-- The running job finished and BullMQ created ours from the next-job slot.
if redis.call('EXISTS', ownKey) == 1 then return {'own', 0} end

if redis.call('LPOS', activeKey, existingId) then
  local nextId = redis.call('HGET', nextKey, 'jid')
  if nextId == ownId then
    holdNext()
    return {'next', 0}
  end
  -- No next job: ours was dropped while the job waited, and it has started since. An older
  -- next job: adding ours again makes BullMQ overwrite it.
  if not nextId or newer(redis.call('HGET', nextKey, 'data')) then return {'again', 0} end
  holdNext()
  return {'kept', 0}
end

local job = redis.call('HMGET', jobKey, 'data', 'finishedOn', 'priority')
if not job[1] or job[2] then
  -- Gone or finished since BullMQ answered. Had it been followed by a next job, the
  -- deduplication id would name that one; if it still names this job, release it so
  -- adding ours again makes a new job instead of landing here once more.
  if redis.call('GET', dedupKey) == existingId then redis.call('DEL', dedupKey) end
  return {'again', 0}
end

local priority = tonumber(job[3]) or 0
if newer(job[1]) then
  redis.call('HSET', jobKey, 'data', data)
  return {'replaced', priority}
end
return {'kept', priority}
`;
