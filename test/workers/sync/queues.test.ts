// The queues bulk sync hands its jobs to, on real Redis: which queue each kind of job lands
// on, its exact payload and options read back from Redis (bulk priority, retries, per-user
// coalescing), one event reader per queue however many ask at once, and a clean close.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { UserSnapshot } from '../../../shared/jobs.js';
import { SyncQueues } from '../../../workers/sync/queues.js';
import { JobTracker } from '../../../workers/sync/tracker.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../../helpers/redis.js';

let redis: Redis;
let prefix: string;
let queues: SyncQueues;

beforeAll(() => {
  redis = workerRedis();
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  prefix = uniquePrefix('sync-queues');
  queues = new SyncQueues({ connection: redis, prefix, attempts: 4, backoffMs: 250 });
});
afterEach(async () => {
  jest.restoreAllMocks();
  await queues.close();
  await deletePrefix(redis, prefix);
});

const OPTIONS = { attempts: 4, backoff: { type: 'idsync', delay: 250 }, removeOnComplete: { age: 3600, count: 10_000 }, removeOnFail: { age: 2_592_000 }, priority: 10 };
const user = (id: string, over: Partial<UserSnapshot> = {}): UserSnapshot & { version: number } => ({ id, username: id, email: `${id}@example.com`, active: true, version: 5, ...over });

async function stored(queue: Queue, ids: string[]): Promise<Job[]> {
  const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
  return jobs.map((j) => j!);
}

/** A time window around `run`, for the enqueue stamps. */
async function timed<T>(run: () => Promise<T>): Promise<{ result: T; from: number; to: number }> {
  const from = Date.now();
  const result = await run();
  return { result, from, to: Date.now() };
}

describe('SyncQueues', () => {
  it('gives each target and the application a queue of its own name under the prefix', async () => {
    for (const name of ['crowd', 'entra', 'app'] as const) {
      const { queue, tracker } = await queues.get(name);
      expect(queue).toBeInstanceOf(Queue);
      expect([queue.name, queue.opts.prefix]).toStrictEqual([name, prefix]);
      expect(tracker).toBeInstanceOf(JobTracker);
    }
  });

  it('opens one queue and one event reader per name, even for callers asking at once', async () => {
    const duplicate = jest.spyOn(redis, 'duplicate');
    const [a, b] = await Promise.all([queues.get('crowd'), queues.get('crowd')]);
    expect(a).toBe(b);
    expect(await queues.get('crowd')).toBe(a);
    expect(duplicate).toHaveBeenCalledTimes(1);
    const other = await queues.get('entra');
    expect(other.queue).not.toBe(a.queue);
    expect(duplicate).toHaveBeenCalledTimes(2);
  });

  it('runs every bulk job behind live events, with the standard retries and retention', () => {
    expect(queues.jobOptions).toStrictEqual(OPTIONS);
    expect(new SyncQueues({ connection: redis, prefix, attempts: 1, backoffMs: 9 }).jobOptions).toStrictEqual({ ...OPTIONS, attempts: 1, backoff: { type: 'idsync', delay: 9 } });
  });

  it('enqueues upserts on the target queue, one push per user, coalescing per user', async () => {
    const users = [user('a1', { firstName: 'Ann' }), user('b2', { active: false })];
    const { result: ids, from, to } = await timed(() => queues.pushUpserts('entra', users, 'provision'));
    expect(ids).toHaveLength(2);
    const { queue } = await queues.get('entra');
    const jobs = await stored(queue, ids);
    jobs.forEach((job, i) => {
      expect(job.name).toBe('push-user');
      expect(job.data).toStrictEqual({ schemaVersion: 1, enqueuedAt: jobs[0]!.data.enqueuedAt, op: 'upsert', user: users[i], origin: 'provision' });
      expect(job.opts).toMatchObject(OPTIONS);
      expect(job.deduplicationId).toBe(`push-user-${users[i]!.id}`);
      // A change that lands while the user's push runs follows it rather than being dropped.
      expect(job.opts.deduplication).toMatchObject({ keepLastIfActive: true });
    });
    expect(jobs[0]!.data.enqueuedAt).toBeGreaterThanOrEqual(from);
    expect(jobs[0]!.data.enqueuedAt).toBeLessThanOrEqual(to);
    expect(await queue.getJobCounts('prioritized', 'waiting')).toStrictEqual({ prioritized: 2, waiting: 0 });

    // A newer snapshot of a user whose push still waits joins that job instead of adding one.
    const again = await queues.pushUpserts('entra', [user('a1', { firstName: 'Anna', version: 6 })], 'sync');
    expect(again).toStrictEqual([ids[0]]);
    const [merged] = await stored(queue, again);
    expect(merged!.data).toMatchObject({ op: 'upsert', user: { id: 'a1', firstName: 'Anna', version: 6 } });
    expect(await queue.getJobCounts('prioritized')).toStrictEqual({ prioritized: 2 });
  });

  it('marks a full sync push as such', async () => {
    const [id] = await queues.pushUpserts('crowd', [user('a1')], 'sync');
    const [job] = await stored((await queues.get('crowd')).queue, [id!]);
    expect(job!.data).toMatchObject({ origin: 'sync' });
  });

  it('enqueues deletes on the target queue, versioned now, keeping the name when known', async () => {
    const { result: ids, from, to } = await timed(() => queues.pushDeletes('entra', [{ id: 'a1', username: 'alice' }, { id: 'b2' }]));
    const { queue } = await queues.get('entra');
    const [alice, bob] = await stored(queue, ids);
    const now = alice!.data.enqueuedAt as number;
    expect(now).toBeGreaterThanOrEqual(from);
    expect(now).toBeLessThanOrEqual(to);
    expect(alice!.name).toBe('push-user');
    expect(alice!.data).toStrictEqual({ schemaVersion: 1, enqueuedAt: now, op: 'delete', user: { id: 'a1', username: 'alice', version: now }, origin: 'sync' });
    expect(bob!.data).toStrictEqual({ schemaVersion: 1, enqueuedAt: now, op: 'delete', user: { id: 'b2', version: now }, origin: 'sync' });
    expect(alice!.opts).toMatchObject(OPTIONS);
    expect([alice!.deduplicationId, bob!.deduplicationId]).toStrictEqual(['push-user-a1', 'push-user-b2']);
    expect(alice!.opts.deduplication).toMatchObject({ keepLastIfActive: true });
    expect(await (await queues.get('crowd')).queue.count()).toBe(0);
  });

  it('enqueues pulls of single users on the target queue', async () => {
    const { result: ids, from, to } = await timed(() => queues.pulls('entra', ['r1', 'r2']));
    const jobs = await stored((await queues.get('entra')).queue, ids);
    expect(jobs.map((j) => [j.name, j.data.user, j.data.mode])).toStrictEqual([['pull-user', { id: 'r1' }, 'pull'], ['pull-user', { id: 'r2' }, 'pull']]);
    for (const job of jobs) {
      expect(job.data).toStrictEqual({ schemaVersion: 1, enqueuedAt: expect.any(Number), user: expect.anything(), mode: 'pull' });
      expect(job.data.enqueuedAt).toBeGreaterThanOrEqual(from);
      expect(job.data.enqueuedAt).toBeLessThanOrEqual(to);
      expect(job.opts).toMatchObject(OPTIONS);
    }
  });

  it('enqueues application changes on the app queue', async () => {
    const remote = { target: 'crowd' as const, remoteId: 'r1', username: 'carol', email: 'carol@example.com', active: true };
    const changes = [
      { source: 'crowd' as const, action: 'import' as const, remote, planId: 'p1', appUsername: 'carol' },
      { source: 'crowd' as const, action: 'disable' as const, appUserId: 'a9', remote: null, planId: 'p1' },
    ];
    const { result: ids, from, to } = await timed(() => queues.applies(changes));
    const { queue } = await queues.get('app');
    const jobs = await stored(queue, ids);
    jobs.forEach((job, i) => {
      expect(job.name).toBe('apply-user');
      expect(job.data).toStrictEqual({ schemaVersion: 1, enqueuedAt: expect.any(Number), ...changes[i] });
      expect(job.data.enqueuedAt).toBeGreaterThanOrEqual(from);
      expect(job.data.enqueuedAt).toBeLessThanOrEqual(to);
      expect(job.opts).toMatchObject(OPTIONS);
    });
  });

  it("tracks its queue's jobs from the moment it was opened", async () => {
    const { queue, tracker } = await queues.get('crowd');
    const ids = await queues.pulls('crowd', ['r1', 'r2']);
    const connection = redis.duplicate();
    const worker = new Worker('crowd', async (job) => (job.data.user.id === 'r1' ? { outcome: 'skipped' } : { outcome: 'updated' }), { connection, prefix });
    try {
      await expect(tracker.wait(ids, () => undefined, { checkEveryMs: 60_000 })).resolves.toStrictEqual({ succeeded: 1, skipped: 1, failed: 0 });
    } finally {
      await worker.close();
      connection.disconnect();
    }
    expect(await queue.getCompletedCount()).toBe(2);
  });

  it('closes every queue, reader and connection it opened, and opens new ones when asked again', async () => {
    const duplicate = jest.spyOn(redis, 'duplicate');
    const queueClose = jest.spyOn(Queue.prototype, 'close');
    const eventsClose = jest.spyOn(QueueEvents.prototype, 'close');
    const trackerClose = jest.spyOn(JobTracker.prototype, 'close');
    const crowd = await queues.get('crowd');
    await queues.get('app');
    const blocking = duplicate.mock.results.map((r) => r.value as Redis);
    expect(blocking).toHaveLength(2);

    await queues.close();
    expect([queueClose.mock.calls.length, eventsClose.mock.calls.length, trackerClose.mock.calls.length]).toStrictEqual([2, 2, 2]);
    // A disconnect ends the connection once its socket has closed.
    await Promise.all(blocking.map((b) => (b.status === 'end' ? undefined : new Promise((r) => b.once('end', r)))));
    expect(redis.status).toBe('ready');

    const reopened = await queues.get('crowd');
    expect(reopened).not.toBe(crowd);
    expect(duplicate).toHaveBeenCalledTimes(3);
  });
});
