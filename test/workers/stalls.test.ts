import { loadConfig, STALL_DEFAULTS } from '../../shared/config.js';
import { silentLogger } from '../../shared/logger.js';
import { AuditLog } from '../../shared/audit.js';
import { LinkStore } from '../../shared/links.js';
import type { UserDirectory } from '../../workers/app/directory.js';
import { AppWorker } from '../../workers/app/worker.js';
import { startRuntime } from '../../workers/runtime/runtime.js';
import { SyncWorker } from '../../workers/sync/worker.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';
import { configProblems } from '../helpers/config.js';

const problems = configProblems;

describe('job lock and stall check settings', () => {
  it('default to a 15 s lock, a 5 s check and one stall', () => {
    expect(loadConfig({}).stalls).toEqual({ lockDurationMs: 15_000, stalledIntervalMs: 5_000, maxStalledCount: 1 });
    expect(STALL_DEFAULTS).toEqual(loadConfig({}).stalls);
  });

  it('name each bad variable without echoing its value', () => {
    const p = problems({ IDSYNC_LOCK_DURATION_MS: '999', IDSYNC_STALLED_INTERVAL_MS: 'soon', IDSYNC_MAX_STALLED_COUNT: '-1' });
    expect(Object.keys(p).sort()).toEqual(['IDSYNC_LOCK_DURATION_MS', 'IDSYNC_MAX_STALLED_COUNT', 'IDSYNC_STALLED_INTERVAL_MS']);
    expect(p.IDSYNC_LOCK_DURATION_MS).toMatch(/at least 1000/);
    expect(JSON.stringify(p)).not.toMatch(/999|soon/);
  });

  it('refuse a stall check less frequent than the lock', () => {
    const p = problems({ IDSYNC_LOCK_DURATION_MS: '2000', IDSYNC_STALLED_INTERVAL_MS: '2001' });
    expect(Object.keys(p)).toEqual(['IDSYNC_STALLED_INTERVAL_MS']);
    expect(p.IDSYNC_STALLED_INTERVAL_MS).toMatch(/at most IDSYNC_LOCK_DURATION_MS/);
    expect(loadConfig({ IDSYNC_LOCK_DURATION_MS: '2000', IDSYNC_STALLED_INTERVAL_MS: '2000', IDSYNC_MAX_STALLED_COUNT: '0' }).stalls)
      .toEqual({ lockDurationMs: 2000, stalledIntervalMs: 2000, maxStalledCount: 0 });
  });

  it('reach the BullMQ workers of the sync and app queues', async () => {
    const prefix = uniquePrefix('stalls');
    const redis = workerRedis();
    const config = loadConfig({ REDIS_URL, IDSYNC_PREFIX: prefix, IDSYNC_LOCK_DURATION_MS: '6000', IDSYNC_STALLED_INTERVAL_MS: '900', IDSYNC_MAX_STALLED_COUNT: '2' });
    // Never called: the queues stay empty.
    const directory = {} as UserDirectory;
    const deps = { connection: redis, links: new LinkStore(redis, prefix), audit: new AuditLog(redis, prefix), logger: silentLogger, directory };
    const sync = new SyncWorker({ ...deps, config, connectors: {} });
    const app = new AppWorker({ ...deps, prefix, authority: config.sync.authority, stalls: config.stalls });
    try {
      for (const { opts } of [sync.worker, app.worker]) {
        expect([opts.lockDuration, opts.stalledInterval, opts.maxStalledCount]).toEqual([6000, 900, 2]);
      }
    } finally {
      await Promise.all([sync.close(), app.close()]);
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
  });

  it('reach the BullMQ worker the runtime starts', async () => {
    const prefix = uniquePrefix('stalls');
    const redis = workerRedis();
    const config = loadConfig({ REDIS_URL, IDSYNC_PREFIX: prefix, IDSYNC_TARGETS: 'crowd', CROWD_URL: 'http://127.0.0.1:1/crowd/', CROWD_APP_NAME: 'a', CROWD_APP_PASSWORD: 'p', IDSYNC_LOCK_DURATION_MS: '4000', IDSYNC_STALLED_INTERVAL_MS: '700', IDSYNC_MAX_STALLED_COUNT: '3' });
    const runtime = await startRuntime({ config, connectors: { crowd: new FakeConnector('crowd') }, logger: silentLogger, connection: redis, healthServer: false });
    try {
      const { opts } = runtime.workers[0]!.worker;
      expect([opts.lockDuration, opts.lockRenewTime, opts.stalledInterval, opts.maxStalledCount]).toEqual([4000, 2000, 700, 3]);
    } finally {
      await runtime.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
  });
});
