// The sync queue's worker as BullMQ runs it: real Redis under a prefix of each test's own, a
// real Worker and QueueEvents, stand-in sync connectors that list what a test gives them and
// record how they are called, and the in-memory application directory. What is pinned: the
// queue and worker it opens, how each job name is dispatched (provision, full sync, incremental
// pull) and the shape of what it returns, which delete policy and group listing each target's
// full sync gets, the per-target lock (held while a run reads, skipped by a pull, waited for by
// a full sync without using an attempt), payloads it refuses for good, and close().
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { AuditLog } from '../../../shared/audit.js';
import { loadConfig, type Env } from '../../../shared/config.js';
import { JOB_NAMES, QUEUES, SCHEMA_VERSION, type RemoteUser, type Target, type UserSnapshot } from '../../../shared/jobs.js';
import { LinkStore } from '../../../shared/links.js';
import { silentLogger } from '../../../shared/logger.js';
import type { ListRemoteUsersOptions, RemoteChange, SyncConnector } from '../../../workers/runtime/connector.js';
import { RuntimeMetrics } from '../../../workers/runtime/metrics.js';
import { TargetWorker } from '../../../workers/runtime/target-worker.js';
import { SyncWorker, type SyncWorkerOptions } from '../../../workers/sync/worker.js';
import { FakeConnector } from '../../helpers/fake-connector.js';
import { capturingLogger } from '../../helpers/logs.js';
import { MemoryDirectory } from '../../helpers/memory-directory.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../../helpers/redis.js';

/** The push path's fake, plus a listing and a change feed that record how they were read. */
class SyncStandIn extends FakeConnector implements SyncConnector {
  remotes: RemoteUser[] = [];
  changes: RemoteChange[] = [];
  readonly listings: ListRemoteUsersOptions[] = [];
  readonly feeds: { since: Date | undefined; abortSignal?: AbortSignal }[] = [];
  /** Runs while a listing or feed is read, i.e. while the run holds its target's lock. */
  whileReading: (() => Promise<void>) | undefined;

  async *listUsers(options: ListRemoteUsersOptions = {}): AsyncIterableIterator<RemoteUser> {
    this.listings.push(options);
    await this.whileReading?.();
    yield* this.remotes;
  }

  async *listChanges(options: { since: Date | undefined; abortSignal?: AbortSignal }): AsyncIterableIterator<RemoteChange> {
    this.feeds.push(options);
    await this.whileReading?.();
    yield* this.changes;
  }

  async readUser(idOrName: string): Promise<RemoteUser | null> {
    return this.remotes.find((r) => r.remoteId === idOrName || r.username === idOrName) ?? null;
  }

  async expectedRemote(s: UserSnapshot & { version: number }): Promise<Omit<RemoteUser, 'remoteId'>> {
    return { target: this.target, username: s.username, email: s.email, active: s.active };
  }

  async appUsername(remote: RemoteUser): Promise<string> {
    return remote.username;
  }
}

const CROWD = { CROWD_URL: 'http://127.0.0.1:9/crowd/', CROWD_APP_NAME: 'idsync', CROWD_APP_PASSWORD: 'not-used' };
const ENTRA = { ENTRA_TENANT_ID: 'tenant', ENTRA_CLIENT_ID: 'client', ENTRA_CLIENT_SECRET: 'not-used' };

let redis: Redis;
let prefix: string;
let sync: SyncWorker | undefined;
let events: QueueEvents;
let queue: Queue;
let crowd: SyncStandIn;
let entra: SyncStandIn;
let directory: MemoryDirectory;
const closers: (() => Promise<unknown>)[] = [];

beforeEach(() => {
  redis = workerRedis();
  prefix = uniquePrefix('sync-worker');
  crowd = new SyncStandIn('crowd');
  entra = new SyncStandIn('entra');
  directory = new MemoryDirectory();
  queue = new Queue(QUEUES.sync, { connection: redis, prefix });
  // From the stream's start: the reader is ready before its first XREAD, and the prefix is fresh.
  events = new QueueEvents(QUEUES.sync, { connection: { url: REDIS_URL }, prefix, lastEventId: '0-0' });
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await sync?.close();
  sync = undefined;
  await events.close();
  await queue.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

async function start(env: Env = {}, options: Partial<SyncWorkerOptions> = {}) {
  const config = loadConfig({ REDIS_URL, IDSYNC_PREFIX: prefix, IDSYNC_LOG_LEVEL: 'silent', IDSYNC_ATTEMPTS: '3', IDSYNC_BACKOFF_MS: '20', ...CROWD, ...ENTRA, ...env });
  sync = new SyncWorker({
    config, connection: redis, connectors: { crowd, entra }, directory, links: new LinkStore(redis, prefix), audit: new AuditLog(redis, prefix), logger: silentLogger,
    busyRetryMs: 300, ...options,
  });
  await Promise.all([sync.start(), events.waitUntilReady()]);
  return config;
}

const envelope = () => ({ schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now() });
const add = (name: string, data: Record<string, unknown>, attempts = 1) => queue.add(name, { ...envelope(), ...data }, { attempts, backoff: { type: 'fixed', delay: 10 } });
const finished = (job: Job) => job.waitUntilFinished(events, 15_000);
const failed = async (job: Job) => {
  await expect(finished(job)).rejects.toThrow();
  return (await Job.fromId(queue, job.id!))!;
};
const lockKey = (target: Target) => `${prefix}:lock:sync:${target}`;
const remote = (remoteId: string, target: Target = 'crowd'): RemoteUser => ({ target, remoteId, username: remoteId, email: `${remoteId}@example.com`, active: true });

describe('the sync worker', () => {
  it('works the sync queue under the configured prefix, named after its process, two jobs at a time by default', async () => {
    const config = await start({ IDSYNC_LOCK_DURATION_MS: '45000', IDSYNC_STALLED_INTERVAL_MS: '20000', IDSYNC_MAX_STALLED_COUNT: '4' });
    expect(sync!.queue.name).toBe('sync');
    expect(sync!.queue.opts.prefix).toBe(prefix);
    expect(sync!.worker.name).toBe('sync');
    expect(sync!.worker.opts).toMatchObject({ prefix, name: `sync-${process.pid}`, concurrency: 2, lockDuration: 45_000, stalledInterval: 20_000, maxStalledCount: 4 });
    expect(config.prefix).toBe(prefix);
  });

  it('takes its concurrency from the options', async () => {
    await start({}, { concurrency: 5 });
    expect(sync!.worker.opts.concurrency).toBe(5);
  });

  it('plans a full sync of each target in turn and returns every plan under "plans"', async () => {
    crowd.remotes = [remote('c1')];
    entra.remotes = [remote('e1', 'entra'), remote('e2', 'entra')];
    const job = await add(JOB_NAMES.fullSync, { targets: ['crowd', 'entra'], mode: 'plan' });
    await start();
    const result = (await finished(job)) as { plans: { target: Target; status: string; jobId?: string; counts: Record<string, number> }[] };
    expect(Object.keys(result)).toEqual(['plans']);
    expect(result.plans.map((p) => [p.target, p.status])).toEqual([['crowd', 'planned'], ['entra', 'planned']]);
    // The job's id reaches the run: a retried job resumes the plan it made.
    expect(await redis.get(`${prefix}:plan-of-job:crowd:${job.id}`)).toBe((result.plans[0] as { id?: string }).id);
    expect(await sync!.plans.get((result.plans[1] as { id?: string }).id!)).toMatchObject({ target: 'entra', status: 'planned' });
    // Progress reaches the job, where the CLI and the dashboard read it.
    expect((await Job.fromId(queue, job.id!))!.progress).toMatchObject({ target: 'entra' });
    expect(crowd.listings).toHaveLength(1);
    expect(entra.listings).toHaveLength(1);
    expect(crowd.listings[0]!.abortSignal).toBeInstanceOf(AbortSignal);
  });

  it('pulls changes of each target and returns every round under "targets"', async () => {
    const job = await add(JOB_NAMES.pullChanges, { targets: ['entra', 'crowd'] });
    await start();
    const result = (await finished(job)) as { targets: { target: Target; changes: number }[] };
    expect(Object.keys(result)).toEqual(['targets']);
    expect(result.targets).toEqual([
      { target: 'entra', changes: 0, echoes: 0, appUpdates: 0, reverted: 0, appDisables: 0, unlinked: 0 },
      { target: 'crowd', changes: 0, echoes: 0, appUpdates: 0, reverted: 0, appDisables: 0, unlinked: 0 },
    ]);
    expect(entra.feeds).toHaveLength(1);
    expect(crowd.feeds[0]!.abortSignal).toBeInstanceOf(AbortSignal);
    expect(crowd.listings).toEqual([]);
  });

  it('holds the target lock while a run reads its target, and frees it afterwards', async () => {
    const seen: (string | null)[] = [];
    crowd.whileReading = async () => void seen.push(await redis.get(lockKey('crowd')));
    const pull = await add(JOB_NAMES.pullChanges, { targets: ['crowd'] });
    await start();
    await finished(pull);
    const full = await add(JOB_NAMES.fullSync, { targets: ['crowd'], mode: 'dry-run' });
    await finished(full);
    expect(seen).toHaveLength(2);
    for (const token of seen) expect(token).toMatch(/^[0-9a-f-]{36}$/);
    expect(await redis.exists(lockKey('crowd'))).toBe(0);
  });

  it('provisions through the target queues, with the configured attempts and backoff, and returns the tally', async () => {
    directory.users.set('a1', { id: 'a1', username: 'alice', email: 'alice@example.com', active: true });
    const pusher = new TargetWorker({
      connector: crowd, connection: redis, prefix, links: new LinkStore(redis, prefix), audit: new AuditLog(redis, prefix),
      keyring: undefined, logger: silentLogger, metrics: new RuntimeMetrics(), backoffMs: 20,
    });
    closers.push(() => pusher.close(1000));
    await pusher.start();
    const job = await add(JOB_NAMES.provision, { scope: { ids: ['a1', 'nobody'] }, targets: ['crowd'] });
    await start();
    const result = (await finished(job)) as { direction: string; targets: Record<string, unknown>; durationMs: number };
    expect(result).toMatchObject({ direction: 'to-target', targets: { crowd: { users: 2, succeeded: 1, notFound: 1, failed: 0, skipped: 0 } } });
    expect(Object.keys(result.targets)).toEqual(['crowd']);
    expect(crowd.calls.map((c) => [c.method, c.userId])).toEqual([['upsertUser', 'a1']]);
    const [pushed] = await pusher.queue.getJobs(['completed']);
    expect(pushed!.opts).toMatchObject({ attempts: 3, backoff: { delay: 20 } });
  });

  it('skips a pull of a target another sync holds, and still pulls the others', async () => {
    await redis.set(lockKey('crowd'), 'held-elsewhere', 'PX', 60_000);
    const job = await add(JOB_NAMES.pullChanges, { targets: ['crowd', 'entra'] });
    const logs = capturingLogger();
    await start({}, { logger: logs.logger });
    const result = (await finished(job)) as { targets: unknown[] };
    expect(result.targets).toEqual([
      { target: 'crowd', skipped: 'a sync of this target is running' },
      expect.objectContaining({ target: 'entra', changes: 0 }),
    ]);
    expect(crowd.feeds).toEqual([]);
    expect(await redis.get(lockKey('crowd'))).toBe('held-elsewhere');
    const said = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'incremental pull skipped: a sync of this target is running');
    expect(said).toMatchObject({ jobId: job.id, jobName: JOB_NAMES.pullChanges, target: 'crowd' });
  });

  // A job's logger is a grandchild of the one given (given → queue → job): every level's bindings stay.
  it('keeps the sync queue bound on the log lines of each job', async () => {
    await redis.set(lockKey('crowd'), 'held-elsewhere', 'PX', 60_000);
    const job = await add(JOB_NAMES.pullChanges, { targets: ['crowd'] });
    const logs = capturingLogger();
    await start({}, { logger: logs.logger });
    await finished(job);
    const said = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'incremental pull skipped: a sync of this target is running');
    expect(said).toMatchObject({ queue: 'sync', jobId: job.id });
  });

  it('delays a full sync while another sync of its target runs, using no attempt, then runs it', async () => {
    await redis.set(lockKey('crowd'), 'held-elsewhere', 'PX', 60_000);
    const errors: Error[] = [];
    const job = await add(JOB_NAMES.fullSync, { targets: ['crowd'], mode: 'plan' }, 1);
    const delayed = new Promise<number>((resolve) => events.on('delayed', ({ jobId, delay }) => jobId === job.id && resolve(Number(delay))));
    const before = Date.now();
    await start({}, { busyRetryMs: 400 });
    sync!.worker.on('error', (err) => errors.push(err));
    const until = await delayed;
    const after = Date.now();
    expect(until).toBeGreaterThanOrEqual(before + 400);
    expect(until).toBeLessThanOrEqual(after + 400);
    const waiting = await Job.fromId(queue, job.id!);
    expect(await waiting!.getState()).toBe('delayed');
    expect(waiting!.attemptsMade).toBe(0);
    expect(crowd.listings).toEqual([]);

    await redis.del(lockKey('crowd'));
    const result = (await finished(job)) as { plans: { target: string; status: string }[] };
    expect(result.plans).toEqual([expect.objectContaining({ target: 'crowd', status: 'planned' })]);
    expect((await Job.fromId(queue, job.id!))!.attemptsMade).toBe(1);
    expect(errors).toEqual([]);
  });

  it('waits 15 s by default before trying a busy full sync again', async () => {
    await redis.set(lockKey('entra'), 'held-elsewhere', 'PX', 60_000);
    const job = await add(JOB_NAMES.fullSync, { targets: ['entra'], mode: 'plan' });
    const delayed = new Promise<number>((resolve) => events.on('delayed', ({ jobId, delay }) => jobId === job.id && resolve(Number(delay))));
    const before = Date.now();
    await start({}, { busyRetryMs: undefined });
    const until = await delayed;
    expect(until).toBeGreaterThanOrEqual(before + 15_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 15_000);
  });

  it('fails a job of an unknown name for good, naming it', async () => {
    const job = await add('reticulate', { targets: ['crowd'] }, 3);
    await start();
    const done = await failed(job);
    expect(done.failedReason).toBe('invalid reticulate payload: unknown job name "reticulate" on queue "sync"');
    expect(done.attemptsMade).toBe(1);
  });

  it('fails an invalid payload for good, with every problem and its path', async () => {
    const job = await add(JOB_NAMES.fullSync, { targets: ['crowd', 'jira'], mode: 'everything' }, 3);
    await start();
    const done = await failed(job);
    expect(done.failedReason).toMatch(/^invalid full-sync payload: targets\.1: [^;]+; mode: [^;]+$/);
    expect(done.attemptsMade).toBe(1);
    expect(crowd.listings).toEqual([]);
  });

  it('fails a run of a target this worker does not run, naming IDSYNC_TARGETS', async () => {
    sync = new SyncWorker({
      config: loadConfig({ REDIS_URL, IDSYNC_PREFIX: prefix, IDSYNC_LOG_LEVEL: 'silent', ...CROWD, ...ENTRA }), connection: redis, connectors: { crowd },
      directory, links: new LinkStore(redis, prefix), audit: new AuditLog(redis, prefix), logger: silentLogger,
    });
    await Promise.all([sync.start(), events.waitUntilReady()]);
    const job = await add(JOB_NAMES.pullChanges, { targets: ['entra'] });
    const done = await failed(job);
    expect(done.failedReason).toBe('this worker does not run the entra target (IDSYNC_TARGETS)');
  });

  describe('what each target\'s full sync removes and lists', () => {
    // Linked to an application user the directory no longer has: the plan removes it.
    const orphanEach = async (links: LinkStore) => {
      crowd.remotes = [remote('rc')];
      entra.remotes = [remote('re', 'entra')];
      await links.update('crowd', 'gone-c', { remoteId: 'rc', remoteName: 'rc' });
      await links.update('entra', 'gone-e', { remoteId: 're', remoteName: 're' });
    };
    const plan = async () => {
      const job = await add(JOB_NAMES.fullSync, { targets: ['crowd', 'entra'], mode: 'plan' });
      const { plans } = (await finished(job)) as { plans: { target: string; counts: { disable: number; delete: number } }[] };
      return plans.map((p) => [p.target, p.counts.disable, p.counts.delete]);
    };

    it('disables by default on both targets, and lists no groups without a Crowd role map', async () => {
      await orphanEach(new LinkStore(redis, prefix));
      await start();
      expect(await plan()).toEqual([['crowd', 1, 0], ['entra', 1, 0]]);
      expect(crowd.listings[0]!.groups).toBe(false);
      expect(entra.listings[0]!.groups).toBe(false);
    });

    it('deletes where the delete policy says so, and lists Crowd groups when roles are mapped', async () => {
      await orphanEach(new LinkStore(redis, prefix));
      await start({ CROWD_DELETE_POLICY: 'delete', ENTRA_DELETE_POLICY: 'delete', CROWD_ROLE_MAP: '{"jira-admins":"admin"}' });
      expect(await plan()).toEqual([['crowd', 0, 1], ['entra', 0, 1]]);
      expect(crowd.listings[0]!.groups).toBe(true);
      expect(entra.listings[0]!.groups).toBe(false);
    });

    it('keeps each target\'s own policy when only the other deletes', async () => {
      await orphanEach(new LinkStore(redis, prefix));
      await start({ ENTRA_DELETE_POLICY: 'delete' });
      expect(await plan()).toEqual([['crowd', 1, 0], ['entra', 0, 1]]);
    });
  });

  it('logs queue and worker errors with the sync queue bound', async () => {
    const logs = capturingLogger();
    await start({}, { logger: logs.logger });
    sync!.worker.emit('error', new Error('worker broke'));
    sync!.queue.emit('error', new Error('queue broke'));
    const lines = logs.lines.map((l) => JSON.parse(l) as { msg: string; queue: string; err: { message: string } });
    expect(lines.map((l) => [l.msg, l.queue, l.err.message])).toEqual([['worker error', 'sync', 'worker broke'], ['queue error', 'sync', 'queue broke']]);
  });

  it('closes its worker, the queues it handed work to and their event connections', async () => {
    const duplicated: Redis[] = [];
    const duplicate = redis.duplicate.bind(redis);
    jest.spyOn(redis, 'duplicate').mockImplementation((...args) => {
      const dup = duplicate(...args);
      duplicated.push(dup);
      return dup;
    });
    const job = await add(JOB_NAMES.pullChanges, { targets: ['crowd'] });
    await start();
    await finished(job);
    await sync!.close();
    expect(sync!.worker.isRunning()).toBe(false);
    expect(sync!.queue.closing).toBeDefined();
    expect(duplicated.length).toBeGreaterThan(0);
    for (const dup of duplicated.filter((d) => d !== undefined)) expect(dup.status).toBe('end');
    sync = undefined;
  });
});
