import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { TEST_KEY } from '../helpers/harness.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';
import { TOKEN, alice, send } from './support.js';

/** `runServer(env)` as a process runs it: listens on IDSYNC_HTTP_PORT, stops on SIGTERM. */
describe('runServer', () => {
  const prefix = uniquePrefix('http-cli');
  const redis = workerRedis();
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('serves the ingest API and exits 0 on SIGTERM', async () => {
    const env: Record<string, string | undefined> = { ...process.env };
    for (const key of Object.keys(env)) if (/^(CROWD_|ENTRA_|GRAPH_|APP_|IDSYNC_)/.test(key)) delete env[key];
    Object.assign(env, {
      REDIS_URL, IDSYNC_PREFIX: prefix, IDSYNC_TARGETS: 'crowd', CROWD_URL: 'http://127.0.0.1:9', CROWD_APP_NAME: 'idsync', CROWD_APP_PASSWORD: 'unused',
      IDSYNC_SECRET_KEY: TEST_KEY, IDSYNC_INGEST_TOKEN: TOKEN, IDSYNC_HTTP_PORT: '0', IDSYNC_HEALTH_PORT: '0', IDSYNC_LOG_FORMAT: 'json',
    });
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', "await (await import('./cli/server.ts')).runServer()"], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const logs: Array<Record<string, unknown>> = [];
      const { http: url, health } = await new Promise<{ http: string; health: string }>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (line) => {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'idsync server running') resolve(entry as { http: string; health: string });
        });
        child.once('exit', (code) => reject(new Error(`runServer exited with ${code}`)));
      });
      const res = await send(url, 'PUT', '/api/v1/users/42', { body: alice });
      expect(res.status).toBe(202);
      // Like every idsync process, it can be probed and scraped.
      expect((await fetch(`${health}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${health}/metrics`)).text()).toMatch(/idsync_jobs\{queue="crowd",state="waiting"\} 1/);
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
      expect(JSON.stringify(logs)).not.toContain(TOKEN);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
