import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Queue, QueueEvents } from 'bullmq';
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

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('runs the workers against the emulators, applies a pushed user, and stops cleanly on SIGTERM', async () => {
    const env: Record<string, string | undefined> = { ...process.env, IDSYNC_PREFIX: prefix, IDSYNC_HEALTH_PORT: '0', IDSYNC_LOG_FORMAT: 'json' };
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

    expect(targets).toContain('crowd');

    const client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'] });
    const queue = new Queue('crowd', { connection: redis, prefix });
    const events = new QueueEvents('crowd', { connection: { url: REDIS_URL }, prefix });
    try {
      await events.waitUntilReady();
      const [enqueued] = await client.userChanged({ id: 'u-start', username: 'start.user', email: 'start.user@example.com', firstName: 'Start', lastName: 'User' });
      const job = await queue.getJob(enqueued!.jobId);
      await job!.waitUntilFinished(events, 20_000);
    } finally {
      await client.close();
      await queue.close();
      await events.close();
    }
    const crowd = started.crowd as string;
    const res = await fetch(`${crowd}rest/usermanagement/1/user?username=start.user`, {
      headers: { accept: 'application/json', authorization: `Basic ${Buffer.from('idsync:idsync-secret').toString('base64')}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'start.user', email: 'start.user@example.com', 'first-name': 'Start', active: true });

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });
});
