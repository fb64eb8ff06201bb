// Operator replay against the real Crowd connector in a real worker (emulator, real Redis).
import type { CrowdEmulator } from '../../emulators/crowd/index.js';
import { Keyring, parseKey } from '../../shared/crypto.js';
import { JOB_NAMES, SCHEMA_VERSION, passwordAad } from '../../shared/jobs.js';
import { listFailed } from '../../operators/failed-jobs.js';
import { showFailed } from '../../operators/failed-show.js';
import { withQueues } from '../../operators/operator-queues.js';
import { replayFailed } from '../../operators/replay.js';
import { TEST_KEY } from '../helpers/harness.js';
import { MemoryDirectory } from '../helpers/memory-directory.js';
import { CrowdRest, setup, startEmulator, type Setup } from '../workers/crowd/helpers.js';

const alice = { id: 'u-1', username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'Liddell' };

describe('idsync failed replay', () => {
  let em: CrowdEmulator;
  let rest: CrowdRest;
  let s: Setup | undefined;
  beforeAll(async () => {
    em = await startEmulator();
    rest = new CrowdRest(em);
  });
  afterEach(async () => {
    await s?.close();
    s = undefined;
    em.reset();
  });
  afterAll(() => em.close());

  /** A push that fails permanently because Crowd lacks the group; resolves with its job id. */
  async function failedPush(version: number): Promise<string> {
    const [enqueued] = await s!.h.client.userChanged({ ...alice, groups: ['staff-missing'], version });
    await expect(s!.h.finished(enqueued!.jobId)).rejects.toThrow(/Crowd has no group "staff-missing"/);
    return enqueued!.jobId;
  }

  it('replays a job that failed for a missing group once the group exists, attempts reset, with the app\'s current data', async () => {
    s = await setup(em);
    const jobId = await failedPush(1);
    const conn = { redis: s.h.redis, prefix: s.h.prefix };
    const [listed] = await withQueues(conn, (q) => listFailed(q, { target: 'crowd', errorClass: 'permanent' }));
    expect(listed).toEqual({
      jobId, target: 'crowd', queue: 'crowd', name: 'push-user', userId: 'u-1', errorClass: 'permanent',
      reason: expect.stringMatching(/Crowd has no group/), attempts: 1, failedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(await withQueues(conn, (q) => listFailed(q, { errorClass: 'transient' }))).toEqual([]);

    await rest.createGroup('staff-missing');
    // The application changed the first name since the job failed: the replay pushes that, not the old snapshot.
    const dir = new MemoryDirectory([{ ...alice, firstName: 'Alicia', active: true, groups: ['staff-missing'], version: 2 }]);
    await s.h.worker.queue.pause();
    const summary = await replayFailed({ ...conn, jobIds: [jobId], directory: dir });
    expect(summary).toMatchObject({ dryRun: false, replayed: 1, refused: 0, results: [{ jobId, outcome: 'replayed', snapshot: 'application' }] });
    const waiting = await s.h.job(jobId);
    expect(waiting.attemptsMade).toBe(0);
    expect(waiting.data).toMatchObject({ origin: 'replay', user: { firstName: 'Alicia', version: 2 } });

    await s.h.worker.queue.resume();
    await expect(s.h.finished(jobId)).resolves.toMatchObject({ outcome: 'applied' });
    expect((await s.h.job(jobId)).attemptsMade).toBe(1);
    expect(await rest.directGroups('alice')).toEqual(['staff-missing']);
    expect((await rest.user('alice'))?.['first-name']).toBe('Alicia');
  });

  it('refuses when the application no longer has the user, and a dry run changes nothing', async () => {
    s = await setup(em);
    const jobId = await failedPush(1);
    const conn = { redis: s.h.redis, prefix: s.h.prefix };
    const gone = await replayFailed({ ...conn, all: true, directory: new MemoryDirectory([]) });
    expect(gone).toMatchObject({ replayed: 0, refused: 1, results: [{ jobId, outcome: 'refused', reason: 'the application no longer has this user; run a full sync' }] });

    const dry = await replayFailed({ ...conn, all: true, filter: { target: 'crowd' }, dryRun: true, directory: new MemoryDirectory([{ ...alice, active: true, version: 5 }]) });
    expect(dry).toMatchObject({ dryRun: true, replayed: 1, refused: 0, results: [{ jobId, outcome: 'would-replay', snapshot: 'application' }] });
    const job = await s.h.job(jobId);
    expect(await job.getState()).toBe('failed');
    expect(job.data).toMatchObject({ user: { version: 1 } });
    expect(job.data.origin).toBeUndefined();
  });

  it('without a directory falls back to the job\'s own snapshot unless a newer one is pending', async () => {
    s = await setup(em);
    const jobId = await failedPush(1);
    const conn = { redis: s.h.redis, prefix: s.h.prefix };
    await s.h.worker.queue.pause();
    const [newer] = await s.h.client.userChanged({ ...alice, version: 3 });
    const refused = await replayFailed({ ...conn, jobIds: [jobId], directory: async () => { throw new Error('database down'); } });
    expect(refused.results[0]).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(new RegExp(`database down.*newer snapshot for this user is pending \\(job ${newer!.jobId}\\)`)) });
    expect(await (await s.h.job(jobId)).getState()).toBe('failed');
    await s.h.worker.queue.resume();
    await s.h.finished(newer!.jobId);
  });

  it('refuses an expired password job and never shows its envelope', async () => {
    s = await setup(em);
    const keyring = new Keyring(parseKey(TEST_KEY));
    const now = Date.now();
    const job = await s.h.worker.queue.add(JOB_NAMES.setPassword, {
      schemaVersion: SCHEMA_VERSION, enqueuedAt: now - 10_000, user: { id: 'u-1', username: 'alice' },
      password: keyring.encrypt('Sup3r-secret!', passwordAad('crowd', 'u-1')), expiresAt: now - 1,
    }, { attempts: 3 });
    await expect(s.h.finished(job.id!)).rejects.toThrow(/password change expired/);
    const conn = { redis: s.h.redis, prefix: s.h.prefix };

    const shown = await showFailed({ ...conn, jobId: job.id! });
    expect(shown).toMatchObject({ name: 'set-password', state: 'failed', errorClass: 'permanent', data: { password: '[encrypted]', user: { id: 'u-1' } } });
    const stored = (await s.h.job(job.id!)).data.password as Record<string, string>;
    const printed = JSON.stringify(shown);
    for (const part of Object.values(stored)) if (typeof part === 'string' && part.length > 8) expect(printed).not.toContain(part);
    expect(shown.stacktrace[0]![0]).toMatch(/^UnrecoverableError: password change expired/);
    expect(shown.audit).toEqual([expect.objectContaining({ jobId: job.id, status: 'failed', operation: 'password' })]);

    const summary = await replayFailed({ ...conn, jobIds: [job.id!] });
    expect(summary).toMatchObject({ replayed: 0, refused: 1, results: [{ outcome: 'refused', reason: expect.stringMatching(/the password change expired at .*ask the user to set it again/) }] });
    expect(await (await s.h.job(job.id!)).getState()).toBe('failed');
  });
});
