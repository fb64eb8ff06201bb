// The app queue's worker as BullMQ runs it: real Redis under a prefix of each test's own, a
// real Worker and QueueEvents, the real links and audit log, and the in-memory application
// directory with failures a test scripts. What is pinned: the queue and worker options it opens
// (prefix, name, concurrency, limiter, backoff, stall settings), the audit entry and log line of
// each failure (status, attempt, operation, subject), a permanent failure failing at once, a
// refused signature quarantining the app side until the probe passes, and close().
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { AuditLog } from '../../../shared/audit.js';
import { defaultAuthority } from '../../../shared/config.js';
import { ConfigurationError, PermanentError, TransientError } from '../../../shared/errors.js';
import { BACKOFF_TYPE, JOB_NAMES, QUEUES, SCHEMA_VERSION } from '../../../shared/jobs.js';
import { LinkStore } from '../../../shared/links.js';
import type { AppApplyResult, AppChange, AppUser } from '../../../workers/app/directory.js';
import { AppWorker, type AppWorkerOptions } from '../../../workers/app/worker.js';
import { capturingLogger } from '../../helpers/logs.js';
import { MemoryDirectory } from '../../helpers/memory-directory.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';

/** The in-memory directory; `failures` are thrown by the next writes, `gets` records reads. */
class ScriptedDirectory extends MemoryDirectory {
  readonly failures: Error[] = [];
  readonly gets: string[] = [];
  getError: Error | undefined;

  override async apply(change: AppChange): Promise<AppApplyResult> {
    const failure = this.failures.shift();
    if (failure) throw failure;
    return super.apply(change);
  }

  override async get(id: string): Promise<AppUser | null> {
    this.gets.push(id);
    if (this.getError) throw this.getError;
    return super.get(id);
  }
}

let redis: Redis;
let prefix: string;
let queue: Queue;
let events: QueueEvents;
let audit: AuditLog;
let directory: ScriptedDirectory;
let logs: ReturnType<typeof capturingLogger>;
let app: AppWorker | undefined;

beforeEach(() => {
  redis = workerRedis();
  prefix = uniquePrefix('app-worker');
  queue = new Queue(QUEUES.app, { connection: redis, prefix });
  // From the stream's start: the reader is ready before its first XREAD, and the prefix is fresh.
  events = new QueueEvents(QUEUES.app, { connection: { url: REDIS_URL }, prefix, lastEventId: '0-0' });
  audit = new AuditLog(redis, prefix);
  directory = new ScriptedDirectory([{ id: 'a1', username: 'alice', email: 'old@example.com', active: true }]);
  logs = capturingLogger();
});

afterEach(async () => {
  await app?.close();
  app = undefined;
  await events.close();
  await queue.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

async function start(options: Partial<AppWorkerOptions> = {}) {
  app = new AppWorker({
    directory, connection: redis, prefix, links: new LinkStore(redis, prefix), audit, logger: logs.logger, authority: { crowd: defaultAuthority('crowd'), entra: defaultAuthority('entra') }, backoffMs: 10, ...options,
  });
  await Promise.all([app.start(), events.waitUntilReady()]);
  return app;
}

const remote = { target: 'crowd', remoteId: 'r-alice', username: 'alice-remote', email: 'new@example.com', active: true };
const update = (over: Record<string, unknown> = {}) => ({ schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), source: 'crowd', action: 'update', appUserId: 'a1', remote, fields: ['email'], ...over });
const add = (data: Record<string, unknown>, attempts = 1) => queue.add(JOB_NAMES.applyUser, data, { attempts, backoff: { type: BACKOFF_TYPE, delay: 10 } });
const failed = async (job: Job) => {
  await expect(job.waitUntilFinished(events, 15_000)).rejects.toThrow();
  return (await Job.fromId(queue, job.id!))!;
};
const logLines = () => logs.lines.map((l) => JSON.parse(l) as Record<string, unknown> & { level: number; msg: string });

describe('the app worker', () => {
  it('works the app queue under the prefix, named after its process, ten at a time with a limiter by default', async () => {
    await start({ stalls: { lockDurationMs: 40_000, stalledIntervalMs: 15_000, maxStalledCount: 3 } });
    expect(app!.queue.name).toBe('app');
    expect(app!.queue.opts.prefix).toBe(prefix);
    expect(app!.worker.name).toBe('app');
    expect(app!.worker.opts).toMatchObject({
      prefix, name: `app-${process.pid}`, concurrency: 10, limiter: { max: 100_000, duration: 1000 },
      lockDuration: 40_000, stalledInterval: 15_000, maxStalledCount: 3,
    });
  });

  it('takes concurrency and backoff from the options, and falls back to 1 s up to 5 min', async () => {
    await start({ concurrency: 3, backoffMs: 400, maxBackoffMs: 1000 });
    expect(app!.worker.opts.concurrency).toBe(3);
    const strategy = app!.worker.opts.settings!.backoffStrategy!;
    // Equal jitter: half the delay fixed, half random.
    expect(strategy(1, BACKOFF_TYPE, undefined, undefined)).toBeGreaterThanOrEqual(200);
    expect(strategy(1, BACKOFF_TYPE, undefined, undefined)).toBeLessThanOrEqual(400);
    expect(strategy(20, BACKOFF_TYPE, undefined, undefined)).toBeGreaterThanOrEqual(500);
    expect(strategy(20, BACKOFF_TYPE, undefined, undefined)).toBeLessThanOrEqual(1000);
    await app!.close();
    await start({ backoffMs: undefined });
    const defaults = app!.worker.opts.settings!.backoffStrategy!;
    expect(defaults(1, BACKOFF_TYPE, undefined, undefined)).toBeGreaterThanOrEqual(500);
    expect(defaults(1, BACKOFF_TYPE, undefined, undefined)).toBeLessThanOrEqual(1000);
    expect(defaults(30, BACKOFF_TYPE, undefined, undefined)).toBeGreaterThanOrEqual(150_000);
    expect(defaults(30, BACKOFF_TYPE, undefined, undefined)).toBeLessThanOrEqual(300_000);
  });

  it('applies a pulled change and returns what the processor made of it', async () => {
    const job = await add(update());
    await start();
    await expect(job.waitUntilFinished(events, 15_000)).resolves.toEqual({ outcome: 'applied', appUserId: 'a1', created: false, changed: ['email'] });
    expect(directory.users.get('a1')?.email).toBe('new@example.com');
  });

  it('audits a transient failure as retrying with its attempt, then as failed on the last attempt', async () => {
    directory.failures.push(new TransientError('database restarting'), new TransientError('database still restarting'));
    const job = await add(update(), 2);
    await start();
    const done = await failed(job);
    expect(done.attemptsMade).toBe(2);
    const entries = await audit.query({ subject: 'a1' });
    expect(entries.map((e) => [e.status, e.attempt, e.operation, e.target, e.resource, e.jobId, e.error, e.durationMs])).toEqual([
      ['failed', 2, 'update', 'app', 'user', job.id, 'database still restarting', 0],
      ['retrying', 1, 'update', 'app', 'user', job.id, 'database restarting', 0],
    ]);
    const lines = logLines().filter((l) => l.jobId === job.id);
    expect(lines.map((l) => [l.level, l.msg, l.status, l.reason, l.queue, l.directory])).toEqual([
      [40, 'pulled change retrying', 'retrying', 'database restarting', 'app', 'memory'],
      [50, 'pulled change failed', 'failed', 'database still restarting', 'app', 'memory'],
    ]);
  });

  it('fails a permanent failure at once, audited under the remote name when there is no user id', async () => {
    const job = await add(update({ appUserId: undefined, action: 'import', fields: undefined }), 5);
    directory.failures.push(new PermanentError('username taken'));
    await start();
    const done = await failed(job);
    expect(done.attemptsMade).toBe(1);
    expect(done.failedReason).toBe('username taken');
    const [entry] = await audit.query({ subject: 'alice-remote' });
    expect(entry).toMatchObject({ status: 'failed', attempt: 1, operation: 'import', target: 'app', subject: 'alice-remote' });
  });

  it('audits a payload it cannot read as an "apply" of an unknown user, and fails it for good', async () => {
    const job = await queue.add(JOB_NAMES.applyUser, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), remote: null }, { attempts: 4 });
    await start();
    const done = await failed(job);
    expect(done.attemptsMade).toBe(1);
    expect(done.failedReason).toMatch(/^invalid apply-user payload: source: /);
    const [entry] = await audit.query({ subject: 'unknown' });
    expect(entry).toMatchObject({ status: 'failed', attempt: 1, operation: 'apply', subject: 'unknown', jobId: job.id });
  });

  it('quarantines the app side on a refused signature, probes the directory, and resumes', async () => {
    directory.failures.push(new ConfigurationError('401 signature refused'));
    directory.getError = new ConfigurationError('401 signature refused');
    const job = await add(update(), 3);
    await start({ quarantineProbeMs: 30 });
    const state = await waitFor(() => app!.quarantine.state());
    expect(state.reason).toBe('401 signature refused');
    expect(await queue.isPaused()).toBe(true);
    // The worker audits once the quarantine is entered: wait for its entry, not the state.
    const [entry] = await waitFor(async () => { const found = await audit.query({ subject: 'a1' }); return found.length ? found : undefined; });
    expect(entry).toMatchObject({ status: 'quarantined', attempt: 1, operation: 'update', error: '401 signature refused' });
    await waitFor(() => directory.gets.length >= 1);
    expect(directory.gets[0]).toBe('idsync-probe');
    directory.getError = undefined;
    await expect(job.waitUntilFinished(events, 15_000)).resolves.toMatchObject({ outcome: 'applied', appUserId: 'a1' });
    expect(await app!.quarantine.state()).toBeUndefined();
    // Quarantined, the job used no attempt.
    expect((await Job.fromId(queue, job.id!))!.attemptsMade).toBe(1);
  });

  it('resumes probing a quarantine an earlier process left', async () => {
    await redis.set(`${prefix}:quarantine:app`, JSON.stringify({ reason: 'left over', since: Date.now() }));
    await queue.pause();
    await start({ quarantineProbeMs: 20 });
    await waitFor(async () => !(await queue.isPaused()));
    expect(directory.gets).toContain('idsync-probe');
  });

  it('logs queue and worker errors with the app queue and directory bound', async () => {
    await start();
    app!.worker.emit('error', new Error('worker broke'));
    app!.queue.emit('error', new Error('queue broke'));
    const lines = logLines().filter((l) => l.level === 50);
    expect(lines.map((l) => [l.msg, l.queue, l.directory, (l.err as { message: string }).message])).toEqual([
      ['worker error', 'app', 'memory', 'worker broke'],
      ['queue error', 'app', 'memory', 'queue broke'],
    ]);
  });

  it('closes its worker and queue once', async () => {
    await start();
    const closing = app!.close();
    expect(app!.close()).toBe(closing);
    await closing;
    expect(app!.worker.isRunning()).toBe(false);
    expect(app!.queue.closing).toBeDefined();
    app = undefined;
  });
});
