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
 * BullMQ overwrites the next-job slot with every add, whatever it held: with two producers
 * whose events cross, the older snapshot added last would follow the running job and the
 * newer one be lost. So the newest snapshot that took the slot is kept beside it (`<slot>:last`,
 * data and options, for an hour) and put back when an older one lands there, or into the job
 * made from the slot if that has not started. Password changes are not copied (ARGV[7] 0):
 * an envelope is kept nowhere but in its own job.
 *
 * KEYS: active list, the user's job, our job, the deduplication key, the next-job hash, its copy.
 * ARGV: the user's job id, our job id, our version, our rank, our data, the window in ms (0: none),
 * 1 to keep the copy.
 * Returns { outcome, the user's job's priority }.
 */
export const MERGE_PUSH_LUA = `
local activeKey, jobKey, ownKey, dedupKey, nextKey, lastKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local existingId, ownId, version, rank, data = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local windowMs = tonumber(ARGV[6]) or 0
local keepCopy = ARGV[7] == '1'
local LAST_TTL_MS = 3600000

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

-- The newest snapshot that took the next-job slot, when it is at least as new as ours.
local function newerCopy()
  if not keepCopy then return nil end
  local last = redis.call('HMGET', lastKey, 'data', 'opts')
  if last[1] and not newer(last[1]) then return last end
  return nil
end

-- The running job finished and BullMQ created ours from the next-job slot.
if redis.call('EXISTS', ownKey) == 1 then
  local last = newerCopy()
  if last and not redis.call('LPOS', activeKey, ownId) and not redis.call('HGET', ownKey, 'finishedOn') then
    redis.call('HSET', ownKey, 'data', last[1])
  end
  return {'own', 0}
end

if redis.call('LPOS', activeKey, existingId) then
  local nextId = redis.call('HGET', nextKey, 'jid')
  if nextId == ownId then
    local last = newerCopy()
    if last then
      redis.call('HSET', nextKey, 'data', last[1], 'opts', last[2])
      holdNext()
      return {'kept', 0}
    end
    if keepCopy then
      redis.call('HSET', lastKey, 'data', data, 'opts', redis.call('HGET', nextKey, 'opts'))
      redis.call('PEXPIRE', lastKey, LAST_TTL_MS)
    end
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
