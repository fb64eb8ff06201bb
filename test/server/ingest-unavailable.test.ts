import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createRedis, whenReady } from '../../shared/redis.js';
import { dumpPrefix } from '../helpers/redis.js';
import { alice, startTestServer, type Answer, type TestServer } from './support.js';

/**
 * 503 while Redis is unreachable, with nothing enqueued. The shared Redis is never touched:
 * either the server points at a port where nothing listens, or at a private redis-server
 * this test starts and kills.
 */

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

const expectUnavailable = (res: Answer) => {
  expect(res.status).toBe(503);
  expect(res.json).toEqual({ error: 'unavailable' });
  expect(res.headers.get('retry-after')).toBe('1');
};

const everyEndpoint = (t: TestServer, headers: Record<string, string> = {}) => [
  t.request('PUT', '/api/v1/users/42', { body: alice, headers }),
  t.request('DELETE', '/api/v1/users/42', { headers }),
  t.request('POST', '/api/v1/users/42/password', { body: { password: 'Unsent-Secret-3390' }, headers }),
  t.request('POST', '/api/v1/users/42/pull', { headers }),
  t.request('POST', '/api/v1/provision', { body: { all: true }, headers }),
];

describe('ingest API while Redis is unreachable', () => {
  it('answers 503 on every endpoint when nothing listens at REDIS_URL, and enqueues nothing', async () => {
    const t = await startTestServer({ env: { REDIS_URL: `redis://127.0.0.1:${await freePort()}` } });
    try {
      for (const res of await Promise.all(everyEndpoint(t))) expectUnavailable(res);
      for (const res of await Promise.all(everyEndpoint(t, { 'Idempotency-Key': 'k-1' }))) expectUnavailable(res);
      // Input is still checked first: a bad request is a 400 whatever Redis does.
      expect((await t.request('PUT', '/api/v1/users/42', { body: { username: 'alice' } })).status).toBe(400);
      expect(await dumpPrefix(t.redis, t.prefix)).toBe('');
      expect(t.logs.join('')).not.toContain('Unsent-Secret-3390');
    } finally {
      await t.close();
    }
  });

  const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;
  (hasRedisServer ? it : it.skip)('answers 503 after Redis went away, enqueues nothing meanwhile, and recovers when it is back', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'idsync-http-redis-'));
    // Every write is on disk before Redis answers, so a restart shows exactly what was enqueued.
    const startRedis = () => spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: 'ignore' });
    let child: ChildProcess = startRedis();
    const connection = createRedis(`redis://127.0.0.1:${port}`, 'producer');
    connection.on('error', () => undefined);
    let t: TestServer | undefined;
    try {
      await whenReady(connection);
      t = await startTestServer({ connection });
      const first = await t.request('PUT', '/api/v1/users/42', { body: { ...alice, version: 1 } });
      expect(first.status).toBe(202);

      const closed = connection.status === 'ready' ? once(connection, 'close') : Promise.resolve();
      // A reconnect refused while Redis is down: the moment the server logs the outage (without
      // waiting for it, a fast restart could let the first reconnect succeed and nothing is logged).
      const refused = once(connection, 'error');
      child.kill('SIGKILL');
      await Promise.all([once(child, 'exit'), closed, refused]);
      for (const res of await Promise.all(everyEndpoint(t, { 'Idempotency-Key': 'during-outage' }))) expectUnavailable(res);
      for (const res of await Promise.all(everyEndpoint(t))) expectUnavailable(res);

      child = startRedis();
      await whenReady(connection);
      const reader = new Redis(`redis://127.0.0.1:${port}`);
      try {
        // Only the job from before the outage; no idempotency reservation was left behind.
        const crowd = new Queue('crowd', { connection: reader, prefix: t.prefix });
        expect((await crowd.getJobs(['waiting'])).map((j) => j.id)).toEqual([(first.json.jobs as { jobId: string }[])[0]!.jobId]);
        await crowd.close();
        const dump = await dumpPrefix(reader, t.prefix);
        expect(dump).not.toContain('ingest:idempotency');
        expect(dump).not.toContain('Unsent-Secret-3390');
        expect(dump).not.toContain('"sync"');
        // The same key goes through now.
        const after = await t.request('POST', '/api/v1/provision', { body: { all: true }, headers: { 'Idempotency-Key': 'during-outage' } });
        expect(after.status).toBe(202);
      } finally {
        reader.disconnect();
      }
      expect(t.logs.filter((l) => l.includes('Redis is unreachable'))).toHaveLength(1);
    } finally {
      await t?.close();
      connection.disconnect();
      child.kill('SIGKILL');
      if (child.exitCode === null) await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
