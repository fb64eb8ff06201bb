import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, realpathSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { DEFAULT_CLIENT_SECRET } from '../../emulators/entra/index.js';
import { createSyncClient } from '../../producers/client.js';

/**
 * `idsync start` with REDIS_URL unset and nothing answering on the default. The test never
 * touches the shared Redis: the default's probe is pointed at a closed port instead.
 */
const REPO = process.cwd();
const NOWHERE = 'redis://127.0.0.1:1';

function startEnv(extra: Record<string, string>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env, IDSYNC_HEALTH_PORT: '0', IDSYNC_HTTP_PORT: '0', IDSYNC_LOG_FORMAT: 'json', IDSYNC_DEFAULT_REDIS_URL_FOR_TESTS: NOWHERE, ...extra };
  for (const key of Object.keys(env)) if (/^(REDIS_URL|CROWD_|ENTRA_|GRAPH_|IDSYNC_TARGETS|IDSYNC_SECRET_KEY|IDSYNC_PREFIX|APP_|NODE_EXTRA_CA_CERTS)/.test(key)) delete env[key];
  return env;
}

const spawnStart = (env: Record<string, string | undefined>, cwd = REPO) =>
  spawn(process.execPath, ['--import', pathToFileURL(join(REPO, 'node_modules/tsx/dist/loader.mjs')).href, join(REPO, 'bin/idsync.ts'), 'start'], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });

describe('idsync start without a Redis', () => {
  it('stops with one line naming REDIS_URL and the install command when redis-server is missing', async () => {
    const emptyPath = mkdtempSync(join(tmpdir(), 'idsync-no-redis-'));
    try {
      const child = spawnStart(startEnv({ PATH: emptyPath }));
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d) => (stdout += d));
      child.stderr!.on('data', (d) => (stderr += d));
      const [code] = await once(child, 'exit');
      expect(code).toBe(1);
      expect(stderr.trim().split('\n')).toEqual([
        `idsync: nothing answers on ${NOWHERE} and redis-server is not installed: install it (apt-get install redis-server) or set REDIS_URL to a running Redis`,
      ]);
      expect(stdout).not.toMatch(/redis error/);
    } finally {
      rmSync(emptyPath, { recursive: true, force: true });
    }
  }, 60_000);

  describe('with redis-server installed', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'idsync-start-'));
    let child: ChildProcess;
    const lines: string[] = [];
    afterAll(() => {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      rmSync(cwd, { recursive: true, force: true });
    });

    it('runs its own Redis, keeps a key file, serves the README example, and stops it all on SIGTERM', async () => {
      child = spawnStart(startEnv({ TSX_TSCONFIG_PATH: join(REPO, 'tsconfig.json') }), cwd);
      child.stderr!.on('data', (d) => lines.push(String(d)));
      await new Promise<void>((done, fail) => {
        createInterface({ input: child.stdout! }).on('line', (line) => {
          lines.push(line);
          if (line.includes('"idsync workers running"')) done();
        });
        child.once('exit', (code) => fail(new Error(`idsync start exited with ${code}: ${lines.join('\n')}`)));
      });
      const logs = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const privateLine = logs.find((l) => String(l.msg).includes('started a private redis-server'))!;
      const url = privateLine.redis as string;
      expect(url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);

      // The banner: every emulator's URL and login, where the key is, but not the key.
      const keyFile = join(cwd, '.idsync/secret.key');
      const banner = logs.find((l) => l.msg === 'no targets configured: running against the built-in emulators')!;
      expect(banner).toMatchObject({
        redis: url,
        crowd: expect.stringMatching(/^http:/),
        crowdApp: 'idsync / idsync-secret',
        graph: expect.stringMatching(/^https:/),
        entraApp: expect.stringContaining(DEFAULT_CLIENT_SECRET),
        keyFile: realpathSync(keyFile),
        keyHint: 'export IDSYNC_SECRET_KEY=$(cat .idsync/secret.key)',
        groups: ['staff'],
      });
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      const key = readFileSync(keyFile, 'utf8').trim();
      expect(lines.join('\n')).not.toContain(key);

      // Configured the way BullMQ wants it, with its data under .idsync/redis.
      const redis = new Redis(url);
      try {
        expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
        expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
        expect(await redis.config('GET', 'dir')).toEqual(['dir', realpathSync(join(cwd, '.idsync/redis'))]);
      } finally {
        redis.disconnect();
      }

      // The README's client example: group `staff`, an e-mail change, a password with the key from the file.
      const client = createSyncClient({ redisUrl: url, targets: ['crowd', 'entra'], secretKey: key });
      const events = Object.fromEntries(['crowd', 'entra'].map((t) => [t, new QueueEvents(t, { connection: { url }, prefix: '{idsync}' })]));
      // Outcomes from the event streams (jobs are removed on completion, so they are not read
      // back): each job's outcome is a promise settled by its event, whichever comes first.
      const outcomes = new Map<string, { promise: Promise<string>; resolve: (o: string) => void }>();
      const outcome = (key: string) => {
        let entry = outcomes.get(key);
        if (!entry) {
          let resolve!: (o: string) => void;
          entry = { promise: new Promise<string>((r) => (resolve = r)), resolve };
          outcomes.set(key, entry);
        }
        return entry;
      };
      for (const [target, qe] of Object.entries(events)) {
        qe.on('completed', ({ jobId }) => outcome(`${target}:${jobId}`).resolve('completed'));
        qe.on('failed', ({ jobId, failedReason }) => outcome(`${target}:${jobId}`).resolve(`failed: ${failedReason}`));
      }
      const settle = async (enqueued: { target: string; jobId: string }[]) => {
        for (const { target, jobId } of enqueued) {
          expect(`${target} ${await outcome(`${target}:${jobId}`).promise}`).toBe(`${target} completed`);
        }
      };
      try {
        await Promise.all(Object.values(events).map((e) => e.waitUntilReady()));
        await settle(await client.userChanged({ id: '42', username: 'dora', email: 'dora@example.com', groups: ['staff'] }));
        await settle(await client.userChanged({ id: '42', username: 'dora', email: 'dora@new.example.com', groups: ['staff'] }));
        await settle(await client.passwordChanged({ id: '42' }, 'C0rrect-Horse-Battery'));
      } finally {
        await client.close();
        await Promise.all(Object.values(events).map((q) => q.close()));
      }
      const crowd = banner.crowd as string;
      const auth = { accept: 'application/json', authorization: `Basic ${Buffer.from('idsync:idsync-secret').toString('base64')}` };
      expect(await (await fetch(`${crowd}rest/usermanagement/1/user?username=dora`, { headers: auth })).json()).toMatchObject({ email: 'dora@new.example.com' });
      const groups = (await (await fetch(`${crowd}rest/usermanagement/1/user/group/direct?username=dora`, { headers: auth })).json()) as { groups: { name: string }[] };
      expect(groups.groups.map((g) => g.name)).toEqual(['staff']);

      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
      // The private Redis went with it, cleanly.
      expect(existsSync(resolve(cwd, '.idsync/redis/redis.pid'))).toBe(false);
      const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      await expect(probe.connect()).rejects.toThrow();
      probe.disconnect();
    }, 120_000);
  });
});
