import { Queue, type Job } from 'bullmq';
import type { CrowdEmulator } from '../../emulators/crowd/index.js';
import { createSyncClient } from '../../producers/index.js';
import { ValidationError } from '../../shared/errors.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { startHarness, TEST_KEY } from '../helpers/harness.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';
import { CrowdRest, routeDelta, setup, startEmulator, type Setup } from '../workers/crowd/helpers.js';

const snapshot = (i: number) => ({ id: 'u-burst', username: 'burst', email: 'burst@example.com', firstName: `First${i}`, lastName: 'Burst' });
// Long enough that a whole burst lands in one window however slow the machine; the test
// promotes the held job instead of waiting for the window to end.
const LONG_WINDOW_MS = 120_000;

describe('coalescing window: how events are enqueued', () => {
  const redis = workerRedis();
  let prefix: string;
  let crowd: Queue;
  beforeEach(() => {
    prefix = uniquePrefix('coalesce');
    crowd = new Queue('crowd', { connection: redis, prefix });
  });
  afterEach(async () => {
    await crowd.close();
    await deletePrefix(redis, prefix);
  });
  afterAll(() => redis.quit());
  const client = (coalesceWindowMs?: number) =>
    createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'], secretKey: TEST_KEY, ...(coalesceWindowMs !== undefined && { coalesceWindowMs }) });
  const jobOf = async (jobId: string) => (await crowd.getJob(jobId))!;

  it('adds a lone event without delay, and a later one in its window held until the window ends', async () => {
    const c = client(LONG_WINDOW_MS);
    try {
      const [lone] = await c.userChanged(snapshot(1));
      expect((await jobOf(lone!.jobId)).delay).toBe(0);
      expect(await crowd.getJobState(lone!.jobId)).toBe('waiting');
      // Another user has a window of its own.
      const [other] = await c.userChanged({ ...snapshot(1), id: 'u-other', username: 'other' });
      expect(await crowd.getJobState(other!.jobId)).toBe('waiting');

      // While the first job waits, the next snapshot merges into it, which stays where it is.
      const [merged] = await c.userChanged(snapshot(2));
      expect(merged!.jobId).toBe(lone!.jobId);
      expect(await crowd.getJobState(lone!.jobId)).toBe('waiting');

      // As if the first job had run: the next event in the window waits for its end.
      await crowd.remove(lone!.jobId);
      const [held] = await c.userChanged(snapshot(3));
      expect(held!.jobId).not.toBe(lone!.jobId);
      expect(await crowd.getJobState(held!.jobId)).toBe('delayed');
      expect((await jobOf(held!.jobId)).delay).toBeGreaterThan(0);
      const [later] = await c.userChangedMany([snapshot(4)]);
      expect(later!.jobId).toBe(held!.jobId);
      expect((await jobOf(held!.jobId)).data.user.firstName).toBe('First4');
    } finally {
      await c.close();
    }
  });

  it('adds every event without delay when the window is 0', async () => {
    const c = client(0);
    try {
      const [first] = await c.userChanged(snapshot(1));
      await crowd.remove(first!.jobId);
      const [second] = await c.userChanged(snapshot(2));
      expect(await crowd.getJobState(second!.jobId)).toBe('waiting');
      expect((await jobOf(second!.jobId)).delay).toBe(0);
    } finally {
      await c.close();
    }
  });

  it('never holds a password change', async () => {
    const c = client(LONG_WINDOW_MS);
    try {
      await c.userChanged(snapshot(1));
      const [pw] = await c.passwordChanged({ id: 'u-burst' }, 'first-Secret-1');
      await crowd.remove(pw!.jobId);
      const [again] = await c.passwordChanged({ id: 'u-burst' }, 'second-Secret-2');
      expect(await crowd.getJobState(again!.jobId)).toBe('waiting');
      expect((await jobOf(again!.jobId)).delay).toBe(0);
    } finally {
      await c.close();
    }
  });

  it('rejects a window that is not a whole number of ms from 0 to an hour', () => {
    for (const bad of [-1, 1.5, Number.NaN, 3_600_001]) {
      expect(() => client(bad)).toThrow(ValidationError);
    }
  });
});

describe('coalescing window: the job that follows a running one', () => {
  it('is held for the window even when its producer had no window open for the user', async () => {
    const connector = new FakeConnector('crowd');
    const h = await startHarness({ connector, worker: { concurrency: 1 }, client: { coalesceWindowMs: LONG_WINDOW_MS } });
    // Another process: its first event for the user is a leading one, as far as it knows.
    const other = createSyncClient({ redisUrl: REDIS_URL, prefix: h.prefix, targets: ['crowd'], coalesceWindowMs: LONG_WINDOW_MS });
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let started!: () => void;
      const active = new Promise<void>((r) => (started = r));
      connector.then(async () => { started(); await held; });
      const [first] = await h.client.userChanged({ ...snapshot(1), version: 1 });
      await active;
      const [second] = await other.userChanged({ ...snapshot(2), version: 2 });
      expect(second!.jobId).toBe(first!.jobId);
      release();
      await h.finished(first!.jobId);
      const follower = (await h.worker.queue.getDelayed()) as Job[];
      expect(follower.map((j) => j.data.user.version)).toEqual([2]);
      expect(connector.calls.map((c) => c.version)).toEqual([1]);
    } finally {
      await other.close();
      await h.close();
    }
  });
});

describe('coalescing window against Crowd', () => {
  let em: CrowdEmulator;
  let s: Setup;
  let rest: CrowdRest;
  beforeAll(async () => {
    em = await startEmulator();
    rest = new CrowdRest(em);
  });
  afterAll(() => em.close());
  beforeEach(async () => {
    s = await setup(em, {}, { client: { coalesceWindowMs: LONG_WINDOW_MS } });
  });
  afterEach(() => s.close());

  const writes = (routes: Record<string, number>) =>
    Object.entries(routes).filter(([route]) => !route.startsWith('GET ')).reduce((n, [, count]) => n + count, 0);

  /** Runs the user's jobs until none is left: a held one now, rather than at its window's end. */
  async function drain(): Promise<void> {
    for (;;) {
      const jobs = await s.h.worker.queue.getJobs(['active', 'waiting', 'delayed', 'prioritized']);
      if (!jobs.length) return;
      for (const job of jobs) if (await job.isDelayed()) await job.promote();
      // A job that follows a running one is created when that one finishes: the next round sees it.
      await Promise.all(jobs.map((job) => s.h.finished(job.id!)));
    }
  }

  it('turns 1,000 updates of one user fired at once into a leading and a trailing write of the last snapshot', async () => {
    const before = em.stats().byRoute;
    const [lead] = await s.h.client.userChanged(snapshot(0));
    // As fast as callers can: 20 at a time, each snapshot newer than the one before.
    let next = 1;
    await Promise.all(Array.from({ length: 20 }, async () => {
      while (next < 1000) await s.h.client.userChanged(snapshot(next++));
    }));
    await s.h.finished(lead!.jobId);
    await drain();

    const routes = routeDelta(em, before);
    expect(writes(routes)).toBeLessThanOrEqual(3);
    expect(routes['POST user']).toBe(1);
    expect(await rest.user('burst')).toMatchObject({ 'first-name': 'First999', active: true });
  });

  it('applies a password change sent during a burst at once, and a delete that ends it', async () => {
    const completed = new Set<string>();
    const seen = new Map<string, () => void>();
    s.h.events.on('completed', ({ jobId }) => { completed.add(jobId); seen.get(jobId)?.(); });
    const completion = (jobId: string) => new Promise<void>((resolve) => (completed.has(jobId) ? resolve() : seen.set(jobId, resolve)));

    const [lead] = await s.h.client.userChanged(snapshot(0));
    await s.h.finished(lead!.jobId);
    for (let i = 1; i < 100; i++) await s.h.client.userChanged(snapshot(i));
    const [pw] = await s.h.client.passwordChanged({ id: 'u-burst' }, 'burst-Secret-42');
    await completion(pw!.jobId);
    expect(await rest.authenticate('burst', 'burst-Secret-42')).toBe(200);

    for (let i = 100; i < 200; i++) await s.h.client.userChanged(snapshot(i));
    await s.h.client.userDeleted({ id: 'u-burst', username: 'burst' });
    await drain();
    // The default delete policy deactivates the Crowd user.
    expect(await rest.user('burst')).toMatchObject({ active: false });
  });
});
