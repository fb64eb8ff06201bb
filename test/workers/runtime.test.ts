import { ConfigurationError, PermanentError, ThrottledError, TransientError } from '../../shared/errors.js';
import { Keyring, parseKey } from '../../shared/crypto.js';
import { JOB_NAMES, SCHEMA_VERSION, passwordAad, type SetPasswordData, type Target } from '../../shared/jobs.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { TEST_KEY, startHarness, type Harness } from '../helpers/harness.js';
import { capturingLogger } from '../helpers/logs.js';
import { waitFor } from '../helpers/wait.js';

const user = (id: string, version = 1) => ({ id, username: `user-${id}`, email: `${id}@example.com`, version });

describe('worker runtime', () => {
  let h: Harness;
  let connector: FakeConnector;
  let logs: ReturnType<typeof capturingLogger>;
  const start = async (concurrency = 1) => {
    connector = new FakeConnector('entra');
    logs = capturingLogger();
    h = await startHarness({ connector, worker: { concurrency, logger: logs.logger } });
  };
  const logLines = () => logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  afterEach(() => h?.close());

  it('retries a transient failure with backoff, then succeeds and audits both attempts', async () => {
    await start();
    connector.then(() => { throw new TransientError('503 from remote'); });
    const [job] = await h.client.userChanged(user('a'));
    await expect(h.finished(job!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'create' });
    expect((await h.job(job!.jobId)).attemptsMade).toBe(2);
    const audit = await h.audit.query({ subject: 'a' });
    expect(audit.map((e) => [e.status, e.attempt])).toEqual([['succeeded', 2], ['retrying', 1]]);
    expect(audit[1]!.error).toBe('503 from remote');
    expect(await h.links.get('entra', 'a')).toMatchObject({ remoteId: 'remote-a', version: 1 });
  });

  it('honours a per-resource retry hint over the computed backoff', async () => {
    await start();
    connector.then(() => { throw new TransientError('item throttled', { nextRetryDelayMs: 300 }); });
    const [job] = await h.client.userChanged(user('a'));
    await h.finished(job!.jobId);
    const [first, second] = connector.calls;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(290);
  });

  it('throttled: pauses the whole queue for Retry-After and consumes no attempt', async () => {
    await start(1);
    connector.then(() => { throw new ThrottledError('429 Too Many Requests', { retryAfterMs: 600 }); });
    const [a] = await h.client.userChanged(user('a'));
    const [b] = await h.client.userChanged(user('b'));
    await Promise.all([h.finished(a!.jobId), h.finished(b!.jobId)]);
    const throttledAt = connector.calls[0]!.at;
    // Nothing else started on the queue until Retry-After had passed.
    for (const call of connector.calls.slice(1)) expect(call.at - throttledAt).toBeGreaterThanOrEqual(590);
    const jobA = await h.job(a!.jobId);
    expect(jobA.attemptsMade).toBe(1);
    expect((await h.audit.query({ subject: 'a', status: 'throttled' }))[0]!.error).toMatch(/retry after 600 ms/);
  });

  it('permanent: lands in failed with a readable reason after one attempt', async () => {
    await start();
    connector.then(() => { throw new PermanentError('Crowd refused: INVALID_EMAIL "not an address"'); });
    const [job] = await h.client.userChanged(user('a'));
    await expect(h.finished(job!.jobId)).rejects.toThrow('Crowd refused: INVALID_EMAIL "not an address"');
    const failed = await h.job(job!.jobId);
    expect(failed.attemptsMade).toBe(1);
    expect(await failed.getState()).toBe('failed');
    expect((await h.audit.query({ subject: 'a' }))[0]).toMatchObject({ status: 'failed', attempt: 1 });
  });

  it('configuration: quarantines the target, probes, and resumes when the probe passes', async () => {
    await start();
    connector.probeError = new ConfigurationError('401 Application failed to authenticate');
    connector.then(() => { throw new ConfigurationError('401 Application failed to authenticate'); });
    const [job] = await h.client.userChanged(user('a'));
    const quarantined = await waitFor(async () => (await h.worker.quarantine.state()) ?? undefined);
    expect(quarantined.reason).toMatch(/401/);
    expect(await h.worker.queue.isPaused()).toBe(true);
    const probesBefore = connector.probes;
    await waitFor(async () => connector.probes > probesBefore + 1 || undefined);
    connector.probeError = undefined; // the operator fixed the secret
    await expect(h.finished(job!.jobId)).resolves.toMatchObject({ outcome: 'applied' });
    expect(await h.worker.queue.isPaused()).toBe(false);
    expect((await h.job(job!.jobId)).attemptsMade).toBe(1);
    const statuses = (await h.audit.query({ subject: 'entra' })).map((e) => e.operation);
    expect(statuses).toEqual(['recover', 'quarantine']);
  });

  // That the target is bound once (no second `target` child) is pinned in quarantine.test.ts: the
  // captured line merges repeated keys, so it could not show a duplicate here.
  it('writes the quarantine log line naming the target and the reason', async () => {
    await start();
    await h.worker.quarantine.enter('401 Application failed to authenticate');
    h.worker.quarantine.stop();
    const line = logs.lines.find((l) => l.includes('target quarantined'))!;
    expect(JSON.parse(line)).toMatchObject({ target: 'entra', reason: expect.stringMatching(/401/) });
  });

  it('skips a snapshot older than the applied version without calling the remote', async () => {
    await start();
    const [v5] = await h.client.userChanged(user('a', 5));
    await h.finished(v5!.jobId);
    const [v3] = await h.client.userChanged(user('a', 3));
    await expect(h.finished(v3!.jobId)).resolves.toMatchObject({ outcome: 'skipped', reason: expect.stringMatching(/stale/) });
    expect(connector.calls.map((c) => c.version)).toEqual([5]);
  });

  it('skips a live event repeating the applied version: the remote is written once', async () => {
    await start();
    const [first] = await h.client.userChanged(user('a', 4));
    await expect(h.finished(first!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'create' });
    const [again] = await h.client.userChanged(user('a', 4));
    await expect(h.finished(again!.jobId)).resolves.toEqual({ outcome: 'skipped', operation: 'upsert', reason: 'stale: version 4 is not newer than applied version 4' });
    expect(connector.calls.map((c) => [c.method, c.version])).toEqual([['upsertUser', 4]]);
    expect((await h.audit.query({ subject: 'a' })).map((e) => e.status)).toEqual(['skipped', 'succeeded']);
  });

  it('says loudly when a row version follows a clock-based one for the same user', async () => {
    await start();
    const [clock] = await h.client.userChanged({ id: 'a', username: 'user-a', email: 'a@example.com' }); // version from the clock
    await h.finished(clock!.jobId);
    const applied = (await h.links.get('entra', 'a'))!.version!;
    const [row] = await h.client.userChanged(user('a', 7));
    const result = (await h.finished(row!.jobId)) as { outcome: string; reason: string };
    expect(result.outcome).toBe('skipped');
    expect(result.reason).toBe(`stale: version 7 is not newer than applied version ${applied}; versions must come from one scheme per user (a row version, or an updated-at in ms as the client uses when version is omitted), not both`);
    expect((await h.audit.query({ subject: 'a', status: 'skipped' }))[0]!.error).toBe(result.reason);
    expect(logLines().find((l) => l.version === 7)).toMatchObject({ level: 40, appliedVersion: applied, msg: expect.stringMatching(/one scheme per user/) });
    // A plain stale row version stays a quiet info line.
    const [v8] = await h.client.userChanged(user('b', 8));
    await h.finished(v8!.jobId);
    const [v6] = await h.client.userChanged(user('b', 6));
    expect(((await h.finished(v6!.jobId)) as { reason: string }).reason).toBe('stale: version 6 is not newer than applied version 8');
    expect(logLines().find((l) => l.version === 6)).toMatchObject({ level: 30, msg: 'skipped stale snapshot' });
  });

  it('a delete removes the link; a malformed payload fails readably and the worker keeps going', async () => {
    await start();
    const [created] = await h.client.userChanged(user('a'));
    await h.finished(created!.jobId);
    const [deleted] = await h.client.userDeleted({ id: 'a' });
    await expect(h.finished(deleted!.jobId)).resolves.toMatchObject({ operation: 'delete' });
    expect(await h.links.get('entra', 'a')).toBeUndefined();

    const bad = await h.worker.queue.add('push-user', { schemaVersion: 1, op: 'upsert', user: { id: 'x' } });
    await expect(h.finished(bad.id!)).rejects.toThrow(/invalid push-user payload: .*enqueuedAt.*/);
    const [next] = await h.client.userChanged(user('b'));
    await expect(h.finished(next!.jobId)).resolves.toMatchObject({ outcome: 'applied' });
  });

  it('gives up after the configured attempts and keeps the job for replay', async () => {
    await start();
    for (let i = 0; i < 5; i++) connector.then(() => { throw new TransientError(`timeout #${i + 1}`); });
    const [job] = await h.client.userChanged(user('a'));
    await expect(h.finished(job!.jobId)).rejects.toThrow('timeout #5');
    const failed = await h.job(job!.jobId);
    expect(failed.attemptsMade).toBe(5);
    // Every attempt but the last is audited as retrying; the last one, with none left, as failed.
    const audit = await h.audit.query({ subject: 'a' });
    expect(audit.map((e) => [e.status, e.attempt, e.error])).toEqual([
      ['failed', 5, 'timeout #5'],
      ['retrying', 4, 'timeout #4'],
      ['retrying', 3, 'timeout #3'],
      ['retrying', 2, 'timeout #2'],
      ['retrying', 1, 'timeout #1'],
    ]);
    await failed.retry('failed', { resetAttemptsMade: true });
    await expect(h.finished(job!.jobId)).resolves.toMatchObject({ outcome: 'applied' });
  });

  describe('a password envelope is bound to its user and its target', () => {
    const keyring = new Keyring(parseKey(TEST_KEY));
    /** A set-password job for `forUser` on the worker's target carrying an envelope sealed for (`sealedTarget`, `sealedUser`). */
    const crafted = (forUser: string, sealedTarget: Target, sealedUser: string): SetPasswordData => ({
      schemaVersion: SCHEMA_VERSION,
      enqueuedAt: Date.now(),
      user: { id: forUser },
      password: keyring.encrypt('Sealed-For-Someone-Else-1', passwordAad(sealedTarget, sealedUser)),
      expiresAt: Date.now() + 60_000,
    });

    it.each([
      ['user A\'s envelope in a job for user B', 'b', 'entra', 'a'],
      ['the other target\'s envelope for the same user', 'a', 'crowd', 'a'],
    ] as const)('%s fails without calling the connector', async (_label, forUser, sealedTarget, sealedUser) => {
      await start();
      const job = await h.worker.queue.add(JOB_NAMES.setPassword, crafted(forUser, sealedTarget, sealedUser), { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
      await expect(h.finished(job.id!)).rejects.toThrow(/password envelope does not open for this user and target/);
      // Permanent at once: no retry can make it open.
      const failed = await h.job(job.id!);
      expect(await failed.getState()).toBe('failed');
      expect(failed.attemptsMade).toBe(1);
      expect(connector.calls).toEqual([]);
      const audit = await h.audit.query({ subject: forUser });
      expect(audit[0]).toMatchObject({ status: 'failed', operation: 'password' });
      expect(JSON.stringify(audit)).not.toContain('Sealed-For-Someone-Else-1');
      // The envelope sealed for this very (target, user) is applied.
      const [ok] = await h.client.passwordChanged({ id: forUser }, 'Sealed-For-This-User-1');
      await expect(h.finished(ok!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'password' });
      expect(connector.calls.map((c) => [c.method, c.userId, c.password])).toEqual([['setPassword', forUser, 'Sealed-For-This-User-1']]);
    });
  });
});
