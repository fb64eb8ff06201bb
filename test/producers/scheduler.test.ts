import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { getTasks } from 'node-cron';
import { buildSchedules, slotAfter, slotAtOrBefore, slotId, startScheduler, type Scheduler, type StartSchedulerOptions } from '../../producers/scheduler/index.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

const BERLIN = 'Europe/Berlin';
const nightly = { fullSchedule: '0 2 * * *', incrementalSchedule: '*/15 * * * *', timezone: BERLIN };

describe('slot computation', () => {
  it('puts a 02:00 Europe/Berlin slot at 01:00Z in winter and 00:00Z in summer', () => {
    const winter = slotAtOrBefore('0 2 * * *', BERLIN, new Date('2026-11-30T09:30:00Z'))!;
    expect(winter.toISOString()).toBe('2026-11-30T01:00:00.000Z');
    expect(slotId('full-sync-crowd', winter)).toBe('full-sync-crowd-20261130T0100Z');
    const summer = slotAtOrBefore('0 2 * * *', BERLIN, new Date('2026-07-01T09:30:00Z'))!;
    expect(summer.toISOString()).toBe('2026-07-01T00:00:00.000Z');
    expect(slotAfter('0 2 * * *', BERLIN, summer).toISOString()).toBe('2026-07-02T00:00:00.000Z');
    expect(slotId('full-sync-entra', slotAtOrBefore('0 2 * * *', 'UTC', new Date('2026-11-30T02:00:00Z'))!)).toBe('full-sync-entra-20261130T0200Z');
  });

  it('counts the slot instant itself and floors anything later to its slot', () => {
    const at = (iso: string) => slotAtOrBefore('*/15 * * * *', BERLIN, new Date(iso))!.toISOString();
    expect(at('2026-11-30T00:15:00.000Z')).toBe('2026-11-30T00:15:00.000Z');
    expect(at('2026-11-30T00:29:59.999Z')).toBe('2026-11-30T00:15:00.000Z');
    expect(slotAfter('*/15 * * * *', BERLIN, new Date('2026-11-30T00:15:00Z')).toISOString()).toBe('2026-11-30T00:30:00.000Z');
    expect(slotId('pull-changes', new Date('2026-11-30T00:15:07Z'))).toBe('pull-changes-20261130T001507Z');
  });
});

describe('schedule settings', () => {
  it('names the variable of a cron expression whose shape passed the config but whose values do not', () => {
    expect(() => buildSchedules(['crowd'], { fullSchedule: '99 2 * * *', incrementalSchedule: undefined, timezone: 'UTC' })).toThrow(/SYNC_FULL_SCHEDULE/);
    expect(() => buildSchedules(['crowd'], { fullSchedule: undefined, incrementalSchedule: '*/15 25 * * *', timezone: 'UTC' })).toThrow(/SYNC_INCREMENTAL_SCHEDULE/);
  });
});

describe('scheduler', () => {
  const redis = workerRedis();
  const others: Redis[] = [];
  const open: Scheduler[] = [];
  let prefix: string;
  let queue: Queue;

  beforeEach(() => {
    prefix = uniquePrefix('sched');
    queue = new Queue('sync', { connection: redis, prefix });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
    await queue.close();
    await deletePrefix(redis, prefix);
  });
  afterAll(async () => {
    await Promise.all(others.map((r) => r.quit()));
    await redis.quit();
  });

  /** A scheduler on its own connection, as another replica would be. */
  async function replica(overrides: Partial<StartSchedulerOptions> = {}): Promise<Scheduler> {
    const connection = overrides.connection ?? workerRedis();
    others.push(connection);
    const scheduler = await startScheduler({ connection, prefix, targets: ['crowd', 'entra'], sync: nightly, cron: false, catchUpOnStart: false, ...overrides });
    open.push(scheduler);
    return scheduler;
  }

  const jobIds = async () => (await queue.getJobs(['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'])).map((j) => j.id).sort();

  it('enqueues a slot once across replicas racing for it, and never again after the job is gone', async () => {
    const [a, b] = [await replica(), await replica()];
    const slot = new Date('2026-11-30T01:00:00Z');
    const results = await Promise.all([a, b, a, b].map((s) => s.enqueueSlot('full-sync-crowd', slot)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await jobIds()).toEqual(['full-sync-crowd-20261130T0100Z']);
    const job = await queue.getJob('full-sync-crowd-20261130T0100Z');
    expect(job!.name).toBe('full-sync');
    expect(job!.data).toMatchObject({ schemaVersion: 1, targets: ['crowd'], mode: 'apply', slot: 'full-sync-crowd-20261130T0100Z' });
    expect(job!.opts).toMatchObject({ attempts: 8, removeOnComplete: { age: 3600 } });

    await job!.remove();
    expect(await Promise.all([a.enqueueSlot('full-sync-crowd', slot), b.enqueueSlot('full-sync-crowd', slot)])).toEqual([false, false]);
    // A late tick for the same night belongs to the same slot.
    expect(await b.enqueueSlot('full-sync-crowd', new Date('2026-11-30T01:07:00Z'))).toBe(false);
    expect(await jobIds()).toEqual([]);
    expect(await redis.get(`${prefix}:schedule:full-sync-crowd:last`)).toBe(String(slot.getTime()));
  });

  it('enqueues the slot a late tick belongs to, not one made from the clock', async () => {
    const s = await replica();
    expect(await s.enqueueSlot('pull-changes', new Date('2026-11-30T00:17:42Z'))).toBe(true);
    const job = await queue.getJob('pull-changes-20261130T0015Z');
    expect(job!.data).toMatchObject({ targets: ['crowd', 'entra'], slot: 'pull-changes-20261130T0015Z' });
    // An older slot arriving after a newer one is not enqueued.
    expect(await s.enqueueSlot('pull-changes', new Date('2026-11-30T00:00:00Z'))).toBe(false);
    await expect(s.enqueueSlot('nightly', new Date())).rejects.toThrow(/unknown schedule "nightly"/);
  });

  it('after three nights down, enqueues one full sync per target, for the latest missed slot', async () => {
    const before = await replica();
    const lastRun = new Date('2026-11-27T12:00:00Z');
    expect((await before.catchUp(lastRun)).map((r) => r.outcome)).toEqual(['recorded', 'recorded', 'recorded']);
    await before.close();
    expect(await jobIds()).toEqual([]);

    const [a, b] = [await replica(), await replica()];
    const back = new Date('2026-11-30T09:40:00Z');
    const results = (await Promise.all([a.catchUp(back), b.catchUp(back)])).flat();
    expect(results.filter((r) => r.outcome === 'enqueued').map((r) => r.name).sort()).toEqual(['full-sync-crowd', 'full-sync-entra', 'pull-changes']);
    expect(await jobIds()).toEqual(['full-sync-crowd-20261130T0100Z', 'full-sync-entra-20261130T0100Z', 'pull-changes-20261130T0930Z']);
    expect((await a.catchUp(back)).map((r) => r.outcome)).toEqual(['current', 'current', 'current']);
  });

  it('records the current slots on the very first start without enqueueing them', async () => {
    const slotBefore = slotAtOrBefore('0 2 * * *', BERLIN, new Date())!.getTime();
    const s = await replica({ catchUpOnStart: true });
    const slotAfterStart = slotAtOrBefore('0 2 * * *', BERLIN, new Date())!.getTime();
    expect(await jobIds()).toEqual([]);
    const last = Number(await redis.get(`${prefix}:schedule:full-sync-entra:last`));
    expect([slotBefore, slotAfterStart]).toContain(last);
    expect(s.nextSlots().map((n) => n.name)).toEqual(['full-sync-crowd', 'full-sync-entra', 'pull-changes']);
    expect(s.nextSlots().every((n) => n.at.getTime() > Date.now())).toBe(true);
  });

  it('creates no schedules or tasks for schedules that are off, and stops its tasks on close', async () => {
    const tasksBefore = getTasks().size;
    const off = await replica({ cron: true, catchUpOnStart: true, sync: { fullSchedule: undefined, incrementalSchedule: undefined, timezone: 'UTC' } });
    expect(off.schedules).toEqual([]);
    expect(off.nextSlots()).toEqual([]);
    expect(getTasks().size).toBe(tasksBefore);
    // Leap days only, so no live tick lands in this test.
    const fullOnly = await replica({ cron: true, sync: { ...nightly, fullSchedule: '0 2 29 2 *', incrementalSchedule: undefined } });
    expect(fullOnly.schedules.map((s) => s.name)).toEqual(['full-sync-crowd', 'full-sync-entra']);
    expect(getTasks().size).toBe(tasksBefore + 2);
    await fullOnly.close();
    expect(getTasks().size).toBe(tasksBefore);
    expect(await jobIds()).toEqual([]);
  });

  it('catches up with the latest slot once Redis is back after a dropped connection', async () => {
    const connection = workerRedis();
    const s = await replica({ connection, targets: ['crowd'], sync: { ...nightly, incrementalSchedule: undefined } });
    const threeDaysAgo = slotAtOrBefore('0 2 * * *', BERLIN, new Date(Date.now() - 3 * 86_400_000))!;
    await redis.set(`${prefix}:schedule:full-sync-crowd:last`, threeDaysAgo.getTime());
    const events = new QueueEvents('sync', { connection: { url: REDIS_URL }, prefix });
    try {
      await events.waitUntilReady();
      const added = new Promise<{ jobId: string }>((resolve) => events.once('added', resolve));
      connection.disconnect(true);
      const { jobId } = await added;
      expect(jobId).toBe(slotId('full-sync-crowd', slotAtOrBefore('0 2 * * *', BERLIN, new Date())!));
      expect(s.schedules).toHaveLength(1);
    } finally {
      await events.close();
    }
  });

  it('enqueues from the running cron task', async () => {
    const events = new QueueEvents('sync', { connection: { url: REDIS_URL }, prefix });
    try {
      await events.waitUntilReady();
      const added = new Promise<{ jobId: string; name: string }>((resolve) => events.once('added', resolve));
      await replica({ cron: true, catchUpOnStart: true, targets: ['entra'], sync: { fullSchedule: undefined, incrementalSchedule: '* * * * * *', timezone: BERLIN } });
      const { jobId, name } = await added;
      expect(name).toBe('pull-changes');
      expect(jobId).toMatch(/^pull-changes-\d{8}T\d{4}(\d{2})?Z$/);
    } finally {
      await events.close();
    }
  });
});
