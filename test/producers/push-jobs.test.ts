import { Queue, type JobsOptions } from 'bullmq';
import { createSyncClient } from '../../producers/index.js';
import { addPushJobs, type PushJob } from '../../producers/push-jobs.js';
import { standardJobOptions } from '../../producers/retention.js';
import { BULK_PRIORITY, SCHEMA_VERSION, dedupId, type PushOrigin } from '../../shared/jobs.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

const alice = { id: 'u-1', username: 'alice', email: 'alice@example.com' };

function upsert(id: string, version: number, extra: { origin?: PushOrigin; opts?: JobsOptions; email?: string } = {}): PushJob {
  return {
    data: {
      schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), op: 'upsert', ...(extra.origin && { origin: extra.origin }),
      user: { id, username: id, email: extra.email ?? `${id}@example.com`, active: true, version },
    },
    opts: { ...standardJobOptions(5, 20), deduplication: { id: dedupId.push(id), keepLastIfActive: true }, ...extra.opts },
  };
}

function remove(id: string, version: number): PushJob {
  return {
    data: { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), op: 'delete', user: { id, version } },
    opts: { ...standardJobOptions(5, 20), deduplication: { id: dedupId.push(id), keepLastIfActive: true } },
  };
}

describe('push jobs while the user job waits', () => {
  const redis = workerRedis();
  let prefix: string;
  let crowd: Queue;
  beforeEach(() => {
    prefix = uniquePrefix('push');
    crowd = new Queue('crowd', { connection: redis, prefix });
  });
  afterEach(async () => {
    await crowd.close();
    await deletePrefix(redis, prefix);
  });
  afterAll(() => redis.quit());
  const data = async (jobId: string) => (await crowd.getJob(jobId))!.data;

  it('applies the later password when a second change arrives before the first job ran', async () => {
    const { TEST_KEY } = await import('../helpers/harness.js');
    const { Keyring, parseKey } = await import('../../shared/crypto.js');
    const { passwordAad } = await import('../../shared/jobs.js');
    const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'], secretKey: TEST_KEY });
    try {
      const [first] = await client.passwordChanged({ id: alice.id }, 'first-Secret-1');
      const [second] = await client.passwordChanged({ id: alice.id }, 'second-Secret-2');
      expect(second!.jobId).toBe(first!.jobId);
      expect(await crowd.getWaitingCount()).toBe(1);
      const envelope = (await data(first!.jobId)).password;
      expect(new Keyring(parseKey(TEST_KEY)).decrypt(envelope, passwordAad('crowd', alice.id))).toBe('second-Secret-2');
    } finally {
      await client.close();
    }
  });

  it('keeps the newest snapshot when a second change arrives before the first job ran', async () => {
    const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'] });
    try {
      const [first] = await client.userChanged({ ...alice, version: 1 });
      const [second] = await client.userChanged({ ...alice, email: 'a2@example.com', version: 2 });
      expect(second!.jobId).toBe(first!.jobId);
      expect(await crowd.getWaitingCount()).toBe(1);
      expect((await data(first!.jobId)).user).toMatchObject({ version: 2, email: 'a2@example.com' });
      const [many] = await client.userChangedMany([{ ...alice, email: 'a3@example.com', version: 3 }]);
      expect((await data(many!.jobId)).user).toMatchObject({ version: 3, email: 'a3@example.com' });
      const [deleted] = await client.userDeleted({ id: alice.id, version: 4 });
      expect(deleted!.jobId).toBe(first!.jobId);
      expect(await data(first!.jobId)).toMatchObject({ op: 'delete', user: { id: alice.id, version: 4 } });
    } finally {
      await client.close();
    }
  });

  it('never lets an older snapshot arriving second overwrite a newer one', async () => {
    const [id] = await addPushJobs(crowd, [upsert('u-1', 5, { email: 'five@example.com' })]);
    expect(await addPushJobs(crowd, [upsert('u-1', 3, { email: 'three@example.com' })])).toEqual([id]);
    expect((await data(id!)).user).toMatchObject({ version: 5, email: 'five@example.com' });
  });

  it('breaks version ties: a delete beats an upsert, a re-assertion beats a live event', async () => {
    const [a] = await addPushJobs(crowd, [upsert('u-1', 5)]);
    await addPushJobs(crowd, [remove('u-1', 5)]);
    await addPushJobs(crowd, [upsert('u-1', 5, { origin: 'provision' })]);
    expect(await data(a!)).toMatchObject({ op: 'delete', user: { version: 5 } });

    const [b] = await addPushJobs(crowd, [upsert('u-2', 7)]);
    await addPushJobs(crowd, [upsert('u-2', 7, { origin: 'sync' })]);
    await addPushJobs(crowd, [upsert('u-2', 7, { email: 'event@example.com' })]);
    expect(await data(b!)).toMatchObject({ origin: 'sync', user: { email: 'u-2@example.com' } });
  });

  it('updates a job delayed for a retry, which keeps its delay', async () => {
    const [id] = await addPushJobs(crowd, [upsert('u-1', 1, { opts: { delay: 60_000 } })]);
    await addPushJobs(crowd, [upsert('u-1', 2)]);
    expect(await crowd.getJobState(id!)).toBe('delayed');
    expect((await data(id!)).user.version).toBe(2);
  });

  it('merges in bulk, chunk by chunk, answering with the existing job ids in order', async () => {
    const users = Array.from({ length: 2500 }, (_, i) => `b-${i}`);
    const first = await addPushJobs(crowd, users.map((u) => upsert(u, 1)));
    const again = await addPushJobs(crowd, users.map((u, i) => upsert(u, i % 2 ? 2 : 0)));
    expect(again).toEqual(first);
    expect(await crowd.getWaitingCount()).toBe(2500);
    expect((await data(first[1]!)).user.version).toBe(2);
    expect((await data(first[2]!)).user.version).toBe(1);
  });

  it('makes a new job when the one its deduplication id names has already finished', async () => {
    const [id] = await addPushJobs(crowd, [upsert('u-1', 1)]);
    // As if the job finished between BullMQ's answer and the merge.
    await redis.lrem(crowd.toKey('wait'), 0, id!);
    await redis.hset(crowd.toKey(id!), 'finishedOn', Date.now());
    const [next] = await addPushJobs(crowd, [upsert('u-1', 2)]);
    expect(next).not.toBe(id);
    expect((await data(next!)).user.version).toBe(2);
    expect((await data(id!)).user.version).toBe(1);
  });
});

describe('push jobs with a worker', () => {
  let h: Harness;
  let connector: FakeConnector;
  beforeEach(async () => {
    connector = new FakeConnector('crowd');
    h = await startHarness({ connector, worker: { concurrency: 1 } });
  });
  afterEach(() => h.close());

  it('lifts a provisioning job that a live event lands on ahead of the other bulk jobs', async () => {
    await h.worker.queue.pause();
    const bulk = (id: string) => upsert(id, 5, { origin: 'provision', opts: { priority: BULK_PRIORITY } });
    const ids = await addPushJobs(h.worker.queue, [bulk('u-1'), bulk('u-2'), bulk('u-3')]);
    const [live] = await h.client.userChanged({ id: 'u-3', username: 'u-3', email: 'live@example.com', version: 6 });
    // Older than the provisioning snapshot: that one stays, but the job still goes first.
    const [late] = await h.client.userChanged({ id: 'u-2', username: 'u-2', email: 'late@example.com', version: 4 });
    expect([live!.jobId, late!.jobId]).toEqual([ids[2], ids[1]]);
    expect(await h.worker.queue.getPrioritizedCount()).toBe(1);
    await h.worker.queue.resume();
    await Promise.all(ids.map((id) => h.finished(id)));
    expect(connector.calls.map((c) => [c.userId, c.version])).toEqual([['u-3', 6], ['u-2', 5], ['u-1', 5]]);
    expect(connector.users.get('u-3')!.email).toBe('live@example.com');
  });

  /** The connector's next call runs until `release()`; `active` resolves once it has started. */
  function holdNextCall() {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const active = new Promise<void>((r) => (started = r));
    connector.then(async () => { started(); await held; });
    return { active, release };
  }

  it('runs the user job again after an active one, with the last snapshot', async () => {
    const { active, release } = holdNextCall();
    const done = new Promise<void>((resolve) => { connector.onCall = (c) => { if (c.version === 3) resolve(); }; });
    const [first] = await h.client.userChanged({ ...alice, version: 1 });
    await active;
    const [second] = await h.client.userChanged({ ...alice, version: 2 });
    const [third] = await h.client.userChanged({ ...alice, version: 3 });
    expect([second!.jobId, third!.jobId]).toEqual([first!.jobId, first!.jobId]);
    release();
    await done;
    await h.finished(first!.jobId);
    expect(connector.calls.map((c) => c.version)).toEqual([1, 3]);
  });

  it('keeps the newer follower when an older snapshot, added second by another producer, lands while the job runs', async () => {
    const { active, release } = holdNextCall();
    const followed = new Promise<void>((resolve) => { connector.onCall = () => connector.calls.length === 2 && resolve(); });
    const [first] = await h.client.userChanged({ ...alice, version: 1 });
    await active;
    // Two producers whose events cross: the newer snapshot is added first, the older one after it.
    // BullMQ keeps the last add as the job that follows; the merge must put the newer one back.
    try {
      await addPushJobs(h.worker.queue, [upsert(alice.id, 3, { email: 'three@example.com' })]);
      await addPushJobs(h.worker.queue, [upsert(alice.id, 2, { origin: 'sync', email: 'two@example.com', opts: { priority: BULK_PRIORITY } })]);
    } finally {
      release();
    }
    await followed;
    await h.finished(first!.jobId);
    expect(connector.calls.map((c) => c.version)).toEqual([1, 3]);
    expect(connector.users.get(alice.id)).toMatchObject({ version: 3, email: 'three@example.com' });
  });
});
