// `idsync doctor` against the shared test Redis (no AOF there, so that problem is always reported).
import type { Redis } from 'ioredis';
import { loadConfig } from '../../shared/config.js';
import { ConfigurationError } from '../../shared/errors.js';
import { runDoctor } from '../../operators/doctor.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { MemoryDirectory } from '../helpers/memory-directory.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

describe('idsync doctor', () => {
  let redis: Redis;
  let prefix: string;
  beforeEach(() => {
    redis = workerRedis();
    prefix = uniquePrefix('doc');
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  const config = () => loadConfig({
    REDIS_URL, IDSYNC_PREFIX: prefix, CROWD_URL: 'http://127.0.0.1:9/', CROWD_APP_NAME: 'idsync', CROWD_APP_PASSWORD: 'not-printed-Pw1',
    ENTRA_TENANT_ID: 'contoso', ENTRA_CLIENT_ID: 'app-1', ENTRA_CLIENT_SECRET: 'not-printed-secret', APP_WEBHOOK_URL: 'https://app.example.com/idsync', APP_WEBHOOK_SECRET: 'a-webhook-secret-1234',
  });

  it('names each problem with a one-line fix: AOF off, bad credentials, a missing Entra permission', async () => {
    const crowd = new FakeConnector('crowd');
    crowd.probeError = new ConfigurationError('Crowd rejected the application credentials (401)');
    const report = await runDoctor({
      config: config(), redis, connectors: { crowd, entra: new FakeConnector('entra') },
      entraRoles: async () => new Set(['User.Read.All']), directory: new MemoryDirectory([{ id: 'a1', username: 'a', email: 'a@example.com', active: true }]),
    });
    expect(report.ok).toBe(false);
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(byName.redis).toMatchObject({ ok: true });
    // The shared test Redis runs without AOF.
    expect(byName['redis appendonly']).toMatchObject({ ok: false, fix: expect.stringMatching(/appendonly yes/) });
    expect(byName['crowd credentials']).toMatchObject({ ok: false, detail: expect.stringMatching(/401/), fix: expect.stringMatching(/CROWD_URL, CROWD_APP_NAME and CROWD_APP_PASSWORD/) });
    expect(byName['entra credentials']).toMatchObject({ ok: true });
    expect(byName['entra permission User.ReadWrite.All']).toMatchObject({ ok: false, fix: 'grant app app-1 the application permission User.ReadWrite.All in Entra and give admin consent' });
    expect(byName['application directory']).toMatchObject({ ok: true, detail: expect.stringMatching(/first page listed \(1 user\)/) });
    expect(JSON.stringify(report)).not.toMatch(/not-printed/);
  });

  it('reports an unreachable directory and a quarantined target; passes the role check with a broader permission', async () => {
    await redis.set(`${prefix}:quarantine:crowd`, JSON.stringify({ reason: 'Crowd rejected the application credentials', since: Date.now() }));
    const report = await runDoctor({
      config: config(), redis, connectors: { crowd: new FakeConnector('crowd'), entra: new FakeConnector('entra') },
      entraRoles: async () => new Set(['Directory.ReadWrite.All']),
      directory: async () => { throw new Error('connect ECONNREFUSED 127.0.0.1:443'); },
    });
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(byName['quarantine crowd']).toMatchObject({ ok: false, fix: expect.stringMatching(/resumes by itself/) });
    expect(byName['entra permission User.ReadWrite.All']).toMatchObject({ ok: true });
    expect(byName['application directory']).toMatchObject({ ok: false, detail: 'webhook: connect ECONNREFUSED 127.0.0.1:443', fix: expect.stringMatching(/APP_WEBHOOK_URL/) });
  });
});
