import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AppField, RemoteUser, Target } from '../../shared/jobs.js';
import type { AttributeDiff } from './compare.js';

/**
 * Persisted plans (design decision 8). A plan is computed once, shown, and applied through
 * the ordinary push / apply-user jobs; its entries stay in Redis so an operator can read,
 * approve or reject it, and so an apply interrupted by a crash resumes where it stopped.
 *
 *   <prefix>:plan:<id>          string  the plan's meta (JSON)
 *   <prefix>:plan:<id>:entries  list    one JSON entry per action (unchanged users are only counted)
 *   <prefix>:plan:<id>:cursor   string  entries already handed to the queues
 *   <prefix>:plans              zset    plan ids by creation time
 */

export const PLAN_ACTIONS = ['create', 'update', 'disable', 'delete', 'import', 'appUpdate', 'appDisable', 'link', 'unchanged', 'conflict'] as const;
export type PlanAction = (typeof PLAN_ACTIONS)[number];
export type PlanCounts = Record<PlanAction, number>;

export const PLAN_STATUSES = ['planning', 'planned', 'staged', 'approved', 'applying', 'applied', 'rejected', 'failed'] as const;
export type PlanStatus = (typeof PLAN_STATUSES)[number];

export interface PlanEntry {
  action: Exclude<PlanAction, 'unchanged'>;
  appUserId?: string;
  remoteId?: string;
  /** Crowd name or Entra UPN. */
  remoteName?: string;
  username?: string;
  /** Target-side attribute differences (update, link). */
  diff?: AttributeDiff[];
  /** App-side differences (appUpdate, link) and the fields to take. */
  appDiff?: AttributeDiff[];
  fields?: AppField[];
  /** The remote user, for import / appUpdate. */
  remote?: RemoteUser;
  appUsername?: string;
  /** Why: conflicts, and users that could not be planned. */
  reason?: string;
}

export interface PlanMeta {
  id: string;
  target: Target;
  status: PlanStatus;
  /** Dry runs are never applied. */
  dryRun: boolean;
  reason?: string;
  createdAt: number;
  updatedAt: number;
  slot?: string;
  counts: PlanCounts;
  /** Links of this target when the plan was made: the base of the percentage guard. */
  linked: number;
  removals: number;
  threshold: { absolute: number; percent: number };
  /** Once applying: jobs handed out, and how they ended. */
  apply?: { total: number; enqueued: number; succeeded: number; skipped: number; failed: number; startedAt: number; finishedAt?: number };
}

const PLAN_TTL_S = 30 * 86_400;

const TRANSITION = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local status = cjson.decode(raw)['status']
for _, s in ipairs(cjson.decode(ARGV[1])) do
  if s == status then
    redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
    return 1
  end
end
return 0
`;

export const emptyCounts = (): PlanCounts => Object.fromEntries(PLAN_ACTIONS.map((a) => [a, 0])) as PlanCounts;

export function newPlanId(target: Target, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${target}-${stamp}-${randomBytes(3).toString('hex')}`;
}

export class PlanStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  key(id: string, part?: 'entries' | 'cursor'): string {
    return `${this.#prefix}:plan:${id}${part ? `:${part}` : ''}`;
  }

  async create(meta: PlanMeta): Promise<void> {
    await this.#redis.multi().set(this.key(meta.id), JSON.stringify(meta), 'EX', PLAN_TTL_S).zadd(`${this.#prefix}:plans`, meta.createdAt, meta.id).exec();
  }

  async get(id: string): Promise<PlanMeta | undefined> {
    const raw = await this.#redis.get(this.key(id));
    return raw ? (JSON.parse(raw) as PlanMeta) : undefined;
  }

  async save(meta: PlanMeta): Promise<PlanMeta> {
    const next = { ...meta, updatedAt: Date.now() };
    await this.#redis.set(this.key(meta.id), JSON.stringify(next), 'EX', PLAN_TTL_S);
    return next;
  }

  /**
   * Moves the plan from one of `from` to `to` atomically (two operators approving at once, an
   * approve racing a reject); undefined when it was not in `from`.
   */
  async transition(id: string, from: readonly PlanStatus[], to: PlanStatus, patch: Partial<PlanMeta> = {}): Promise<PlanMeta | undefined> {
    const meta = await this.get(id);
    if (!meta || !from.includes(meta.status)) return undefined;
    const next: PlanMeta = { ...meta, ...patch, status: to, updatedAt: Date.now() };
    const ok = await this.#redis.eval(TRANSITION, 1, this.key(id), JSON.stringify(from), JSON.stringify(next), String(PLAN_TTL_S));
    return ok === 1 ? next : undefined;
  }

  async appendEntries(id: string, entries: readonly PlanEntry[]): Promise<void> {
    if (!entries.length) return;
    await this.#redis.multi().rpush(this.key(id, 'entries'), ...entries.map((e) => JSON.stringify(e))).expire(this.key(id, 'entries'), PLAN_TTL_S).exec();
  }

  async entryCount(id: string): Promise<number> {
    return this.#redis.llen(this.key(id, 'entries'));
  }

  async entries(id: string, start: number, count: number): Promise<PlanEntry[]> {
    // LRANGE's end is inclusive and -1 means the last: a count of 0 would read the whole list.
    if (count <= 0) return [];
    const raw = await this.#redis.lrange(this.key(id, 'entries'), start, start + count - 1);
    return raw.map((r) => JSON.parse(r) as PlanEntry);
  }

  async clearEntries(id: string): Promise<void> {
    await this.#redis.del(this.key(id, 'entries'), this.key(id, 'cursor'));
  }

  async cursor(id: string): Promise<number> {
    return Number((await this.#redis.get(this.key(id, 'cursor'))) ?? 0);
  }

  async setCursor(id: string, value: number): Promise<void> {
    await this.#redis.set(this.key(id, 'cursor'), String(value), 'EX', PLAN_TTL_S);
  }

  /** Newest first. */
  async list(options: { limit?: number; target?: Target } = {}): Promise<PlanMeta[]> {
    if ((options.limit ?? 50) <= 0) return [];
    const ids = await this.#redis.zrevrange(`${this.#prefix}:plans`, 0, Math.max(0, (options.limit ?? 50) * 4) - 1);
    const out: PlanMeta[] = [];
    for (const id of ids) {
      const meta = await this.get(id);
      if (meta && (!options.target || meta.target === options.target)) out.push(meta);
      if (out.length >= (options.limit ?? 50)) break;
    }
    return out;
  }
}
