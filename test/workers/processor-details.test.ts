// What the processor hands the connector, logs and returns beyond the outcome: the connector
// context, log fields, a skip's remote id, the clock-version boundary, target-owned fields,
// the link a password change leaves, and the path of a bad nested field.
import { JOB_NAMES, SCHEMA_VERSION, type AppField, type RemoteUser } from '../../shared/jobs.js';
import type { Authority } from '../../shared/config.js';
import type { ConnectorContext } from '../../workers/runtime/connector.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { capturingLogger } from '../helpers/logs.js';

const user = (id: string, version = 1) => ({ id, username: `user-${id}`, email: `${id}@example.com`, version });
const CLOCK_VERSION_MIN = 1e12;

/** A connector that can also read users back, as both real connectors can. */
class ReadingConnector extends FakeConnector {
  readonly reads: string[] = [];
  remote: Partial<RemoteUser> = {};
  async readUser(idOrName: string): Promise<RemoteUser | null> {
    this.reads.push(idOrName);
    return { target: this.target, remoteId: idOrName, username: 'remote-name', email: 'remote@example.com', active: true, ...this.remote } as RemoteUser;
  }
  async appUsername(remote: RemoteUser): Promise<string> {
    return `app-${remote.username}`;
  }
  listUsers(): AsyncIterableIterator<RemoteUser> {
    throw new Error('not used');
  }
  listChanges(): AsyncIterableIterator<never> {
    throw new Error('not used');
  }
  async expectedRemote(): Promise<never> {
    throw new Error('not used');
  }
}

const authority = (owned: Partial<Record<AppField, Authority>>) => ({ username: 'app', email: 'app', firstName: 'app', lastName: 'app', displayName: 'app', active: 'app', groups: 'app', roles: 'app', attributes: 'app', photo: 'app', ...owned }) as Record<AppField, Authority>;

describe('processor details', () => {
  let h: Harness;
  let connector: FakeConnector;
  afterEach(() => h?.close());

  it('hands the connector the job id, the attempt, the stored link and a live abort signal', async () => {
    connector = new FakeConnector('entra');
    h = await startHarness({ connector });
    await h.push(user('a', 1));
    const seen: ConnectorContext[] = [];
    connector.then((_, ctx) => void seen.push(ctx));
    const [job] = await h.client.userChanged(user('a', 2));
    await h.finished(job!.jobId);
    const [ctx] = seen;
    expect(ctx).toMatchObject({ jobId: job!.jobId, attempt: 1, link: { remoteId: 'remote-a', version: 1 } });
    expect(ctx!.abortSignal).toBeInstanceOf(AbortSignal);
    expect(ctx!.abortSignal.aborted).toBe(false);
    expect(typeof ctx!.logger.info).toBe('function');
  });

  it('logs every line of a job with its target, job, user and attempt; a connector skip and an apply with their details', async () => {
    const logs = capturingLogger();
    connector = new FakeConnector('entra');
    h = await startHarness({ connector, worker: { logger: logs.logger } });
    connector.then(() => ({ operation: 'update', skippedReason: 'on-premises user', remoteId: 'r-9' }));
    const [skipped] = await h.client.userChanged(user('a', 1));
    // The remote id of a skipped user is part of the result, so a caller can still find it.
    await expect(h.finished(skipped!.jobId)).resolves.toStrictEqual({ outcome: 'skipped', operation: 'update', reason: 'on-premises user', remoteId: 'r-9' });
    const before = Date.now();
    const [applied] = await h.client.userChanged(user('b', 1));
    await h.finished(applied!.jobId);
    const span = Date.now() - before;
    const lines = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const skipLine = lines.find((l) => l.msg === 'skipped by the connector');
    expect(skipLine).toMatchObject({ target: 'entra', jobId: skipped!.jobId, jobName: JOB_NAMES.pushUser, userId: 'a', attempt: 1, operation: 'update', reason: 'on-premises user' });
    const applyLine = lines.find((l) => l.msg === 'job applied');
    expect(applyLine).toMatchObject({ target: 'entra', jobId: applied!.jobId, userId: 'b', attempt: 1, operation: 'create', changedAttributes: ['email'] });
    expect(applyLine!.durationMs).toEqual(expect.any(Number));
    expect(applyLine!.durationMs as number).toBeGreaterThanOrEqual(0);
    expect(applyLine!.durationMs as number).toBeLessThanOrEqual(span);
  });

  it('counts a version of exactly 1e12 as clock-based: no mixed-scheme warning against a later clock version', async () => {
    connector = new FakeConnector('entra');
    h = await startHarness({ connector });
    await h.push(user('a', CLOCK_VERSION_MIN + 5));
    await expect(h.push(user('a', CLOCK_VERSION_MIN))).resolves.toMatchObject({
      outcome: 'skipped',
      reason: `stale: version ${CLOCK_VERSION_MIN} is not newer than applied version ${CLOCK_VERSION_MIN + 5}`,
    });
    await h.push(user('b', CLOCK_VERSION_MIN + 5));
    await expect(h.push(user('b', CLOCK_VERSION_MIN - 1))).resolves.toMatchObject({ reason: expect.stringContaining('versions must come from one scheme per user') });
  });

  it('takes the fields the target owns from the remote user, only for a linked user of a connector that can read', async () => {
    const reading = new ReadingConnector('crowd');
    connector = reading;
    h = await startHarness({ connector, worker: { authority: authority({ email: 'target', username: 'target' }) } });
    // Not linked yet: nothing to read, the snapshot goes as it is.
    await h.push(user('a', 1));
    expect(reading.reads).toEqual([]);
    expect(reading.users.get('a')).toMatchObject({ email: 'a@example.com', username: 'user-a' });
    await h.push({ ...user('a', 2), firstName: 'Ann' });
    expect(reading.reads).toEqual(['remote-a']);
    expect(reading.users.get('a')).toMatchObject({ email: 'remote@example.com', username: 'app-remote-name', firstName: 'Ann', version: 2 });
  });

  it('reads nothing when the target owns no pushed field, or the connector cannot read', async () => {
    const reading = new ReadingConnector('crowd');
    connector = reading;
    h = await startHarness({ connector, worker: { authority: authority({ photo: 'target' }) } });
    await h.push(user('a', 1));
    await h.push(user('a', 2));
    expect(reading.reads).toEqual([]);
    expect(reading.users.get('a')).toMatchObject({ email: 'a@example.com' });
    await h.close();

    connector = new FakeConnector('crowd');
    h = await startHarness({ connector, worker: { authority: authority({ email: 'target' }) } });
    await h.push(user('a', 1));
    await h.push(user('a', 2));
    expect(connector.users.get('a')).toMatchObject({ email: 'a@example.com', version: 2 });
  });

  it('keeps the applied version when a password change updates the link', async () => {
    connector = new FakeConnector('entra');
    h = await startHarness({ connector });
    await h.push(user('a', 7));
    const [job] = await h.client.passwordChanged({ id: 'a' }, 'New-Secret-123');
    await h.finished(job!.jobId);
    expect(await h.links.get('entra', 'a')).toMatchObject({ version: 7, remoteId: 'remote-a' });
    await expect(h.push(user('a', 7))).resolves.toMatchObject({ outcome: 'skipped' });
  });

  it('names a bad nested field by its dotted path', async () => {
    connector = new FakeConnector('entra');
    h = await startHarness({ connector });
    const job = await h.worker.queue.add(JOB_NAMES.pushUser, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), op: 'upsert', user: { ...user('a'), email: 5 } }, { attempts: 1 });
    await expect(h.finished(job.id!)).rejects.toThrow(/^invalid push-user payload: user\.email: /);
  });
});
