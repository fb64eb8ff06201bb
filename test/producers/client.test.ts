import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { ensureKeyFile } from '../../producers/client-key-file.js';
import { Keyring, parseKey } from '../../shared/crypto.js';
import { passwordAad } from '../../shared/jobs.js';
import { createSyncClient, ValidationError, type ProvisionResult, type SyncProgress } from '../../producers/index.js';
import { ThrottledError } from '../../shared/errors.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { REDIS_URL, deletePrefix, dumpPrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

const alice = { id: 'u-1', username: 'alice', email: 'alice@example.com' };

/** Runs `fn` in a fresh working directory with the given variables set (undefined = unset), then restores both. */
async function inScratch<T>(vars: Record<string, string | undefined>, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'idsync-client-'));
  const cwd = process.cwd();
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  };
  set(vars);
  process.chdir(dir);
  try {
    return await fn(dir);
  } finally {
    process.chdir(cwd);
    set(saved);
    rmSync(dir, { recursive: true, force: true });
  }
}
const NO_TARGET_SETTINGS = Object.fromEntries(['IDSYNC_TARGETS', 'CROWD_URL', 'CROWD_APP_NAME', 'CROWD_APP_PASSWORD', 'ENTRA_TENANT_ID', 'ENTRA_CLIENT_ID', 'ENTRA_CLIENT_SECRET'].map((k) => [k, undefined]));

describe('client library without a worker', () => {
  const redis = workerRedis();
  let prefix: string;
  beforeEach(() => { prefix = uniquePrefix('client'); });
  afterEach(() => deletePrefix(redis, prefix));
  afterAll(() => redis.quit());

  it('rejects bad input naming each field, and enqueues nothing', async () => {
    const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd', 'entra'] });
    try {
      const err = await client.userChanged({ id: '', username: 'x', email: 'nope', active: 'yes' } as never).catch((e) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues.map((i) => i.path).sort()).toEqual(['active', 'email', 'id']);
      const many = await client.userChangedMany([alice, { ...alice, id: 'u-2', email: 'bad' }, alice]).catch((e) => e);
      expect((many as ValidationError).issues.map((i) => i.path)).toEqual(['users.1.email']);
      await expect(client.userDeleted({ username: 'x' } as never)).rejects.toThrow(ValidationError);
      await expect(client.passwordChanged(alice, '')).rejects.toThrow(ValidationError);
      await expect(client.provision({ ids: [] })).rejects.toThrow(ValidationError);
      await expect(client.pull(alice, { targets: ['ldap' as never] })).rejects.toThrow(ValidationError);
      expect(await dumpPrefix(redis, prefix)).toBe('');
    } finally {
      await client.close();
    }
  });

  it('enqueues one state job per target and resolves after Redis accepted it', async () => {
    const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd', 'entra'] });
    const crowd = new Queue('crowd', { connection: redis, prefix });
    try {
      const enqueued = await client.userChanged({ ...alice, groups: ['staff'], version: 7 });
      expect(enqueued.map((e) => e.target)).toEqual(['crowd', 'entra']);
      const job = await crowd.getJob(enqueued[0]!.jobId);
      expect(job!.name).toBe('push-user');
      expect(job!.data).toMatchObject({ schemaVersion: 1, op: 'upsert', user: { ...alice, groups: ['staff'], version: 7, active: true } });
      const deleted = await client.userDeleted({ id: 'u-9', username: 'bob' });
      expect((await crowd.getJob(deleted[0]!.jobId))!.data).toMatchObject({ op: 'delete', user: { id: 'u-9' } });
      const bulk = await client.userChangedMany(Array.from({ length: 2500 }, (_, i) => ({ ...alice, id: `b-${i}`, username: `b${i}` })));
      expect(bulk).toHaveLength(5000);
      expect(await crowd.getWaitingCount()).toBe(2502);
    } finally {
      await crowd.close();
      await client.close();
    }
  });

  it('checks the provision direction and scope, naming the bad field', async () => {
    const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'] });
    try {
      const issues = async (p: Promise<unknown>) => ((await p.catch((e) => e)) as ValidationError).issues.map((i) => i.path);
      expect(await issues(client.provision({ remoteIds: ['alice'] }))).toEqual(['remoteIds']);
      expect(await issues(client.provision('all', { direction: 'sideways' as never }))).toEqual(['direction']);
      expect(await issues(client.provision({ remoteIds: [''] }, { direction: 'from-target' }))).not.toHaveLength(0);
      expect(await dumpPrefix(redis, prefix)).toBe('');
    } finally {
      await client.close();
    }
  });

  it('fails fast instead of hanging when Redis is unreachable', async () => {
    const client = createSyncClient({ redisUrl: 'redis://127.0.0.1:1', prefix, targets: ['crowd'] });
    const started = Date.now();
    await expect(client.userChanged(alice)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(15_000);
    await client.close();
  });

  it('refuses passwords without a key, with a clear message', () =>
    // A scratch directory: no .idsync/secret.key from an earlier `npm start` to fall back to.
    inScratch({ IDSYNC_SECRET_KEY: undefined }, async () => {
      const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'] });
      await expect(client.passwordChanged(alice, 's3cret!')).rejects.toThrow(/IDSYNC_SECRET_KEY.*\.idsync\/secret\.key/);
      expect(await dumpPrefix(redis, prefix)).toBe('');
      await client.close();
    }));

  it('falls back to .idsync/secret.key when no key is configured, and never reads it when one is', async () => {
    const envelopeOf = async (client: ReturnType<typeof createSyncClient>) => {
      const [job] = await client.passwordChanged(alice, 'pw-from-file');
      const crowd = new Queue('crowd', { connection: redis, prefix });
      try {
        return (await crowd.getJob(job!.jobId))!.data.password;
      } finally {
        await crowd.close();
      }
    };
    await inScratch({ IDSYNC_SECRET_KEY: undefined }, async (dir) => {
      const key = ensureKeyFile();
      expect(statSync(join(dir, '.idsync/secret.key')).mode & 0o777).toBe(0o600);
      expect(ensureKeyFile()).toBe(key); // created once
      const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'] });
      try {
        expect(new Keyring(parseKey(key)).decrypt(await envelopeOf(client), passwordAad('crowd', alice.id))).toBe('pw-from-file');
      } finally {
        await client.close();
      }
    });
    const configured = Buffer.alloc(32, 9).toString('base64');
    await inScratch({ IDSYNC_SECRET_KEY: configured }, async (dir) => {
      // Unreadable as a key: reading it would fail the call.
      mkdirSync(join(dir, '.idsync'));
      writeFileSync(join(dir, '.idsync/secret.key'), 'not a key');
      const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'] });
      try {
        expect(new Keyring(parseKey(configured)).decrypt(await envelopeOf(client), passwordAad('crowd', alice.id))).toBe('pw-from-file');
      } finally {
        await client.close();
      }
    });
  });

  it('rejects unknown fields, naming each one', async () => {
    const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'] });
    try {
      const err = (await client.userChanged({ ...alice, firstname: 'Alice', grups: ['staff'] } as never).catch((e) => e)) as ValidationError;
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.issues).toEqual([{ path: 'firstname', message: 'unknown field' }, { path: 'grups', message: 'unknown field' }]);
      expect(err.message).toMatch(/firstname: unknown field/);
      const many = (await client.userChangedMany([alice, { ...alice, mail: 'x' } as never]).catch((e) => e)) as ValidationError;
      expect(many.issues).toEqual([{ path: 'users.1.mail', message: 'unknown field' }]);
      const ref = (await client.userDeleted({ id: 'u-1', usrename: 'alice' } as never).catch((e) => e)) as ValidationError;
      expect(ref.issues).toEqual([{ path: 'usrename', message: 'unknown field' }]);
      await expect(client.pull({ id: 'u-1', name: 'alice' } as never)).rejects.toThrow(ValidationError);
      expect(await dumpPrefix(redis, prefix)).toBe('');
      // A whole snapshot still serves as a reference; only id and username travel.
      const row = { ...alice, firstName: 'Alice', version: 3 };
      const [deleted] = await client.userDeleted(row);
      const crowd = new Queue('crowd', { connection: redis, prefix });
      expect((await crowd.getJob(deleted!.jobId))!.data.user).toEqual({ id: 'u-1', username: 'alice', version: 3 });
      await crowd.close();
    } finally {
      await client.close();
    }
  });

  it('names the option or variable to set when targets are missing', async () => {
    await inScratch(NO_TARGET_SETTINGS, async () => {
      const err = (() => { try { createSyncClient(); } catch (e) { return e; } })() as ValidationError;
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.issues).toEqual([{ path: 'targets', message: expect.stringMatching(/IDSYNC_TARGETS.*targets option/) }]);
    });
    const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'] });
    try {
      const issues = async (p: Promise<unknown>) => ((await p.catch((e) => e)) as ValidationError).issues;
      expect(await issues(client.refresh({ id: 'u-1' }, {} as never))).toEqual([{ path: 'target', message: 'expected one of crowd, entra' }]);
      expect(await issues(client.refresh({ id: 'u-1' }, { target: 'ldap' as never }))).toEqual([{ path: 'target', message: 'expected one of crowd, entra' }]);
    } finally {
      await client.close();
    }
  });
});

describe('client library with a worker', () => {
  let h: Harness;
  let connector: FakeConnector;
  beforeEach(async () => {
    connector = new FakeConnector('crowd');
    h = await startHarness({ connector, worker: { concurrency: 1 } });
  });
  afterEach(() => h.close());

  it('coalesces 100 rapid updates of one user: far fewer writes, the last one included', async () => {
    // Hold the first write so the burst lands while a job is active.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    connector.then(async () => { await held; });
    const lastApplied = new Promise<void>((resolve) => {
      connector.onCall = (c) => { if (c.version === 100) resolve(); };
    });
    const first = await h.client.userChanged({ ...alice, version: 1 });
    for (let v = 2; v <= 100; v++) await h.client.userChanged({ ...alice, email: `a${v}@example.com`, version: v });
    release();
    await lastApplied;
    await h.finished(first[0]!.jobId);
    const versions = connector.calls.map((c) => c.version);
    expect(versions.at(-1)).toBe(100);
    expect(versions.length).toBeLessThanOrEqual(3);
    expect(connector.users.get('u-1')!.email).toBe('a100@example.com');
  });

  it('encrypts passwords: the plaintext is nowhere in Redis, and the worker applies it', async () => {
    const password = 'Tr0ub4dor&3-unique-marker';
    let seenInRedis = '';
    connector.then(async () => { seenInRedis = await dumpPrefix(h.redis, h.prefix); });
    const [job] = await h.client.passwordChanged(alice, password);
    await h.finished(job!.jobId);
    expect(seenInRedis).toContain('set-password');
    expect(seenInRedis).not.toContain(password);
    expect(await dumpPrefix(h.redis, h.prefix)).not.toContain(password);
    expect(connector.calls.find((c) => c.method === 'setPassword')!.password).toBe(password);
    expect(await h.worker.queue.getJob(job!.jobId)).toBeUndefined();
  });

  it('fails an expired password job with a clear reason instead of applying it', async () => {
    await h.worker.queue.pause();
    const [enqueued] = await h.client.passwordChanged(alice, 'old-password');
    // The job waited past its expiry (as if the worker had been down for hours).
    const job = await h.job(enqueued!.jobId);
    await job.updateData({ ...job.data, expiresAt: Date.now() - 1000 });
    await h.worker.queue.resume();
    await expect(h.finished(job.id!)).rejects.toThrow(/expired .* not applied/);
    expect(connector.calls).toHaveLength(0);
  });

  it('refresh answers with the remote user, or null', async () => {
    const [job] = await h.client.userChanged(alice);
    await h.finished(job!.jobId);
    expect(await h.client.refresh({ id: 'u-1' }, { target: 'crowd' })).toMatchObject({ remoteId: 'remote-u-1', username: 'alice' });
    expect(await h.client.refresh({ id: 'nobody' }, { target: 'crowd', timeoutMs: 5000 })).toBeNull();
    expect(await h.links.get('crowd', 'u-1')).toMatchObject({ remoteId: 'remote-u-1', remoteName: 'alice' });
  });

  it('pull hands the remote user to the app queue', async () => {
    connector.users.set('u-1', { ...alice, active: true, version: 1 });
    const [job] = await h.client.pull({ id: 'u-1' });
    await h.finished(job!.jobId);
    const app = new Queue('app', { connection: h.redis, prefix: h.prefix });
    const [applied] = await app.getWaiting();
    expect(applied!.data).toMatchObject({ appUserId: 'u-1', source: 'crowd', remote: { username: 'alice', active: true } });
    await app.close();
  });

  it('provision is accepted onto the sync queue', async () => {
    const run = await h.client.provision({ ids: ['u-1', 'u-2'] });
    const imported = await h.client.provision({ remoteIds: ['alice'] }, { direction: 'from-target' });
    const sync = new Queue('sync', { connection: h.redis, prefix: h.prefix });
    expect(run.target).toBe('sync');
    expect((await sync.getJob(run.jobId))!.data).toMatchObject({ scope: { ids: ['u-1', 'u-2'] }, targets: ['crowd'], direction: 'to-target' });
    expect((await sync.getJob(imported.jobId))!.data).toMatchObject({ scope: { remoteIds: ['alice'] }, direction: 'from-target' });
    expect(await run.progress()).toBeUndefined();
    await sync.close();
  });

  it('keeps the newest state when a throttled job is retried', async () => {
    connector.then(() => { throw new ThrottledError('slow down', { retryAfterMs: 200 }); });
    const [job] = await h.client.userChanged({ ...alice, version: 1 });
    await h.finished(job!.jobId);
    expect(connector.calls.map((c) => c.version)).toEqual([1, 1]);
  });
});

describe('provision runs', () => {
  const redis = workerRedis();
  let prefix: string;
  let worker: Worker | undefined;
  beforeEach(() => { prefix = uniquePrefix('provision'); });
  afterEach(async () => {
    await worker?.close();
    await deletePrefix(redis, prefix);
  });
  afterAll(() => redis.quit());

  const result: ProvisionResult = { direction: 'to-target', targets: { crowd: { users: 2, succeeded: 2, skipped: 0, failed: 0, notFound: 0 } }, durationMs: 5 };
  const listing: SyncProgress = { phase: 'listing', done: 1 };
  const applying: SyncProgress = { phase: 'applying', done: 2, total: 2, target: 'crowd' };

  it('reports progress and resolves with the result', async () => {
    let go!: () => void;
    const gate = new Promise<void>((r) => (go = r));
    worker = new Worker('sync', async (job: Job) => {
      await job.updateProgress(listing);
      await gate;
      await job.updateProgress(applying);
      return result;
    }, { connection: redis, prefix });
    const listed = new Promise<void>((r) => worker!.once('progress', () => r()));
    const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'] });
    try {
      const run = await client.provision('all');
      await listed;
      expect(await run.progress()).toEqual(listing);
      const seen: SyncProgress[] = [];
      let firstReport!: () => void;
      const reported = new Promise<void>((r) => (firstReport = r));
      const finished = run.finished({ timeoutMs: 10_000, onProgress: (p) => { seen.push(p); firstReport(); } });
      // The progress made before the call arrives first; only then does the job go on.
      await reported;
      go();
      expect(await finished).toEqual(result);
      expect(seen).toEqual([listing, applying]);
    } finally {
      await client.close();
    }
  });

  it('rejects with the failed reason', async () => {
    worker = new Worker('sync', async (): Promise<ProvisionResult> => { throw new UnrecoverableError('no application directory configured'); }, { connection: redis, prefix });
    const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'] });
    try {
      const run = await client.provision({ remoteIds: ['alice'] }, { direction: 'from-target' });
      await expect(run.finished()).rejects.toThrow('no application directory configured');
    } finally {
      await client.close();
    }
  });
});
