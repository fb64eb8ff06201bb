import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlDirectory } from '../../workers/app/sql/index.js';
import { createInterface } from 'node:readline';
import { Queue, QueueEvents } from 'bullmq';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID } from '../../emulators/entra/index.js';
import { createSyncClient } from '../../producers/client.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

/**
 * `idsync start` with no target settings: the whole system against the built-in
 * emulators. The test finds the emulators through the first log line, pushes a user with
 * the client library and checks it arrived through the remote's own API.
 */
describe('idsync start with no configuration', () => {
  const prefix = uniquePrefix('start');
  const redis = workerRedis();
  let child: ChildProcess;
  const logs: Array<Record<string, unknown>> = [];
  const appDb = mkdtempSync(join(tmpdir(), 'idsync-app-db-'));

  afterAll(async () => {
    rmSync(appDb, { recursive: true, force: true });
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('syncs the sample users both ways, applies a pushed user, and stops cleanly on SIGTERM', async () => {
    const env: Record<string, string | undefined> = { ...process.env, IDSYNC_PREFIX: prefix, IDSYNC_HEALTH_PORT: '0', IDSYNC_HTTP_PORT: '0', IDSYNC_LOG_FORMAT: 'json', APP_EMBEDDED_DB_DIR: appDb };
    // The first full sync of each target is announced on the sync queue's event stream.
    const syncEvents = new QueueEvents('sync', { connection: { url: REDIS_URL }, prefix });
    await syncEvents.waitUntilReady();
    const firstSyncs = new Promise<string[]>((resolve) => {
      const done: string[] = [];
      syncEvents.on('completed', ({ jobId }) => {
        if (jobId.startsWith('initial-full-sync-')) done.push(jobId);
        if (done.length === 2) resolve(done);
      });
    });
    for (const key of Object.keys(env)) if (/^(CROWD_|ENTRA_|GRAPH_|IDSYNC_TARGETS|IDSYNC_SECRET_KEY)/.test(key)) delete env[key];
    child = spawn(process.execPath, ['--import', 'tsx', 'bin/idsync.ts', 'start'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const running = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'idsync workers running') resolve();
      });
      child.once('exit', (code) => reject(new Error(`idsync start exited with ${code}`)));
    });
    await running;
    const started = logs.find((l) => l.msg === 'no targets configured: running against the built-in emulators')!;
    expect(started).toMatchObject({ crowd: expect.stringMatching(/^http:/), graph: expect.stringMatching(/^https:/) });
    const targets = logs.find((l) => l.msg === 'idsync workers running')!.targets as string[];

    expect(targets).toEqual(['crowd', 'entra']);

    // The sample users reach both emulators through the first full syncs, before anything else is pushed.
    expect(await firstSyncs).toHaveLength(2);
    await syncEvents.close();

    const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd', 'entra'] });
    const results: Record<string, { remoteId?: string }> = {};
    try {
      const enqueued = await client.userChanged({ id: 'u-start', username: 'start.user', email: 'start.user@example.com', firstName: 'Start', lastName: 'User' });
      for (const { target, jobId } of enqueued) {
        const queue = new Queue(target, { connection: redis, prefix });
        // From the stream's start: a QueueEvents is "ready" before its first XREAD, so a job that
        // finishes in between would otherwise be missed by both that read and the state check.
        const events = new QueueEvents(target, { connection: { url: REDIS_URL }, prefix, lastEventId: '0-0' });
        try {
          await events.waitUntilReady();
          const job = await queue.getJob(jobId);
          results[target] = await job!.waitUntilFinished(events, 20_000);
        } finally {
          await queue.close();
          await events.close();
        }
      }
    } finally {
      await client.close();
    }

    const crowd = started.crowd as string;
    const res = await fetch(`${crowd}rest/usermanagement/1/user?username=start.user`, {
      headers: { accept: 'application/json', authorization: `Basic ${Buffer.from('idsync:idsync-secret').toString('base64')}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'start.user', email: 'start.user@example.com', 'first-name': 'Start', active: true });

    // The Entra emulator's default app (its id and secret are the emulator's published defaults).
    const token = await fetch(`${started.authority as string}/${DEFAULT_TENANT_ID}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: DEFAULT_CLIENT_ID, client_secret: DEFAULT_CLIENT_SECRET, scope: 'https://graph.microsoft.com/.default' }),
    });
    const { access_token } = (await token.json()) as { access_token: string };
    const graphUser = await fetch(new URL(`v1.0/users/${results.entra!.remoteId}?$select=displayName,givenName,surname,mail,accountEnabled`, started.graph as string), {
      headers: { authorization: `Bearer ${access_token}` },
    });
    expect(graphUser.status).toBe(200);
    expect(await graphUser.json()).toMatchObject({ givenName: 'Start', surname: 'User', accountEnabled: true });

    // The ingest API answers too, with the token the start left in .idsync/ingest.token.
    const http = logs.find((l) => l.msg === 'HTTP ingest API listening (docs/ingest-api.md)')!.http as string;
    const ingestToken = readFileSync('.idsync/ingest.token', 'utf8').trim();
    const put = await fetch(`${http}/api/v1/users/u-http`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'http.user', email: 'http.user@example.com' }),
    });
    expect(put.status).toBe(202);
    const { jobs } = (await put.json()) as { jobs: { target: string; jobId: string }[] };
    expect(jobs.map((j) => j.target).sort()).toEqual(['crowd', 'entra']);
    expect(logs.some((l) => JSON.stringify(l).includes(ingestToken))).toBe(false);

    const alice = await fetch(`${crowd}rest/usermanagement/1/user?username=alice`, {
      headers: { accept: 'application/json', authorization: `Basic ${Buffer.from('idsync:idsync-secret').toString('base64')}` },
    });
    expect(await alice.json()).toMatchObject({ name: 'alice', email: 'alice@example.com' });

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);

    // The Entra-only user was imported into the embedded store (read once the process let go of it).
    const store = await openSqlDirectory({ engine: { kind: 'pglite', dataDir: appDb } });
    try {
      const users = [];
      for await (const page of store.list()) users.push(...page);
      expect(users.map((u) => u.username).sort()).toEqual(['alice', 'bob', 'carol', 'erin']);
      expect(users.find((u) => u.username === 'erin')).toMatchObject({ email: 'erin@example.com', firstName: 'Erin', lastName: 'Entra' });
    } finally {
      await store.close();
    }
  }, 120_000);
});
