import { Queue, QueueEvents } from 'bullmq';
import { createSyncClient, ValidationError, type PulledChange, type SyncClient } from '../../producers/index.js';
import { standardJobOptions } from '../../producers/retention.js';
import { SCHEMA_VERSION, type ApplyUserData, type RemoteUser } from '../../shared/jobs.js';
import { LinkStore } from '../../shared/links.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

const remote: RemoteUser = { target: 'crowd', remoteId: 'key-7', username: 'bob', email: 'bob@example.com', active: true };

describe('client.onPulledChange', () => {
  const redis = workerRedis();
  let prefix: string;
  let app: Queue;
  let events: QueueEvents;
  let client: SyncClient;
  let links: LinkStore;
  beforeEach(async () => {
    prefix = uniquePrefix('pulled');
    app = new Queue('app', { connection: redis, prefix });
    // A fresh prefix has no events yet: reading from the start misses none.
    events = new QueueEvents('app', { connection: { url: REDIS_URL }, prefix, lastEventId: '0-0' });
    await events.waitUntilReady();
    client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'] });
    links = new LinkStore(redis, prefix);
  });
  afterEach(async () => {
    await client.close();
    await events.close();
    await app.close();
    await deletePrefix(redis, prefix);
  });
  afterAll(() => redis.quit());

  /** Adds an apply-user job as the target workers and the sync worker do, and waits for its outcome. */
  const apply = async (data: Partial<ApplyUserData> | Record<string, unknown>, attempts = 3) => {
    const job = await app.add('apply-user', { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), source: 'crowd', remote, ...data }, standardJobOptions(attempts, 10));
    return job.waitUntilFinished(events, 10_000);
  };

  it('hands each change to the handler and links the remote user', async () => {
    const seen: PulledChange[] = [];
    await client.onPulledChange((change) => { seen.push(change); });
    expect(await apply({ appUserId: 'app-1', action: 'update', fields: ['email'], planId: 'plan-1' })).toEqual({ appUserId: 'app-1' });
    expect(seen).toEqual([{ jobId: expect.any(String), action: 'update', appUserId: 'app-1', source: 'crowd', remote, fields: ['email'], planId: 'plan-1' }]);
    expect(await links.get('crowd', 'app-1')).toMatchObject({ remoteId: 'key-7', remoteName: 'bob' });
  });

  it('links an import to the id the handler returns, and hands a retry the linked id', async () => {
    const seen: (string | undefined)[] = [];
    await client.onPulledChange(async (change) => {
      seen.push(change.appUserId);
      return { id: 'app-9' };
    });
    await apply({ action: 'import' });
    expect(await links.findByRemoteId('crowd', 'key-7')).toBe('app-9');
    await apply({ action: 'import' });
    expect(seen).toEqual([undefined, 'app-9']);
  });

  it('fails an import whose handler returns no id, with a readable reason', async () => {
    await client.onPulledChange(() => undefined);
    await expect(apply({ action: 'import' })).rejects.toThrow(/must return \{ id \}/);
    expect(await links.findByRemoteId('crowd', 'key-7')).toBeUndefined();
  });

  it('fails a malformed job without calling the handler, naming the bad field', async () => {
    let calls = 0;
    await client.onPulledChange(() => void calls++);
    await expect(apply({ source: 'ldap', action: 'pull' })).rejects.toThrow(/Invalid apply-user payload: source/);
    expect(calls).toBe(0);
  });

  it('retries a change whose handler throws, with the idsync backoff', async () => {
    let calls = 0;
    await client.onPulledChange(() => {
      if (++calls === 1) throw new Error('database busy');
      return undefined;
    }, { concurrency: 2 });
    await apply({ appUserId: 'app-1', action: 'pull' });
    expect(calls).toBe(2);
  });

  it('rejects bad options, and stops taking changes once closed', async () => {
    await expect(client.onPulledChange(() => undefined, { concurrency: 0 })).rejects.toThrow(ValidationError);
    const seen: string[] = [];
    const first = await client.onPulledChange(() => void seen.push('closed'));
    await first.close();
    await client.onPulledChange(() => void seen.push('open'));
    await apply({ appUserId: 'app-1' });
    expect(seen).toEqual(['open']);
  });
});
