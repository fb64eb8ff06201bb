// What an operator's approve or reject does to a stored plan, on real Redis and a real sync
// queue with no worker: which statuses may move, the job an approval enqueues (its payload and
// retry options, read back from Redis), and the message an operator sees when refused.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { PLAN_STATUSES, PlanStore, emptyCounts, type PlanMeta, type PlanStatus } from '../../../workers/sync/plan-store.js';
import { approvePlan, rejectPlan } from '../../../workers/sync/operators.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../../helpers/redis.js';

let redis: Redis;
let prefix: string;
let store: PlanStore;
let queue: Queue;

beforeAll(() => {
  redis = workerRedis();
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  prefix = uniquePrefix('operators');
  store = new PlanStore(redis, prefix);
  queue = new Queue('sync', { connection: redis, prefix });
});
afterEach(async () => {
  await queue.close();
  await deletePrefix(redis, prefix);
});

const ID = 'entra-20260101T000000Z-abcdef';
const meta = (over: Partial<PlanMeta> = {}): PlanMeta => ({
  id: ID, target: 'entra', status: 'staged', dryRun: false, createdAt: 1, updatedAt: 1, counts: { ...emptyCounts(), disable: 9 },
  linked: 10, removals: 9, threshold: { absolute: 5, percent: 10 }, ...over,
});
const withEntries = async (m: PlanMeta) => {
  await store.create(m);
  await store.appendEntries(m.id, [{ action: 'disable', appUserId: 'u1', remoteName: 'bob' }]);
  await store.setCursor(m.id, 0);
};
const refused = PLAN_STATUSES.filter((s) => s !== 'staged' && s !== 'planned');

describe('approvePlan', () => {
  it.each(['staged', 'planned'] as const)('approves a %s plan and enqueues its apply, with retries and retention', async (status) => {
    await withEntries(meta({ status }));
    const before = Date.now();
    const { plan, jobId } = await approvePlan(store, queue, ID);
    const after = Date.now();

    expect(plan).toMatchObject({ ...meta({ status: 'approved' }), updatedAt: expect.any(Number) });
    expect(await store.get(ID)).toStrictEqual(plan);
    expect(await store.entryCount(ID)).toBe(1);

    const job = (await queue.getJob(jobId))!;
    expect(job.name).toBe('full-sync');
    expect(job.data).toStrictEqual({ schemaVersion: 1, enqueuedAt: expect.any(Number), targets: ['entra'], mode: 'apply', planId: ID });
    expect(job.data.enqueuedAt).toBeGreaterThanOrEqual(before);
    expect(job.data.enqueuedAt).toBeLessThanOrEqual(after);
    expect(job.opts).toMatchObject({ attempts: 3, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: { age: 86_400 }, removeOnFail: { age: 2_592_000 } });
    expect(await queue.getJobCounts('waiting', 'delayed', 'prioritized')).toStrictEqual({ waiting: 1, delayed: 0, prioritized: 0 });
  });

  it('a second approval of the same plan is refused and enqueues nothing more', async () => {
    await withEntries(meta());
    await approvePlan(store, queue, ID);
    await expect(approvePlan(store, queue, ID)).rejects.toThrow(`plan ${ID} is approved; only a staged or planned plan can be approved`);
    expect(await queue.getWaitingCount()).toBe(1);
  });

  it.each(refused)('refuses a %s plan, naming its status, and leaves it as it was', async (status: PlanStatus) => {
    await withEntries(meta({ status }));
    await expect(approvePlan(store, queue, ID)).rejects.toThrow(new Error(`plan ${ID} is ${status}; only a staged or planned plan can be approved`));
    expect(await store.get(ID)).toStrictEqual(meta({ status }));
    expect(await queue.getWaitingCount()).toBe(0);
  });

  it('refuses a plan that does not exist or has expired', async () => {
    await expect(approvePlan(store, queue, 'crowd-gone')).rejects.toThrow(new Error('no plan crowd-gone (plans are kept 30 days)'));
    expect(await queue.getWaitingCount()).toBe(0);
    expect(await store.get('crowd-gone')).toBeUndefined();
  });

  it('never applies a dry run, and leaves it as it was', async () => {
    await withEntries(meta({ status: 'planned', dryRun: true }));
    await expect(approvePlan(store, queue, ID)).rejects.toThrow(new Error(`plan ${ID} is a dry run and is never applied`));
    expect(await store.get(ID)).toStrictEqual(meta({ status: 'planned', dryRun: true }));
    expect(await queue.getJobCounts('waiting', 'delayed', 'prioritized')).toStrictEqual({ waiting: 0, delayed: 0, prioritized: 0 });
  });
});

describe('rejectPlan', () => {
  it.each(['staged', 'planned'] as const)('rejects a %s plan for good: its entries and cursor go, the plan stays as a record', async (status) => {
    await withEntries(meta({ status }));
    const plan = await rejectPlan(store, ID);
    expect(plan).toMatchObject({ ...meta({ status: 'rejected' }), updatedAt: expect.any(Number) });
    expect(await store.get(ID)).toStrictEqual(plan);
    expect(await redis.exists(store.key(ID, 'entries'), store.key(ID, 'cursor'))).toBe(0);
    expect(await queue.getWaitingCount()).toBe(0);
  });

  it.each(refused)('refuses a %s plan, naming its status, and keeps its entries', async (status: PlanStatus) => {
    await withEntries(meta({ status }));
    await expect(rejectPlan(store, ID)).rejects.toThrow(new Error(`plan ${ID} is ${status}; only a staged or planned plan can be rejected`));
    expect(await store.get(ID)).toStrictEqual(meta({ status }));
    expect(await store.entryCount(ID)).toBe(1);
    expect(await redis.get(store.key(ID, 'cursor'))).toBe('0');
  });

  it('refuses a plan that does not exist or has expired', async () => {
    await expect(rejectPlan(store, 'crowd-gone')).rejects.toThrow(new Error('no plan crowd-gone (plans are kept 30 days)'));
    expect(await store.get('crowd-gone')).toBeUndefined();
  });
});
