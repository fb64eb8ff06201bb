// `idsync status` and `idsync failed list` read real BullMQ queues on a prefix of their own.
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { AuditLog } from '../../shared/audit.js';
import { listFailed } from '../../operators/failed-jobs.js';
import { withQueues } from '../../operators/operator-queues.js';
import { getStatus } from '../../operators/status.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

describe('idsync status and failed list', () => {
  let redis: Redis;
  let prefix: string;
  beforeEach(() => {
    redis = workerRedis();
    prefix = uniquePrefix('ops');
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  /** Runs `fail` in a worker on the queue until every job has failed (resolves on the failed events). */
  async function failJobs(queue: string, jobs: { name: string; data: unknown; error: () => Error }[]): Promise<string[]> {
    const q = new Queue(queue, { connection: redis, prefix });
    const added = await q.addBulk(jobs.map((j, i) => ({ name: j.name, data: { ...(j.data as object), i } })));
    const ids = new Set(added.map((j) => j.id!));
    const connection = redis.duplicate();
    const worker = new Worker(queue, async (job) => { throw jobs[(job.data as { i: number }).i]!.error(); }, { connection, prefix });
    await new Promise<void>((resolve) => worker.on('failed', (job) => { ids.delete(job!.id!); if (!ids.size) resolve(); }));
    await worker.close();
    await q.close();
    connection.disconnect();
    return added.map((j) => j.id!);
  }

  it('counts per queue and state, throughput, failures by class, quarantine and next slots', async () => {
    const err = (name: string, message: string) => Object.assign(new Error(message), { name });
    const [permanent, transient] = await failJobs('crowd', [
      { name: 'push-user', data: { user: { id: 'u1' } }, error: () => new UnrecoverableError('Crowd has no group "x"') },
      { name: 'push-user', data: { user: { id: 'u2' } }, error: () => err('RetryableFailure', 'Crowd answered 503') },
    ]);
    const [config] = await failJobs('sync', [{ name: 'full-sync', data: { targets: ['entra'] }, error: () => err('ConfigurationError', 'Entra rejected the credentials') }]);
    const entra = new Queue('entra', { connection: redis, prefix });
    await entra.pause();
    await entra.add('push-user', { user: { id: 'u3' } });
    await entra.add('push-user', { user: { id: 'u4' } }, { priority: 10 });
    await entra.close();
    await redis.set(`${prefix}:quarantine:entra`, JSON.stringify({ reason: 'Entra rejected the credentials', since: Date.UTC(2026, 10, 30, 8) }));
    const audit = new AuditLog(redis, prefix);
    const now = Date.now();
    for (const status of ['succeeded', 'skipped', 'failed', 'retrying'] as const) {
      await audit.append({ time: now, target: 'crowd', operation: 'update', resource: 'user', subject: 'u1', status, attempt: 1, durationMs: 1 });
    }

    const report = await getStatus({ redis, prefix, targets: ['crowd', 'entra'], schedules: { fullSchedule: '0 2 * * *', incrementalSchedule: '*/15 * * * *', timezone: 'UTC' }, now: Date.now() + 10 });
    expect(report.queues.crowd).toEqual({ isPaused: false, counts: { waiting: 0, active: 0, delayed: 0, prioritized: 0, failed: 2, completed: 0, paused: 0 } });
    expect(report.queues.entra).toEqual({ isPaused: true, counts: { waiting: 1, active: 0, delayed: 0, prioritized: 1, failed: 0, completed: 0, paused: 2 } });
    expect(report.queues.sync.counts.failed).toBe(1);
    expect(report.throughput).toMatchObject({ windowSeconds: 60, completed: 2, failed: 2, perQueue: { crowd: { completed: 2, failed: 1 }, sync: { completed: 0, failed: 1 } } });
    expect(report.failuresByClass).toEqual({ counts: { transient: 1, throttled: 0, permanent: 1, configuration: 1 }, scanned: 3, total: 3 });
    expect(report.quarantined).toEqual([{ target: 'entra', reason: 'Entra rejected the credentials', since: '2026-11-30T08:00:00.000Z' }]);
    expect(report.nextSlots.map((s) => s.name)).toEqual(['full-sync-crowd', 'full-sync-entra', 'pull-changes']);
    expect(report.nextSlots[0]!.at).toMatch(/T02:00:00.000Z$/);

    await withQueues({ redis, prefix }, async (queues) => {
      const all = await listFailed(queues);
      expect(all.map((r) => r.jobId).sort()).toEqual([permanent, transient, config].sort());
      expect(await listFailed(queues, { errorClass: 'transient' })).toEqual([expect.objectContaining({ jobId: transient, errorClass: 'transient', queue: 'crowd', target: 'crowd', userId: 'u2', reason: 'Crowd answered 503' })]);
      expect(await listFailed(queues, { target: 'entra' })).toEqual([expect.objectContaining({ jobId: config, queue: 'sync', name: 'full-sync', userId: null, errorClass: 'configuration' })]);
      expect(await listFailed(queues, { since: Date.now() + 60_000 })).toEqual([]);
      expect(await listFailed(queues, { limit: 1 })).toHaveLength(1);
    });
  });

  it('pages through a failed set larger than a page, newest first', async () => {
    const ids = await failJobs('app', Array.from({ length: 230 }, (_, i) => ({ name: 'apply-user', data: { appUserId: `a${i}` }, error: () => new UnrecoverableError('nope') })));
    const rows = await withQueues({ redis, prefix }, (queues) => listFailed(queues, { limit: 1000 }));
    expect(rows).toHaveLength(230);
    expect(new Set(rows.map((r) => r.jobId))).toEqual(new Set(ids));
    const times = rows.map((r) => Date.parse(r.failedAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });
});
