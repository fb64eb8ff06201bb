// Stored plans on real Redis: the documented key layout and its 30-day expiry, the atomic
// status change two operators may race on, the entry list an apply reads a chunk at a time,
// and the newest-first listing the dashboard and the CLI show. Only the clock is fixed.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { Redis } from 'ioredis';
import { emptyCounts, newPlanId, PLAN_ACTIONS, PlanStore, type PlanEntry, type PlanMeta } from '../../../workers/sync/plan-store.js';
import { fixDate } from '../../helpers/clock.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../../helpers/redis.js';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const MONTH_S = 30 * 86_400;

let redis: Redis;
let prefix: string;
let store: PlanStore;

beforeAll(() => {
  redis = workerRedis();
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  fixDate(T0);
  prefix = uniquePrefix('plan-store');
  store = new PlanStore(redis, prefix);
});
afterEach(async () => {
  jest.useRealTimers();
  await deletePrefix(redis, prefix);
});

const meta = (id: string, over: Partial<PlanMeta> = {}): PlanMeta => ({
  id, target: 'crowd', status: 'planned', dryRun: false, createdAt: 1000, updatedAt: 1000, counts: { ...emptyCounts(), create: 2 },
  linked: 5, removals: 0, threshold: { absolute: 10, percent: 10 }, ...over,
});
const entry = (n: number): PlanEntry => ({ action: 'create', appUserId: `u${n}`, username: `user${n}` });
const stored = async (key: string) => JSON.parse((await redis.get(key))!) as unknown;
const expectMonthTtl = async (key: string) => {
  const ttl = await redis.ttl(key);
  expect(ttl).toBeGreaterThan(MONTH_S - 10);
  expect(ttl).toBeLessThanOrEqual(MONTH_S);
};

describe('plan ids and counts', () => {
  it('names a plan by target, UTC second and six random hex digits', () => {
    const a = newPlanId('crowd', new Date(T0));
    const b = newPlanId('crowd', new Date(T0));
    expect(a).toMatch(/^crowd-20260102T030405Z-[0-9a-f]{6}$/);
    expect(b).toMatch(/^crowd-20260102T030405Z-[0-9a-f]{6}$/);
    expect(a).not.toBe(b);
    expect(newPlanId('entra', new Date(Date.UTC(2025, 11, 31, 23, 59, 59, 0)))).toMatch(/^entra-20251231T235959Z-[0-9a-f]{6}$/);
  });

  it('stamps a new id with the current time by default', () => {
    expect(newPlanId('entra')).toMatch(/^entra-20260102T030405Z-[0-9a-f]{6}$/);
  });

  it('starts every action, unchanged included, at zero, in a fresh object each time', () => {
    const counts = emptyCounts();
    expect(counts).toStrictEqual({ create: 0, update: 0, disable: 0, delete: 0, import: 0, appUpdate: 0, appDisable: 0, link: 0, unchanged: 0, conflict: 0 });
    expect(Object.keys(counts)).toStrictEqual([...PLAN_ACTIONS]);
    counts.create = 3;
    expect(emptyCounts().create).toBe(0);
  });
});

describe('PlanStore: meta', () => {
  it('keeps each plan under the documented keys', () => {
    expect(store.key('p1')).toBe(`${prefix}:plan:p1`);
    expect(store.key('p1', 'entries')).toBe(`${prefix}:plan:p1:entries`);
    expect(store.key('p1', 'cursor')).toBe(`${prefix}:plan:p1:cursor`);
  });

  it('creates a plan for 30 days and indexes it by creation time', async () => {
    const m = meta('p1', { createdAt: 4242 });
    await store.create(m);
    expect(await stored(`${prefix}:plan:p1`)).toStrictEqual(m);
    await expectMonthTtl(`${prefix}:plan:p1`);
    expect(await redis.zrange(`${prefix}:plans`, 0, -1, 'WITHSCORES')).toStrictEqual(['p1', '4242']);
    expect(await store.get('p1')).toStrictEqual(m);
  });

  it('has nothing for an unknown plan', async () => {
    expect(await store.get('nope')).toBeUndefined();
  });

  it('saves a plan stamped with the time of the save, and renews its 30 days', async () => {
    await store.create(meta('p1'));
    await redis.expire(`${prefix}:plan:p1`, 60);
    const saved = await store.save({ ...meta('p1'), status: 'applying' });
    expect(saved).toStrictEqual(meta('p1', { status: 'applying', updatedAt: T0 }));
    expect(await stored(`${prefix}:plan:p1`)).toStrictEqual(saved);
    await expectMonthTtl(`${prefix}:plan:p1`);
    expect(await redis.zcard(`${prefix}:plans`)).toBe(1);
  });
});

describe('PlanStore: transition', () => {
  beforeEach(async () => {
    await store.create(meta('p1', { status: 'planned' }));
    await redis.expire(`${prefix}:plan:p1`, 60);
  });

  it('moves a plan from any of the given statuses, with the patch, and stores exactly what it returns', async () => {
    const next = await store.transition('p1', ['staged', 'planned'], 'approved', { reason: 'ok by ops' });
    expect(next).toStrictEqual(meta('p1', { status: 'approved', reason: 'ok by ops', updatedAt: T0 }));
    expect(await stored(`${prefix}:plan:p1`)).toStrictEqual(next);
    await expectMonthTtl(`${prefix}:plan:p1`);
  });

  it('the new status wins over one in the patch', async () => {
    const next = await store.transition('p1', ['planned'], 'rejected', { status: 'applied' });
    expect(next?.status).toBe('rejected');
    expect((await store.get('p1'))?.status).toBe('rejected');
  });

  it('refuses a plan in none of the given statuses and leaves it alone', async () => {
    expect(await store.transition('p1', ['staged', 'approved'], 'applying')).toBeUndefined();
    expect(await stored(`${prefix}:plan:p1`)).toStrictEqual(meta('p1', { status: 'planned' }));
    expect(await redis.ttl(`${prefix}:plan:p1`)).toBeLessThanOrEqual(60);
  });

  it('refuses an unknown plan without creating it', async () => {
    expect(await store.transition('nope', ['planned'], 'approved')).toBeUndefined();
    expect(await redis.exists(`${prefix}:plan:nope`)).toBe(0);
  });

  it('refuses when another operator approved the plan after it was read: it is applied once', async () => {
    const script = jest.spyOn(redis, 'eval');
    const real = Object.getPrototypeOf(redis).eval as (...a: unknown[]) => Promise<unknown>;
    try {
      // The other operator's approval lands between this one's read and its write.
      script.mockImplementationOnce(async (...args: unknown[]) => {
        await redis.set(`${prefix}:plan:p1`, JSON.stringify(meta('p1', { status: 'approved', reason: 'first' })));
        return real.apply(redis, args);
      });
      expect(await store.transition('p1', ['staged', 'planned'], 'approved')).toBeUndefined();
      expect(script).toHaveBeenCalledTimes(1);
    } finally {
      script.mockRestore();
    }
    expect(await store.get('p1')).toStrictEqual(meta('p1', { status: 'approved', reason: 'first' }));
  });

  it('refuses when the plan expired after it was read, without bringing it back', async () => {
    const script = jest.spyOn(redis, 'eval');
    const real = Object.getPrototypeOf(redis).eval as (...a: unknown[]) => Promise<unknown>;
    try {
      script.mockImplementationOnce(async (...args: unknown[]) => {
        await redis.del(`${prefix}:plan:p1`);
        return real.apply(redis, args);
      });
      expect(await store.transition('p1', ['planned'], 'approved')).toBeUndefined();
    } finally {
      script.mockRestore();
    }
    expect(await redis.exists(`${prefix}:plan:p1`)).toBe(0);
  });

  it('checks every allowed status in the atomic step too, not only the first', async () => {
    await store.create(meta('p2', { status: 'staged' }));
    expect(await store.transition('p2', ['planned', 'failed', 'staged'], 'approved')).toMatchObject({ status: 'approved' });
    expect((await store.get('p2'))?.status).toBe('approved');
  });
});

describe('PlanStore: entries and cursor', () => {
  it('appends entries in order, as JSON, kept for 30 days', async () => {
    await store.appendEntries('p1', [entry(0), entry(1)]);
    await redis.expire(`${prefix}:plan:p1:entries`, 60);
    await store.appendEntries('p1', [{ action: 'conflict', reason: 'two users', appUserId: 'u2' }]);
    expect(await redis.lrange(`${prefix}:plan:p1:entries`, 0, -1)).toStrictEqual([
      JSON.stringify(entry(0)), JSON.stringify(entry(1)), JSON.stringify({ action: 'conflict', reason: 'two users', appUserId: 'u2' }),
    ]);
    await expectMonthTtl(`${prefix}:plan:p1:entries`);
    expect(await store.entryCount('p1')).toBe(3);
  });

  it('appending nothing writes nothing', async () => {
    await store.appendEntries('p1', []);
    expect(await redis.exists(`${prefix}:plan:p1:entries`)).toBe(0);
    expect(await store.entryCount('p1')).toBe(0);
  });

  it('reads a window of entries from a position', async () => {
    await store.appendEntries('p1', [0, 1, 2, 3, 4].map(entry));
    expect(await store.entries('p1', 0, 2)).toStrictEqual([entry(0), entry(1)]);
    expect(await store.entries('p1', 2, 2)).toStrictEqual([entry(2), entry(3)]);
    expect(await store.entries('p1', 4, 2)).toStrictEqual([entry(4)]);
    expect(await store.entries('p1', 5, 2)).toStrictEqual([]);
    expect(await store.entries('p1', 1, 1)).toStrictEqual([entry(1)]);
    expect(await store.entries('p1', 0, 0)).toStrictEqual([]);
    expect(await store.entries('p1', 1, -1)).toStrictEqual([]);
  });

  it('starts the cursor at 0 and keeps it as a number for 30 days', async () => {
    expect(await store.cursor('p1')).toBe(0);
    await store.setCursor('p1', 1000);
    expect(await redis.get(`${prefix}:plan:p1:cursor`)).toBe('1000');
    await expectMonthTtl(`${prefix}:plan:p1:cursor`);
    expect(await store.cursor('p1')).toBe(1000);
  });

  it('clears the entries and the cursor, but keeps the plan itself', async () => {
    await store.create(meta('p1'));
    await store.appendEntries('p1', [entry(0)]);
    await store.setCursor('p1', 1);
    await store.clearEntries('p1');
    expect(await redis.exists(`${prefix}:plan:p1:entries`, `${prefix}:plan:p1:cursor`)).toBe(0);
    expect(await store.get('p1')).toStrictEqual(meta('p1'));
    expect(await redis.zrange(`${prefix}:plans`, 0, -1)).toStrictEqual(['p1']);
  });
});

describe('PlanStore: list', () => {
  const createMany = async (n: number, from: number, over: Partial<PlanMeta> = {}) => {
    for (let i = 0; i < n; i++) await store.create(meta(`${over.target ?? 'crowd'}-${from + i}`, { createdAt: from + i, ...over }));
  };

  it('lists plans newest first by creation time, whatever the order they were made in', async () => {
    await store.create(meta('mid', { createdAt: 2000 }));
    await store.create(meta('old', { createdAt: 1000 }));
    await store.create(meta('new', { createdAt: 3000, target: 'entra' }));
    expect((await store.list()).map((m) => m.id)).toStrictEqual(['new', 'mid', 'old']);
    expect(await store.list({ limit: 1 })).toStrictEqual([meta('new', { createdAt: 3000, target: 'entra' })]);
    expect(await store.list({ limit: 0 })).toStrictEqual([]);
    expect(await store.list({ limit: -1 })).toStrictEqual([]);
  });

  it("keeps to one target's plans when asked", async () => {
    await store.create(meta('c1', { createdAt: 1 }));
    await store.create(meta('e1', { createdAt: 2, target: 'entra' }));
    await store.create(meta('c2', { createdAt: 3 }));
    expect((await store.list({ target: 'crowd' })).map((m) => m.id)).toStrictEqual(['c2', 'c1']);
    expect((await store.list({ target: 'entra' })).map((m) => m.id)).toStrictEqual(['e1']);
  });

  it('skips plans that expired while their index entry stayed', async () => {
    await store.create(meta('a', { createdAt: 1 }));
    await store.create(meta('b', { createdAt: 2 }));
    await store.create(meta('c', { createdAt: 3 }));
    await redis.del(`${prefix}:plan:b`);
    expect((await store.list({ limit: 2 })).map((m) => m.id)).toStrictEqual(['c', 'a']);
  });

  it('looks at no more than four times the limit of the newest plans when filtering', async () => {
    await store.create(meta('c-old', { createdAt: 1 }));
    await createMany(3, 10, { target: 'entra' });
    expect((await store.list({ limit: 1, target: 'crowd' })).map((m) => m.id)).toStrictEqual(['c-old']);
    await createMany(1, 20, { target: 'entra' });
    expect(await store.list({ limit: 1, target: 'crowd' })).toStrictEqual([]);
  });

  it('returns 50 plans by default, from the newest 200', async () => {
    await createMany(51, 1000);
    const plans = await store.list();
    expect(plans).toHaveLength(50);
    expect(plans[0]!.id).toBe('crowd-1050');
    expect(plans[49]!.id).toBe('crowd-1001');

    await createMany(199, 2000, { target: 'entra' });
    expect((await store.list({ target: 'crowd' })).map((m) => m.id)).toStrictEqual(['crowd-1050']);
    await createMany(1, 3000, { target: 'entra' });
    // 200 newer entra plans leave the crowd ones out of the window.
    expect(await store.list({ target: 'crowd' })).toStrictEqual([]);
  });
});
