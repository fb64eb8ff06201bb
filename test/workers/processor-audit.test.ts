import { Queue } from 'bullmq';
import { JOB_NAMES, QUEUES, SCHEMA_VERSION } from '../../shared/jobs.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { capturingLogger } from '../helpers/logs.js';
import { TransientError } from '../../shared/errors.js';
import { RuntimeMetrics } from '../../workers/runtime/metrics.js';

const user = (id: string, version = 1) => ({ id, username: `user-${id}`, email: `${id}@example.com`, version });

describe('processor results and audit entries', () => {
  let h: Harness;
  let connector: FakeConnector;
  const start = async (worker: Parameters<typeof startHarness>[0]['worker'] = {}) => {
    connector = new FakeConnector('entra');
    h = await startHarness({ connector, worker });
  };
  afterEach(() => h?.close());

  const pushData = (id: string, version: number, origin?: string) => ({
    schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), op: 'upsert', user: user(id, version), ...(origin && { origin }),
  });

  it('returns exactly what the connector applied and audits a user resource with its duration', async () => {
    await start();
    const before = Date.now();
    const [job] = await h.client.userChanged(user('a'));
    await expect(h.finished(job!.jobId)).resolves.toStrictEqual({ outcome: 'applied', operation: 'create', remoteId: 'remote-a', changedAttributes: ['email'] });
    const span = Date.now() - before;
    const [entry] = await h.audit.query({ subject: 'a' });
    expect(entry).toMatchObject({ resource: 'user', operation: 'create', status: 'succeeded', subject: 'a', target: 'entra', attempt: 1, changedAttributes: ['email'] });
    expect(entry!.durationMs).toBeGreaterThanOrEqual(0);
    expect(entry!.durationMs).toBeLessThanOrEqual(span);
  });

  it('reports a connector-side skip as skipped, with its reason', async () => {
    await start();
    connector.then(() => ({ operation: 'update', skippedReason: 'nothing differs' }));
    const [job] = await h.client.userChanged(user('a'));
    await expect(h.finished(job!.jobId)).resolves.toStrictEqual({ outcome: 'skipped', operation: 'update', reason: 'nothing differs' });
    expect((await h.audit.query({ subject: 'a' }))[0]).toMatchObject({ status: 'skipped', operation: 'update', error: 'nothing differs' });
  });

  it('lets a replay re-assert the applied version while an explicit live event of it is skipped', async () => {
    await start();
    const [first] = await h.client.userChanged(user('a', 4));
    await h.finished(first!.jobId);
    const replay = await h.worker.queue.add(JOB_NAMES.pushUser, pushData('a', 4, 'replay'));
    await expect(h.finished(replay.id!)).resolves.toMatchObject({ outcome: 'applied', operation: 'update' });
    const event = await h.worker.queue.add(JOB_NAMES.pushUser, pushData('a', 4, 'event'));
    await expect(h.finished(event.id!)).resolves.toMatchObject({ outcome: 'skipped', reason: 'stale: version 4 is not newer than applied version 4' });
    const older = await h.worker.queue.add(JOB_NAMES.pushUser, pushData('a', 3, 'replay'));
    await expect(h.finished(older.id!)).resolves.toMatchObject({ outcome: 'skipped' });
    expect(connector.calls.map((c) => [c.method, c.version])).toEqual([['upsertUser', 4], ['upsertUser', 4]]);
  });

  it('audits a pull as operation "pull"', async () => {
    await start();
    const job = await h.worker.queue.add(JOB_NAMES.pullUser, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), user: { id: 'a' }, mode: 'refresh' });
    await expect(h.finished(job.id!)).resolves.toMatchObject({ outcome: 'applied', operation: 'pull' });
    expect((await h.audit.query({ subject: 'a' }))[0]).toMatchObject({ operation: 'pull', status: 'succeeded' });
  });

  it('audits a payload without a user under subject "unknown"', async () => {
    await start();
    const job = await h.worker.queue.add(JOB_NAMES.pushUser, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), op: 'upsert' }, { attempts: 1 });
    await expect(h.finished(job.id!)).rejects.toThrow();
    expect((await h.audit.query({ subject: 'unknown' }))[0]).toMatchObject({ status: 'failed', operation: 'upsert', resource: 'user' });
  });

  it('fails a password change at once on a worker without a secret key', async () => {
    await start({ keyring: undefined });
    const [job] = await h.client.passwordChanged({ id: 'a' }, 'Never-Sent-1');
    await expect(h.finished(job!.jobId)).rejects.toThrow('this worker has no IDSYNC_SECRET_KEY, so it cannot decrypt the password');
    expect(connector.calls).toEqual([]);
    expect((await h.audit.query({ subject: 'a' }))[0]).toMatchObject({ status: 'failed', operation: 'password', attempt: 1 });
  });
  it('records the link a pull finds, and hands only a "pull" mode result to the application queue', async () => {
    await start();
    const app = new Queue(QUEUES.app, { connection: h.redis, prefix: h.prefix });
    try {
      const [pushed] = await h.client.userChanged(user('a'));
      await h.finished(pushed!.jobId);
      await h.links.remove('entra', 'a');
      const pullJob = (mode: string, attempts: number) => h.worker.queue.add(JOB_NAMES.pullUser, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), user: { id: 'a' }, mode }, { attempts });
      const refresh = await pullJob('refresh', 1);
      await expect(h.finished(refresh.id!)).resolves.toMatchObject({ outcome: 'applied', operation: 'pull', remote: { remoteId: 'remote-a' } });
      expect(await h.links.get('entra', 'a')).toMatchObject({ remoteId: 'remote-a', remoteName: 'user-a' });
      expect(await app.getJobCounts()).toMatchObject({ waiting: 0, delayed: 0, prioritized: 0 });
      const pull = await pullJob('pull', 3);
      await h.finished(pull.id!);
      const [applyJob, ...rest] = await app.getJobs(['waiting', 'delayed', 'prioritized']);
      expect(rest).toEqual([]);
      expect(applyJob!.name).toBe(JOB_NAMES.applyUser);
      expect(applyJob!.data).toMatchObject({ schemaVersion: SCHEMA_VERSION, appUserId: 'a', source: 'entra', action: 'pull', remote: { remoteId: 'remote-a' } });
      expect(applyJob!.opts).toMatchObject({ attempts: 3, removeOnComplete: { age: 3600 }, removeOnFail: { age: 30 * 86_400 } });
    } finally {
      await app.close();
    }
  });
  it('names each bad field of an invalid payload, and the root when there is no object at all', async () => {
    await start();
    const twoBad = await h.worker.queue.add(JOB_NAMES.pushUser, { schemaVersion: SCHEMA_VERSION, enqueuedAt: 'soon', op: 'upsert' }, { attempts: 1 });
    await expect(h.finished(twoBad.id!)).rejects.toThrow(/^invalid push-user payload: enqueuedAt: [^;]+; user: [^;]+$/);
    const none = await h.worker.queue.add(JOB_NAMES.pushUser, null, { attempts: 1 });
    await expect(h.finished(none.id!)).rejects.toThrow(/^invalid push-user payload: \(root\): /);
    expect((await h.audit.query({ subject: 'unknown' })).map((e) => e.status)).toEqual(['failed', 'failed']);
  });

  it('logs a retry as a warning and a final failure as an error', async () => {
    const logs = capturingLogger();
    await start({ logger: logs.logger });
    connector.then(() => { throw new TransientError('503 from remote'); });
    const [job] = await h.client.userChanged(user('a'));
    await h.finished(job!.jobId);
    const bad = await h.worker.queue.add(JOB_NAMES.pushUser, { schemaVersion: SCHEMA_VERSION }, { attempts: 1 });
    await expect(h.finished(bad.id!)).rejects.toThrow();
    const lines = logs.lines.map((l) => JSON.parse(l) as { level: number; msg: string; status?: string });
    expect(lines.find((l) => l.status === 'retrying')).toMatchObject({ level: 40, msg: 'job retrying' });
    expect(lines.find((l) => l.status === 'failed')).toMatchObject({ level: 50, msg: 'job failed' });
  });

  it('records every link field the connector reports', async () => {
    await start();
    connector.then(() => ({ operation: 'create', remoteId: 'r-1', remoteName: 'name-1', writtenHash: 'hash-1' }));
    const [job] = await h.client.userChanged(user('a', 2));
    await h.finished(job!.jobId);
    expect(await h.links.get('entra', 'a')).toMatchObject({ remoteId: 'r-1', remoteName: 'name-1', writtenHash: 'hash-1', version: 2 });
  });
  it('counts the outcome and observes duration and event-to-apply latency in seconds, labelled', async () => {
    const metrics = new RuntimeMetrics();
    await start({ metrics });
    // The remote call spans a clock tick, so a duration in ms and one in seconds differ.
    connector.then(async () => {
      const t0 = Date.now();
      while (Date.now() - t0 < 2) await h.redis.ping();
      return undefined;
    });
    const before = Date.now();
    const [job] = await h.client.userChanged(user('a'));
    await h.finished(job!.jobId);
    const spanSeconds = (Date.now() - before) / 1000;
    const outcomes = (await metrics.outcomes.get()).values;
    expect(outcomes).toEqual([expect.objectContaining({ labels: { target: 'entra', job: 'push-user', operation: 'create', status: 'succeeded' }, value: 1 })]);
    const series = async (histogram: RuntimeMetrics['duration'] | RuntimeMetrics['latency'], suffix: string) =>
      (await histogram.get()).values.filter((v) => v.metricName?.endsWith(suffix));
    for (const [histogram, labels] of [[metrics.duration, { target: 'entra', job: 'push-user' }], [metrics.latency, { target: 'entra' }]] as const) {
      expect(await series(histogram, '_count')).toEqual([expect.objectContaining({ labels, value: 1 })]);
      const [sum] = await series(histogram, '_sum');
      expect(sum!.value).toBeGreaterThanOrEqual(0);
      expect(sum!.value).toBeLessThanOrEqual(spanSeconds);
    }
    const [entry] = await h.audit.query({ subject: 'a' });
    expect(entry!.durationMs).toBeGreaterThanOrEqual(2);
    expect((await series(metrics.duration, '_sum'))[0]!.value).toBeCloseTo(entry!.durationMs / 1000, 6);
  });
});
